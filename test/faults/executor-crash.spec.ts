/**
 * kill -9 of the executor at the two worst moments: after the tool answered 2xx but before the
 * outcome was appended, and after appending but before the offset commit. The witness (a
 * counting tool server) must see exactly one effect; the call must end with its outcome.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { eventually } from '../support';
import { Harness, tool } from './harness';

const h = new Harness(2);

before(async () => {
  await h.start();
  h.writeTools([tool('echo', h.server)]);
});
after(() => h.stop());

test('kill -9 after the tool answered, before the outcome was appended: one effect, the call completes', { timeout: 60_000 }, async () => {
  const doomed = await h.startService('executor', { instance: 'crash-1', env: { AGENTPLANE_FAULT_INJECTION: 'executor:after-tool-response' } });
  const a = h.admitted({ tool: 'echo' });
  await h.publish(a);
  const exit = (await doomed.proc.exited) as { signal: string | null };
  assert.equal(exit.signal, 'SIGKILL');
  assert.equal(h.server.stats().byKey[a.data.idempotencyKey]?.executions, 1);
  assert.equal(h.outcome(a.data.sessionId, a.data.callId), undefined, 'nothing appended before the crash');

  await h.startService('executor', { instance: 'after-1' });
  const [out] = await h.waitOutcomes([a.data], 40_000);
  assert.equal(out!.type, 'agentplane.tool.call.succeeded', JSON.stringify(out));
  const k = h.server.stats().byKey[a.data.idempotencyKey]!;
  assert.equal(k.executions, 1, JSON.stringify(k));
});

test('kill -9 after appending, before the offset commit: no second effect, same event id', { timeout: 60_000 }, async () => {
  // Let the running executor commit what it handled, so the next one starts from this test's record.
  await eventually(async () => (await h.admin.lag(`t-rel-executor-${h.run}`, h.topic('session-events'))) === 0, { timeoutMs: 15_000 });
  for (const s of h.services.filter((s) => s.proc.child.exitCode === null && s.proc.child.signalCode === null)) await h.kill(s);
  const doomed = await h.startService('executor', { instance: 'crash-2', env: { AGENTPLANE_FAULT_INJECTION: 'executor:after-publish' } });
  const a = h.admitted({ tool: 'echo' });
  await h.publish(a);
  await doomed.proc.exited;
  await h.waitOutcomes([a.data]);
  await h.startService('executor', { instance: 'after-2' });
  // The redelivered admission re-publishes the stored outcome under the same id.
  const copies = await eventually(() => {
    const c = h.events.filter((e) => e.type === 'agentplane.tool.call.succeeded' && e.subject === a.data.sessionId);
    return c.length >= 2 ? c : undefined;
  }, { timeoutMs: 40_000, message: 'redelivered outcome' });
  assert.equal(new Set(copies.map((c) => c.id)).size, 1, 'one event id');
  const k = h.server.stats().byKey[a.data.idempotencyKey]!;
  assert.equal(k.executions, 1);
  assert.equal(k.requests, 1, 'the redelivery did not call the tool at all');
});
