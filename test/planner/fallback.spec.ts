/**
 * Quality-triggered fallback through the services as processes on the real broker: when more
 * than 30% of the LLM's outputs are invalid the tenant's planner switches to fallback (on
 * control-events); sessions still complete from the cached plan of their task or their declared
 * workflow, and fail fast with a reason when there is neither; shadow calls measure the LLM,
 * and once its quality is back the tenant returns to normal. The planner is then restarted and
 * rebuilds the mode from what it kept of control-events.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { AgentplaneEvent } from '@agentplane/contracts';
import { startFakeOpenAI, type FakeOpenAI, type FakeReply } from '../fixtures/fake-openai.server';
import { startToolServer, type ToolServer } from '../fixtures/tool-server';
import { eventually } from '../support';
import { startStack, type Stack } from '../support/stack';
import { LogReader, publishRequests, taskOf, turnOf } from './helpers';

const TASK = 'Summarise the Kafka docs';
let ai: FakeOpenAI;
let tools: ToolServer;
let stack: Stack;
let log: LogReader;
/** good: always valid; bad: every other reply names an unknown tool (50% invalid). */
let quality: 'good' | 'bad' = 'good';
let served = 0;

function reply(turn: number): FakeReply {
  return turn === 0 ? { toolCalls: [{ id: `call_${served}`, name: 'search', arguments: { query: 'kafka' } }] } : { final: 'Kafka keeps an ordered log.' };
}

before(async () => {
  ai = await startFakeOpenAI({
    port: 0,
    handler: (req) => {
      served++;
      if (quality === 'bad' && served % 2 === 0) return { toolCalls: [{ id: `call_bad${served}`, name: 'no_such_tool', arguments: {} }] };
      return reply(turnOf(req));
    },
  });
  tools = await startToolServer({ port: 0 });
  stack = await startStack({
    toolsUrl: tools.url,
    env: {
      PLANNER_BASE_URL: ai.url,
      PLANNER_MODEL: 'gpt-4o-mini',
      PLANNER_MAX_STEPS: '8',
      PLANNER_BATCH_WAIT_MS: '5',
      PLANNER_QUALITY_WINDOW: '10',
      PLANNER_QUALITY_MIN_SAMPLES: '5',
    },
  });
  log = await LogReader.start(stack);
});

after(async () => {
  await log?.stop();
  await stack?.stop();
  await tools?.close();
  await ai?.close();
});

const modeChanges = () => log.of('agentplane.planner.mode.changed', (e) => e.data.tenantId === 'acme');

async function runUntil(what: string, inputs: () => string[], done: () => boolean): Promise<string[]> {
  const ids: string[] = [];
  await eventually(
    async () => {
      if (done()) return true;
      const batch = await publishRequests(stack, inputs().map((input) => ({ input })));
      ids.push(...batch);
      await eventually(() => batch.every((id) => log.ended(id)), { timeoutMs: 30_000, message: `${what}: sessions ended\n${stack.logs()}` });
      return done();
    },
    { timeoutMs: 90_000, intervalMs: 1, message: what },
  );
  return ids;
}

const sourceOf = (id: string) => (log.session(id).find((e) => e.type === 'agentplane.planner.fallback.used') as AgentplaneEvent<'agentplane.planner.fallback.used'> | undefined)?.data.source;

describe('quality-triggered fallback', () => {
  test('invalid outputs above 30% → fallback; sessions complete from the cached plan or the workflow, else fail fast; quality back → normal', { timeout: 240_000 }, async () => {
    // A good run caches the plan of the task.
    const [first] = await publishRequests(stack, [{ input: TASK }]);
    await eventually(() => log.ended(first!)?.type === 'agentplane.session.completed', { timeoutMs: 30_000, message: `first session\n${stack.logs()}` });

    // Half the outputs invalid: the tenant goes to fallback.
    quality = 'bad';
    const badIds = await runUntil('switch to fallback', () => [TASK.toUpperCase(), `  ${TASK.toLowerCase()}.`, TASK], () => modeChanges().length >= 1);
    const toFallback = modeChanges()[0]!;
    assert.equal(toFallback.data.mode, 'fallback');
    assert.ok(toFallback.data.passRate < 0.7, `pass rate ${toFallback.data.passRate}`);
    for (const id of badIds) assert.equal(log.ended(id)?.type, 'agentplane.session.completed', `every session still completed: ${id}`);

    // In fallback: the same task template replays the cached plan without asking the LLM.
    const llmCallsBefore = ai.requests.length;
    const [cached, workflow, neither] = await publishRequests(stack, [
      { input: `${TASK}!` },
      { input: 'Something never seen', planner: 'llm', workflow: { steps: [{ calls: [{ id: 's1', tool: 'search', args: { query: 'fallback' } }] }] } },
      { input: 'Another thing never seen' },
    ]);
    await eventually(() => [cached, workflow, neither].every((id) => log.ended(id!)), { timeoutMs: 30_000, message: `fallback sessions\n${stack.logs()}` });
    assert.equal(log.ended(cached!)?.type, 'agentplane.session.completed');
    assert.equal(sourceOf(cached!), 'cached_plan');
    assert.equal(log.ended(workflow!)?.type, 'agentplane.session.completed');
    assert.equal(sourceOf(workflow!), 'workflow');
    const failed = log.ended(neither!) as AgentplaneEvent<'agentplane.session.failed'>;
    assert.equal(failed.type, 'agentplane.session.failed');
    assert.equal(failed.data.code, 'planner_failed');
    assert.match(failed.data.reason, /fallback mode .*no cached plan for this task and no declared workflow/);
    // The fallback steps were planned without the LLM; what it was asked meanwhile were shadow calls.
    const steps = log.session(cached!).filter((e) => e.type === 'agentplane.planner.step.completed') as AgentplaneEvent<'agentplane.planner.step.completed'>[];
    assert.ok(steps.every((e) => e.data.provider === 'workflow'), JSON.stringify(steps.map((e) => e.data.provider)));
    // (Shadow calls of the earlier sessions may still be in flight, so their tasks count too.)
    const expected = [TASK, TASK.toUpperCase(), `  ${TASK.toLowerCase()}.`, `${TASK}!`, 'Something never seen', 'Another thing never seen'];
    const unexpected = ai.requests.slice(llmCallsBefore).map(taskOf).filter((t) => !expected.includes(t));
    assert.deepEqual(unexpected, [], 'only shadow calls reached the LLM');

    // Quality back: shadow calls measure it, and the tenant returns to normal.
    quality = 'good';
    await runUntil('back to normal', () => [TASK, TASK], () => modeChanges().some((e) => e.data.mode === 'normal'));
    const back = modeChanges().find((e) => e.data.mode === 'normal')!;
    assert.ok(back.data.passRate >= 0.85, `pass rate ${back.data.passRate}`);
    assert.deepEqual(modeChanges().map((e) => e.data.mode), ['fallback', 'normal'], 'both changes on the log, once each');

    // Normal again: the LLM plans.
    const [again] = await publishRequests(stack, [{ input: 'A fresh task' }]);
    await eventually(() => log.ended(again!), { timeoutMs: 30_000 });
    assert.equal(log.ended(again!)?.type, 'agentplane.session.completed');
    assert.equal(sourceOf(again!), undefined);
  });
});
