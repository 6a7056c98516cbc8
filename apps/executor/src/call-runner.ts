import { performance } from 'node:perf_hooks';
import { checkUrl, sandboxDispatcher } from '@agentplane/sandbox';
import {
  abortableSleep,
  backoffDelay,
  invokeHttpTool,
  shouldRetry,
  type InvokeOutcome,
  type ToolDefinition,
  type ToolRegistry,
} from '@agentplane/tools';
import type { CallOutcome } from './idempotency.store';
import type { McpOutcome } from './mcp-invoker';

/** Redirects followed per attempt; each target is checked by the sandbox first. */
export const MAX_REDIRECTS = 3;

export interface RunDeps {
  readonly registry: ToolRegistry;
  /** Waits for a token of the tool's global bucket before each attempt. */
  readonly pace: (tool: ToolDefinition, signal: AbortSignal) => Promise<void>;
  /** One attempt against a non-HTTP endpoint (MCP); same outcome shapes as HTTP. */
  readonly invokeOther?: (tool: ToolDefinition, args: unknown, opts: { idempotencyKey: string; signal: AbortSignal; timeoutMs: number }) => Promise<McpOutcome>;
  /** Hook right after the tool answered, before anything is stored (crash-point tests). */
  readonly afterResponse?: () => void;
  readonly baseBackoffMs?: number;
  readonly maxBackoffMs?: number;
}

const dispatchers = new WeakMap<ToolDefinition, ReturnType<typeof sandboxDispatcher>>();

function dispatcherFor(tool: ToolDefinition): ReturnType<typeof sandboxDispatcher> {
  let d = dispatchers.get(tool);
  if (!d) {
    d = sandboxDispatcher({ allowedHosts: tool.allowedHosts });
    dispatchers.set(tool, d);
  }
  return d;
}

/** Failures that say the tool is unwell (they count towards its circuit breaker). */
export function countsAgainstBreaker(o: CallOutcome): boolean {
  return o.kind === 'failed' && (o.code === 'timeout' || o.code === 'unknown' || o.code === 'network' || (o.code === 'http_error' && /HTTP (5\d\d|429)/.test(o.error)));
}

/** One HTTP attempt, following redirects only to sandbox-approved targets. */
async function attemptHttp(tool: ToolDefinition, args: unknown, key: string, signal: AbortSignal): Promise<InvokeOutcome | { kind: 'blocked'; reason: string }> {
  if (tool.endpoint.kind !== 'http') throw new Error(`attemptHttp: ${tool.name} is not an HTTP tool`);
  let url = tool.endpoint.url;
  const first = checkUrl(url, tool);
  if (!first.ok) return { kind: 'blocked', reason: first.reason };
  for (let hop = 0; ; hop++) {
    const o = await invokeHttpTool(tool, args, { idempotencyKey: key, signal, dispatcher: dispatcherFor(tool), url });
    if (o.kind === 'network') {
      if (o.code === 'EBLOCKED' || o.code === 'EHOSTNOTALLOWED') return { kind: 'blocked', reason: o.message };
    }
    if (o.kind !== 'http_error' || o.status < 300 || o.status >= 400 || !o.location) return o;
    if (hop >= MAX_REDIRECTS) return o;
    let target: URL;
    try {
      target = new URL(o.location, url);
    } catch {
      return { kind: 'blocked', reason: `redirect to an invalid URL ${o.location.slice(0, 200)}` };
    }
    const v = checkUrl(target, tool);
    if (!v.ok) return { kind: 'blocked', reason: `redirect to ${target.href} refused: ${v.reason}` };
    url = target.href;
  }
}

type FailureCode = Extract<CallOutcome, { kind: 'failed' }>['code'];

function describe(o: InvokeOutcome): { code: FailureCode; error: string } {
  switch (o.kind) {
    case 'http_error':
      return { code: 'http_error', error: `HTTP ${o.status}${o.body !== undefined ? `: ${JSON.stringify(o.body).slice(0, 500)}` : ''}` };
    case 'timeout':
      // Sent and not answered in time: it may have run. That is "unknown", not "timeout".
      return o.sent
        ? { code: 'unknown', error: `no answer within the timeout after the request was sent; the outcome is unknown` }
        : { code: 'timeout', error: 'timed out before the request was sent' };
    case 'network':
      return o.sent ? { code: 'unknown', error: `connection failed after the request was sent: ${o.message}` } : { code: 'network', error: o.message };
    case 'cancelled':
      return { code: 'timeout', error: 'cancelled' };
    case 'invalid_response':
      return { code: 'invalid_result', error: o.message };
    case 'ok':
      return { code: 'invalid_result', error: 'unexpected' };
  }
}

/**
 * Runs one admitted call: argument contract, attempts under the tool's timeout (each with its
 * own abort), retries with exponential backoff and full jitter honouring Retry-After, only for
 * what `shouldRetry` allows (a sent-but-unanswered call only for idempotent tools, with the same
 * key), then the result contract. Never throws for tool behaviour: every end is an outcome.
 */
export async function runCall(tool: ToolDefinition, args: unknown, idempotencyKey: string, signal: AbortSignal, deps: RunDeps): Promise<CallOutcome> {
  const started = performance.now();
  const latency = () => Math.round((performance.now() - started) * 1000) / 1000;
  const failed = (code: FailureCode, error: string, attempts: number, costUsd = '0'): CallOutcome => ({
    kind: 'failed',
    code,
    error: error.slice(0, 2000),
    attempts,
    latencyMs: latency(),
    costUsd,
  });
  const v = deps.registry.validateArgs(tool.name, args);
  if (!v.ok) return failed('invalid_args', `arguments violate the contract of ${tool.name}: ${v.errors.join('; ')}`, 0);

  let attempt = 0;
  for (;;) {
    attempt++;
    await deps.pace(tool, signal);
    const o =
      tool.endpoint.kind === 'http'
        ? await attemptHttp(tool, args, idempotencyKey, signal)
        : deps.invokeOther
          ? await deps.invokeOther(tool, args, { idempotencyKey, signal, timeoutMs: tool.timeoutMs })
          : ({ kind: 'blocked', reason: `no invoker for endpoint kind ${(tool.endpoint as { kind: string }).kind}` } as const);
    if (o.kind === 'blocked') return failed('blocked', o.reason, attempt);
    if (o.kind === 'network' && o.code === 'EBLOCKED') return failed('blocked', o.message, attempt);
    // The tool ran and said it failed (MCP isError / JSON-RPC error): the tool's own answer, never retried.
    if (o.kind === 'tool_error') return failed('http_error', o.message, attempt);
    if (o.kind === 'ok') {
      deps.afterResponse?.();
      const r = deps.registry.validateResult(tool.name, o.body);
      // It ran (the effect happened, the tool charged): cost is due even though the result is unusable.
      if (!r.ok) return failed('invalid_result', `result violates the contract of ${tool.name}: ${r.errors.join('; ')}`, attempt, tool.costUsd);
      return { kind: 'succeeded', result: o.body, attempts: attempt, latencyMs: latency(), costUsd: tool.costUsd };
    }
    if (signal.aborted || attempt > tool.retries || !shouldRetry(o, tool)) {
      const d = describe(o);
      return failed(d.code, d.error, attempt);
    }
    let delay = backoffDelay(attempt, deps.baseBackoffMs ?? 50, deps.maxBackoffMs ?? 2000, Math.random);
    // The server knows its recovery time better than our curve; a very long one ends the call.
    if (o.kind === 'http_error' && o.retryAfterMs !== undefined) {
      if (o.retryAfterMs > 60_000) return failed('http_error', `HTTP ${o.status} with Retry-After ${o.retryAfterMs} ms`, attempt);
      delay = Math.max(delay, o.retryAfterMs);
    }
    try {
      await abortableSleep(delay, signal);
    } catch {
      const d = describe(o);
      return failed(d.code, d.error, attempt);
    }
  }
}
