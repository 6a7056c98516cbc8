/**
 * Two rate limiters and two executors share one tool's limits: the rps and the concurrency
 * measured at the tool server never exceed them (a token bucket allows rps + burst in any 1 s window).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Harness, tool } from './harness';

const RPS = 20;
const BURST = 2;
const MAX_CONCURRENT = 3;
const h = new Harness(4);

before(async () => {
  await h.start({ latencyMs: [60, 140] });
  h.writeTools([tool('limited', h.server, { path: 'echo', rateLimit: { rps: RPS, burst: BURST, maxConcurrent: MAX_CONCURRENT } })]);
  // First instances pin their groups to the topics' start; second instances join those groups.
  await Promise.all([h.startService('rate-limiter', { instance: 'a' }), h.startService('executor', { instance: 'a' })]);
  await Promise.all([h.startService('rate-limiter', { instance: 'b' }), h.startService('executor', { instance: 'b' })]);
});
after(() => h.stop());

test('2 rate limiters + 2 executors: rps and concurrency at the tool stay within the limits', { timeout: 60_000 }, async () => {
  const tenants = ['t1', 't2', 't3'];
  const reqs = Array.from({ length: 60 }, (_, i) => h.requested({ tool: 'limited', tenantId: tenants[i % 3]! }));
  await h.publish(reqs);
  const outs = await h.waitOutcomes(reqs.map((r) => r.data), 45_000);
  assert.ok(outs.every((o) => o.type === 'agentplane.tool.call.succeeded'), JSON.stringify(outs.filter((o) => o.type !== 'agentplane.tool.call.succeeded').map((o) => o.data)));
  const p = h.server.stats().byPath['/tools/echo']!;
  assert.equal(p.executions, 60);
  assert.ok(p.maxInFlight <= MAX_CONCURRENT, `max in flight ${p.maxInFlight} > ${MAX_CONCURRENT}`);
  assert.ok(p.maxPerSecond <= RPS + BURST, `max per second ${p.maxPerSecond} > ${RPS + BURST}`);
  // Both instances of each service did work (the partitions are spread over them).
  const sources = new Set(h.events.filter((e) => e.type === 'agentplane.tool.call.admitted').map((e) => e.id));
  assert.equal(sources.size, 60);
  process.stderr.write(`global limits: maxInFlight=${p.maxInFlight} maxPerSecond=${p.maxPerSecond}\n`);
});
