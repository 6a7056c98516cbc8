/**
 * Timeouts that abort, calls longer than the consumer session timeout, and 50 concurrent
 * duplicates of one idempotency key, against the counting witness.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Harness, tool } from './harness';

const h = new Harness(3);

before(async () => {
  await h.start();
  h.writeTools([
    tool('echo', h.server),
    // Not idempotent: a sent-but-unanswered call must not be retried.
    tool('late', h.server, { path: 'echo', timeoutMs: 300, idempotent: false, retries: 2 }),
    tool('long', h.server, { path: 'echo', timeoutMs: 20_000 }),
  ]);
  await h.startService('executor');
});
after(() => h.stop());

test('a tool that answers after the timeout: outcome unknown, one effect, the request aborted', { timeout: 60_000 }, async () => {
  h.server.fault('/tools/echo', { latencyMs: 1500, times: 1 });
  const a = h.admitted({ tool: 'late' });
  await h.publish(a);
  const [out] = await h.waitOutcomes([a.data]);
  assert.equal(out!.type, 'agentplane.tool.call.failed');
  const d = out!.data as { code: string; attempts: number };
  assert.equal(d.code, 'unknown', JSON.stringify(d));
  assert.equal(d.attempts, 1);
  const k = h.server.stats().byKey[a.data.idempotencyKey]!;
  assert.equal(k.executions, 1);
  assert.equal(k.requests, 1);
  assert.equal(k.aborted, 1, 'the timeout closed the socket');
});

test('a call slower than the consumer session timeout (6 s) runs once', { timeout: 60_000 }, async () => {
  h.server.fault('/tools/echo', { latencyMs: 9000, times: 1 });
  const a = h.admitted({ tool: 'long' });
  await h.publish(a);
  const [out] = await h.waitOutcomes([a.data], 40_000);
  assert.equal(out!.type, 'agentplane.tool.call.succeeded', JSON.stringify(out));
  const k = h.server.stats().byKey[a.data.idempotencyKey]!;
  assert.equal(k.requests, 1, JSON.stringify(k));
  assert.equal(h.of('agentplane.tool.call.succeeded', a.data.sessionId).length, 1, 'no redelivery');
});

test('50 concurrent calls with one idempotency key: one execution, no 5xx, 50 outcomes', { timeout: 60_000 }, async () => {
  h.server.fault('/tools/echo', { latencyMs: 300, times: 1 });
  const key = `shared-${h.run}`;
  const calls = Array.from({ length: 50 }, () => h.admitted({ tool: 'echo', idempotencyKey: key, args: { text: 'once' } }));
  await h.publish(calls);
  const outs = await h.waitOutcomes(calls.map((c) => c.data));
  assert.ok(outs.every((o) => o.type === 'agentplane.tool.call.succeeded'), JSON.stringify(outs.map((o) => o.data)));
  const st = h.server.stats();
  assert.equal(st.byKey[key]!.executions, 1);
  assert.deepEqual(Object.keys(st.byPath['/tools/echo']!.statuses).filter((s) => s >= '500'), []);
});
