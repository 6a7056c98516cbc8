/**
 * Pure admission planning: token buckets and round-robin fairness. The service loads the
 * state under a row lock, calls `planAdmissions`, and writes the result back, so the same
 * numbers hold across every rate-limiter instance sharing the schema.
 */

export interface Bucket {
  tokens: number;
  /** Time of `tokens`, ms since the epoch (the database clock, shared by all instances). */
  updatedMs: number;
}

export interface BucketLimit {
  rps: number;
  burst: number;
}

/** A full bucket: a tool or tenant never seen before may use its burst at once. */
export function fullBucket(limit: BucketLimit, nowMs: number): Bucket {
  return { tokens: limit.burst, updatedMs: nowMs };
}

export function refill(b: Bucket, limit: BucketLimit, nowMs: number): Bucket {
  const elapsed = Math.max(0, nowMs - b.updatedMs) / 1000;
  return { tokens: Math.min(limit.burst, b.tokens + elapsed * limit.rps), updatedMs: Math.max(nowMs, b.updatedMs) };
}

/** Ms until the bucket holds one whole token (0 when it already does). */
export function msUntilToken(b: Bucket, limit: BucketLimit): number {
  return b.tokens >= 1 ? 0 : Math.ceil(((1 - b.tokens) / limit.rps) * 1000);
}

export interface QueuedCall {
  readonly sessionId: string;
  readonly callId: string;
  readonly tenantId: string;
}

export interface PlanInput<C extends QueuedCall> {
  /** Queued calls of one tool, oldest first. */
  readonly queued: readonly C[];
  readonly inFlight: number;
  readonly maxConcurrent: number;
  readonly tool: Bucket;
  readonly toolLimit: BucketLimit;
  /** Per (tenant, tool) buckets, by tenant; missing = full. */
  readonly tenants: ReadonlyMap<string, Bucket>;
  readonly tenantLimit: BucketLimit;
  /** Tenant served last; the next round starts after it (round-robin). */
  readonly lastTenant: string | null;
  readonly nowMs: number;
}

export interface Plan<C extends QueuedCall> {
  readonly admit: C[];
  readonly tool: Bucket;
  readonly tenants: Map<string, Bucket>;
  readonly lastTenant: string | null;
  /** When calls remain queued: why, and when trying again may help (undefined: on a freed slot). */
  readonly blocked?: { readonly reason: string; readonly retryAfterMs?: number };
}

/**
 * Admits queued calls one tenant at a time in round-robin order (a tenant with a thousand
 * queued calls gets one slot per round like a tenant with one), each admission taking a
 * token from the tool's bucket and from the tenant's, under the tool's concurrency cap.
 */
export function planAdmissions<C extends QueuedCall>(input: PlanInput<C>): Plan<C> {
  const now = input.nowMs;
  let tool = refill(input.tool, input.toolLimit, now);
  const tenants = new Map<string, Bucket>();
  const queues = new Map<string, C[]>();
  for (const c of input.queued) {
    let q = queues.get(c.tenantId);
    if (!q) {
      q = [];
      queues.set(c.tenantId, q);
      const b = input.tenants.get(c.tenantId);
      tenants.set(c.tenantId, b ? refill(b, input.tenantLimit, now) : fullBucket(input.tenantLimit, now));
    }
    q.push(c);
  }
  const order = [...queues.keys()].sort();
  // Rotate so the round starts with the first tenant after the one served last.
  const start = input.lastTenant === null ? 0 : order.findIndex((t) => t > input.lastTenant!);
  const ring = start <= 0 ? order : [...order.slice(start), ...order.slice(0, start)];

  const admit: C[] = [];
  let inFlight = input.inFlight;
  let lastTenant = input.lastTenant;
  let tenantWait: number | undefined;
  const exhausted = new Set<string>();
  for (;;) {
    let progress = false;
    for (const tenant of ring) {
      if (exhausted.has(tenant)) continue;
      if (inFlight >= input.maxConcurrent || tool.tokens < 1) break;
      const q = queues.get(tenant)!;
      if (q.length === 0) {
        exhausted.add(tenant);
        continue;
      }
      const tb = tenants.get(tenant)!;
      if (tb.tokens < 1) {
        exhausted.add(tenant);
        const w = msUntilToken(tb, input.tenantLimit);
        tenantWait = tenantWait === undefined ? w : Math.min(tenantWait, w);
        continue;
      }
      admit.push(q.shift()!);
      tenants.set(tenant, { ...tb, tokens: tb.tokens - 1 });
      tool = { ...tool, tokens: tool.tokens - 1 };
      inFlight++;
      lastTenant = tenant;
      progress = true;
    }
    if (!progress) break;
  }

  const remaining = [...queues.values()].some((q) => q.length > 0);
  if (!remaining) return { admit, tool, tenants, lastTenant };
  let blocked: Plan<C>['blocked'];
  if (inFlight >= input.maxConcurrent) {
    blocked = { reason: `tool concurrency cap ${input.maxConcurrent} reached` };
  } else if (tool.tokens < 1) {
    blocked = { reason: `tool rate limit ${input.toolLimit.rps}/s reached`, retryAfterMs: msUntilToken(tool, input.toolLimit) };
  } else {
    blocked = { reason: `tenant rate limit ${input.tenantLimit.rps}/s reached`, retryAfterMs: tenantWait ?? 0 };
  }
  return { admit, tool, tenants, lastTenant, blocked };
}
