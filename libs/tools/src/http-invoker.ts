import { randomUUID } from 'node:crypto';
import { subscribe } from 'node:diagnostics_channel';
import { performance } from 'node:perf_hooks';
import { hostAllowed, type ToolDefinition } from './registry';
import { parseRetryAfter, withRetries } from './retry';

export type InvokeOutcome =
  | { readonly kind: 'ok'; readonly status: number; readonly body: unknown; readonly latencyMs: number }
  | {
      readonly kind: 'http_error';
      readonly status: number;
      /** 429 and 5xx; whether retrying is *safe* also depends on the tool, see shouldRetry. */
      readonly retriable: boolean;
      readonly retryAfterMs?: number;
      /** Location of a 3xx: redirects are not followed here (the sandbox re-checks them). */
      readonly location?: string;
      readonly body?: unknown;
      readonly latencyMs: number;
    }
  | {
      readonly kind: 'timeout';
      /** true: the request left this process, so the outcome is unknown (it may have run). */
      readonly sent: boolean;
      readonly latencyMs: number;
    }
  | {
      readonly kind: 'network';
      /** Safe to retry: nothing was sent, or the tool is idempotent. */
      readonly retriable: boolean;
      readonly sent: boolean;
      readonly code?: string;
      readonly message: string;
      readonly latencyMs: number;
    }
  /** The caller's signal aborted (deadline, cancel); never retried. */
  | { readonly kind: 'cancelled'; readonly sent: boolean; readonly latencyMs: number }
  /** A 2xx whose body is too large to accept; the effect happened, so it is not retried. */
  | { readonly kind: 'invalid_response'; readonly status: number; readonly message: string; readonly latencyMs: number };

export interface InvokeOptions {
  /** Sent as `Idempotency-Key`; the same key on every attempt of one call. */
  readonly idempotencyKey: string;
  /** Caller's cancellation (session deadline, shutdown); the per-call timeout is separate. */
  readonly signal?: AbortSignal;
  /** For tests or a sandboxed client. With a custom fetch, "sent" cannot be observed and is assumed. */
  readonly fetchImpl?: typeof fetch;
  /** Overrides tool.timeoutMs. */
  readonly timeoutMs?: number;
  readonly headers?: Readonly<Record<string, string>>;
  /** Bodies beyond this are refused. Default 2 MiB. */
  readonly maxBodyBytes?: number;
  /** An undici dispatcher for Node's fetch (the sandbox's, which checks what DNS answers). */
  readonly dispatcher?: unknown;
  /** Calls this URL instead of endpoint.url (a redirect target the caller already checked). */
  readonly url?: string;
}

/** Marks each request so the undici diagnostics channel can tell us when its headers went out. */
const ATTEMPT_HEADER = 'x-agentplane-attempt';
const sentTokens = new Map<string, { sent: boolean }>();
let tracking = false;

function ensureTracking(): void {
  if (tracking) return;
  tracking = true;
  // Node's fetch (undici) publishes this once the request headers are written to the socket.
  subscribe('undici:client:sendHeaders', (message) => {
    if (sentTokens.size === 0) return;
    const headers = (message as { request?: { headers?: unknown } }).request?.headers;
    const token = findHeader(headers, ATTEMPT_HEADER);
    const state = token ? sentTokens.get(token) : undefined;
    if (state) state.sent = true;
  });
}

function findHeader(headers: unknown, name: string): string | undefined {
  if (Array.isArray(headers)) {
    for (let i = 0; i + 1 < headers.length; i += 2) {
      if (String(headers[i]).toLowerCase() === name) return String(headers[i + 1]);
    }
  } else if (typeof headers === 'string') {
    const m = new RegExp(`^${name}:\\s*(\\S+)`, 'im').exec(headers);
    return m?.[1];
  }
  return undefined;
}

/** Codes meaning the connection was never made, so nothing can have run. */
const NOT_SENT_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EADDRNOTAVAIL',
  'UND_ERR_CONNECT_TIMEOUT',
]);

function errorCode(err: unknown): string | undefined {
  let e: unknown = err;
  for (let depth = 0; e && typeof e === 'object' && depth < 4; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

function errorMessage(err: unknown): string {
  const e = err as { message?: string; cause?: { message?: string } };
  return [e?.message, e?.cause?.message].filter(Boolean).join(': ') || String(err);
}

function buildUrl(base: string, method: string, args: unknown): string {
  if (method !== 'GET' || !args || typeof args !== 'object') return base;
  const u = new URL(base);
  for (const [k, v] of Object.entries(args as Record<string, unknown>)) {
    if (v === undefined) continue;
    u.searchParams.set(k, typeof v === 'string' ? v : JSON.stringify(v));
  }
  return u.toString();
}

async function readBody(res: Response, limit: number): Promise<{ text: string } | { tooLarge: true }> {
  const declared = Number(res.headers.get('content-length'));
  if (Number.isFinite(declared) && declared > limit) {
    await res.body?.cancel().catch(() => undefined);
    return { tooLarge: true };
  }
  if (!res.body) return { text: '' };
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > limit) {
      await reader.cancel().catch(() => undefined);
      return { tooLarge: true };
    }
    chunks.push(value);
  }
  return { text: Buffer.concat(chunks).toString('utf8') };
}

/** JSON when it parses, else the raw text (result-schema validation then reports it). */
function decode(text: string): unknown {
  if (text === '') return null;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/**
 * One HTTP attempt of a tool call. Never throws: every outcome is classified. The per-call
 * timeout has its own signal, so expiry aborts this request's socket and nothing else.
 */
export async function invokeHttpTool(tool: ToolDefinition, args: unknown, opts: InvokeOptions): Promise<InvokeOutcome> {
  const started = performance.now();
  const latency = () => Math.round((performance.now() - started) * 1000) / 1000;
  const ep = tool.endpoint;
  if (ep.kind !== 'http') {
    return { kind: 'network', retriable: false, sent: false, code: 'EBLOCKED', message: `${tool.name} is not an HTTP tool (endpoint kind ${ep.kind})`, latencyMs: latency() };
  }
  const method = ep.method;
  const url = buildUrl(opts.url ?? ep.url, method, args);
  if (!hostAllowed(url, tool.allowedHosts)) {
    return { kind: 'network', retriable: false, sent: false, code: 'EHOSTNOTALLOWED', message: `host of ${opts.url ?? ep.url} is not allowlisted`, latencyMs: latency() };
  }
  if (opts.signal?.aborted) return { kind: 'cancelled', sent: false, latencyMs: latency() };

  const fetchImpl = opts.fetchImpl ?? fetch;
  const observable = !opts.fetchImpl;
  const token = randomUUID();
  const state = { sent: false };
  if (observable) {
    ensureTracking();
    sentTokens.set(token, state);
  }
  const sentNow = () => (observable ? state.sent : true);

  const timeoutMs = opts.timeoutMs ?? tool.timeoutMs;
  const timeoutCtl = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    timeoutCtl.abort(new DOMException(`tool ${tool.name} timed out after ${timeoutMs} ms`, 'TimeoutError'));
  }, timeoutMs);
  const signal = opts.signal ? AbortSignal.any([timeoutCtl.signal, opts.signal]) : timeoutCtl.signal;

  const headers: Record<string, string> = {
    accept: 'application/json',
    ...opts.headers,
    'idempotency-key': opts.idempotencyKey,
    [ATTEMPT_HEADER]: token,
  };
  const hasBody = method !== 'GET';
  if (hasBody) headers['content-type'] = 'application/json';

  try {
    const res = await fetchImpl(url, {
      method,
      headers,
      body: hasBody ? JSON.stringify(args ?? {}) : undefined,
      redirect: 'manual',
      signal,
      ...(opts.dispatcher ? { dispatcher: opts.dispatcher } : {}),
    } as RequestInit);
    const body = await readBody(res, opts.maxBodyBytes ?? 2 * 1024 * 1024);
    const status = res.status;
    if (status >= 200 && status < 300) {
      if ('tooLarge' in body) return { kind: 'invalid_response', status, message: 'response body too large', latencyMs: latency() };
      return { kind: 'ok', status, body: decode(body.text), latencyMs: latency() };
    }
    const retryAfterMs = parseRetryAfter(res.headers.get('retry-after'));
    const location = res.headers.get('location') ?? undefined;
    return {
      kind: 'http_error',
      status,
      retriable: status === 429 || status >= 500,
      ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
      ...(status >= 300 && status < 400 && location ? { location } : {}),
      ...('text' in body && body.text ? { body: decode(body.text.slice(0, 4096)) } : {}),
      latencyMs: latency(),
    };
  } catch (err) {
    if (timedOut) return { kind: 'timeout', sent: sentNow(), latencyMs: latency() };
    if (opts.signal?.aborted) return { kind: 'cancelled', sent: sentNow(), latencyMs: latency() };
    const code = errorCode(err);
    const sent = observable ? state.sent : !(code && NOT_SENT_CODES.has(code));
    return {
      kind: 'network',
      sent,
      retriable: !sent || tool.idempotent,
      ...(code ? { code } : {}),
      message: errorMessage(err),
      latencyMs: latency(),
    };
  } finally {
    clearTimeout(timer);
    if (observable) sentTokens.delete(token);
  }
}

/**
 * Whether an outcome may be retried with the same idempotency key. An outcome that may have
 * run (timeout after send, 5xx) is retried only for idempotent tools; a 429 or an unsent
 * request always may be.
 */
export function shouldRetry(outcome: InvokeOutcome, tool: Pick<ToolDefinition, 'idempotent'>): boolean {
  switch (outcome.kind) {
    case 'http_error':
      return outcome.retriable && (tool.idempotent || outcome.status === 429);
    case 'timeout':
      return !outcome.sent || tool.idempotent;
    case 'network':
      return outcome.retriable;
    default:
      return false;
  }
}

export interface CallToolOptions extends InvokeOptions {
  /** Overrides tool.retries. */
  readonly retries?: number;
  readonly baseMs?: number;
  readonly maxMs?: number;
  readonly sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  readonly random?: () => number;
}

/**
 * invokeHttpTool under the tool's retry policy (tool.retries, exponential backoff with full
 * jitter, Retry-After honoured), retrying only what shouldRetry allows.
 */
export async function invokeHttpToolWithRetries(
  tool: ToolDefinition,
  args: unknown,
  opts: CallToolOptions,
): Promise<{ outcome: InvokeOutcome; attempts: number; delaysMs: readonly number[] }> {
  let last: InvokeOutcome | undefined;
  let count = 0;
  const r = await withRetries(
    async () => {
      count++;
      last = await invokeHttpTool(tool, args, opts);
      return last;
    },
    {
      retries: opts.retries ?? tool.retries,
      baseMs: opts.baseMs ?? 50,
      maxMs: opts.maxMs ?? 2_000,
      isRetriable: (a) => a.ok && shouldRetry(a.value, tool),
      sleep: opts.sleep,
      random: opts.random,
      signal: opts.signal,
    },
  ).catch((err: unknown) => {
    // The caller's signal aborted a backoff sleep: report it as a cancellation after `count` attempts.
    if (opts.signal?.aborted) return undefined;
    throw err;
  });
  if (!r) {
    const sent = last ? ('sent' in last ? last.sent : true) : false;
    return { outcome: { kind: 'cancelled', sent, latencyMs: last?.latencyMs ?? 0 }, attempts: count, delaysMs: [] };
  }
  return { outcome: r.value, attempts: r.attempts, delaysMs: r.delaysMs };
}
