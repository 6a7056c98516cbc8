import { setTimeout as sleep } from 'node:timers/promises';

export interface EventuallyOptions {
  timeoutMs?: number;
  intervalMs?: number;
  /** Prefix of the error thrown on timeout. */
  message?: string;
}

/**
 * Polls `fn` until it returns a truthy value without throwing, or the deadline passes; then
 * rethrows its last error (or says what it last returned). The synchronisation primitive for
 * tests: never a fixed sleep.
 */
export async function eventually<T>(fn: () => T | Promise<T>, opts: EventuallyOptions = {}): Promise<NonNullable<T>> {
  const timeoutMs = opts.timeoutMs ?? 10000;
  const intervalMs = opts.intervalMs ?? 25;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  let lastValue: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v as NonNullable<T>;
      lastValue = v;
      lastError = undefined;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() >= deadline) break;
    await sleep(Math.min(intervalMs, Math.max(1, deadline - Date.now())));
  }
  const prefix = `${opts.message ?? 'eventually'}: not satisfied within ${timeoutMs} ms`;
  if (lastError instanceof Error) {
    lastError.message = `${prefix}; last error: ${lastError.message}`;
    throw lastError;
  }
  throw new Error(`${prefix}; last value: ${JSON.stringify(lastValue)}`);
}
