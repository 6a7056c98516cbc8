/**
 * Rate limiter + executor on the session loop, on the real broker and database, each service
 * its own OS process, a counting tool server on loopback as the witness.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { makeEvent } from '@agentplane/contracts';
import { eventually } from '../support';
import { Harness, tool } from '../faults/harness';

const h = new Harness(3);

before(async () => {
  await h.start({ latencyMs: 5 });
  h.writeTools([
    tool('echo', h.server),
    tool('slow', h.server, { path: 'echo', rateLimit: { rps: 1000, burst: 1000, maxConcurrent: 2 } }),
    tool('paced', h.server, { path: 'echo', rateLimit: { rps: 10, burst: 1, maxConcurrent: 100 } }),
    tool('mail', h.server, { path: 'echo', essential: false }),
  ]);
  await h.startService('rate-limiter');
  await h.startService('executor');
});

after(async () => {
  await h.stop();
});

test('an admitted call runs once with its Idempotency-Key and succeeds with attempts, latency and cost', { timeout: 60_000 }, async () => {
  const req = h.requested({ tool: 'echo', args: { text: 'hi' } });
  await h.publish(req);
  const [out] = await h.waitOutcomes([req.data], 30_000).catch((e) => assert.fail(`${e.message}\n${h.logs()}`));
  assert.equal(out!.type, 'agentplane.tool.call.succeeded', JSON.stringify(out));
  const d = out!.data as { result: unknown; attempts: number; latencyMs: number; costUsd: string };
  assert.deepEqual(d.result, { args: { text: 'hi' } });
  assert.equal(d.attempts, 1);
  assert.equal(d.costUsd, '0.001');
  assert.ok(d.latencyMs > 0);
  const admitted = h.of('agentplane.tool.call.admitted', req.data.sessionId)[0]!;
  assert.equal(admitted.data.idempotencyKey, req.data.idempotencyKey);
  assert.deepEqual(admitted.data.args, { text: 'hi' });
  assert.equal(admitted.causationid, req.id);
  assert.equal(out!.causationid, admitted.id);
  assert.equal(h.server.stats().byKey[req.data.idempotencyKey]?.executions, 1);
});

test('unknown tools and invalid arguments are rejected with the reason and the schema path', { timeout: 60_000 }, async () => {
  const unknown = h.requested({ tool: 'teleport' });
  const invalid = h.requested({ tool: 'echo', args: { text: 42 } });
  await h.publish([unknown, invalid]);
  const [a, b] = await h.waitOutcomes([unknown.data, invalid.data]);
  assert.equal(a!.type, 'agentplane.tool.call.rejected');
  assert.equal((a!.data as { reason: string }).reason, 'unknown_tool');
  assert.equal(b!.type, 'agentplane.tool.call.rejected');
  assert.equal((b!.data as { reason: string }).reason, 'invalid_args');
  assert.match((b!.data as { detail: string }).detail, /\/text must be string \(schema #\/properties\/text\/type\)/);
  assert.equal(h.of('agentplane.tool.call.admitted', unknown.data.sessionId).length, 0);
});

test('the concurrency cap defers calls and admits them as slots free up', { timeout: 60_000 }, async () => {
  h.server.fault('/tools/echo', { latencyMs: 300, times: 6 });
  const reqs = Array.from({ length: 6 }, () => h.requested({ tool: 'slow' }));
  await h.publish(reqs);
  const outs = await h.waitOutcomes(reqs.map((r) => r.data));
  assert.ok(outs.every((o) => o.type === 'agentplane.tool.call.succeeded'), JSON.stringify(outs.map((o) => o.type)));
  const deferred = reqs.filter((r) => h.of('agentplane.tool.call.deferred', r.data.sessionId).length > 0);
  assert.ok(deferred.length >= 3, `expected deferrals, got ${deferred.length}`);
  const d = h.of('agentplane.tool.call.deferred', deferred[0]!.data.sessionId)[0]!;
  assert.match(d.data.reason, /concurrency cap 2/);
  assert.ok(h.server.stats().byPath['/tools/echo']!.maxInFlight <= 2 + 0, 'at most 2 in flight');
});

test('a token bucket paces admissions, round-robin across tenants', { timeout: 60_000 }, async () => {
  // Tenant "big" queues 8 calls first; "small" asks for 2 right after. Fair queueing serves
  // small within the next rounds, not after all of big's.
  const big = Array.from({ length: 8 }, () => h.requested({ tool: 'paced', tenantId: 'big' }));
  const small = Array.from({ length: 2 }, () => h.requested({ tool: 'paced', tenantId: 'small' }));
  await h.publish(big);
  await h.publish(small);
  await h.waitOutcomes([...big, ...small].map((r) => r.data));
  const order = h.events
    .filter((e) => e.type === 'agentplane.tool.call.admitted' && (e.data as { tool: string }).tool === 'paced')
    .map((e) => (e.data as { tenantId: string }).tenantId);
  const lastSmall = order.lastIndexOf('small');
  assert.ok(lastSmall <= 6, `small served by admission #${lastSmall + 1}: ${order.join(',')}`);
  const times = h.events
    .filter((e) => e.type === 'agentplane.tool.call.admitted' && (e.data as { tool: string }).tool === 'paced')
    .map((e) => Date.parse(e.time));
  // 10 calls at 10/s with burst 1: at least ~0.9 s from first to last admission.
  assert.ok(times[times.length - 1]! - times[0]! >= 800, `spread ${times[times.length - 1]! - times[0]!} ms`);
});

test('a tripped guardrail rejects non-essential calls with budget_exceeded; essential ones go on', { timeout: 60_000 }, async () => {
  const g = { tenantId: 'broke', month: '2026-01', spendUsd: '1200', forecastUsd: '1000', thresholdUsd: '1150' };
  await h.publish(makeEvent('agentplane.budget.guardrail.tripped', g, { source: 'agentplane/cost-accounting' }), 'control-events');
  // The guardrail lands on another topic: retry until the rate limiter has seen it.
  const nonEssential = await eventually(
    async () => {
      const r = h.requested({ tool: 'mail', tenantId: 'broke' });
      await h.publish(r);
      const [o] = await h.waitOutcomes([r.data]);
      return (o!.data as { reason?: string }).reason === 'budget_exceeded' ? o : undefined;
    },
    { timeoutMs: 30_000, intervalMs: 100 },
  );
  assert.match((nonEssential.data as { detail: string }).detail, /guardrail/);
  const essential = h.requested({ tool: 'mail', tenantId: 'broke', essential: true });
  await h.publish(essential);
  const [o] = await h.waitOutcomes([essential.data]);
  assert.equal(o!.type, 'agentplane.tool.call.succeeded');
  await h.publish(makeEvent('agentplane.budget.guardrail.cleared', g, { source: 'agentplane/cost-accounting' }), 'control-events');
  await eventually(async () => {
    const r = h.requested({ tool: 'mail', tenantId: 'broke' });
    await h.publish(r);
    const [x] = await h.waitOutcomes([r.data]);
    return x!.type === 'agentplane.tool.call.succeeded';
  }, { timeoutMs: 30_000, intervalMs: 100 });
});

test('state survives a restart: queued calls are admitted by the next instance', { timeout: 60_000 }, async () => {
  const rl = h.services.find((s) => s.name === 'rate-limiter')!;
  h.server.fault('/tools/echo', { latencyMs: 1500, times: 2 });
  const reqs = Array.from({ length: 5 }, () => h.requested({ tool: 'slow' }));
  await h.publish(reqs);
  await eventually(() => reqs.filter((r) => h.of('agentplane.tool.call.deferred', r.data.sessionId).length > 0).length >= 3, { timeoutMs: 20_000 });
  await h.kill(rl);
  h.services.splice(h.services.indexOf(rl), 1);
  await h.startService('rate-limiter', { instance: 'restarted' });
  const outs = await h.waitOutcomes(reqs.map((r) => r.data), 45_000);
  assert.ok(outs.every((o) => o.type === 'agentplane.tool.call.succeeded'), JSON.stringify(outs.map((o) => o.data)));
  for (const r of reqs) assert.equal(h.server.stats().byKey[r.data.idempotencyKey]?.executions, 1);
});
