import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import {
  causedBy,
  deterministicEventId,
  makeEvent,
  type AgentplaneEvent,
  type BudgetGuardrailCleared,
  type BudgetGuardrailTripped,
  type ToolCallFailed,
  type ToolCallRequested,
  type ToolCallRequestedData,
  type ToolCallSucceeded,
  type ToolCircuitChanged,
  type ToolRejectReason,
} from '@agentplane/contracts';
import type { ServiceConfig } from '@agentplane/config';
import { topicName } from '@agentplane/infra';
import { EventProducer } from '@agentplane/messaging';
import { SERVICE_CONFIG, markProcessed } from '@agentplane/platform';
import type { ToolDefinition, ToolRegistry } from '@agentplane/tools';
import { planAdmissions, type Bucket, type BucketLimit } from './fair-queue';
import { TOOL_REGISTRY } from './tokens';

const SOURCE = 'agentplane/rate-limiter';
/** A call queued longer than this is rejected with `rate_limited` rather than kept forever. */
export const MAX_QUEUE_MS = 60_000;
/** Safety sweep: picks up calls queued by another instance or before a restart. */
const SWEEP_MS = 250;
/** Queued calls planned per pump; the rest wait for the next one. */
const PUMP_BATCH = 2000;

interface QueuedRow {
  sessionId: string;
  callId: string;
  tenantId: string;
  request: ToolCallRequestedData;
  causeId: string;
  traceparent: string | null;
  queuedMs: number;
}

type Out = AgentplaneEvent[];

/** A tool's pending work: a request, an outcome, or a wake-up to admit what waits. */
type Work = { kind: 'requested'; e: ToolCallRequested } | { kind: 'outcome'; e: ToolCallSucceeded | ToolCallFailed } | { kind: 'pump' };

interface ToolQueue {
  pending: Array<{ work: Work; resolve: () => void; reject: (err: unknown) => void }>;
  running: boolean;
}

/** Work items one admission transaction takes at most. */
const MAX_BATCH = 256;

/**
 * Admits, defers or rejects tool calls. Everything it decides lives in its schema (calls,
 * buckets, per-tool round-robin pointer and circuit, guardrails), changed under the tool's
 * row lock, and the resulting events are published before the transaction commits: a crash
 * in between re-publishes them with the same deterministic ids, which consumers dedupe.
 */
@Injectable()
export class AdmissionService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly log = new Logger('Admission');
  private readonly topic: string;
  private readonly timers = new Map<string, { at: number; timer: NodeJS.Timeout }>();
  private readonly queues = new Map<string, ToolQueue>();
  private sweepTimer: NodeJS.Timeout | null = null;
  private stopped = false;
  private sweeping = false;

  constructor(
    private readonly ds: DataSource,
    private readonly producer: EventProducer,
    @Inject(SERVICE_CONFIG) config: ServiceConfig,
    @Inject(TOOL_REGISTRY) private readonly registry: ToolRegistry,
  ) {
    this.topic = topicName(config.topicPrefix, 'session-events');
  }

  onApplicationBootstrap(): void {
    const tick = () => {
      if (this.stopped) return;
      this.sweepTimer = setTimeout(() => void this.sweep().finally(tick), SWEEP_MS);
      this.sweepTimer.unref();
    };
    tick();
  }

  onApplicationShutdown(): void {
    this.stopped = true;
    if (this.sweepTimer) clearTimeout(this.sweepTimer);
    for (const t of this.timers.values()) clearTimeout(t.timer);
    this.timers.clear();
  }

  // ---- event handlers ---------------------------------------------------------------------

  async onRequested(e: ToolCallRequested): Promise<void> {
    const d = e.data;
    const tool = this.registry.get(d.tool);
    const v = tool ? this.registry.validateArgs(d.tool, d.args) : undefined;
    if (tool && v?.ok) return this.submit(tool, { kind: 'requested', e });
    // Refused before any tool state is touched: no lock, a transaction of its own.
    const refusal: [ToolRejectReason, string] =
      v && !v.ok ? ['invalid_args', v.errors.join('; ').slice(0, 2000)] : ['unknown_tool', `unknown tool "${d.tool}" (known: ${this.registry.names().join(', ')})`];
    await this.tx(async (m, out) => {
      if (await markProcessed(m, e.id, e.type)) out.push(this.rejected(d, ...refusal, e.id, e.traceparent));
    });
  }

  /** An outcome frees the call's concurrency slot, then queued calls of that tool get a chance. */
  async onOutcome(e: ToolCallSucceeded | ToolCallFailed): Promise<void> {
    const tool = this.registry.get(e.data.tool);
    if (tool) return this.submit(tool, { kind: 'outcome', e });
    await this.tx(async (m) => void (await markProcessed(m, e.id, e.type)));
  }

  async onGuardrail(e: BudgetGuardrailTripped | BudgetGuardrailCleared): Promise<void> {
    const tripped = e.type === 'agentplane.budget.guardrail.tripped';
    await this.tx(async (m) => {
      if (!(await markProcessed(m, e.id, e.type))) return;
      await m.query(
        `INSERT INTO guardrails (tenant_id, tripped, month) VALUES ($1, $2, $3)
         ON CONFLICT (tenant_id) DO UPDATE SET tripped = EXCLUDED.tripped, month = EXCLUDED.month`,
        [e.data.tenantId, tripped, e.data.month],
      );
    });
  }

  async onCircuit(e: ToolCircuitChanged): Promise<void> {
    const tool = this.registry.get(e.data.tool);
    if (!tool) return;
    await this.tx(async (m, out, writes) => {
      if (!(await markProcessed(m, e.id, e.type))) return;
      await m.query(
        `INSERT INTO tools (tool, tokens, updated_ms, circuit) VALUES ($1, $3, ${NOW_MS}, $2)
         ON CONFLICT (tool) DO UPDATE SET circuit = EXCLUDED.circuit`,
        [tool.name, e.data.state, tool.rateLimit.burst],
      );
      // Open: queued calls of the tool are rejected now, not when they would have run.
      await this.pumpLocked(m, tool, out, writes);
    });
    this.log.log(`circuit of ${tool.name} is ${e.data.state}`);
  }

  // ---- admission ---------------------------------------------------------------------------

  /**
   * Every admission of a tool serialises on the tool's row lock (held until commit, and the
   * events are published before commit), so one event per transaction capped a tool at a few
   * dozen events/s under load (W3 profile: 110-220 ms per admission, mostly lock wait). Work
   * for a tool queues here and one transaction takes all of it: while one runs, the next batch
   * gathers. The handler's promise settles when its batch committed, so offsets still follow.
   */
  private submit(tool: ToolDefinition, work: Work): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      let q = this.queues.get(tool.name);
      if (!q) this.queues.set(tool.name, (q = { pending: [], running: false }));
      q.pending.push({ work, resolve, reject });
      if (!q.running) void this.drain(tool, q);
    });
  }

  private async drain(tool: ToolDefinition, q: ToolQueue): Promise<void> {
    q.running = true;
    try {
      while (q.pending.length > 0) {
        const batch = q.pending.splice(0, MAX_BATCH);
        try {
          await this.runBatch(tool, batch.map((p) => p.work));
          for (const p of batch) p.resolve();
        } catch (err) {
          if (batch.length === 1) {
            batch[0]!.reject(err);
            continue;
          }
          // One bad event must not fail the others with it: each runs alone.
          for (const p of batch) await this.runBatch(tool, [p.work]).then(p.resolve, p.reject);
        }
      }
    } finally {
      q.running = false;
    }
  }

  /**
   * One transaction for a batch of a tool's work, three statements before the publish: dedupe,
   * guardrails, the clock and the tool's row lock in the first; queue the new calls, free the
   * finished ones and read the queue in the second (its snapshot is taken under the lock, so it
   * sees every other instance's committed admissions); the plan's write goes out together with
   * the publish, then commit.
   */
  private async runBatch(tool: ToolDefinition, works: readonly Work[]): Promise<void> {
    const seen = new Set<string>();
    const events: Array<ToolCallRequested | ToolCallSucceeded | ToolCallFailed> = [];
    let pump = false;
    for (const w of works) {
      if (w.kind === 'pump') pump = true;
      else if (!seen.has(w.e.id)) {
        seen.add(w.e.id);
        events.push(w.e);
      }
    }
    const wake = await this.tx(async (m, out, writes) => {
      if (events.length === 0) return (await this.pumpLocked(m, tool, out, writes)).wakeMs;
      const [pre] = (await m.query(
        `WITH p AS (INSERT INTO processed_events (event_id, event_type, handled_at)
                    SELECT u.i, u.t, now() FROM unnest($1::uuid[], $2::text[]) AS u(i, t)
                    ON CONFLICT (event_id) DO NOTHING RETURNING event_id),
              t AS (INSERT INTO tools (tool, tokens, updated_ms) VALUES ($3, $4, ${NOW_MS})
                    ON CONFLICT (tool) DO NOTHING RETURNING ${LOCK_COLUMNS}),
              lk AS (SELECT ${LOCK_COLUMNS} FROM tools WHERE tool = $3 FOR UPDATE)
         SELECT (SELECT coalesce(json_agg(event_id), '[]') FROM p) AS fresh,
                (SELECT row_to_json(t) FROM t) AS inserted,
                (SELECT row_to_json(lk) FROM lk) AS locked,
                (SELECT coalesce(json_object_agg(tenant_id, month), '{}') FROM guardrails WHERE tripped AND tenant_id = ANY($5::text[])) AS guardrails`,
        [events.map((e) => e.id), events.map((e) => e.type), tool.name, tool.rateLimit.burst, [...new Set(events.map((e) => e.data.tenantId))]],
      )) as Array<{ fresh: string[]; inserted: ToolRow | null; locked: ToolRow | null; guardrails: Record<string, string> }>;
      // Neither: another instance created the row after this statement's snapshot; lock it now.
      const row = pre!.inserted ?? pre!.locked ?? (await lockTool(m, tool.name));
      if (!row) return undefined;
      const fresh = new Set(pre!.fresh);
      const toQueue: ToolCallRequested[] = [];
      const toFree: Array<ToolCallSucceeded | ToolCallFailed> = [];
      const calls = new Set<string>();
      for (const e of events) {
        if (!fresh.has(e.id)) continue;
        if (e.type !== 'agentplane.tool.call.requested') {
          toFree.push(e);
          continue;
        }
        const d = e.data;
        const guardrail = pre!.guardrails[d.tenantId];
        if (row.circuit === 'open') out.push(this.rejected(d, 'circuit_open', `circuit breaker of ${tool.name} is open`, e.id, e.traceparent));
        else if (!(d.essential || tool.essential) && guardrail !== undefined) {
          out.push(this.rejected(d, 'budget_exceeded', `budget guardrail of tenant ${d.tenantId} tripped for ${guardrail}; ${tool.name} is not essential`, e.id, e.traceparent));
        } else if (!calls.has(key(d.sessionId, d.callId))) {
          calls.add(key(d.sessionId, d.callId));
          toQueue.push(e);
        }
      }
      if (toQueue.length === 0 && toFree.length === 0 && !pump) return undefined;
      const r = await this.pumpLocked(m, tool, out, writes, row, { toQueue, toFree });
      for (const e of toQueue) {
        const d = e.data;
        // The same call requested again under a new event id: the first request stands.
        if (!r.inserted.has(key(d.sessionId, d.callId)) || !r.stillQueued.has(key(d.sessionId, d.callId))) continue;
        out.push(
          makeEvent(
            'agentplane.tool.call.deferred',
            { tenantId: d.tenantId, sessionId: d.sessionId, callId: d.callId, tool: d.tool, reason: r.reason ?? 'queued', retryAfterMs: r.retryAfterMs ?? 0 },
            { source: SOURCE, id: deterministicEventId(SOURCE, 'deferred', d.sessionId, d.callId), ...causedBy(e) },
          ),
        );
      }
      return r.wakeMs;
    });
    if (wake !== undefined) this.wake(tool.name, wake);
  }

  /**
   * Runs `fn` in a transaction, then publishes what it collected while the writes it started
   * finish (both before commit: a failure of either rolls back, and the redelivered events are
   * decided again under the same deterministic ids).
   */
  private async tx<T>(fn: (m: EntityManager, out: Out, writes: Array<Promise<unknown>>) => Promise<T>): Promise<T> {
    return this.ds.transaction(async (m) => {
      const out: Out = [];
      const writes: Array<Promise<unknown>> = [];
      const r = await fn(m, out, writes);
      await Promise.all(out.length > 0 ? [...writes, this.producer.publish(this.topic, out)] : writes);
      return r;
    });
  }

  /**
   * Plans admissions for one tool under its row lock (every instance serialises here, so the
   * buckets and the concurrency count are global). `locked` is the tool's row when the caller
   * already holds its lock; `changes` are calls to queue and to free first, in the same
   * statement that reads the queue. The plan's write is pushed onto `writes`.
   */
  private async pumpLocked(
    m: EntityManager,
    tool: ToolDefinition,
    out: Out,
    writes: Array<Promise<unknown>>,
    locked?: ToolRow,
    changes: { toQueue: readonly ToolCallRequested[]; toFree: ReadonlyArray<ToolCallSucceeded | ToolCallFailed> } = { toQueue: [], toFree: [] },
  ): Promise<{ inserted: Set<string>; stillQueued: Set<string>; reason?: string; retryAfterMs?: number; wakeMs?: number }> {
    const row = locked ?? (await lockTool(m, tool.name));
    if (!row) return { inserted: new Set(), stillQueued: new Set() };
    const now = Number(row.now_ms);
    const { toQueue, toFree } = changes;
    // The new rows are not in this statement's snapshot: the queue is what was there (minus the
    // calls freed here) plus what `ins` returns; the admitted count likewise minus `fa`.
    const [res] = (await m.query(
      `WITH ins AS (INSERT INTO calls (session_id, call_id, tenant_id, tool, status, request, cause_id, traceparent, queued_ms)
                    SELECT u.s, u.c, u.t, $1, 'queued', u.r::jsonb, u.ca, u.tp, $2
                    FROM unnest($3::text[], $4::text[], $5::text[], $6::text[], $7::uuid[], $8::text[]) AS u(s, c, t, r, ca, tp)
                    ON CONFLICT DO NOTHING
                    RETURNING session_id, call_id, tenant_id, request, cause_id, traceparent, queued_ms),
            fa AS (UPDATE calls SET status = 'done', done_ms = $2 FROM unnest($9::text[], $10::text[]) AS u(s, c)
                   WHERE calls.session_id = u.s AND calls.call_id = u.c AND calls.status = 'admitted' RETURNING 1),
            fq AS (UPDATE calls SET status = 'done', done_ms = $2 FROM unnest($9::text[], $10::text[]) AS u(s, c)
                   WHERE calls.session_id = u.s AND calls.call_id = u.c AND calls.status = 'queued' RETURNING calls.session_id, calls.call_id),
            q AS (SELECT c.session_id, c.call_id, c.tenant_id, c.request, c.cause_id, c.traceparent, c.queued_ms FROM calls c
                  WHERE c.tool = $1 AND c.status = 'queued'
                    AND NOT EXISTS (SELECT 1 FROM fq WHERE fq.session_id = c.session_id AND fq.call_id = c.call_id)
                  UNION ALL SELECT * FROM ins)
       SELECT (SELECT coalesce(json_agg(json_build_array(session_id, call_id)), '[]') FROM ins) AS inserted,
              (SELECT count(*)::int FROM calls WHERE tool = $1 AND status = 'admitted') - (SELECT count(*)::int FROM fa) AS in_flight,
              (SELECT coalesce(json_agg(r), '[]') FROM (
                 SELECT q.*, b.tokens AS bucket_tokens, b.updated_ms AS bucket_updated_ms
                 FROM q LEFT JOIN tenant_buckets b ON b.tool = $1 AND b.tenant_id = q.tenant_id
                 ORDER BY q.queued_ms, q.session_id, q.call_id LIMIT ${PUMP_BATCH}) r) AS queue`,
      [
        tool.name,
        now,
        toQueue.map((e) => e.data.sessionId),
        toQueue.map((e) => e.data.callId),
        toQueue.map((e) => e.data.tenantId),
        toQueue.map((e) => JSON.stringify(e.data)),
        toQueue.map((e) => e.id),
        toQueue.map((e) => e.traceparent ?? null),
        toFree.map((e) => e.data.sessionId),
        toFree.map((e) => e.data.callId),
      ],
    )) as Array<{ inserted: Array<[string, string]>; in_flight: number; queue: Array<Record<string, unknown>> }>;
    const inserted = new Set(res!.inserted.map(([s, c]) => key(s, c)));
    const rows = res!.queue;
    if (rows.length === 0) return { inserted, stillQueued: new Set() };
    const queued = rows.map(
      (r): QueuedRow => ({
        sessionId: r.session_id as string,
        callId: r.call_id as string,
        tenantId: r.tenant_id as string,
        request: r.request as ToolCallRequestedData,
        causeId: r.cause_id as string,
        traceparent: (r.traceparent as string | null) ?? null,
        queuedMs: Number(r.queued_ms),
      }),
    );
    const buckets = new Map<string, Bucket>();
    for (const r of rows) {
      if (r.bucket_tokens !== null) buckets.set(r.tenant_id as string, { tokens: Number(r.bucket_tokens), updatedMs: Number(r.bucket_updated_ms) });
    }

    const finished: QueuedRow[] = [];
    const live: QueuedRow[] = [];
    for (const q of queued) {
      if (row.circuit === 'open') {
        out.push(this.rejected(q.request, 'circuit_open', `circuit breaker of ${tool.name} is open`, q.causeId, q.traceparent ?? undefined));
        finished.push(q);
      } else if (now - q.queuedMs > MAX_QUEUE_MS) {
        out.push(this.rejected(q.request, 'rate_limited', `queued longer than ${MAX_QUEUE_MS} ms`, q.causeId, q.traceparent ?? undefined));
        finished.push(q);
      } else live.push(q);
    }
    if (live.length === 0) {
      writes.push(applyPlan(m, tool.name, now, { finished }));
      return { inserted, stillQueued: new Set() };
    }

    const toolLimit: BucketLimit = { rps: tool.rateLimit.rps, burst: tool.rateLimit.burst };
    const tenantLimit: BucketLimit = tool.rateLimit.perTenant ?? toolLimit;
    const plan = planAdmissions({
      queued: live,
      inFlight: Number(res!.in_flight),
      maxConcurrent: tool.rateLimit.maxConcurrent,
      tool: { tokens: Number(row.tokens), updatedMs: Number(row.updated_ms) },
      toolLimit,
      tenants: buckets,
      tenantLimit,
      lastTenant: row.last_tenant,
      nowMs: now,
    });
    writes.push(applyPlan(m, tool.name, now, { finished, plan }));
    for (const q of plan.admit) {
      const r = q.request;
      out.push(
        makeEvent(
          'agentplane.tool.call.admitted',
          {
            tenantId: r.tenantId,
            sessionId: r.sessionId,
            step: r.step,
            callId: r.callId,
            tool: r.tool,
            args: r.args,
            idempotencyKey: r.idempotencyKey,
            essential: r.essential,
            queuedMs: Math.max(0, Math.round((now - q.queuedMs) * 1000) / 1000),
          },
          {
            source: SOURCE,
            id: deterministicEventId(SOURCE, 'admitted', r.sessionId, r.callId),
            causationid: q.causeId,
            ...(q.traceparent ? { traceparent: q.traceparent } : {}),
          },
        ),
      );
    }
    const admitted = new Set(plan.admit.map((q) => key(q.sessionId, q.callId)));
    const stillQueued = new Set(live.filter((q) => !admitted.has(key(q.sessionId, q.callId))).map((q) => key(q.sessionId, q.callId)));
    if (stillQueued.size === 0 && queued.length < PUMP_BATCH) return { inserted, stillQueued };
    // Capped by concurrency: the next outcome pumps again; the sweep covers a lost wake-up.
    const wakeMs = plan.blocked?.retryAfterMs !== undefined ? Math.max(1, plan.blocked.retryAfterMs) : queued.length >= PUMP_BATCH ? 1 : undefined;
    return {
      inserted,
      stillQueued,
      ...(plan.blocked ? { reason: plan.blocked.reason } : {}),
      retryAfterMs: plan.blocked?.retryAfterMs ?? 50,
      ...(wakeMs !== undefined ? { wakeMs } : {}),
    };
  }

  private rejected(d: ToolCallRequestedData, reason: ToolRejectReason, detail: string, causeId: string, traceparent: string | undefined): AgentplaneEvent {
    return makeEvent(
      'agentplane.tool.call.rejected',
      { tenantId: d.tenantId, sessionId: d.sessionId, callId: d.callId, tool: d.tool, reason, detail },
      { source: SOURCE, id: deterministicEventId(SOURCE, 'rejected', d.sessionId, d.callId), causationid: causeId, ...(traceparent ? { traceparent } : {}) },
    );
  }

  /** Pumps `tool` again in `ms` (keeps the earliest pending wake-up). */
  private wake(tool: string, ms: number): void {
    if (this.stopped) return;
    const at = Date.now() + ms;
    const cur = this.timers.get(tool);
    if (cur && cur.at <= at) return;
    if (cur) clearTimeout(cur.timer);
    const timer = setTimeout(() => {
      this.timers.delete(tool);
      void this.pump(tool);
    }, ms);
    timer.unref();
    this.timers.set(tool, { at, timer });
  }

  private async pump(name: string): Promise<void> {
    const tool = this.registry.get(name);
    if (!tool || this.stopped) return;
    try {
      await this.submit(tool, { kind: 'pump' });
    } catch (err) {
      if (!this.stopped) this.log.warn(`pump ${name}: ${(err as Error).message}`);
      this.wake(name, 100);
    }
  }

  private async sweep(): Promise<void> {
    if (this.sweeping || this.stopped || !this.ds.isInitialized) return;
    this.sweeping = true;
    try {
      const rows = (await this.ds.query(`SELECT DISTINCT tool FROM calls WHERE status = 'queued'`)) as Array<{ tool: string }>;
      for (const r of rows) if (!this.timers.has(r.tool)) await this.pump(r.tool);
    } catch (err) {
      if (!this.stopped) this.log.warn(`sweep: ${(err as Error).message}`);
    } finally {
      this.sweeping = false;
    }
  }
}

function key(sessionId: string, callId: string): string {
  return `${sessionId}\u0000${callId}`;
}

/** The database clock in ms since the epoch: one clock for every instance. */
const NOW_MS = `(extract(epoch FROM clock_timestamp()) * 1000)::float8`;
/** What planning needs of a tool's row, read under its lock (with the clock at that moment). */
const LOCK_COLUMNS = `tokens, updated_ms, last_tenant, circuit, ${NOW_MS} AS now_ms`;

/** Takes the tool's row lock; undefined when the tool has no row yet. */
async function lockTool(m: EntityManager, tool: string): Promise<ToolRow | undefined> {
  return ((await m.query(`SELECT ${LOCK_COLUMNS} FROM tools WHERE tool = $1 FOR UPDATE`, [tool])) as ToolRow[])[0];
}

interface ToolRow {
  tokens: number;
  updated_ms: number;
  last_tenant: string | null;
  circuit: string;
  now_ms: number;
}

/**
 * Writes one pump's result in a single statement: calls rejected or admitted, the tool's
 * bucket and round-robin pointer, the tenants' buckets.
 */
async function applyPlan(
  m: EntityManager,
  tool: string,
  now: number,
  r: { finished: readonly QueuedRow[]; plan?: { admit: readonly QueuedRow[]; tool: Bucket; tenants: ReadonlyMap<string, Bucket>; lastTenant: string | null } },
): Promise<void> {
  const ids = (qs: readonly QueuedRow[]) => [qs.map((q) => q.sessionId), qs.map((q) => q.callId)];
  const [rs, rc] = ids(r.finished);
  const p = r.plan;
  const [as, ac] = ids(p?.admit ?? []);
  const ts = [...(p?.tenants ?? new Map<string, Bucket>())];
  await m.query(
    // Data-modifying CTEs run to completion whether or not the outer query reads them.
    `WITH rejected AS (UPDATE calls SET status = 'rejected', done_ms = $2 FROM unnest($3::text[], $4::text[]) AS u(s, c)
                       WHERE calls.session_id = u.s AND calls.call_id = u.c),
          admitted AS (UPDATE calls SET status = 'admitted', admitted_ms = $2 FROM unnest($5::text[], $6::text[]) AS u(s, c)
                       WHERE calls.session_id = u.s AND calls.call_id = u.c),
          bucket AS (UPDATE tools SET tokens = $7, updated_ms = $8, last_tenant = $9 WHERE tool = $1 AND $10),
          tenants AS (INSERT INTO tenant_buckets (tool, tenant_id, tokens, updated_ms)
                      SELECT $1, t, k, u FROM unnest($11::text[], $12::float8[], $13::float8[]) AS x(t, k, u)
                      ON CONFLICT (tool, tenant_id) DO UPDATE SET tokens = EXCLUDED.tokens, updated_ms = EXCLUDED.updated_ms)
     SELECT 1`,
    [
      tool,
      now,
      rs,
      rc,
      as,
      ac,
      p?.tool.tokens ?? 0,
      p?.tool.updatedMs ?? 0,
      p?.lastTenant ?? null,
      p !== undefined,
      ts.map(([t]) => t),
      ts.map(([, b]) => b.tokens),
      ts.map(([, b]) => b.updatedMs),
    ],
  );
}
