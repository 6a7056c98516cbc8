import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  EventData,
  SessionEvent,
  SessionEventType,
  SessionRequestedData,
  decode,
  encode,
  makeEvent,
} from '@agentplane/contracts';
import {
  CommandMeta,
  PlannerStepResult,
  SessionCommand,
  SessionDomainError,
  SessionErrorCode,
  SessionState,
  ToolOutcomeEvent,
  canPlan,
  decide,
  evolve,
  fold,
  handle,
  initialState,
  isOverdue,
} from './session.decider';

// ---- fixtures -----------------------------------------------------------------------------------

const T0 = '2026-01-31T12:00:00.000Z';
const at = (ms: number): string => new Date(Date.parse(T0) + ms).toISOString();
const meta = (ms = 0): CommandMeta => ({ now: at(ms) });
const ids = { tenantId: 'acme', sessionId: 's1' };

const request = (patch: Partial<SessionRequestedData> = {}): SessionRequestedData => ({ ...ids, input: 'weather in Lisbon?', ...patch });

const ev = <T extends SessionEventType>(type: T, data: Omit<EventData<T>, 'tenantId' | 'sessionId'>, ms = 0): SessionEvent =>
  makeEvent(type, { ...ids, ...data } as EventData<T>, { source: 'test', time: at(ms) }) as SessionEvent;

const started = (patch: Partial<EventData<'agentplane.session.started'>> = {}): SessionEvent =>
  ev('agentplane.session.started', { mode: 'llm', model: 'm', maxSteps: 4, deadlineAt: at(30_000), input: 'weather in Lisbon?', ...patch });

const llmStep = (outcome: EventData<'agentplane.planner.step.completed'>['outcome'], patch: Partial<PlannerStepResult> = {}): PlannerStepResult =>
  ({ kind: 'completed', provider: 'openai', model: 'm', promptTokens: 10, completionTokens: 5, latencyMs: 200, batchSize: 4, queueWaitMs: 1, pass: true, outcome, ...patch }) as PlannerStepResult;

const failedStep = (retriable: boolean): PlannerStepResult => ({
  kind: 'failed',
  provider: 'openai',
  model: 'm',
  reason: 'HTTP 503',
  errors: ['HTTP 503'],
  promptTokens: 0,
  completionTokens: 0,
  latencyMs: 900,
  retriable,
});

const toolCalls = (...callIds: string[]) => ({ kind: 'tool_calls' as const, calls: callIds.map((callId) => ({ callId, tool: 'weather', args: { city: 'Lisbon' } })) });
const final = (answer: string) => ({ kind: 'final' as const, answer });

const stepCompleted = (step: number, outcome: EventData<'agentplane.planner.step.completed'>['outcome'], extra: Partial<EventData<'agentplane.planner.step.completed'>> = {}) =>
  ev('agentplane.planner.step.completed', { step, provider: 'openai', model: 'm', promptTokens: 10, completionTokens: 5, latencyMs: 200, batchSize: 4, queueWaitMs: 1, pass: true, outcome, ...extra });
const requested = (step: number, callId: string, tool = 'weather') =>
  ev('agentplane.tool.call.requested', { step, callId, tool, args: { city: 'Lisbon' }, idempotencyKey: `s1:${callId}`, essential: false });
const succeeded = (callId: string, costUsd = '0.001', ms = 0) =>
  ev('agentplane.tool.call.succeeded', { callId, tool: 'weather', result: { tempC: 21 }, attempts: 1, latencyMs: 150, costUsd }, ms) as ToolOutcomeEvent;
const toolFailed = (callId: string) =>
  ev('agentplane.tool.call.failed', { callId, tool: 'weather', error: 'no answer in 500 ms', code: 'timeout', attempts: 3, latencyMs: 1500, costUsd: '0' }) as ToolOutcomeEvent;
const rejected = (callId: string) => ev('agentplane.tool.call.rejected', { callId, tool: 'weather', reason: 'budget_exceeded' }) as ToolOutcomeEvent;

// ---- given / when / then ------------------------------------------------------------------------

type Expected = { type: SessionEventType; data?: Record<string, unknown> };

function given(...history: SessionEvent[]) {
  const state = fold(history);
  return {
    state,
    when(command: SessionCommand) {
      return {
        then(...expected: Expected[]): SessionEvent[] {
          const events = decide(command, state);
          assert.deepEqual(
            events.map((e) => e.type),
            expected.map((e) => e.type),
          );
          events.forEach((e, i) => {
            if (expected[i].data) assert.deepEqual(e.data, { ...ids, ...expected[i].data });
            // Everything the decider emits must pass the decode edge.
            const r = decode(encode(e));
            assert.equal(r.ok, true, r.ok ? '' : r.reason);
            assert.equal(e.time, command.meta.now);
          });
          return events;
        },
        thenThrows(code: SessionErrorCode): void {
          assert.throws(
            () => decide(command, state),
            (e: unknown) => e instanceof SessionDomainError && e.code === code,
          );
        },
      };
    },
  };
}

// ---- StartSession -------------------------------------------------------------------------------

describe('StartSession', () => {
  const start = (patch: Partial<Omit<Extract<SessionCommand, { type: 'StartSession' }>, 'type'>> = {}): SessionCommand => ({
    type: 'StartSession',
    meta: meta(),
    request: request(),
    maxSteps: 4,
    defaultDeadlineMs: 30_000,
    ...patch,
  });

  it('given no session when a valid request starts then session.started carries mode, limits and the request', () => {
    given()
      .when(start({ request: request({ budgetUsd: '1.5', tools: ['weather'], metadata: { k: 'v' } }), model: 'gpt' }))
      .then({
        type: 'agentplane.session.started',
        data: { mode: 'llm', model: 'gpt', maxSteps: 4, deadlineAt: at(30_000), input: 'weather in Lisbon?', tools: ['weather'], budgetUsd: '1.5', metadata: { k: 'v' } },
      });
  });

  it('given a request with its own deadline when started then the deadline is now + deadlineMs', () => {
    const [e] = given().when(start({ request: request({ deadlineMs: 5000 }) })).then({ type: 'agentplane.session.started' });
    assert.equal((e.data as { deadlineAt: string }).deadlineAt, at(5000));
  });

  it('given a declared workflow of 3 steps and maxSteps 2 when started then mode is workflow and maxSteps covers steps + answer', () => {
    const workflow = { steps: [1, 2, 3].map((n) => ({ calls: [{ id: `c${n}`, tool: 'weather', args: {} }] })) };
    const [e] = given().when(start({ request: request({ workflow }), maxSteps: 2 })).then({ type: 'agentplane.session.started' });
    assert.equal((e.data as { mode: string }).mode, 'workflow');
    assert.equal((e.data as { maxSteps: number }).maxSteps, 4);
  });

  it('given unknown tools when started then session.rejected lists each', () => {
    given()
      .when(start({ unknownTools: ['teleport'], errors: ['args of call a: city is missing'] }))
      .then({ type: 'agentplane.session.rejected', data: { errors: ['args of call a: city is missing', 'unknown tool "teleport"'] } });
  });

  it('given planner "workflow" without a workflow when started then it is rejected', () => {
    given().when(start({ request: request({ planner: 'workflow' }) })).then({ type: 'agentplane.session.rejected', data: { errors: ['planner "workflow" needs a declared workflow'] } });
  });

  it('given a workflow reusing a call id or a tool outside tools when started then it is rejected with both reasons', () => {
    const workflow = { steps: [{ calls: [{ id: 'a', tool: 'weather', args: {} }] }, { calls: [{ id: 'a', tool: 'fx', args: {} }] }] };
    given()
      .when(start({ request: request({ workflow, tools: ['weather'] }) }))
      .then({
        type: 'agentplane.session.rejected',
        data: { errors: ['workflow call id "a" is used more than once', 'workflow step 2 calls tool "fx", which is not in tools'] },
      });
  });

  it('given a running session when the same request arrives again then session_exists is thrown', () => {
    given(started()).when(start()).thenThrows('session_exists');
  });

  it('given the same command twice when decided then the event ids are identical (re-emission dedupes)', () => {
    const a = decide(start(), initialState());
    const b = decide(start(), initialState());
    assert.equal(a[0].id, b[0].id);
  });
});

// ---- RecordPlannerStep --------------------------------------------------------------------------

describe('RecordPlannerStep', () => {
  const step = (result: PlannerStepResult, extra: Partial<Extract<SessionCommand, { type: 'RecordPlannerStep' }>> = {}, ms = 100): SessionCommand => ({
    type: 'RecordPlannerStep',
    meta: meta(ms),
    sessionId: 's1',
    result,
    ...extra,
  });

  it('given a running session when the planner returns tool calls then the step and one request per call are emitted', () => {
    given(started())
      .when(step(llmStep(toolCalls('c1', 'c2')), { essentialTools: ['weather'] }))
      .then(
        { type: 'agentplane.planner.step.completed' },
        { type: 'agentplane.tool.call.requested', data: { step: 1, callId: 'c1', tool: 'weather', args: { city: 'Lisbon' }, idempotencyKey: 's1:c1', essential: true } },
        { type: 'agentplane.tool.call.requested', data: { step: 1, callId: 'c2', tool: 'weather', args: { city: 'Lisbon' }, idempotencyKey: 's1:c2', essential: true } },
      );
  });

  it('given a running session when the planner returns a final answer then the session completes with steps, calls and cost', () => {
    given(started(), stepCompleted(1, toolCalls('c1')), requested(1, 'c1'), succeeded('c1', '0.25'))
      .when(step(llmStep(final('Sunny'), { costUsd: '0.01' })))
      .then(
        { type: 'agentplane.planner.step.completed' },
        { type: 'agentplane.session.completed', data: { answer: 'Sunny', steps: 2, toolCalls: 1, costUsd: '0.26' } },
      );
  });

  it('given the deterministic fallback planned the step when recorded then planner.fallback.used comes first', () => {
    given(started())
      .when(step(llmStep(toolCalls('c1')), { fallback: 'cached_plan' }))
      .then({ type: 'agentplane.planner.fallback.used', data: { step: 1, source: 'cached_plan' } }, { type: 'agentplane.planner.step.completed' }, { type: 'agentplane.tool.call.requested' });
  });

  it('given an output that did not pass when recorded then no call is requested and the session stays running', () => {
    const events = given(started())
      .when(step(llmStep(toolCalls('c1'), { pass: false, errors: ['unknown tool "teleport"'] })))
      .then({ type: 'agentplane.planner.step.completed' });
    assert.equal(canPlan(fold(events, fold([started()]))), true);
  });

  it('given a retriable provider failure when recorded then only planner.step.failed is emitted', () => {
    given(started()).when(step(failedStep(true))).then({ type: 'agentplane.planner.step.failed', data: { step: 1, provider: 'openai', model: 'm', reason: 'HTTP 503', errors: ['HTTP 503'], promptTokens: 0, completionTokens: 0, latencyMs: 900, retriable: true } });
  });

  it('given a non-retriable provider failure when recorded then the session fails with planner_failed', () => {
    given(started())
      .when(step(failedStep(false)))
      .then({ type: 'agentplane.planner.step.failed' }, { type: 'agentplane.session.failed', data: { code: 'planner_failed', reason: 'HTTP 503' } });
  });

  it('given the last allowed step fails when recorded then the session fails with max_steps_exceeded', () => {
    given(started({ maxSteps: 1 }))
      .when(step(failedStep(true)))
      .then({ type: 'agentplane.planner.step.failed' }, { type: 'agentplane.session.failed', data: { code: 'max_steps_exceeded', reason: 'no usable plan within 1 steps' } });
  });

  it('given all steps used when another step is recorded then max_steps_exceeded is thrown', () => {
    given(started({ maxSteps: 1 }), stepCompleted(1, toolCalls('c1')), requested(1, 'c1'), succeeded('c1'))
      .when(step(llmStep(final('x'))))
      .thenThrows('max_steps_exceeded');
  });

  it('given calls still pending when a step is recorded then step_in_progress is thrown', () => {
    given(started(), stepCompleted(1, toolCalls('c1')), requested(1, 'c1')).when(step(llmStep(final('x')))).thenThrows('step_in_progress');
  });

  it('given a call id used in an earlier step when reused then duplicate_call_id is thrown', () => {
    given(started(), stepCompleted(1, toolCalls('c1')), requested(1, 'c1'), succeeded('c1')).when(step(llmStep(toolCalls('c1')))).thenThrows('duplicate_call_id');
  });

  it('given the same call id twice in one step when recorded then duplicate_call_id is thrown', () => {
    given(started()).when(step(llmStep(toolCalls('c1', 'c1')))).thenThrows('duplicate_call_id');
  });

  it('given the step arrives after the deadline when recorded then the step is kept and the session fails', () => {
    given(started())
      .when(step(llmStep(final('late')), {}, 31_000))
      .then({ type: 'agentplane.planner.step.completed' }, { type: 'agentplane.session.failed', data: { code: 'deadline_exceeded', reason: `deadline ${at(30_000)} passed` } });
  });

  it('given inference cost that passes the session budget when tools are planned then the session fails instead', () => {
    given(started({ budgetUsd: '0.01' }))
      .when(step(llmStep(toolCalls('c1'), { costUsd: '0.02' })))
      .then({ type: 'agentplane.planner.step.completed', data: undefined }, { type: 'agentplane.session.failed', data: { code: 'budget_exceeded', reason: 'spent 0.02 USD of a 0.01 USD budget' } });
  });

  it('given planned calls whose prices would pass the session budget then they are not requested and the session fails', () => {
    given(started({ budgetUsd: '0.002' }))
      .when(step(llmStep(toolCalls('c1', 'c2'), { costUsd: '0.0005' }), { toolPricesUsd: { weather: '0.001' } }))
      .then(
        { type: 'agentplane.planner.step.completed', data: undefined },
        { type: 'agentplane.session.failed', data: { code: 'budget_exceeded', reason: 'the planned calls would spend 0.0025 USD of a 0.002 USD budget' } },
      );
  });

  it('given planned calls that fit the session budget then they are requested', () => {
    given(started({ budgetUsd: '0.01' }))
      .when(step(llmStep(toolCalls('c1', 'c2'), { costUsd: '0.0005' }), { toolPricesUsd: { weather: '0.001' } }))
      .then({ type: 'agentplane.planner.step.completed' }, { type: 'agentplane.tool.call.requested' }, { type: 'agentplane.tool.call.requested' });
  });

  it('given no session when a step is recorded then session_not_found is thrown', () => {
    given().when(step(llmStep(final('x')))).thenThrows('session_not_found');
  });

  it('given another session id when a step is recorded then session_mismatch is thrown', () => {
    given(started()).when({ ...(step(llmStep(final('x'))) as Extract<SessionCommand, { type: 'RecordPlannerStep' }>), sessionId: 's2' }).thenThrows('session_mismatch');
  });

  it('given a completed session when a step is recorded then session_ended is thrown', () => {
    given(started(), stepCompleted(1, final('done')), ev('agentplane.session.completed', { answer: 'done', steps: 1, toolCalls: 0, costUsd: '0' }))
      .when(step(llmStep(final('again'))))
      .thenThrows('session_ended');
  });
});

// ---- RecordToolOutcome --------------------------------------------------------------------------

describe('RecordToolOutcome', () => {
  const outcome = (event: ToolOutcomeEvent, ms = 200): SessionCommand => ({ type: 'RecordToolOutcome', meta: meta(ms), event });
  const twoPending = [started(), stepCompleted(1, toolCalls('c1', 'c2')), requested(1, 'c1'), requested(1, 'c2')];

  it('given two pending calls when one succeeds then nothing new is decided and the outcome is folded by handle', () => {
    given(...twoPending).when(outcome(succeeded('c1'))).then();
    const { state } = handle(fold(twoPending), outcome(succeeded('c1')));
    assert.equal(state.status, 'running');
    assert.deepEqual(state.status === 'running' && state.pendingCallIds, ['c2']);
    assert.equal(state.status === 'running' && state.results.c1?.status, 'succeeded');
  });

  it('given an outcome already recorded when redelivered then it is a no-op', () => {
    given(...twoPending, succeeded('c1')).when(outcome(succeeded('c1'))).then();
  });

  it('given an llm session when a call fails then the session goes on (the model sees the failure)', () => {
    given(...twoPending).when(outcome(toolFailed('c1'))).then();
  });

  it('given a workflow session when a call fails then the session fails with tool_failed', () => {
    given(started({ mode: 'workflow', workflow: { steps: [{ calls: [{ id: 'c1', tool: 'weather', args: {} }] }] } }), stepCompleted(1, toolCalls('c1')), requested(1, 'c1'))
      .when(outcome(toolFailed('c1')))
      .then({ type: 'agentplane.session.failed', data: { code: 'tool_failed', reason: 'tool "weather" (call c1) timeout: no answer in 500 ms' } });
  });

  it('given a workflow session when a call is rejected then the session fails with the rejection reason', () => {
    given(started({ mode: 'workflow', workflow: { steps: [{ calls: [{ id: 'c1', tool: 'weather', args: {} }] }] } }), stepCompleted(1, toolCalls('c1')), requested(1, 'c1'))
      .when(outcome(rejected('c1')))
      .then({ type: 'agentplane.session.failed', data: { code: 'tool_failed', reason: 'tool "weather" (call c1) rejected: budget_exceeded' } });
  });

  it('given a session budget when tool spend passes it then the session fails with budget_exceeded', () => {
    given(started({ budgetUsd: '0.5' }), stepCompleted(1, toolCalls('c1', 'c2')), requested(1, 'c1'), requested(1, 'c2'), succeeded('c1', '0.3'))
      .when(outcome(succeeded('c2', '0.3')))
      .then({ type: 'agentplane.session.failed', data: { code: 'budget_exceeded', reason: 'spent 0.6 USD of a 0.5 USD budget' } });
  });

  it('given the last step ran tools when its last outcome arrives then the session fails with max_steps_exceeded', () => {
    given(started({ maxSteps: 1 }), stepCompleted(1, toolCalls('c1')), requested(1, 'c1'))
      .when(outcome(succeeded('c1')))
      .then({ type: 'agentplane.session.failed', data: { code: 'max_steps_exceeded', reason: 'no answer within 1 steps' } });
  });

  it('given an outcome after the deadline when recorded then the session fails with deadline_exceeded', () => {
    given(...twoPending).when(outcome(succeeded('c1'), 30_000)).then({ type: 'agentplane.session.failed', data: { code: 'deadline_exceeded', reason: `deadline ${at(30_000)} passed` } });
  });

  it('given an outcome when it derives an event then causationid is the outcome id', () => {
    const o = toolFailed('c1');
    const [e] = given(started({ mode: 'workflow', workflow: { steps: [{ calls: [{ id: 'c1', tool: 'weather', args: {} }] }] } }), stepCompleted(1, toolCalls('c1')), requested(1, 'c1'))
      .when(outcome(o))
      .then({ type: 'agentplane.session.failed' });
    assert.equal(e.causationid, o.id);
  });

  it('given a call the session never requested when its outcome arrives then unknown_call is thrown', () => {
    given(...twoPending).when(outcome(succeeded('zz'))).thenThrows('unknown_call');
  });

  it('given a cancelled session when a late outcome arrives then nothing happens', () => {
    given(...twoPending, ev('agentplane.session.cancelled', {})).when(outcome(succeeded('c1'))).then();
  });

  it('given no session when an outcome arrives then session_not_found is thrown', () => {
    given().when(outcome(succeeded('c1'))).thenThrows('session_not_found');
  });
});

// ---- Cancel / Fail / Complete / Timeout ---------------------------------------------------------

describe('CancelSession, FailSession, CompleteSession, TimeoutSession', () => {
  it('given a running session when cancelled then session.cancelled carries the reason', () => {
    given(started()).when({ type: 'CancelSession', meta: meta(), sessionId: 's1', reason: 'user' }).then({ type: 'agentplane.session.cancelled', data: { reason: 'user' } });
  });

  it('given a cancelled session when cancelled again then session_ended is thrown', () => {
    given(started(), ev('agentplane.session.cancelled', {})).when({ type: 'CancelSession', meta: meta(), sessionId: 's1' }).thenThrows('session_ended');
  });

  it('given no session when cancelled then session_not_found is thrown', () => {
    given().when({ type: 'CancelSession', meta: meta(), sessionId: 's1' }).thenThrows('session_not_found');
  });

  it('given a running session when failed then session.failed has the code and reason', () => {
    given(started()).when({ type: 'FailSession', meta: meta(), sessionId: 's1', code: 'internal', reason: 'boom' }).then({ type: 'agentplane.session.failed', data: { code: 'internal', reason: 'boom' } });
  });

  it('given nothing pending when completed explicitly then the summary comes from the state', () => {
    given(started(), stepCompleted(1, toolCalls('c1')), requested(1, 'c1'), succeeded('c1', '0.5'))
      .when({ type: 'CompleteSession', meta: meta(), sessionId: 's1', answer: 'ok' })
      .then({ type: 'agentplane.session.completed', data: { answer: 'ok', steps: 1, toolCalls: 1, costUsd: '0.5' } });
  });

  it('given calls pending when completed explicitly then step_in_progress is thrown', () => {
    given(started(), stepCompleted(1, toolCalls('c1')), requested(1, 'c1')).when({ type: 'CompleteSession', meta: meta(), sessionId: 's1', answer: 'ok' }).thenThrows('step_in_progress');
  });

  it('given the deadline passed when timed out then the session fails with deadline_exceeded', () => {
    given(started()).when({ type: 'TimeoutSession', meta: meta(30_000), sessionId: 's1' }).then({ type: 'agentplane.session.failed', data: { code: 'deadline_exceeded', reason: `deadline ${at(30_000)} passed` } });
  });

  it('given the deadline has not passed when timed out then deadline_not_reached is thrown', () => {
    given(started()).when({ type: 'TimeoutSession', meta: meta(29_999), sessionId: 's1' }).thenThrows('deadline_not_reached');
  });
});

// ---- evolve / fold ------------------------------------------------------------------------------

describe('evolve and fold', () => {
  it('given the initial state then the status is none', () => {
    assert.deepEqual(initialState(), { status: 'none' });
  });

  it('given a whole session timeline when folded then the completed summary matches', () => {
    const s = fold([
      started(),
      stepCompleted(1, toolCalls('a', 'b'), { costUsd: '0.001' }),
      requested(1, 'a'),
      requested(1, 'b'),
      ev('agentplane.tool.call.admitted', { step: 1, callId: 'a', tool: 'weather', args: {}, idempotencyKey: 's:a', essential: false, queuedMs: 1 }),
      ev('agentplane.tool.call.deferred', { callId: 'b', tool: 'weather', reason: 'cap', retryAfterMs: 10 }),
      succeeded('a', '0.01'),
      toolFailed('b'),
      stepCompleted(2, final('done'), { costUsd: '0.002' }),
      ev('agentplane.session.completed', { answer: 'done', steps: 2, toolCalls: 2, costUsd: '0.013' }, 900),
    ]);
    assert.deepEqual(s, { status: 'completed', ...ids, answer: 'done', steps: 2, toolCalls: 2, costUsd: '0.013', endedAt: at(900) });
  });

  it('given a running session when folded then step, pending calls, results and cost are tracked', () => {
    const s = fold([started({ budgetUsd: '2' }), stepCompleted(1, toolCalls('a', 'b'), { costUsd: '0.1' }), requested(1, 'a'), requested(1, 'b'), succeeded('a', '0.2')]);
    assert.equal(s.status, 'running');
    if (s.status !== 'running') return;
    assert.equal(s.step, 1);
    assert.deepEqual(s.pendingCallIds, ['b']);
    assert.deepEqual(s.results.a, { status: 'succeeded', tool: 'weather', result: { tempC: 21 }, attempts: 1, latencyMs: 150, costUsd: '0.2' });
    assert.equal(s.toolCalls, 2);
    assert.equal(s.costUsd, '0.3');
    assert.equal(s.budgetUsd, '2');
    assert.equal(s.calls.b.step, 1);
    assert.equal(canPlan(s), false);
  });

  it('given duplicated events (at-least-once delivery) when folded then the state is as if each came once', () => {
    const once = [started(), stepCompleted(1, toolCalls('a')), requested(1, 'a'), succeeded('a', '0.2')];
    const twice = once.flatMap((e) => [e, e]);
    assert.deepEqual(fold(twice), fold(once));
  });

  it('given a terminal session when more facts arrive then the state does not change', () => {
    const ended = fold([started(), ev('agentplane.session.failed', { reason: 'x', code: 'internal' })]);
    assert.equal(evolve(ended, stepCompleted(1, final('late'))), ended);
    assert.equal(evolve(ended, ev('agentplane.session.completed', { answer: 'a', steps: 1, toolCalls: 0, costUsd: '0' })), ended);
  });

  it('given a rejected request when folded then the errors are kept', () => {
    const s: SessionState = fold([ev('agentplane.session.rejected', { errors: ['unknown tool "x"'] })]);
    assert.equal(s.status, 'rejected');
    assert.deepEqual(s.status === 'rejected' && s.errors, ['unknown tool "x"']);
  });

  it('given an event of another session when evolved then it is ignored', () => {
    const s = fold([started()]);
    const other = makeEvent('agentplane.planner.step.completed', { ...(stepCompleted(1, final('x')).data as EventData<'agentplane.planner.step.completed'>), sessionId: 's2' }, { source: 't' }) as SessionEvent;
    assert.equal(evolve(s, other), s);
  });

  it('given a running session when the deadline passes then isOverdue says so', () => {
    const s = fold([started()]);
    assert.equal(isOverdue(s, at(29_999)), false);
    assert.equal(isOverdue(s, at(30_000)), true);
  });

  it('given decide + evolve through handle then a full llm session runs start to finish', () => {
    let s = initialState();
    const log: SessionEvent[] = [];
    const run = (c: SessionCommand) => {
      const r = handle(s, c);
      log.push(...r.events);
      s = r.state;
    };
    run({ type: 'StartSession', meta: meta(), request: request(), maxSteps: 4, defaultDeadlineMs: 30_000 });
    run({ type: 'RecordPlannerStep', meta: meta(10), sessionId: 's1', result: llmStep(toolCalls('a', 'b')) });
    run({ type: 'RecordToolOutcome', meta: meta(20), event: succeeded('a', '0.1') });
    assert.equal(canPlan(s), false);
    run({ type: 'RecordToolOutcome', meta: meta(30), event: succeeded('b', '0.2') });
    assert.equal(canPlan(s), true);
    run({ type: 'RecordPlannerStep', meta: meta(40), sessionId: 's1', result: llmStep(final('Sunny')) });
    assert.deepEqual(
      log.map((e) => e.type),
      [
        'agentplane.session.started',
        'agentplane.planner.step.completed',
        'agentplane.tool.call.requested',
        'agentplane.tool.call.requested',
        'agentplane.planner.step.completed',
        'agentplane.session.completed',
      ],
    );
    assert.equal(s.status, 'completed');
    assert.equal(s.status === 'completed' && s.costUsd, '0.3');
    assert.equal(new Set(log.map((e) => e.id)).size, log.length);
  });
});
