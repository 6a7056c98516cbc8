import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { backoffDelay, parseRetryAfter, RetriesExhaustedError, withRetries } from './retry';

type Out = { status: number; retryAfterMs?: number };

function scripted(outcomes: Out[]) {
  let i = 0;
  return async () => outcomes[Math.min(i++, outcomes.length - 1)];
}

describe('withRetries', () => {
  it('given retriable outcomes, when retried, then backoff doubles up to maxMs with full jitter', async () => {
    const slept: number[] = [];
    const r = await withRetries(scripted([{ status: 500 }, { status: 500 }, { status: 500 }, { status: 500 }, { status: 200 }]), {
      retries: 5,
      baseMs: 100,
      maxMs: 300,
      isRetriable: (a) => a.ok && a.value.status >= 500,
      sleep: async (ms) => void slept.push(ms),
      random: () => 0.5,
    });
    assert.equal(r.value.status, 200);
    assert.equal(r.attempts, 5);
    // 0.5 × min(300, 100·2^(n-1)) for n = 1..4
    assert.deepEqual(slept, [50, 100, 150, 150]);
    assert.deepEqual(r.delaysMs, slept);
  });

  it('given a Retry-After longer than the backoff, then it is honoured; when disabled, it is not', async () => {
    const slept: number[] = [];
    const opts = {
      retries: 2,
      baseMs: 10,
      maxMs: 100,
      isRetriable: (a: { ok: boolean; value?: Out }) => a.ok && a.value!.status === 429,
      sleep: async (ms: number) => void slept.push(ms),
      random: () => 1,
    };
    await withRetries(scripted([{ status: 429, retryAfterMs: 1500 }, { status: 200 }]), opts);
    assert.deepEqual(slept, [1500]);
    slept.length = 0;
    await withRetries(scripted([{ status: 429, retryAfterMs: 1500 }, { status: 200 }]), { ...opts, honourRetryAfter: false });
    assert.deepEqual(slept, [10]);
  });

  it('given a Retry-After beyond maxRetryAfterMs, then the loop stops with that outcome', async () => {
    const r = await withRetries(scripted([{ status: 429, retryAfterMs: 120_000 }, { status: 200 }]), {
      retries: 3,
      baseMs: 10,
      maxMs: 100,
      isRetriable: () => true,
      sleep: async () => assert.fail('must not sleep'),
    });
    assert.deepEqual([r.value.status, r.attempts], [429, 1]);
  });

  it('given a non-retriable outcome or exhausted retries, then the last outcome is returned', async () => {
    const nonRetriable = await withRetries(scripted([{ status: 400 }, { status: 200 }]), {
      retries: 3,
      baseMs: 1,
      maxMs: 1,
      isRetriable: (a) => a.ok && a.value.status >= 500,
      sleep: async () => undefined,
    });
    assert.deepEqual([nonRetriable.value.status, nonRetriable.attempts], [400, 1]);
    const exhausted = await withRetries(scripted([{ status: 503 }]), {
      retries: 2,
      baseMs: 1,
      maxMs: 1,
      isRetriable: () => true,
      sleep: async () => undefined,
    });
    assert.deepEqual([exhausted.value.status, exhausted.attempts], [503, 3]);
  });

  it('given thrown errors, then they are retried by isRetriable and the last one is rethrown with the attempt count', async () => {
    let calls = 0;
    await assert.rejects(
      withRetries(
        async () => {
          calls++;
          throw Object.assign(new Error(`boom ${calls}`), { retryAfterMs: 5 });
        },
        { retries: 2, baseMs: 1, maxMs: 1, isRetriable: (a) => !a.ok, sleep: async () => undefined },
      ),
      (err: RetriesExhaustedError) => {
        assert.equal(err.attempts, 3);
        assert.equal((err.cause as Error).message, 'boom 3');
        return true;
      },
    );
  });

  it('given an aborted signal during a backoff sleep, then the loop stops at once', async () => {
    const ctl = new AbortController();
    const started = Date.now();
    setTimeout(() => ctl.abort(new Error('deadline')), 20);
    await assert.rejects(
      withRetries(async () => ({ status: 500 }), { retries: 5, baseMs: 5_000, maxMs: 5_000, jitter: false, isRetriable: () => true, signal: ctl.signal }),
      /deadline/,
    );
    assert.ok(Date.now() - started < 1_000);
  });

  it('backoffDelay and parseRetryAfter', () => {
    assert.deepEqual([1, 2, 3, 4, 5].map((n) => backoffDelay(n, 100, 1000)), [100, 200, 400, 800, 1000]);
    assert.equal(parseRetryAfter('2'), 2000);
    assert.equal(parseRetryAfter('0.5'), 500);
    const now = Date.parse('2025-01-01T00:00:00Z');
    assert.equal(parseRetryAfter('Wed, 01 Jan 2025 00:00:03 GMT', now), 3000);
    assert.equal(parseRetryAfter('Tue, 31 Dec 2024 00:00:00 GMT', now), 0);
    assert.equal(parseRetryAfter('soon'), undefined);
    assert.equal(parseRetryAfter(null), undefined);
  });
});
