/**
 * A failing tool opens its breaker (published on control-events); while open the rate limiter
 * rejects with circuit_open at once; after the reset timeout a trial call closes it again.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { eventually } from '../support';
import { Harness, tool } from './harness';

const h = new Harness(2);

before(async () => {
  await h.start();
  h.writeTools([
    tool('flaky', h.server, { path: 'echo', retries: 0, breaker: { errorThresholdPercentage: 50, resetTimeoutMs: 2000, volumeThreshold: 3 } }),
  ]);
  await Promise.all([h.startService('rate-limiter'), h.startService('executor')]);
});
after(() => h.stop());

test('a failing tool opens its breaker, calls get circuit_open quickly, it closes after recovery', { timeout: 150_000 }, async () => {
  h.server.fault('/tools/echo', { status: 500 });
  const failing = Array.from({ length: 4 }, () => h.requested({ tool: 'flaky' }));
  for (const r of failing) {
    await h.publish(r);
    await h.waitOutcomes([r.data]);
  }
  await eventually(() => h.of('agentplane.tool.circuit.changed').some((e) => e.data.state === 'open'), { timeoutMs: 30_000, message: 'circuit open event' });
  // Rejected by the rate limiter (circuit_open) without reaching the tool, and fast.
  const before = h.server.stats().requests;
  const fast = await eventually(async () => {
    const r = h.requested({ tool: 'flaky' });
    const t0 = Date.now();
    await h.publish(r);
    const [o] = await h.waitOutcomes([r.data]);
    const reason = (o!.data as { reason?: string; code?: string }).reason ?? (o!.data as { code?: string }).code;
    return reason === 'circuit_open' ? { o, ms: Date.now() - t0 } : undefined;
  }, { timeoutMs: 30_000 });
  assert.equal(fast.o.type, 'agentplane.tool.call.rejected');
  // "Quickly" is structural here: the rate limiter answers from the circuit state without a
  // call (timings belong to benchmarks, not tests).
  assert.equal(h.server.stats().requests, before, 'an open circuit does not call the tool');

  h.server.clearFaults();
  // After resetTimeoutMs the executor goes half-open (published), the rate limiter lets a trial through, success closes it.
  await eventually(() => h.of('agentplane.tool.circuit.changed').some((e) => e.data.state === 'half_open'), { timeoutMs: 30_000, message: 'half-open' });
  await eventually(async () => {
    const r = h.requested({ tool: 'flaky' });
    await h.publish(r);
    const [o] = await h.waitOutcomes([r.data]);
    return o!.type === 'agentplane.tool.call.succeeded';
  }, { timeoutMs: 30_000, intervalMs: 200, message: 'a call succeeds after recovery' });
  await eventually(() => h.of('agentplane.tool.circuit.changed').some((e) => e.data.state === 'closed'), { timeoutMs: 30_000, message: 'closed' });
});
