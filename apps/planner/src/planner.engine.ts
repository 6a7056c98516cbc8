/**
 * What the planner does with each fact, without I/O of its own: the session decider decides,
 * providers plan, and the caller publishes the events and saves the state. Time comes in
 * through `now`, so the same input gives the same output (event ids are deterministic).
 */
import {
  decimalFromUnits,
  decimalToUnits,
  type AgentplaneEvent,
  type PlannedToolCall,
  type SessionEvent,
} from '@agentplane/contracts';
import {
  canPlan,
  handle,
  isOverdue,
  type CommandMeta,
  type PlannerStepResult,
  type RunningSession,
  type SessionState,
  type ToolOutcomeEvent,
} from '@agentplane/session';
import {
  PlannerError,
  validatePlan,
  validateWorkflow,
  type PlanHistoryEntry,
  type PlannerProvider,
  type PlanRequest,
  type PlanResult,
  type Workflow,
} from '@agentplane/planning';
import type { FallbackSource, PlannerMode } from '@agentplane/contracts';
import type { PriceTable, TenantsConfig, ToolRegistry } from '@agentplane/tools';
import { cachedWorkflow, normaliseTask, taskKey, type CachedPlan, type PlanCacheEntry, type PlanCacheReader } from './plan-cache';

export interface PlannerDeps {
  readonly registry: ToolRegistry;
  readonly tenants: TenantsConfig;
  readonly prices: PriceTable;
  readonly workflow: PlannerProvider;
  /** The OpenAI-compatible provider; absent when no endpoint is configured. */
  readonly llm?: PlannerProvider;
  readonly llmModel?: string;
  readonly maxSteps: number;
  readonly defaultDeadlineMs: number;
  readonly now: () => Date;
  /** Quality-triggered fallback; absent = always normal. */
  readonly fallback?: FallbackDeps;
}

export interface FallbackDeps {
  /** The tenant's planner mode (from planner.mode.changed facts). */
  mode(tenantId: string): PlannerMode;
  readonly cache: PlanCacheReader;
  /** Share of fallback steps that also ask the LLM in the background (0..1). */
  readonly shadowRate: number;
  /** Told the pass of each shadow call: recovery is measured on these. */
  onShadow(tenantId: string, model: string, pass: boolean): void;
  readonly random?: () => number;
}

/** Events to append (in order, all keyed by the session) and the state to keep. */
export interface Decision {
  readonly events: SessionEvent[];
  readonly state: SessionState;
  /** A plan to cache: this decision completed an LLM session whose every call succeeded. */
  readonly cachePlan?: PlanCacheEntry;
}

const NOTHING = (state: SessionState): Decision => ({ events: [], state });

type Requested = AgentplaneEvent<'agentplane.session.requested'>;
type CancelRequested = AgentplaneEvent<'agentplane.session.cancel-requested'>;

export class PlannerEngine {
  constructor(private readonly deps: PlannerDeps) {}

  private meta(cause: { id: string; traceparent?: string }): CommandMeta {
    return { now: this.deps.now().toISOString(), causationId: cause.id, ...(cause.traceparent ? { traceparent: cause.traceparent } : {}) };
  }

  /** A new session: validate against the registry and tenants, start or reject, plan step 1. */
  async onRequested(event: Requested, state: SessionState): Promise<Decision> {
    // A redelivered request (or a second request reusing a session id) changes nothing.
    if (state.status !== 'none') return NOTHING(state);
    const r = event.data;
    const errors: string[] = [];
    if (!this.deps.tenants.byId.has(r.tenantId)) errors.push(`unknown tenant "${r.tenantId}"`);
    if (event.tenantid !== undefined && event.tenantid !== r.tenantId) errors.push('tenantid does not match data.tenantId');
    const unknownTools = (r.tools ?? []).filter((t) => !this.deps.registry.has(t));
    if (r.workflow) {
      errors.push(...validateWorkflow(r.workflow, { knownTools: this.deps.registry, ...(r.tools ? { allowedTools: r.tools } : {}) }));
    }
    const mode = r.planner ?? (r.workflow ? 'workflow' : 'llm');
    if (mode === 'llm' && !this.deps.llm) errors.push('no LLM provider is configured (set PLANNER_BASE_URL), and the request declares no workflow');
    const model = mode === 'llm' ? (r.model ?? this.deps.llmModel) : 'workflow';
    const meta = this.meta(event);
    const started = handle(state, {
      type: 'StartSession',
      meta,
      request: r,
      mode,
      ...(model !== undefined ? { model } : {}),
      maxSteps: this.deps.maxSteps,
      defaultDeadlineMs: this.deps.defaultDeadlineMs,
      unknownTools,
      errors: dedupe(errors),
    });
    if (started.state.status !== 'running') return started;
    const out = [...started.events];
    return this.planWhilePossible(started.state, meta, out);
  }

  async onCancelRequested(event: CancelRequested, state: SessionState): Promise<Decision> {
    if (state.status !== 'running') return NOTHING(state);
    if (state.tenantId !== event.data.tenantId) return NOTHING(state); // only the owner may cancel
    return handle(state, {
      type: 'CancelSession',
      meta: this.meta(event),
      sessionId: state.sessionId,
      ...(event.data.reason !== undefined ? { reason: event.data.reason } : {}),
    });
  }

  /** A tool outcome: record it; when the step is complete, plan the next one. */
  async onToolOutcome(event: ToolOutcomeEvent, state: SessionState): Promise<Decision> {
    if (state.status !== 'running') return NOTHING(state);
    if (state.calls[event.data.callId] === undefined || !state.pendingCallIds.includes(event.data.callId)) return NOTHING(state);
    const meta = this.meta(event);
    const recorded = handle(state, { type: 'RecordToolOutcome', meta, event });
    const out = [...recorded.events];
    if (recorded.state.status !== 'running') return { events: out, state: recorded.state };
    return this.planWhilePossible(recorded.state, meta, out);
  }

  /** Called by the sweeper for sessions past their deadline. */
  onOverdue(state: SessionState): Decision {
    const now = this.deps.now().toISOString();
    if (state.status !== 'running' || !isOverdue(state, now)) return NOTHING(state);
    return handle(state, { type: 'TimeoutSession', meta: { now }, sessionId: state.sessionId });
  }

  /**
   * Runs planner steps until the session waits for tool calls or ends. Each step is bounded by
   * the decider (max steps, deadline, budget), so this loop always ends.
   */
  private async planWhilePossible(state: RunningSession, cause: CommandMeta, out: SessionEvent[]): Promise<Decision> {
    let s: SessionState = state;
    let cachePlan: PlanCacheEntry | undefined;
    while (canPlan(s)) {
      const { result, fallback } = await this.runStep(s);
      const meta: CommandMeta = { ...cause, now: this.deps.now().toISOString() };
      const next = handle(s, {
        type: 'RecordPlannerStep',
        meta,
        sessionId: s.sessionId,
        result,
        ...(fallback ? { fallback } : {}),
        essentialTools: this.essentialTools(), toolPricesUsd: this.toolPrices(),
      });
      out.push(...next.events);
      if (next.state.status === 'completed' && s.mode === 'llm' && !fallback && result.kind === 'completed' && result.outcome.kind === 'final') {
        cachePlan = planOf(s, result.outcome.answer);
      }
      s = next.state;
    }
    return { events: out, state: s, ...(cachePlan ? { cachePlan } : {}) };
  }

  private toolPrices(): Record<string, string> {
    return Object.fromEntries(this.deps.registry.list().map((t) => [t.name, t.costUsd]));
  }

  private essentialTools(): string[] {
    return this.deps.registry.list().filter((t) => t.essential).map((t) => t.name);
  }

  private async runStep(s: RunningSession): Promise<{ result: PlannerStepResult; fallback?: FallbackSource }> {
    if (s.mode === 'llm' && this.deps.fallback?.mode(s.tenantId) === 'fallback') return this.fallbackStep(s);
    return { result: await this.planStep(s, s.mode === 'workflow' ? this.deps.workflow : this.deps.llm) };
  }

  private request(s: RunningSession, model: string, workflow?: Workflow): PlanRequest {
    const wf = workflow ?? s.workflow;
    return {
      sessionId: s.sessionId,
      tenantId: s.tenantId,
      step: s.step + 1,
      input: s.input,
      model,
      tools: this.deps.registry.toOpenAIFunctions(s.tools),
      history: history(s),
      ...(wf ? { workflow: wf as Workflow } : {}),
    };
  }

  /**
   * The tenant's planner is in fallback: the cached plan of this task, else the session's
   * declared workflow, else a non-retriable failure that says so. The LLM is asked in the
   * background (a shadow call) so recovery can be measured without users waiting on it.
   */
  private async fallbackStep(s: RunningSession): Promise<{ result: PlannerStepResult; fallback?: FallbackSource }> {
    const fb = this.deps.fallback!;
    const model = s.model ?? this.deps.llmModel ?? 'unknown';
    if (this.deps.llm && (fb.random ?? Math.random)() < fb.shadowRate) this.shadow(s, model);
    let cached: CachedPlan | undefined;
    try {
      cached = await fb.cache.get(taskKey(s.tenantId, s.input, s.tools));
    } catch {
      cached = undefined; // the cache is an optimisation: the workflow (or a clear failure) follows
    }
    if (cached) {
      const wf = cachedWorkflow(cached);
      if (!wf) {
        return { fallback: 'cached_plan', result: { kind: 'completed', provider: this.deps.workflow.name, model: 'workflow', promptTokens: 0, completionTokens: 0, latencyMs: 0, batchSize: 1, queueWaitMs: 0, pass: true, outcome: { kind: 'final', answer: cached.answer } } };
      }
      return { fallback: 'cached_plan', result: await this.planStep(s, this.deps.workflow, wf) };
    }
    if (s.workflow) return { fallback: 'workflow', result: await this.planStep(s, this.deps.workflow) };
    return {
      result: failedStep(
        'fallback',
        model,
        `planner for tenant ${s.tenantId} is in fallback mode (pass rate below threshold) and there is no cached plan for this task and no declared workflow`,
        [],
        false,
      ),
    };
  }

  /** Fire and forget: the shadow's pass feeds the tenant's pass rate, its plan is dropped. */
  private shadow(s: RunningSession, model: string): void {
    const llm = this.deps.llm!;
    void llm.plan(this.request(s, model)).then(
      (r) => this.deps.fallback!.onShadow(s.tenantId, model, r.kind !== 'invalid' && validatePlan(r, this.deps.registry, s.tools).pass),
      () => undefined, // no answer at all is an outage, not a quality signal
    );
  }

  private async planStep(s: RunningSession, provider: PlannerProvider | undefined, workflow?: Workflow): Promise<PlannerStepResult> {
    // A fallback step runs the workflow planner inside an LLM session: it is a workflow step.
    const model = provider === this.deps.workflow ? (s.mode === 'workflow' ? (s.model ?? 'workflow') : 'workflow') : (s.model ?? this.deps.llmModel ?? 'unknown');
    const providerName = provider?.name ?? 'none';
    if (!provider) {
      return failedStep(providerName, model, 'no LLM provider is configured', [], false);
    }
    const step = s.step + 1;
    let result: PlanResult;
    try {
      result = await provider.plan(this.request(s, model, workflow));
    } catch (err) {
      const e = err as Error;
      const retriable = err instanceof PlannerError ? err.retriable : false;
      return failedStep(providerName, model, e.message, [], retriable);
    }
    const costUsd = this.inferenceCost(result.model || model, result.promptTokens, result.completionTokens);
    const priced = costUsd !== undefined ? { costUsd } : {};
    const usage = { provider: providerName, model: result.model || model, promptTokens: result.promptTokens, completionTokens: result.completionTokens, latencyMs: Math.round(result.latencyMs) };
    if (result.kind === 'invalid') {
      return { kind: 'failed', ...usage, reason: 'the planner answered with nothing usable', errors: [...result.errors], retriable: true, ...priced };
    }
    const check = validatePlan(result, this.deps.registry, s.tools);
    const outcome =
      result.kind === 'final'
        ? { kind: 'final' as const, answer: result.answer }
        : { kind: 'tool_calls' as const, calls: result.calls.map((c, i) => toContractCall(c, i, step, s)) };
    return {
      kind: 'completed',
      ...usage,
      batchSize: result.batchSize ?? 1,
      queueWaitMs: result.queueWaitMs ?? 0,
      pass: check.pass,
      ...(check.pass ? {} : { errors: check.errors }),
      outcome,
      ...priced,
    };
  }

  /** Tokens × price per million, exact, rounded half up to the decimal scale. */
  private inferenceCost(model: string, prompt: number, completion: number): string | undefined {
    const p = this.deps.prices.models[model];
    if (!p) return undefined;
    const units = BigInt(prompt) * decimalToUnits(p.inputPer1M) + BigInt(completion) * decimalToUnits(p.outputPer1M);
    return decimalFromUnits((units + 500_000n) / 1_000_000n);
  }
}

function failedStep(provider: string, model: string, reason: string, errors: string[], retriable: boolean): PlannerStepResult {
  return { kind: 'failed', provider, model, reason, errors, promptTokens: 0, completionTokens: 0, latencyMs: 0, retriable };
}

const CALL_ID = /^[A-Za-z0-9_-]{1,64}$/;

/** Call ids key results and idempotency keys: keep the model's when usable and fresh, else derive one. */
function toContractCall(c: { callId: string; tool: string; args: unknown }, i: number, step: number, s: RunningSession): PlannedToolCall {
  const fresh = CALL_ID.test(c.callId) && s.calls[c.callId] === undefined;
  const args = c.args !== null && typeof c.args === 'object' && !Array.isArray(c.args) ? (c.args as Record<string, unknown>) : {};
  return { callId: fresh ? c.callId : `s${step}-c${i + 1}`, tool: c.tool || 'unknown', args };
}

/** What the planner has learned so far, in the order calls were made. */
function history(s: RunningSession): PlanHistoryEntry[] {
  const out: PlanHistoryEntry[] = [];
  for (const call of Object.values(s.calls)) {
    const r = s.results[call.callId];
    if (!r) continue;
    const base = { callId: call.callId, tool: call.tool, args: call.args, step: call.step };
    if (r.status === 'succeeded') out.push({ ...base, result: r.result });
    else if (r.status === 'failed') out.push({ ...base, error: { code: r.code, message: r.error } });
    else out.push({ ...base, error: { code: r.reason, message: `rejected: ${r.reason}${r.detail ? ` (${r.detail})` : ''}` } });
  }
  return out;
}

/** The plan an LLM session followed, when every call it made succeeded (else nothing to reuse). */
function planOf(s: RunningSession, answer: string): PlanCacheEntry | undefined {
  const byStep = new Map<number, Array<{ tool: string; args: Readonly<Record<string, unknown>> }>>();
  for (const call of Object.values(s.calls)) {
    if (s.results[call.callId]?.status !== 'succeeded') return undefined;
    const list = byStep.get(call.step) ?? [];
    list.push({ tool: call.tool, args: call.args });
    byStep.set(call.step, list);
  }
  const steps = [...byStep.entries()].sort((a, b) => a[0] - b[0]).map(([, calls]) => ({ calls }));
  return { taskKey: taskKey(s.tenantId, s.input, s.tools), tenantId: s.tenantId, template: normaliseTask(s.input), plan: { steps, answer }, sessionId: s.sessionId };
}

function dedupe(xs: string[]): string[] {
  return [...new Set(xs)];
}
