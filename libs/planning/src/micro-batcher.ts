import { performance } from 'node:perf_hooks';
import type { PlannerProvider, PlanRequest, PlanResult } from './types';

export interface MicroBatcherOptions {
  /** A batch leaves as soon as it holds this many requests (the seed's 4–12). */
  readonly maxBatchSize: number;
  /** ...or when its oldest request has waited this long, whichever comes first. */
  readonly maxWaitMs: number;
  /** Calls in flight at once for providers without `planBatch` (one HTTP call per request). */
  readonly concurrency: number;
  /** Told about every batch that leaves, for metrics and benches. */
  readonly onBatch?: (b: BatchReport) => void;
}

export interface BatchReport {
  readonly key: string;
  readonly size: number;
  /** Why it left: full, or its wait bound passed. */
  readonly trigger: 'size' | 'wait';
  /** Queue wait of each request, ms (enqueue → its call started, pool wait included). */
  readonly waitsMs: readonly number[];
  /** Batch wait of each request, ms (enqueue → its batch left): what the wait bound limits. */
  readonly batchWaitsMs: readonly number[];
}

interface Pending {
  readonly req: PlanRequest;
  readonly signal?: AbortSignal;
  readonly enqueuedAt: number;
  readonly resolve: (r: PlanResult) => void;
  readonly reject: (e: unknown) => void;
}

interface Queue {
  items: Pending[];
  timer?: NodeJS.Timeout;
}

/** A counting semaphore: the pool cap on concurrent provider calls. */
class Pool {
  private active = 0;
  private readonly waiting: Array<() => void> = [];
  constructor(private readonly cap: number) {}
  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.active >= this.cap) await new Promise<void>((r) => this.waiting.push(r));
    this.active++;
    try {
      return await fn();
    } finally {
      this.active--;
      this.waiting.shift()?.();
    }
  }
}

/**
 * Cross-session micro-batching in front of a provider. Requests queue per (provider, model); a
 * batch leaves when full or when its first request has waited maxWaitMs, so no request waits
 * in the queue past the bound. A provider with `planBatch` gets one call per batch; any other
 * gets one call per request, run together under the pool cap. Every result carries the batch
 * size and its own queue wait.
 */
export class MicroBatcher implements PlannerProvider {
  readonly name: string;
  readonly defaultModel?: string;
  private readonly queues = new Map<string, Queue>();
  private readonly pool: Pool;

  constructor(
    private readonly provider: PlannerProvider,
    private readonly opts: MicroBatcherOptions,
  ) {
    if (!(opts.maxBatchSize >= 1) || !(opts.maxWaitMs >= 0) || !(opts.concurrency >= 1)) throw new Error('MicroBatcher: maxBatchSize ≥ 1, maxWaitMs ≥ 0, concurrency ≥ 1');
    this.name = provider.name;
    this.defaultModel = provider.defaultModel;
    this.pool = new Pool(opts.concurrency);
  }

  plan(req: PlanRequest, signal?: AbortSignal): Promise<PlanResult> {
    const key = `${this.provider.name}|${req.model || this.provider.defaultModel || ''}`;
    return new Promise<PlanResult>((resolve, reject) => {
      let q = this.queues.get(key);
      if (!q) this.queues.set(key, (q = { items: [] }));
      q.items.push({ req, signal, enqueuedAt: performance.now(), resolve, reject });
      if (q.items.length >= this.opts.maxBatchSize) this.flush(key, 'size');
      else if (!q.timer) {
        const queue = q;
        // The timer belongs to the oldest request in the queue: it bounds everyone's wait.
        queue.timer = setTimeout(() => this.flush(key, 'wait'), this.opts.maxWaitMs);
      }
    });
  }

  /** Requests waiting in queues right now. */
  queued(): number {
    let n = 0;
    for (const q of this.queues.values()) n += q.items.length;
    return n;
  }

  private flush(key: string, trigger: BatchReport['trigger']): void {
    const q = this.queues.get(key);
    if (!q) return;
    if (q.timer) clearTimeout(q.timer);
    q.timer = undefined;
    const batch = q.items.splice(0, this.opts.maxBatchSize);
    if (q.items.length === 0) this.queues.delete(key);
    else q.timer = setTimeout(() => this.flush(key, 'wait'), Math.max(0, this.opts.maxWaitMs - (performance.now() - q.items[0]!.enqueuedAt)));
    if (batch.length > 0) void this.dispatch(key, batch, trigger);
  }

  private async dispatch(key: string, batch: Pending[], trigger: BatchReport['trigger']): Promise<void> {
    const size = batch.length;
    const leftAt = performance.now();
    const batchWaits = batch.map((p) => round(leftAt - p.enqueuedAt));
    const waits: number[] = new Array(size).fill(0);
    const settle = (p: Pending, i: number, r: PlanResult | Error) => {
      if (r instanceof Error) p.reject(r);
      else p.resolve({ ...r, batchSize: size, queueWaitMs: round(waits[i]!) });
    };
    if (this.provider.planBatch) {
      const started = performance.now();
      batch.forEach((p, i) => (waits[i] = started - p.enqueuedAt));
      this.opts.onBatch?.({ key, size, trigger, waitsMs: waits.map(round), batchWaitsMs: batchWaits });
      try {
        const results = await this.pool.run(() => this.provider.planBatch!(batch.map((p) => p.req)));
        batch.forEach((p, i) => settle(p, i, results[i] ?? new Error('provider returned fewer results than requests')));
      } catch (err) {
        for (const p of batch) p.reject(err);
      }
      return;
    }
    let reported = 0;
    await Promise.all(
      batch.map((p, i) =>
        this.pool
          .run(() => {
            waits[i] = performance.now() - p.enqueuedAt;
            if (++reported === size) this.opts.onBatch?.({ key, size, trigger, waitsMs: waits.map(round), batchWaitsMs: batchWaits });
            return this.provider.plan(p.req, p.signal);
          })
          .then(
            (r) => settle(p, i, r),
            (e: unknown) => p.reject(e),
          ),
      ),
    );
  }
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}
