import { performance } from 'node:perf_hooks';
import { parseRetryAfter, RetriesExhaustedError, withRetries } from '@agentplane/tools';
import {
  PlannerError,
  type PlanHistoryEntry,
  type PlannedCall,
  type PlannerProvider,
  type PlanOutcome,
  type PlanRequest,
  type PlanResult,
} from './types';

export interface OpenAICompatibleOptions {
  /** e.g. https://api.openai.com/v1, http://127.0.0.1:11434/v1 (Ollama), http://host:8000/v1 (vLLM). */
  readonly baseUrl: string;
  /** Sent as `Authorization: Bearer`; local servers usually need none. */
  readonly apiKey?: string;
  /** Default model when a request names none. */
  readonly model: string;
  /** Per HTTP attempt. */
  readonly timeoutMs: number;
  /** Extra attempts on 429 / 5xx / timeout / network errors. */
  readonly maxRetries: number;
  readonly fetchImpl?: typeof fetch;
  readonly retryBaseMs?: number;
  readonly retryMaxMs?: number;
  readonly sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  readonly random?: () => number;
  readonly systemPrompt?: string;
  readonly temperature?: number;
  readonly maxTokens?: number;
  /** Keep the whole response body on PlanResult.raw. */
  readonly includeRaw?: boolean;
  readonly name?: string;
}

export const DEFAULT_SYSTEM_PROMPT =
  'You are an agent that completes the user\'s task by calling the provided tools. ' +
  'Call tools when you need information or to act; calls that do not depend on each other may be made together. ' +
  'When the task is done, reply with the final answer as plain text and call no tool.';

/** Chat Completions message, the subset we send. */
export type ChatMessage =
  | { role: 'system' | 'user'; content: string }
  | {
      role: 'assistant';
      content: string | null;
      tool_calls?: { id: string; type: 'function'; function: { name: string; arguments: string } }[];
    }
  | { role: 'tool'; tool_call_id: string; content: string };

function stringifyInput(input: unknown): string {
  return typeof input === 'string' ? input : JSON.stringify(input);
}

/**
 * Rebuilds the conversation: the task, then for each earlier planner step one assistant turn
 * with its tool calls followed by one tool message per call (its result or its error).
 */
export function buildMessages(req: PlanRequest, systemPrompt: string = DEFAULT_SYSTEM_PROMPT): ChatMessage[] {
  const messages: ChatMessage[] = [
    { role: 'system', content: req.system ?? systemPrompt },
    { role: 'user', content: stringifyInput(req.input) },
  ];
  const groups: PlanHistoryEntry[][] = [];
  for (const h of req.history) {
    const last = groups[groups.length - 1];
    if (last && last[0].step === h.step) last.push(h);
    else groups.push([h]);
  }
  for (const group of groups) {
    messages.push({
      role: 'assistant',
      content: null,
      tool_calls: group.map((h) => ({
        id: h.callId,
        type: 'function' as const,
        function: { name: h.tool, arguments: JSON.stringify(h.args ?? {}) },
      })),
    });
    for (const h of group) {
      const content = h.error ? JSON.stringify({ error: h.error }) : JSON.stringify(h.result ?? null);
      messages.push({ role: 'tool', tool_call_id: h.callId, content });
    }
  }
  return messages;
}

interface ChatCompletionResponse {
  choices?: {
    finish_reason?: string;
    message?: {
      content?: string | null | { type?: string; text?: string }[];
      tool_calls?: { id?: string; type?: string; function?: { name?: string; arguments?: unknown } }[];
    };
  }[];
  usage?: { prompt_tokens?: number; completion_tokens?: number };
  model?: string;
}

/** Turns a Chat Completions response into a plan; malformed model output is reported, not thrown. */
export function parseChatCompletion(body: ChatCompletionResponse, step: number): PlanOutcome & { finishReason?: string } {
  const choice = body.choices?.[0];
  const message = choice?.message;
  const finishReason = choice?.finish_reason;
  const toolCalls = message?.tool_calls ?? [];
  if (toolCalls.length > 0) {
    const calls: PlannedCall[] = toolCalls.map((tc, i) => {
      const callId = tc.id || `call_${step}_${i + 1}`;
      const tool = tc.function?.name ?? '';
      const raw = tc.function?.arguments;
      // Some servers (Ollama) send arguments as an object instead of a JSON string.
      if (raw !== undefined && typeof raw !== 'string') return { callId, tool, args: raw };
      const text = raw === undefined || raw.trim() === '' ? '{}' : raw;
      try {
        return { callId, tool, args: JSON.parse(text) as unknown, rawArgs: raw };
      } catch (err) {
        return { callId, tool, args: undefined, rawArgs: raw, parseError: `arguments are not valid JSON: ${(err as Error).message}` };
      }
    });
    return { kind: 'tool_calls', calls, finishReason };
  }
  const content = message?.content;
  const text = Array.isArray(content)
    ? content.map((p) => (typeof p?.text === 'string' ? p.text : '')).join('')
    : typeof content === 'string'
      ? content
      : '';
  if (text.trim() !== '') return { kind: 'final', answer: text, finishReason };
  return {
    kind: 'invalid',
    errors: [
      body.choices?.length
        ? `response has neither tool_calls nor content (finish_reason ${JSON.stringify(finishReason ?? null)})`
        : 'response has no choices',
    ],
    finishReason,
  };
}

/** Chat Completions with tool calling over any OpenAI-compatible server. */
export class OpenAICompatibleProvider implements PlannerProvider {
  readonly name: string;
  readonly defaultModel: string;
  private readonly url: string;

  constructor(private readonly opts: OpenAICompatibleOptions) {
    this.name = opts.name ?? 'openai-compatible';
    this.defaultModel = opts.model;
    this.url = `${opts.baseUrl.replace(/\/+$/, '')}/chat/completions`;
  }

  async plan(req: PlanRequest, signal?: AbortSignal): Promise<PlanResult> {
    const started = performance.now();
    const model = req.model || this.opts.model;
    const body: Record<string, unknown> = {
      model,
      messages: buildMessages(req, this.opts.systemPrompt),
    };
    // OpenAI rejects an empty tools array; with no tools the model can only answer.
    if (req.tools.length > 0) {
      body.tools = req.tools;
      body.tool_choice = 'auto';
    }
    if (this.opts.temperature !== undefined) body.temperature = this.opts.temperature;
    if (this.opts.maxTokens !== undefined) body.max_tokens = this.opts.maxTokens;
    const payload = JSON.stringify(body);

    let result;
    try {
      result = await withRetries((attempt) => this.attempt(payload, attempt, signal), {
        retries: this.opts.maxRetries,
        baseMs: this.opts.retryBaseMs ?? 200,
        maxMs: this.opts.retryMaxMs ?? 2_000,
        isRetriable: (a) => !a.ok && a.error instanceof PlannerError && a.error.retriable,
        sleep: this.opts.sleep,
        random: this.opts.random,
        signal,
      });
    } catch (err) {
      const inner = err instanceof RetriesExhaustedError ? err.cause : err;
      const attempts = err instanceof RetriesExhaustedError ? err.attempts : undefined;
      if (inner instanceof PlannerError) {
        throw new PlannerError(inner.code, inner.message, inner.retriable, { ...inner.details, attempts });
      }
      if (signal?.aborted) throw new PlannerError('cancelled', 'planning was cancelled', false, { attempts });
      throw inner;
    }
    const response = result.value;
    const outcome = parseChatCompletion(response, req.step);
    return {
      ...outcome,
      model: typeof response.model === 'string' && response.model ? response.model : model,
      promptTokens: Number(response.usage?.prompt_tokens ?? 0) || 0,
      completionTokens: Number(response.usage?.completion_tokens ?? 0) || 0,
      latencyMs: Math.round(performance.now() - started),
      attempts: result.attempts,
      ...(this.opts.includeRaw ? { raw: response } : {}),
    };
  }

  private async attempt(payload: string, attempt: number, signal?: AbortSignal): Promise<ChatCompletionResponse> {
    if (signal?.aborted) throw new PlannerError('cancelled', 'planning was cancelled', false, { attempts: attempt });
    const timeout = AbortSignal.timeout(this.opts.timeoutMs);
    const combined = signal ? AbortSignal.any([timeout, signal]) : timeout;
    const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json' };
    if (this.opts.apiKey) headers.authorization = `Bearer ${this.opts.apiKey}`;
    let res: Response;
    let text: string;
    try {
      res = await (this.opts.fetchImpl ?? fetch)(this.url, { method: 'POST', headers, body: payload, signal: combined });
      text = await res.text();
    } catch (err) {
      if (signal?.aborted) throw new PlannerError('cancelled', 'planning was cancelled', false);
      if (timeout.aborted) throw new PlannerError('timeout', `planner request timed out after ${this.opts.timeoutMs} ms`, true);
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      throw new PlannerError('network', `planner request failed: ${cause?.code ?? cause?.message ?? (err as Error).message}`, true);
    }
    if (!res.ok) {
      const retryAfterMs = parseRetryAfter(res.headers.get('retry-after'));
      const retriable = res.status === 429 || res.status === 408 || res.status >= 500;
      throw new PlannerError('http_error', `planner endpoint answered ${res.status}: ${errorText(text)}`, retriable, {
        status: res.status,
        ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
        body: text.slice(0, 2048),
      });
    }
    try {
      const parsed = JSON.parse(text) as ChatCompletionResponse;
      if (!parsed || typeof parsed !== 'object') throw new Error('not an object');
      return parsed;
    } catch (err) {
      throw new PlannerError('bad_response', `planner endpoint answered 2xx with a body that is not JSON: ${(err as Error).message}`, false, {
        status: res.status,
        body: text.slice(0, 2048),
      });
    }
  }
}

/** The `error.message` of an OpenAI-style error body, else the body's start. */
function errorText(text: string): string {
  try {
    const j = JSON.parse(text) as { error?: { message?: string } | string };
    if (typeof j.error === 'string') return j.error;
    if (j.error?.message) return j.error.message;
  } catch {
    // not JSON: fall through
  }
  return text.slice(0, 200) || '(empty body)';
}
