/**
 * The planner's reactions, given a state and a fact: no broker, no database; the real decider,
 * the real workflow planner and the demo registry.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { makeEvent, type AgentplaneEvent, type SessionEvent } from '@agentplane/contracts';
import { fold, initialState, type SessionState } from '@agentplane/session';
import { WorkflowPlanner, type PlannerProvider, type PlanOutcome, type PlanRequest, type PlanResult } from '@agentplane/planning';
import { loadPrices, loadTenants, loadToolRegistry } from '@agentplane/tools';
import { repoRoot } from '../../../libs/tools/src/test-helpers';
import { PlannerEngine, type FallbackDeps, type PlannerDeps } from './planner.engine';
import { taskKey, type CachedPlan } from './plan-cache';

const cfg = join(repoRoot(), 'config');
const registry = loadToolRegistry(join(cfg, 'tools.yaml'));
const tenants = loadTenants(join(cfg, 'tenants.yaml'));
const prices = loadPrices(join(cfg, 'prices.yaml'));
const T0 = Date.parse('2026-11-25T10:00:00.000Z');

function engine(over: Partial<PlannerDeps> = {}, clock = { t: T0 }): PlannerEngine {
  return new PlannerEngine({ registry, tenants, prices, workflow: new WorkflowPlanner(), maxSteps: 6, defaultDeadlineMs: 60_000, now: () => new Date(clock.t), ...over });
}

const SID = '01900000-0000-7000-8000-000000000001';
const workflow = {
  steps: [
    { calls: [{ id: 'find', tool: 'search', args: { query: 'kafka' } }] },
    { calls: [{ id: 'a', tool: 'fetch_doc', args: { id: 'doc-1' } }, { id: 'b', tool: 'fetch_doc', args: { id: 'doc-2' } }] },
  ],
};

function requested(data: Record<string, unknown> = {}): AgentplaneEvent<'agentplane.session.requested'> {
  return makeEvent('agentplane.session.requested', { tenantId: 'acme', sessionId: SID, input: 'find docs', workflow, ...data } as never, { source: 'test' }) as AgentplaneEvent<'agentplane.session.requested'>;
}

function succeeded(callId: string, tool: string, result: unknown): AgentplaneEvent<'agentplane.tool.call.succeeded'> {
  return makeEvent(
    'agentplane.tool.call.succeeded',
    { tenantId: 'acme', sessionId: SID, callId, tool, result, attempts: 1, latencyMs: 3, costUsd: '0.001' },
    { source: 'agentplane/executor' },
  ) as AgentplaneEvent<'agentplane.tool.call.succeeded'>;
}

const types = (es: SessionEvent[]) => es.map((e) => e.type.replace('agentplane.', ''));

describe('planner engine', () => {
  test('given no session, when a workflow session is requested, then it starts and asks for step 1', async () => {
    const d = await engine().onRequested(requested(), initialState());
    assert.deepEqual(types(d.events), ['session.started', 'planner.step.completed', 'tool.call.requested']);
    const call = d.events[2] as AgentplaneEvent<'agentplane.tool.call.requested'>;
    assert.equal(call.data.tool, 'search');
    assert.equal(call.data.idempotencyKey, `${SID}:find`);
    assert.equal(d.state.status, 'running');
  });

  test('given a started session, when the same request is redelivered, then nothing is emitted', async () => {
    const e = engine();
    const first = await e.onRequested(requested(), initialState());
    const again = await e.onRequested(requested(), first.state);
    assert.deepEqual(again.events, []);
  });

  test('given no session, when a workflow names an unknown tool, then it is rejected with the reason', async () => {
    const bad = { steps: [{ calls: [{ id: 'x', tool: 'launch_missiles', args: {} }] }] };
    const d = await engine().onRequested(requested({ workflow: bad }), initialState());
    assert.deepEqual(types(d.events), ['session.rejected']);
    const rejected = d.events[0] as AgentplaneEvent<'agentplane.session.rejected'>;
    assert.ok(rejected.data.errors.some((m) => m.includes('launch_missiles')), rejected.data.errors.join('; '));
  });

  test('given no LLM provider, when a session declares no workflow, then it is rejected', async () => {
    const d = await engine().onRequested(requested({ workflow: undefined }), initialState());
    assert.equal(d.state.status, 'rejected');
  });

  test('given step 2 runs two calls in parallel, when both succeed, then the session completes with the cost', async () => {
    const e = engine();
    let s: SessionState = (await e.onRequested(requested(), initialState())).state;
    const d1 = await e.onToolOutcome(succeeded('find', 'search', { hits: ['doc-1', 'doc-2'] }), s);
    assert.deepEqual(types(d1.events), ['planner.step.completed', 'tool.call.requested', 'tool.call.requested']);
    s = d1.state;
    const d2 = await e.onToolOutcome(succeeded('a', 'fetch_doc', { summary: 'A' }), s);
    assert.deepEqual(d2.events, [], 'waits for the other call of the step');
    const d3 = await e.onToolOutcome(succeeded('b', 'fetch_doc', { summary: 'B' }), d2.state);
    assert.deepEqual(types(d3.events), ['planner.step.completed', 'session.completed']);
    const done = d3.events[1] as AgentplaneEvent<'agentplane.session.completed'>;
    assert.equal(done.data.costUsd, '0.003');
    assert.equal(done.data.toolCalls, 3);
    assert.equal(done.data.answer, 'A\n\nB');
  });

  test('given a running session, when an outcome is redelivered, then nothing is emitted twice', async () => {
    const e = engine();
    const s = (await e.onRequested(requested(), initialState())).state;
    const out = succeeded('find', 'search', { hits: [] });
    const d1 = await e.onToolOutcome(out, s);
    const d2 = await e.onToolOutcome(out, d1.state);
    assert.deepEqual(d2.events, []);
  });

  test('given the same state, when deciding twice, then the event ids are the same (crash-safe re-emission)', async () => {
    const a = await engine().onRequested(requested(), initialState());
    const b = await engine().onRequested(requested(), initialState());
    assert.deepEqual(a.events.map((x) => x.id), b.events.map((x) => x.id));
  });

  test('given a running session, when cancel is requested by its tenant, then it is cancelled', async () => {
    const e = engine();
    const s = (await e.onRequested(requested(), initialState())).state;
    const cancel = makeEvent('agentplane.session.cancel-requested', { tenantId: 'acme', sessionId: SID }, { source: 'test' }) as AgentplaneEvent<'agentplane.session.cancel-requested'>;
    const d = await e.onCancelRequested(cancel, s);
    assert.deepEqual(types(d.events), ['session.cancelled']);
    const foreign = makeEvent('agentplane.session.cancel-requested', { tenantId: 'globex', sessionId: SID }, { source: 'test' }) as AgentplaneEvent<'agentplane.session.cancel-requested'>;
    assert.deepEqual((await e.onCancelRequested(foreign, s)).events, [], 'another tenant cannot cancel it');
  });

  test('given a session past its deadline, when the sweeper looks, then it fails with deadline_exceeded', async () => {
    const clock = { t: T0 };
    const e = engine({}, clock);
    const s = (await e.onRequested(requested({ deadlineMs: 1000 }), initialState())).state;
    assert.deepEqual(e.onOverdue(s).events, [], 'not yet');
    clock.t += 1001;
    const d = e.onOverdue(s);
    assert.deepEqual(types(d.events), ['session.failed']);
    assert.equal((d.events[0] as AgentplaneEvent<'agentplane.session.failed'>).data.code, 'deadline_exceeded');
  });

  test('given an LLM that first names an unknown tool, then answers, then the bad step is recorded as not passing and the session completes', async () => {
    const script: PlanOutcome[] = [
      { kind: 'tool_calls', calls: [{ callId: 'call_1', tool: 'no_such_tool', args: {} }] },
      { kind: 'tool_calls', calls: [{ callId: 'call_2', tool: 'search', args: { query: 'x' } }] },
      { kind: 'final', answer: 'done' },
    ];
    const llm: PlannerProvider = {
      name: 'fake-llm',
      async plan(_req: PlanRequest) {
        return { ...script.shift()!, model: 'gpt-4o-mini', promptTokens: 1000, completionTokens: 100, latencyMs: 5, attempts: 1 } as PlanResult;
      },
    };
    const e = engine({ llm, llmModel: 'gpt-4o-mini' });
    const d1 = await e.onRequested(requested({ workflow: undefined }), initialState());
    assert.deepEqual(types(d1.events), ['session.started', 'planner.step.completed', 'planner.step.completed', 'tool.call.requested']);
    const bad = d1.events[1] as AgentplaneEvent<'agentplane.planner.step.completed'>;
    assert.equal(bad.data.pass, false);
    assert.ok(bad.data.errors?.some((m) => m.includes('no_such_tool')));
    const d2 = await e.onToolOutcome(succeeded('call_2', 'search', { hits: [] }), d1.state);
    assert.deepEqual(types(d2.events), ['planner.step.completed', 'session.completed']);
    // 3 steps × (1000 × 0.15 + 100 × 0.60) / 1M = 3 × 0.00021, plus the tool's 0.001
    const done = d2.events[1] as AgentplaneEvent<'agentplane.session.completed'>;
    const priced = prices.models['gpt-4o-mini'];
    assert.ok(priced, 'demo prices include gpt-4o-mini');
    const folded = fold([...d1.events, succeeded('call_2', 'search', { hits: [] }), ...d2.events]);
    assert.equal(folded.status, 'completed');
    assert.equal(done.data.costUsd, folded.status === 'completed' ? folded.costUsd : '');
  });
});

describe('planner engine: batching and quality-triggered fallback', () => {
  const llmReplying = (script: PlanOutcome[], calls: PlanRequest[] = []): PlannerProvider => ({
    name: 'openai-compatible',
    async plan(req: PlanRequest) {
      calls.push(req);
      return { ...script.shift()!, model: 'gpt-4o-mini', promptTokens: 10, completionTokens: 5, latencyMs: 7, attempts: 1, batchSize: 6, queueWaitMs: 12.5 } as PlanResult;
    },
  });
  const cacheOf = (plans: Record<string, CachedPlan>) => ({ async get(k: string) { return plans[k]; } });
  const fallbackDeps = (over: Partial<FallbackDeps> = {}, shadows: boolean[] = []): FallbackDeps => ({
    mode: () => 'fallback',
    cache: cacheOf({}),
    shadowRate: 1,
    onShadow: (_t, _m, pass) => void shadows.push(pass),
    ...over,
  });

  test('given a batched LLM step, then its batch size and queue wait are on planner.step.completed', async () => {
    const e = engine({ llm: llmReplying([{ kind: 'final', answer: 'ok' }]), llmModel: 'gpt-4o-mini' });
    const d = await e.onRequested(requested({ workflow: undefined }), initialState());
    const step = d.events.find((x) => x.type === 'agentplane.planner.step.completed') as AgentplaneEvent<'agentplane.planner.step.completed'>;
    assert.deepEqual([step.data.batchSize, step.data.queueWaitMs], [6, 12.5]);
  });

  test('given an LLM session whose calls all succeed, when it completes, then its plan is offered to the cache under the task key', async () => {
    const e = engine({ llm: llmReplying([{ kind: 'tool_calls', calls: [{ callId: 'c1', tool: 'search', args: { query: 'kafka' } }] }, { kind: 'final', answer: 'done' }]), llmModel: 'gpt-4o-mini' });
    const d1 = await e.onRequested(requested({ workflow: undefined, input: 'Find docs about Kafka 3' }), initialState());
    assert.equal(d1.cachePlan, undefined);
    const d2 = await e.onToolOutcome(succeeded('c1', 'search', { hits: [] }), d1.state);
    assert.equal(d2.state.status, 'completed');
    assert.deepEqual(d2.cachePlan?.plan, { steps: [{ calls: [{ tool: 'search', args: { query: 'kafka' } }] }], answer: 'done' });
    assert.equal(d2.cachePlan?.taskKey, taskKey('acme', '  find DOCS about kafka 17. ', undefined), 'case, spaces, numbers and trailing dots do not make another task');
    assert.equal(d2.cachePlan?.template, 'find docs about kafka #');
  });

  test('given the tenant in fallback and a cached plan, then steps replay it (no LLM in the path), a shadow call measures the LLM, and the session completes', async () => {
    const calls: PlanRequest[] = [];
    const shadows: boolean[] = [];
    const key = taskKey('acme', 'find docs', undefined);
    const e = engine({
      llm: llmReplying([{ kind: 'tool_calls', calls: [{ callId: 'x', tool: 'no_such_tool', args: {} }] }, { kind: 'final', answer: 'good' }], calls),
      llmModel: 'gpt-4o-mini',
      fallback: fallbackDeps({ cache: cacheOf({ [key]: { steps: [{ calls: [{ tool: 'search', args: { query: 'kafka' } }] }], answer: 'old' } }) }, shadows),
    });
    const d1 = await e.onRequested(requested({ workflow: undefined }), initialState());
    assert.deepEqual(types(d1.events), ['session.started', 'planner.fallback.used', 'planner.step.completed', 'tool.call.requested']);
    assert.equal((d1.events[1] as AgentplaneEvent<'agentplane.planner.fallback.used'>).data.source, 'cached_plan');
    const call = d1.events[3] as AgentplaneEvent<'agentplane.tool.call.requested'>;
    assert.deepEqual([call.data.callId, call.data.tool, call.data.args], ['fb1-1', 'search', { query: 'kafka' }]);
    const d2 = await e.onToolOutcome(succeeded('fb1-1', 'search', { summary: 'S' }), d1.state);
    assert.deepEqual(types(d2.events), ['planner.fallback.used', 'planner.step.completed', 'session.completed']);
    assert.equal((d2.events[2] as AgentplaneEvent<'agentplane.session.completed'>).data.answer, 'S');
    assert.equal(d2.cachePlan, undefined, 'a fallback run does not overwrite the cache');
    await eventuallyTrue(() => shadows.length === 2);
    assert.deepEqual(shadows, [false, true], 'the shadow calls were validated like real steps');
  });

  test('given the tenant in fallback and no cached plan, then the declared workflow runs; with neither, the session fails at once saying why', async () => {
    const e = engine({ llm: llmReplying([]), llmModel: 'gpt-4o-mini', fallback: fallbackDeps({ shadowRate: 0 }) });
    const d = await e.onRequested(requested({ planner: 'llm' }), initialState());
    assert.deepEqual(types(d.events), ['session.started', 'planner.fallback.used', 'planner.step.completed', 'tool.call.requested']);
    assert.equal((d.events[1] as AgentplaneEvent<'agentplane.planner.fallback.used'>).data.source, 'workflow');
    const none = await e.onRequested(requested({ workflow: undefined }), initialState());
    assert.deepEqual(types(none.events), ['session.started', 'planner.step.failed', 'session.failed']);
    const failed = none.events[2] as AgentplaneEvent<'agentplane.session.failed'>;
    assert.equal(failed.data.code, 'planner_failed');
    assert.match(failed.data.reason, /fallback mode .* no cached plan for this task and no declared workflow/);
  });

  test('given the tenant back to normal, then the LLM plans again', async () => {
    let mode: 'normal' | 'fallback' = 'fallback';
    const e = engine({ llm: llmReplying([{ kind: 'final', answer: 'llm again' }]), llmModel: 'gpt-4o-mini', fallback: fallbackDeps({ mode: () => mode, shadowRate: 0 }) });
    mode = 'normal';
    const d = await e.onRequested(requested({ workflow: undefined }), initialState());
    assert.deepEqual(types(d.events), ['session.started', 'planner.step.completed', 'session.completed']);
  });
});

async function eventuallyTrue(fn: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !fn(); i++) await new Promise((r) => setImmediate(r));
  assert.ok(fn());
}
