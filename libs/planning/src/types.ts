import type { OpenAIFunctionTool } from '@agentplane/tools';

/** A declared tool call of a workflow; string args may hold `${<callId>.result.<path>}` references. */
export interface WorkflowCall {
  readonly id: string;
  readonly tool: string;
  readonly args: Readonly<Record<string, unknown>>;
}

/** Calls within one step run in parallel; a step starts when every call of the previous one ended. */
export interface WorkflowStep {
  readonly calls: readonly WorkflowCall[];
}

export interface Workflow {
  readonly steps: readonly WorkflowStep[];
}

/** One finished tool call the planner already knows about. Exactly one of result / error. */
export interface PlanHistoryEntry {
  readonly callId: string;
  readonly tool: string;
  readonly args: unknown;
  /** Planner step that asked for the call; calls of one step are replayed as one assistant turn. */
  readonly step?: number;
  readonly result?: unknown;
  readonly error?: { readonly code?: string; readonly message: string };
}

export interface PlanRequest {
  readonly sessionId: string;
  readonly tenantId: string;
  /** 1-based planner step of this session. */
  readonly step: number;
  /** The task: text, or structured input sent to the model as JSON. */
  readonly input: unknown;
  /** Model to ask; providers fall back to their configured model when empty. */
  readonly model: string;
  /** Tools offered, in OpenAI function form (registry.toOpenAIFunctions(allowed)). */
  readonly tools: readonly OpenAIFunctionTool[];
  readonly history: readonly PlanHistoryEntry[];
  /** The session's declared workflow (WorkflowPlanner, and the fallback). */
  readonly workflow?: Workflow;
  /** Overrides the provider's system prompt. */
  readonly system?: string;
}

export interface PlannedCall {
  readonly callId: string;
  readonly tool: string;
  /** Parsed arguments; undefined when they did not parse (see parseError). */
  readonly args: unknown;
  /** Arguments exactly as the model sent them, when they came as a string. */
  readonly rawArgs?: string;
  /** Set when the model's arguments were not valid JSON; validatePlan then fails the step. */
  readonly parseError?: string;
}

export type PlanOutcome =
  | { readonly kind: 'tool_calls'; readonly calls: readonly PlannedCall[] }
  | { readonly kind: 'final'; readonly answer: string }
  /** The model answered, but with nothing usable (no tool calls, no content). */
  | { readonly kind: 'invalid'; readonly errors: readonly string[] };

export type PlanResult = PlanOutcome & {
  readonly model: string;
  readonly promptTokens: number;
  readonly completionTokens: number;
  /** Wall time of plan(), retries included. */
  readonly latencyMs: number;
  /** HTTP attempts made (1 = no retry); 0 for planners that make none. */
  readonly attempts: number;
  readonly finishReason?: string;
  readonly raw?: unknown;
  /** Requests dispatched together with this one (MicroBatcher); absent = not batched (1). */
  readonly batchSize?: number;
  /** Time this request waited in the batch queue and for a pool slot, ms; absent = 0. */
  readonly queueWaitMs?: number;
};

export interface PlannerProvider {
  readonly name: string;
  plan(req: PlanRequest, signal?: AbortSignal): Promise<PlanResult>;
  /**
   * Providers whose endpoint takes several requests in one call implement this: one result (or
   * the error of that request) per request, in order. MicroBatcher prefers it to `plan`.
   */
  planBatch?(reqs: readonly PlanRequest[], signal?: AbortSignal): Promise<ReadonlyArray<PlanResult | Error>>;
  /** Model used when a request names none (the batch queue key). */
  readonly defaultModel?: string;
}

export type PlannerErrorCode =
  | 'http_error'
  | 'timeout'
  | 'network'
  | 'bad_response'
  | 'cancelled'
  | 'no_workflow'
  | 'invalid_workflow';

/** Why a provider produced no plan at all (as opposed to a plan that fails validation). */
export class PlannerError extends Error {
  constructor(
    readonly code: PlannerErrorCode,
    message: string,
    readonly retriable: boolean,
    readonly details: { status?: number; retryAfterMs?: number; attempts?: number; body?: string } = {},
  ) {
    super(message);
    this.name = 'PlannerError';
  }

  get status(): number | undefined {
    return this.details.status;
  }

  get retryAfterMs(): number | undefined {
    return this.details.retryAfterMs;
  }

  get attempts(): number {
    return this.details.attempts ?? 1;
  }
}
