import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { MicroBatcher, type BatchReport } from './micro-batcher';
import type { PlannerProvider, PlanRequest, PlanResult } from './types';

const req = (i: number, model = 'm1'): PlanRequest => ({ sessionId: `s${i}`, tenantId: 'acme', step: 1, input: `task ${i}`, model, tools: [], history: [] });
const answer = (r: PlanRequest): PlanResult => ({ kind: 'final', answer: r.sessionId, model: r.model, promptTokens: 1, completionTokens: 1, latencyMs: 1, attempts: 1 });

/** One call per request; counts how many run at once. */
/** How late a timer may fire on a busy shared test machine. */
const TIMER_LATENESS_MS = 250;

function perRequest(delayMs = 5) {
  const stats = { calls: 0, inFlight: 0, maxInFlight: 0 };
  const p: PlannerProvider = {
    name: 'single',
    defaultModel: 'm1',
    async plan(r) {
      stats.calls++;
      stats.maxInFlight = Math.max(stats.maxInFlight, ++stats.inFlight);
      await sleep(delayMs);
      stats.inFlight--;
      if (r.input === 'boom') throw new Error('boom');
      return answer(r);
    },
  };
  return { p, stats };
}

describe('MicroBatcher', () => {
  it('given a batch-capable provider, when 10 requests arrive at once with size 4, then 3 calls of 4, 4 and 2 (the last at its wait bound)', async () => {
    const calls: number[] = [];
    const p: PlannerProvider = {
      name: 'batchy',
      plan: () => Promise.reject(new Error('not used')),
      async planBatch(rs) {
        calls.push(rs.length);
        return rs.map(answer);
      },
    };
    const reports: BatchReport[] = [];
    const b = new MicroBatcher(p, { maxBatchSize: 4, maxWaitMs: 30, concurrency: 8, onBatch: (r) => reports.push(r) });
    const results = await Promise.all(Array.from({ length: 10 }, (_, i) => b.plan(req(i))));
    assert.deepEqual(calls, [4, 4, 2]);
    assert.deepEqual(reports.map((r) => [r.size, r.trigger]), [[4, 'size'], [4, 'size'], [2, 'wait']]);
    assert.deepEqual(results.map((r) => r.kind === 'final' && r.answer), Array.from({ length: 10 }, (_, i) => `s${i}`), 'each caller gets its own result');
    assert.deepEqual(results.map((r) => r.batchSize), [4, 4, 4, 4, 4, 4, 4, 4, 2, 2]);
    // The last two waited for the bound (30 ms). Timers never fire early; how late they fire
    // depends on what else the machine runs, so the upper bound only catches a missing bound.
    for (const r of results.slice(8)) assert.ok(r.queueWaitMs! >= 25 && r.queueWaitMs! < 30 + TIMER_LATENESS_MS, `wait ${r.queueWaitMs}`);
    for (const r of results.slice(0, 8)) assert.ok(r.queueWaitMs! < 10, `full batches leave at once: ${r.queueWaitMs}`);
  });

  it('given requests for two models, then they queue apart', async () => {
    const seen: string[][] = [];
    const p: PlannerProvider = { name: 'batchy', plan: () => Promise.reject(new Error('x')), planBatch: async (rs) => (seen.push(rs.map((r) => r.model)), rs.map(answer)) };
    const b = new MicroBatcher(p, { maxBatchSize: 2, maxWaitMs: 10, concurrency: 4 });
    await Promise.all([b.plan(req(1, 'a')), b.plan(req(2, 'b')), b.plan(req(3, 'a')), b.plan(req(4, 'b'))]);
    assert.deepEqual(seen.map((s) => s.join()).sort(), ['a,a', 'b,b']);
  });

  it('given a per-request provider, then a batch is a set of concurrent calls under the pool cap; an error stays with its request', async () => {
    const { p, stats } = perRequest(20);
    const b = new MicroBatcher(p, { maxBatchSize: 8, maxWaitMs: 5, concurrency: 3 });
    const settled = await Promise.allSettled([...Array.from({ length: 7 }, (_, i) => b.plan(req(i))), b.plan({ ...req(99), input: 'boom' })]);
    assert.equal(stats.calls, 8);
    assert.equal(stats.maxInFlight, 3, 'the cap holds');
    assert.equal(settled.filter((s) => s.status === 'fulfilled').length, 7);
    assert.match(String((settled[7] as PromiseRejectedResult).reason), /boom/);
    const r0 = (settled[0] as PromiseFulfilledResult<PlanResult>).value;
    assert.equal(r0.batchSize, 8);
  });

  it('given a trickle (one request at a time), then each leaves alone at its wait bound', async () => {
    const { p } = perRequest(1);
    const b = new MicroBatcher(p, { maxBatchSize: 12, maxWaitMs: 15, concurrency: 4 });
    const r = await b.plan(req(1));
    assert.equal(r.batchSize, 1);
    assert.ok(r.queueWaitMs! >= 12 && r.queueWaitMs! < 15 + TIMER_LATENESS_MS, `wait ${r.queueWaitMs}`);
    assert.equal(b.queued(), 0);
  });
});
