/**
 * Micro-batching through the services as processes on the real broker: 20 sessions requested
 * at once reach the planner's batcher together; their LLM calls leave in batches of 4–12 and no
 * request waits in the queue past the bound.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startFakeOpenAI, type FakeOpenAI } from '../fixtures/fake-openai.server';
import { startToolServer, type ToolServer } from '../fixtures/tool-server';
import { eventually } from '../support';
import { startStack, type Stack } from '../support/stack';
import { LogReader, percentile, publishRequests, turnOf } from './helpers';

const BATCH = 8;
// The wait bound is set well above the default 20 ms: the 20 requests reach the batcher spread
// over the planner's own handling of them (a fetch, a load and a save each), and on a loaded
// CI machine that spread passed 100 ms, so the last four split into a lone request sent at its
// bound and three more after it ([8 x16, 1, 3, 3, 3]). Whether batches form depends on the
// spread being under the bound; the bound holding is checked below whatever it is.
const WAIT_MS = 400;
// The batch timer fires at the bound (libs/planning's unit test, in one quiet process); here
// a busy event loop (20 sessions' Kafka, DB and HTTP work in one process, on a shared 2-core
// box) runs it late, by 100 ms and more under load (seen in CI with other suites running). The
// median may overrun by timer lateness only; the worst case by event-loop stalls. End to end,
// the bound shows in every session completing: 20 requests do not fill batches of 8, and
// without a wait bound the rest would wait for requests that never come.
const TIMER_SLACK_MS = 50;
const STALL_SLACK_MS = 1000;

let ai: FakeOpenAI;
let tools: ToolServer;
let stack: Stack;
let log: LogReader;

before(async () => {
  ai = await startFakeOpenAI({
    port: 0,
    latencyMs: 40,
    handler: (req) => (turnOf(req) === 0 ? { toolCalls: [{ id: 'call_s', name: 'search', arguments: { query: 'kafka' } }] } : { final: 'Kafka is a log.' }),
  });
  tools = await startToolServer({ port: 0 });
  // The call cap is lifted: a wait for a free call slot counts as queue wait, and this test is
  // about the batch's own wait bound.
  stack = await startStack({
    toolsUrl: tools.url,
    env: { PLANNER_BASE_URL: ai.url, PLANNER_MODEL: 'gpt-4o-mini', PLANNER_BATCH_SIZE: String(BATCH), PLANNER_BATCH_WAIT_MS: String(WAIT_MS), PLANNER_LLM_CONCURRENCY: '64' },
  });
  log = await LogReader.start(stack);
});

after(async () => {
  await log?.stop();
  await stack?.stop();
  await tools?.close();
  await ai?.close();
});

describe('planner micro-batching', () => {
  test('20 concurrent sessions: batches of 4–12, the wait bound holds, batch size and queue wait on every step', { timeout: 120_000 }, async () => {
    // One session first: the first burst through a cold process pays one-off compilation
    // (schemas, JIT, first queries) as a long event-loop stall that would land on the timers.
    const [warm] = await publishRequests(stack, [{ input: 'warm-up' }]);
    await eventually(() => log.ended(warm!), { timeoutMs: 30_000, message: `warm-up
${stack.logs()}` });
    const ids = await publishRequests(stack, Array.from({ length: 20 }, (_, i) => ({ input: `batch task ${i}` })));
    await eventually(() => ids.every((id) => log.ended(id)?.type === 'agentplane.session.completed'), { timeoutMs: 60_000, message: `20 sessions completed\n${stack.logs()}` });
    const steps = log.of('agentplane.planner.step.completed', (e) => ids.includes(e.data.sessionId));
    assert.equal(steps.length, 40, 'two LLM steps per session');
    const first = steps.filter((e) => e.data.step === 1);
    const sizes = first.map((e) => e.data.batchSize);
    for (const s of sizes) assert.ok(s >= 4 && s <= 12, `step-1 batch sizes ${JSON.stringify(sizes)}`);
    // A batch of n is n steps reporting n. Counted over both steps: while the last step-1
    // requests wait for their bound, sessions from the first batches come back for step 2 and
    // join them.
    const bySize = new Map<number, number>();
    for (const e of steps) bySize.set(e.data.batchSize, (bySize.get(e.data.batchSize) ?? 0) + 1);
    for (const [size, n] of bySize) assert.equal(n % size, 0, `${n} steps report a batch of ${size}`);
    const waits = steps.map((e) => e.data.queueWaitMs);
    const seen = JSON.stringify(steps.map((e) => [e.data.step, e.data.batchSize, e.data.queueWaitMs]));
    assert.ok(percentile(waits, 50) <= WAIT_MS + TIMER_SLACK_MS, `queue wait p50 ${percentile(waits, 50)}: [step, batch, wait] ${seen}`);
    assert.ok(Math.max(...waits) <= WAIT_MS + STALL_SLACK_MS, `queue wait max ${Math.max(...waits)}: ${seen}`);
    for (const e of steps) assert.ok(e.data.batchSize >= 1 && e.data.batchSize <= BATCH);
    // The provider saw one HTTP call per request (OpenAI-compatible: a pooled set of calls per batch).
    assert.equal(ai.requests.length, 42);
  });
});
