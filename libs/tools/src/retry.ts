/** One attempt's outcome as the retry loop sees it: a returned value or a thrown error. */
export type Attempt<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: unknown };

export interface RetryOptions<T> {
  /** Extra attempts after the first (0 = try once). */
  readonly retries: number;
  /** Backoff before retry n (1-based) is min(maxMs, baseMs · 2^(n-1)), then jittered. */
  readonly baseMs: number;
  readonly maxMs: number;
  /** Full jitter (uniform in [0, backoff]) when true, the default; exact backoff when false. */
  readonly jitter?: boolean;
  /** Wait at least the server's Retry-After when the attempt carries one. Default true. */
  readonly honourRetryAfter?: boolean;
  /** A Retry-After longer than this ends the loop instead of sleeping. Default 60 s. */
  readonly maxRetryAfterMs?: number;
  readonly isRetriable: (attempt: Attempt<T>) => boolean;
  /** Retry-After of an attempt in ms; default reads `retryAfterMs` off the value or error. */
  readonly retryAfterMs?: (attempt: Attempt<T>) => number | undefined;
  readonly sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  readonly random?: () => number;
  /** Aborting stops the loop: a pending sleep rejects with the signal's reason. */
  readonly signal?: AbortSignal;
  readonly onRetry?: (info: { attempt: number; delayMs: number; outcome: Attempt<T> }) => void;
}

export interface RetryResult<T> {
  readonly value: T;
  /** Attempts made, ≥ 1. */
  readonly attempts: number;
  /** Sleeps taken between attempts, in order. */
  readonly delaysMs: readonly number[];
}

/** Thrown when the last attempt threw; carries how many attempts were made. */
export class RetriesExhaustedError extends Error {
  constructor(
    readonly cause: unknown,
    readonly attempts: number,
  ) {
    super(cause instanceof Error ? cause.message : String(cause));
    this.name = 'RetriesExhaustedError';
  }
}

export function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal!.reason);
    };
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Exponential backoff for retry n (1-based), with full jitter when `random` is given. */
export function backoffDelay(n: number, baseMs: number, maxMs: number, random?: () => number): number {
  const exp = Math.min(maxMs, baseMs * 2 ** Math.max(0, n - 1));
  return random ? Math.floor(random() * exp) : exp;
}

/**
 * Parses a Retry-After header (delta-seconds or HTTP-date) into ms from `now`.
 * Undefined when absent or unparsable; never negative.
 */
export function parseRetryAfter(header: string | null | undefined, now: number = Date.now()): number | undefined {
  if (header == null) return undefined;
  const h = header.trim();
  if (/^\d+(\.\d+)?$/.test(h)) return Math.round(Number(h) * 1000);
  const at = Date.parse(h);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now);
}

function defaultRetryAfter<T>(a: Attempt<T>): number | undefined {
  const src = (a.ok ? a.value : a.error) as { retryAfterMs?: unknown } | null | undefined;
  const v = src && typeof src === 'object' ? src.retryAfterMs : undefined;
  return typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : undefined;
}

/**
 * Calls `fn` until it yields a non-retriable outcome or retries run out. Returned values and
 * thrown errors both go through `isRetriable`; the final outcome is returned (value) or
 * rethrown wrapped in RetriesExhaustedError (error) with the attempt count.
 */
export async function withRetries<T>(fn: (attempt: number) => Promise<T>, opts: RetryOptions<T>): Promise<RetryResult<T>> {
  const sleep = opts.sleep ?? abortableSleep;
  const random = opts.jitter === false ? undefined : (opts.random ?? Math.random);
  const honour = opts.honourRetryAfter ?? true;
  const maxRetryAfter = opts.maxRetryAfterMs ?? 60_000;
  const retryAfterOf = opts.retryAfterMs ?? defaultRetryAfter;
  const delaysMs: number[] = [];
  for (let attempt = 1; ; attempt++) {
    let outcome: Attempt<T>;
    try {
      outcome = { ok: true, value: await fn(attempt) };
    } catch (error) {
      outcome = { ok: false, error };
    }
    const finish = (): RetryResult<T> => {
      if (outcome.ok) return { value: outcome.value, attempts: attempt, delaysMs };
      throw new RetriesExhaustedError(outcome.error, attempt);
    };
    if (attempt > opts.retries || opts.signal?.aborted || !opts.isRetriable(outcome)) return finish();
    let delayMs = backoffDelay(attempt, opts.baseMs, opts.maxMs, random);
    const retryAfter = honour ? retryAfterOf(outcome) : undefined;
    if (retryAfter !== undefined) {
      // The server knows its own recovery time better than our backoff curve does.
      if (retryAfter > maxRetryAfter) return finish();
      delayMs = Math.max(delayMs, retryAfter);
    }
    opts.onRetry?.({ attempt, delayMs, outcome });
    delaysMs.push(delayMs);
    await sleep(delayMs, opts.signal);
  }
}
