/**
 * The session lifecycle as a pure decider (Emmett style): decide(command, state) → events,
 * evolve(state, event) → state. No I/O, no clock, no randomness: time comes from the command
 * and event ids are derived from the session and the fact (deterministicEventId), so a planner
 * that crashes and decides again re-emits the same ids and consumers dedupe them.
 */
import {
  AgentplaneEvent,
  FallbackSource,
  PlannedToolCall,
  PlannerKind,
  PlannerOutcome,
  SessionEvent,
  SessionEventType,
  SessionRequestedData,
  ToolCallFailed,
  ToolCallRejected,
  ToolCallSucceeded,
  ToolFailureCode,
  ToolRejectReason,
  WorkflowSpec,
  EventData,
  addDecimal,
  compareDecimal,
  sumDecimals,
  deterministicEventId,
  makeEvent,
} from '@agentplane/contracts';

// ---- state ------------------------------------------------------------------------------------

export type SessionMode = PlannerKind;

export interface ToolCallRecord {
  readonly callId: string;
  readonly step: number;
  readonly tool: string;
  readonly args: Readonly<Record<string, unknown>>;
  readonly essential: boolean;
}

export type ToolResult =
  | { readonly status: 'succeeded'; readonly tool: string; readonly result: unknown; readonly attempts: number; readonly latencyMs: number; readonly costUsd: string }
  | { readonly status: 'failed'; readonly tool: string; readonly error: string; readonly code: ToolFailureCode; readonly attempts: number; readonly latencyMs: number; readonly costUsd: string }
  | { readonly status: 'rejected'; readonly tool: string; readonly reason: ToolRejectReason; readonly detail?: string };

export interface NoSession {
  readonly status: 'none';
}

export interface RunningSession {
  readonly status: 'running';
  readonly sessionId: string;
  readonly tenantId: string;
  readonly mode: SessionMode;
  readonly model?: string;
  readonly maxSteps: number;
  readonly deadlineAt: string;
  readonly startedAt: string;
  readonly input: string;
  readonly tools?: readonly string[];
  readonly workflow?: WorkflowSpec;
  readonly budgetUsd?: string;
  readonly webhookUrl?: string;
  readonly metadata?: Readonly<Record<string, string>>;
  /** Number of the last recorded planner step; 0 before the first. */
  readonly step: number;
  /** Calls of the current step still waiting for an outcome, in request order. */
  readonly pendingCallIds: readonly string[];
  /** Every call requested so far, by call id. */
  readonly calls: Readonly<Record<string, ToolCallRecord>>;
  /** Outcomes by call id. */
  readonly results: Readonly<Record<string, ToolResult>>;
  readonly toolCalls: number;
  /** Tool spend plus inference spend the planner priced, as an exact decimal string. */
  readonly costUsd: string;
}

interface Ended {
  readonly sessionId: string;
  readonly tenantId: string;
  readonly steps: number;
  readonly toolCalls: number;
  readonly costUsd: string;
  readonly endedAt: string;
}

export interface CompletedSession extends Ended {
  readonly status: 'completed';
  readonly answer: string;
}
export interface RejectedSession {
  readonly status: 'rejected';
  readonly sessionId: string;
  readonly tenantId: string;
  readonly errors: readonly string[];
  readonly endedAt: string;
}
export interface FailedSession extends Ended {
  readonly status: 'failed';
  readonly reason: string;
  readonly code: string;
}
export interface CancelledSession extends Ended {
  readonly status: 'cancelled';
  readonly reason?: string;
}

export type SessionState = NoSession | RunningSession | CompletedSession | RejectedSession | FailedSession | CancelledSession;
export type SessionStatus = SessionState['status'];
export type TerminalSession = Exclude<SessionState, NoSession | RunningSession>;

export function initialState(): SessionState {
  return { status: 'none' };
}

export function isTerminal(state: SessionState): state is TerminalSession {
  return state.status !== 'none' && state.status !== 'running';
}

// ---- commands ---------------------------------------------------------------------------------

export interface CommandMeta {
  /** RFC 3339; the decider's only clock. */
  readonly now: string;
  /** Id of the event that triggered the command (becomes causationid). */
  readonly causationId?: string;
  readonly traceparent?: string;
  /** Defaults to agentplane/planner. */
  readonly source?: string;
}

export interface StartSession {
  readonly type: 'StartSession';
  readonly meta: CommandMeta;
  readonly request: SessionRequestedData;
  /** Resolved by the planner (e.g. tenant in fallback mode); default: request.planner, else workflow when one is declared, else llm. */
  readonly mode?: SessionMode;
  readonly model?: string;
  /** For workflow sessions raised to workflow steps + 1 (the final answer is a step too). */
  readonly maxSteps: number;
  readonly defaultDeadlineMs: number;
  /** Tools named by the request that the registry does not know. */
  readonly unknownTools?: readonly string[];
  /** Any other validation errors found by the caller (e.g. tool arguments against contracts). */
  readonly errors?: readonly string[];
}

export type PlannerStepResult =
  | {
      readonly kind: 'completed';
      readonly provider: string;
      readonly model: string;
      readonly promptTokens: number;
      readonly completionTokens: number;
      readonly latencyMs: number;
      readonly batchSize: number;
      readonly queueWaitMs: number;
      readonly pass: boolean;
      /** Why the output did not pass. */
      readonly errors?: readonly string[];
      readonly outcome: PlannerOutcome;
      readonly costUsd?: string;
    }
  | {
      readonly kind: 'failed';
      readonly provider: string;
      readonly model: string;
      readonly reason: string;
      readonly errors: readonly string[];
      readonly promptTokens: number;
      readonly completionTokens: number;
      readonly latencyMs: number;
      readonly retriable: boolean;
      readonly costUsd?: string;
    };

export interface RecordPlannerStep {
  readonly type: 'RecordPlannerStep';
  readonly meta: CommandMeta;
  readonly sessionId: string;
  readonly result: PlannerStepResult;
  /** Set when the deterministic fallback planned this step. */
  readonly fallback?: FallbackSource;
  /** Tools marked essential in the registry (they go on under a tripped budget guardrail). */
  readonly essentialTools?: readonly string[];
  /** Price per call of each tool (the registry's costUsd): planned calls that would pass the budget are not made. */
  readonly toolPricesUsd?: Readonly<Record<string, string>>;
}

export type ToolOutcomeEvent = ToolCallSucceeded | ToolCallFailed | ToolCallRejected;

export interface RecordToolOutcome {
  readonly type: 'RecordToolOutcome';
  readonly meta: CommandMeta;
  /** The outcome as it is on the log (emitted by the executor or the rate limiter). */
  readonly event: ToolOutcomeEvent;
}

export interface CancelSession {
  readonly type: 'CancelSession';
  readonly meta: CommandMeta;
  readonly sessionId: string;
  readonly reason?: string;
}

export interface FailSession {
  readonly type: 'FailSession';
  readonly meta: CommandMeta;
  readonly sessionId: string;
  readonly reason: string;
  readonly code: string;
}

export interface CompleteSession {
  readonly type: 'CompleteSession';
  readonly meta: CommandMeta;
  readonly sessionId: string;
  readonly answer: string;
}

export interface TimeoutSession {
  readonly type: 'TimeoutSession';
  readonly meta: CommandMeta;
  readonly sessionId: string;
}

export type SessionCommand =
  | StartSession
  | RecordPlannerStep
  | RecordToolOutcome
  | CancelSession
  | FailSession
  | CompleteSession
  | TimeoutSession;

// ---- errors -----------------------------------------------------------------------------------

export type SessionErrorCode =
  | 'session_not_found'
  | 'session_exists'
  | 'session_ended'
  | 'session_mismatch'
  | 'step_in_progress'
  | 'max_steps_exceeded'
  | 'duplicate_call_id'
  | 'unknown_call'
  | 'deadline_not_reached';

/** A command that is not valid in the current state. Callers log it and move on. */
export class SessionDomainError extends Error {
  override readonly name = 'SessionDomainError';
  constructor(
    readonly code: SessionErrorCode,
    message: string,
    readonly command: SessionCommand['type'],
    readonly status: SessionStatus,
  ) {
    super(message);
  }
}

// ---- decide -----------------------------------------------------------------------------------

const ID_NAMESPACE = 'agentplane.session';
const DEFAULT_SOURCE = 'agentplane/planner';

function emit<T extends SessionEventType>(type: T, data: EventData<T>, meta: CommandMeta, ...discriminator: Array<string | number>): SessionEvent {
  const d = data as unknown as { sessionId: string };
  return makeEvent(type, data, {
    source: meta.source ?? DEFAULT_SOURCE,
    id: deterministicEventId(ID_NAMESPACE, d.sessionId, type, ...discriminator),
    time: meta.now,
    ...(meta.causationId !== undefined ? { causationid: meta.causationId } : {}),
    ...(meta.traceparent !== undefined ? { traceparent: meta.traceparent } : {}),
  }) as SessionEvent;
}

function err(code: SessionErrorCode, message: string, command: SessionCommand, state: SessionState): SessionDomainError {
  return new SessionDomainError(code, message, command.type, state.status);
}

/** The running session a command addresses, or a typed error. */
function running(command: Exclude<SessionCommand, StartSession | RecordToolOutcome>, state: SessionState): RunningSession {
  if (state.status === 'none') throw err('session_not_found', `session ${command.sessionId} has not started`, command, state);
  if (state.sessionId !== command.sessionId) {
    throw err('session_mismatch', `command for session ${command.sessionId} given the state of ${state.sessionId}`, command, state);
  }
  if (state.status !== 'running') throw err('session_ended', `session ${state.sessionId} is already ${state.status}`, command, state);
  return state;
}

function pastDeadline(s: RunningSession, now: string): boolean {
  return Date.parse(now) >= Date.parse(s.deadlineAt);
}

function overBudget(s: RunningSession, costUsd: string): boolean {
  return s.budgetUsd !== undefined && compareDecimal(costUsd, s.budgetUsd) > 0;
}

function failed(s: RunningSession, meta: CommandMeta, code: string, reason: string): SessionEvent {
  return emit('agentplane.session.failed', { tenantId: s.tenantId, sessionId: s.sessionId, reason, code }, meta);
}

export function decide(command: SessionCommand, state: SessionState): SessionEvent[] {
  switch (command.type) {
    case 'StartSession':
      return decideStart(command, state);
    case 'RecordPlannerStep':
      return decidePlannerStep(command, state);
    case 'RecordToolOutcome':
      return decideToolOutcome(command, state);
    case 'CancelSession': {
      const s = running(command, state);
      return [emit('agentplane.session.cancelled', { tenantId: s.tenantId, sessionId: s.sessionId, ...(command.reason !== undefined ? { reason: command.reason } : {}) }, command.meta)];
    }
    case 'FailSession': {
      const s = running(command, state);
      return [failed(s, command.meta, command.code, command.reason)];
    }
    case 'CompleteSession': {
      const s = running(command, state);
      if (s.pendingCallIds.length > 0) {
        throw err('step_in_progress', `session ${s.sessionId} still waits for calls ${s.pendingCallIds.join(', ')}`, command, state);
      }
      return [emit('agentplane.session.completed', { tenantId: s.tenantId, sessionId: s.sessionId, answer: command.answer, steps: s.step, toolCalls: s.toolCalls, costUsd: s.costUsd }, command.meta)];
    }
    case 'TimeoutSession': {
      const s = running(command, state);
      if (!pastDeadline(s, command.meta.now)) {
        throw err('deadline_not_reached', `session ${s.sessionId} runs until ${s.deadlineAt}`, command, state);
      }
      return [failed(s, command.meta, 'deadline_exceeded', `deadline ${s.deadlineAt} passed`)];
    }
    default: {
      const unhandled: never = command;
      throw new Error(`unhandled command ${(unhandled as { type: string }).type}`);
    }
  }
}

function decideStart(c: StartSession, state: SessionState): SessionEvent[] {
  const r = c.request;
  if (state.status !== 'none') throw err('session_exists', `session ${r.sessionId} already exists (${state.status})`, c, state);
  const mode: SessionMode = c.mode ?? r.planner ?? (r.workflow ? 'workflow' : 'llm');
  const errors: string[] = [...(c.errors ?? []), ...(c.unknownTools ?? []).map((t) => `unknown tool "${t}"`)];
  if (mode === 'workflow' && !r.workflow) errors.push('planner "workflow" needs a declared workflow');
  if (r.workflow) {
    const seen = new Set<string>();
    r.workflow.steps.forEach((step, i) =>
      step.calls.forEach((call) => {
        if (seen.has(call.id)) errors.push(`workflow call id "${call.id}" is used more than once`);
        seen.add(call.id);
        if (r.tools && !r.tools.includes(call.tool)) errors.push(`workflow step ${i + 1} calls tool "${call.tool}", which is not in tools`);
      }),
    );
  }
  if (errors.length > 0) {
    return [emit('agentplane.session.rejected', { tenantId: r.tenantId, sessionId: r.sessionId, errors }, c.meta)];
  }
  const maxSteps = mode === 'workflow' && r.workflow ? Math.max(c.maxSteps, r.workflow.steps.length + 1) : c.maxSteps;
  const deadlineAt = new Date(Date.parse(c.meta.now) + (r.deadlineMs ?? c.defaultDeadlineMs)).toISOString();
  const model = c.model ?? r.model;
  return [
    emit(
      'agentplane.session.started',
      {
        tenantId: r.tenantId,
        sessionId: r.sessionId,
        mode,
        ...(model !== undefined ? { model } : {}),
        maxSteps,
        deadlineAt,
        input: r.input,
        ...(r.tools !== undefined ? { tools: r.tools } : {}),
        ...(r.workflow !== undefined ? { workflow: r.workflow } : {}),
        ...(r.budgetUsd !== undefined ? { budgetUsd: r.budgetUsd } : {}),
        ...(r.webhookUrl !== undefined ? { webhookUrl: r.webhookUrl } : {}),
        ...(r.metadata !== undefined ? { metadata: r.metadata } : {}),
      },
      c.meta,
    ),
  ];
}

function decidePlannerStep(c: RecordPlannerStep, state: SessionState): SessionEvent[] {
  const s = running(c, state);
  if (s.pendingCallIds.length > 0) {
    throw err('step_in_progress', `session ${s.sessionId} still waits for calls ${s.pendingCallIds.join(', ')}`, c, state);
  }
  if (s.step >= s.maxSteps) throw err('max_steps_exceeded', `session ${s.sessionId} has used its ${s.maxSteps} steps`, c, state);
  const step = s.step + 1;
  const r = c.result;
  const ids = { tenantId: s.tenantId, sessionId: s.sessionId };
  const out: SessionEvent[] = [];
  if (c.fallback !== undefined) out.push(emit('agentplane.planner.fallback.used', { ...ids, step, source: c.fallback }, c.meta, step));
  const cost = r.costUsd !== undefined ? addDecimal(s.costUsd, r.costUsd) : s.costUsd;
  const priced = r.costUsd !== undefined ? { costUsd: r.costUsd } : {};

  if (r.kind === 'failed') {
    out.push(
      emit(
        'agentplane.planner.step.failed',
        { ...ids, step, provider: r.provider, model: r.model, reason: r.reason, errors: r.errors, promptTokens: r.promptTokens, completionTokens: r.completionTokens, latencyMs: r.latencyMs, retriable: r.retriable, ...priced },
        c.meta,
        step,
      ),
    );
  } else {
    const calls = r.outcome.kind === 'tool_calls' ? r.outcome.calls : [];
    if (r.pass) assertFreshCallIds(c, state, s, calls);
    out.push(
      emit(
        'agentplane.planner.step.completed',
        {
          ...ids,
          step,
          provider: r.provider,
          model: r.model,
          promptTokens: r.promptTokens,
          completionTokens: r.completionTokens,
          latencyMs: r.latencyMs,
          batchSize: r.batchSize,
          queueWaitMs: r.queueWaitMs,
          pass: r.pass,
          ...(r.errors !== undefined ? { errors: r.errors } : {}),
          outcome: r.outcome,
          ...priced,
        },
        c.meta,
        step,
      ),
    );
  }

  // What follows the step, most binding rule first.
  if (pastDeadline(s, c.meta.now)) return [...out, failed(s, c.meta, 'deadline_exceeded', `deadline ${s.deadlineAt} passed`)];
  if (r.kind === 'completed' && r.pass && r.outcome.kind === 'final') {
    return [...out, emit('agentplane.session.completed', { ...ids, answer: r.outcome.answer, steps: step, toolCalls: s.toolCalls, costUsd: cost }, c.meta)];
  }
  if (overBudget(s, cost)) return [...out, failed(s, c.meta, 'budget_exceeded', `spent ${cost} USD of a ${s.budgetUsd} USD budget`)];
  if (r.kind === 'failed' && !r.retriable) return [...out, failed(s, c.meta, 'planner_failed', r.reason)];
  if (r.kind === 'completed' && r.pass && r.outcome.kind === 'tool_calls') {
    // Stop before a step would pass the session's own budget, not after it has.
    const projected = addDecimal(cost, sumDecimals(r.outcome.calls.map((call) => c.toolPricesUsd?.[call.tool] ?? '0')));
    if (overBudget(s, projected)) {
      return [...out, failed(s, c.meta, 'budget_exceeded', `the planned calls would spend ${projected} USD of a ${s.budgetUsd} USD budget`)];
    }
    const essential = new Set(c.essentialTools ?? []);
    for (const call of r.outcome.calls) {
      out.push(
        emit(
          'agentplane.tool.call.requested',
          { ...ids, step, callId: call.callId, tool: call.tool, args: call.args, idempotencyKey: `${s.sessionId}:${call.callId}`, essential: essential.has(call.tool) },
          c.meta,
          call.callId,
        ),
      );
    }
    return out;
  }
  // A failed or non-passing step: the planner may try again while steps remain.
  if (step >= s.maxSteps) return [...out, failed(s, c.meta, 'max_steps_exceeded', `no usable plan within ${s.maxSteps} steps`)];
  return out;
}

function assertFreshCallIds(c: RecordPlannerStep, state: SessionState, s: RunningSession, calls: readonly PlannedToolCall[]): void {
  const seen = new Set<string>();
  for (const call of calls) {
    // Call ids key results and idempotency keys, so they must be unique within the session.
    if (seen.has(call.callId) || s.calls[call.callId] !== undefined) {
      throw err('duplicate_call_id', `call id "${call.callId}" is already used in session ${s.sessionId}`, c, state);
    }
    seen.add(call.callId);
  }
}

function decideToolOutcome(c: RecordToolOutcome, state: SessionState): SessionEvent[] {
  const d = c.event.data;
  if (state.status === 'none') throw err('session_not_found', `session ${d.sessionId} has not started`, c, state);
  if (state.sessionId !== d.sessionId) throw err('session_mismatch', `outcome for session ${d.sessionId} given the state of ${state.sessionId}`, c, state);
  // Late outcomes after the session ended are normal (calls in flight at cancel time): nothing to do.
  if (state.status !== 'running') return [];
  const s = state;
  if (s.calls[d.callId] === undefined) throw err('unknown_call', `session ${s.sessionId} never requested call "${d.callId}"`, c, state);
  // Redelivered outcome: already counted.
  if (s.results[d.callId] !== undefined || !s.pendingCallIds.includes(d.callId)) return [];
  const meta: CommandMeta = c.meta.causationId === undefined ? { ...c.meta, causationId: c.event.id } : c.meta;
  const cost = c.event.type === 'agentplane.tool.call.rejected' ? s.costUsd : addDecimal(s.costUsd, c.event.data.costUsd);
  const lastOfStep = s.pendingCallIds.length === 1;

  if (pastDeadline(s, meta.now)) return [failed(s, meta, 'deadline_exceeded', `deadline ${s.deadlineAt} passed`)];
  if (overBudget(s, cost)) return [failed(s, meta, 'budget_exceeded', `spent ${cost} USD of a ${s.budgetUsd} USD budget`)];
  if (s.mode === 'workflow' && c.event.type !== 'agentplane.tool.call.succeeded') {
    // A declared workflow cannot route around a missing result; an LLM gets the failure as the tool's answer instead.
    const why = c.event.type === 'agentplane.tool.call.failed' ? `${c.event.data.code}: ${c.event.data.error}` : `rejected: ${c.event.data.reason}`;
    return [failed(s, meta, 'tool_failed', `tool "${d.tool}" (call ${d.callId}) ${why}`)];
  }
  if (lastOfStep && s.step >= s.maxSteps) return [failed(s, meta, 'max_steps_exceeded', `no answer within ${s.maxSteps} steps`)];
  return [];
}

// ---- evolve -----------------------------------------------------------------------------------

/**
 * Applies one fact. Total and tolerant: duplicates, late and foreign events leave the state as
 * it is, because Kafka delivers at least once.
 */
export function evolve(state: SessionState, event: SessionEvent): SessionState {
  if (state.status !== 'none' && state.sessionId !== event.data.sessionId) return state;
  switch (event.type) {
    case 'agentplane.session.started': {
      if (state.status !== 'none') return state;
      const d = event.data;
      return {
        status: 'running',
        sessionId: d.sessionId,
        tenantId: d.tenantId,
        mode: d.mode,
        ...(d.model !== undefined ? { model: d.model } : {}),
        maxSteps: d.maxSteps,
        deadlineAt: d.deadlineAt,
        startedAt: event.time,
        input: d.input,
        ...(d.tools !== undefined ? { tools: d.tools } : {}),
        ...(d.workflow !== undefined ? { workflow: d.workflow } : {}),
        ...(d.budgetUsd !== undefined ? { budgetUsd: d.budgetUsd } : {}),
        ...(d.webhookUrl !== undefined ? { webhookUrl: d.webhookUrl } : {}),
        ...(d.metadata !== undefined ? { metadata: d.metadata } : {}),
        step: 0,
        pendingCallIds: [],
        calls: {},
        results: {},
        toolCalls: 0,
        costUsd: '0',
      };
    }
    case 'agentplane.session.rejected':
      if (state.status !== 'none') return state;
      return { status: 'rejected', sessionId: event.data.sessionId, tenantId: event.data.tenantId, errors: event.data.errors, endedAt: event.time };
    case 'agentplane.session.completed':
      if (state.status !== 'running') return state;
      return {
        status: 'completed',
        sessionId: state.sessionId,
        tenantId: state.tenantId,
        answer: event.data.answer,
        steps: event.data.steps,
        toolCalls: event.data.toolCalls,
        costUsd: event.data.costUsd,
        endedAt: event.time,
      };
    case 'agentplane.session.failed':
      if (state.status !== 'running') return state;
      return { status: 'failed', ...summary(state, event.time), reason: event.data.reason, code: event.data.code };
    case 'agentplane.session.cancelled':
      if (state.status !== 'running') return state;
      return { status: 'cancelled', ...summary(state, event.time), ...(event.data.reason !== undefined ? { reason: event.data.reason } : {}) };
    case 'agentplane.planner.step.completed':
    case 'agentplane.planner.step.failed':
      if (state.status !== 'running' || event.data.step !== state.step + 1) return state;
      return {
        ...state,
        step: event.data.step,
        costUsd: event.data.costUsd !== undefined ? addDecimal(state.costUsd, event.data.costUsd) : state.costUsd,
      };
    case 'agentplane.planner.fallback.used':
    case 'agentplane.tool.call.admitted':
    case 'agentplane.tool.call.deferred':
      return state;
    case 'agentplane.tool.call.requested': {
      if (state.status !== 'running' || state.calls[event.data.callId] !== undefined) return state;
      const d = event.data;
      return {
        ...state,
        calls: { ...state.calls, [d.callId]: { callId: d.callId, step: d.step, tool: d.tool, args: d.args, essential: d.essential } },
        pendingCallIds: [...state.pendingCallIds, d.callId],
        toolCalls: state.toolCalls + 1,
      };
    }
    case 'agentplane.tool.call.succeeded':
    case 'agentplane.tool.call.failed':
    case 'agentplane.tool.call.rejected': {
      if (state.status !== 'running' || !state.pendingCallIds.includes(event.data.callId)) return state;
      const result = toolResult(event);
      return {
        ...state,
        pendingCallIds: state.pendingCallIds.filter((id) => id !== event.data.callId),
        results: { ...state.results, [event.data.callId]: result },
        costUsd: result.status === 'rejected' ? state.costUsd : addDecimal(state.costUsd, result.costUsd),
      };
    }
    default: {
      const unhandled: never = event;
      return unhandled;
    }
  }
}

function summary(s: RunningSession, endedAt: string): Ended {
  return { sessionId: s.sessionId, tenantId: s.tenantId, steps: s.step, toolCalls: s.toolCalls, costUsd: s.costUsd, endedAt };
}

function toolResult(e: ToolOutcomeEvent): ToolResult {
  switch (e.type) {
    case 'agentplane.tool.call.succeeded':
      return { status: 'succeeded', tool: e.data.tool, result: e.data.result, attempts: e.data.attempts, latencyMs: e.data.latencyMs, costUsd: e.data.costUsd };
    case 'agentplane.tool.call.failed':
      return { status: 'failed', tool: e.data.tool, error: e.data.error, code: e.data.code, attempts: e.data.attempts, latencyMs: e.data.latencyMs, costUsd: e.data.costUsd };
    case 'agentplane.tool.call.rejected':
      return { status: 'rejected', tool: e.data.tool, reason: e.data.reason, ...(e.data.detail !== undefined ? { detail: e.data.detail } : {}) };
    default: {
      const unhandled: never = e;
      return unhandled;
    }
  }
}

export function fold(events: Iterable<SessionEvent>, state: SessionState = initialState()): SessionState {
  let s = state;
  for (const e of events) s = evolve(s, e);
  return s;
}

/**
 * decide + evolve in one go, for callers that keep state in memory. For RecordToolOutcome the
 * outcome (already on the log) is folded before the derived events.
 */
export function handle(state: SessionState, command: SessionCommand): { readonly events: SessionEvent[]; readonly state: SessionState } {
  const events = decide(command, state);
  const applied = command.type === 'RecordToolOutcome' ? [command.event as SessionEvent, ...events] : events;
  return { events, state: fold(applied, state) };
}

// ---- queries ----------------------------------------------------------------------------------

/** True when the planner may run its next step now: running, nothing pending, steps left. */
export function canPlan(state: SessionState): state is RunningSession {
  return state.status === 'running' && state.pendingCallIds.length === 0 && state.step < state.maxSteps;
}

export function isOverdue(state: SessionState, now: string): boolean {
  return state.status === 'running' && pastDeadline(state, now);
}

/** Narrowing helper for consumers of mixed streams. */
export function isToolOutcome(e: AgentplaneEvent): e is ToolOutcomeEvent {
  return e.type === 'agentplane.tool.call.succeeded' || e.type === 'agentplane.tool.call.failed' || e.type === 'agentplane.tool.call.rejected';
}
