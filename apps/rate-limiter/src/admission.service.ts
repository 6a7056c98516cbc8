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
    const wake = await this.tx(async (m, out) => {
      if (!(await markProcessed(m, e.id, e.type))) return undefined;
      const reject = (reason: ToolRejectReason, detail: string) => out.push(this.rejected(d, reason, detail, e.id, e.traceparent));
      const tool = this.registry.get(d.tool);
      if (!tool) {
        reject('unknown_tool', `unknown tool "${d.tool}" (known: ${this.registry.names().join(', ')})`);
        return undefined;
      }
      const v = this.registry.validateArgs(d.tool, d.args);
      if (!v.ok) {
        reject('invalid_args', v.errors.join('; ').slice(0, 2000));
        return undefined;
      }
      const now = await nowMs(m);
      await ensureTool(m, tool, now);
      const [state] = (await m.query(`SELECT circuit FROM tools WHERE tool = $1`, [tool.name])) as Array<{ circuit: string }>;
      if (state?.circuit === 'open') {
        reject('circuit_open', `circuit breaker of ${tool.name} is open`);
        return undefined;
      }
      if (!(d.essential || tool.essential)) {
        const g = (await m.query(`SELECT month FROM guardrails WHERE tenant_id = $1 AND tripped`, [d.tenantId])) as Array<{ month: string }>;
        if (g.length > 0) {
          reject('budget_exceeded', `budget guardrail of tenant ${d.tenantId} tripped for ${g[0]!.month}; ${tool.name} is not essential`);
          return undefined;
        }
      }
      const inserted = (await m.query(
        `INSERT INTO calls (session_id, call_id, tenant_id, tool, status, request, cause_id, traceparent, queued_ms)
         VALUES ($1, $2, $3, $4, 'queued', $5, $6, $7, $8) ON CONFLICT DO NOTHING RETURNING call_id`,
        [d.sessionId, d.callId, d.tenantId, tool.name, JSON.stringify(d), e.id, e.traceparent ?? null, now],
      )) as unknown[];
      // The same call requested again under a new event id: the first request stands.
      if (inserted.length === 0) return undefined;
      const r = await this.pumpLocked(m, tool, out);
      if (r.stillQueued.has(key(d.sessionId, d.callId))) {
        out.push(
          makeEvent(
            'agentplane.tool.call.deferred',
            { tenantId: d.tenantId, sessionId: d.sessionId, callId: d.callId, tool: d.tool, reason: r.reason ?? 'queued', retryAfterMs: r.retryAfterMs ?? 0 },
            { source: SOURCE, id: deterministicEventId(SOURCE, 'deferred', d.sessionId, d.callId), ...causedBy(e) },
          ),
        );
      }
      return r.wakeMs === undefined ? undefined : { tool: tool.name, ms: r.wakeMs };
    });
    if (wake) this.wake(wake.tool, wake.ms);
  }

  /** An outcome frees the call's concurrency slot, then queued calls of that tool get a chance. */
  async onOutcome(e: ToolCallSucceeded | ToolCallFailed): Promise<void> {
    const d = e.data;
    const wake = await this.tx(async (m, out) => {
      if (!(await markProcessed(m, e.id, e.type))) return undefined;
      const now = await nowMs(m);
      const rows = (await m.query(
        `UPDATE calls SET status = 'done', done_ms = $3 WHERE session_id = $1 AND call_id = $2 AND status IN ('admitted', 'queued') RETURNING tool`,
        [d.sessionId, d.callId, now],
      )) as [Array<{ tool: string }>, number];
      const tool = this.registry.get(rows[0]?.[0]?.tool ?? d.tool);
      if (!tool || rows[1] === 0) return undefined;
      const r = await this.pumpLocked(m, tool, out);
      return r.wakeMs === undefined ? undefined : { tool: tool.name, ms: r.wakeMs };
    });
    if (wake) this.wake(wake.tool, wake.ms);
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
    await this.tx(async (m, out) => {
      if (!(await markProcessed(m, e.id, e.type))) return;
      await ensureTool(m, tool, await nowMs(m));
      await m.query(`UPDATE tools SET circuit = $2 WHERE tool = $1`, [tool.name, e.data.state]);
      // Open: queued calls of the tool are rejected now, not when they would have run.
      await this.pumpLocked(m, tool, out);
    });
    this.log.log(`circuit of ${tool.name} is ${e.data.state}`);
  }

  // ---- admission ---------------------------------------------------------------------------

  /** Runs `fn` in a transaction and publishes what it collected before committing. */
  private async tx<T>(fn: (m: EntityManager, out: Out) => Promise<T>): Promise<T> {
    return this.ds.transaction(async (m) => {
      const out: Out = [];
      const r = await fn(m, out);
      if (out.length > 0) await this.producer.publish(this.topic, out);
      return r;
    });
  }

  /**
   * Plans and applies admissions for one tool under its row lock (every instance serialises
   * here, so the buckets and the concurrency count are global).
   */
  private async pumpLocked(
    m: EntityManager,
    tool: ToolDefinition,
    out: Out,
  ): Promise<{ stillQueued: Set<string>; reason?: string; retryAfterMs?: number; wakeMs?: number }> {
    const [row] = (await m.query(
      `SELECT tokens, updated_ms, last_tenant, circuit, (extract(epoch FROM clock_timestamp()) * 1000)::float8 AS now_ms
       FROM tools WHERE tool = $1 FOR UPDATE`,
      [tool.name],
    )) as Array<{ tokens: number; updated_ms: number; last_tenant: string | null; circuit: string; now_ms: number }>;
    if (!row) return { stillQueued: new Set() };
    const now = row.now_ms;
    const queued = ((await m.query(
      `SELECT session_id, call_id, tenant_id, request, cause_id, traceparent, queued_ms FROM calls
       WHERE tool = $1 AND status = 'queued' ORDER BY queued_ms, session_id, call_id LIMIT ${PUMP_BATCH}`,
      [tool.name],
    )) as Array<Record<string, unknown>>).map(
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
    if (queued.length === 0) return { stillQueued: new Set() };

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
    if (finished.length > 0) {
      await m.query(
        `UPDATE calls SET status = 'rejected', done_ms = $3 FROM unnest($1::text[], $2::text[]) AS u(s, c)
         WHERE calls.session_id = u.s AND calls.call_id = u.c`,
        [finished.map((q) => q.sessionId), finished.map((q) => q.callId), now],
      );
    }
    if (live.length === 0) return { stillQueued: new Set() };

    const [{ n }] = (await m.query(`SELECT count(*)::int AS n FROM calls WHERE tool = $1 AND status = 'admitted'`, [tool.name])) as [{ n: number }];
    const tenantIds = [...new Set(live.map((q) => q.tenantId))];
    const tb = (await m.query(`SELECT tenant_id, tokens, updated_ms FROM tenant_buckets WHERE tool = $1 AND tenant_id = ANY($2)`, [
      tool.name,
      tenantIds,
    ])) as Array<{ tenant_id: string; tokens: number; updated_ms: number }>;
    const toolLimit: BucketLimit = { rps: tool.rateLimit.rps, burst: tool.rateLimit.burst };
    const tenantLimit: BucketLimit = tool.rateLimit.perTenant ?? toolLimit;
    const plan = planAdmissions({
      queued: live,
      inFlight: n,
      maxConcurrent: tool.rateLimit.maxConcurrent,
      tool: { tokens: Number(row.tokens), updatedMs: Number(row.updated_ms) },
      toolLimit,
      tenants: new Map(tb.map((b): [string, Bucket] => [b.tenant_id, { tokens: Number(b.tokens), updatedMs: Number(b.updated_ms) }])),
      tenantLimit,
      lastTenant: row.last_tenant,
      nowMs: now,
    });

    await m.query(`UPDATE tools SET tokens = $2, updated_ms = $3, last_tenant = $4 WHERE tool = $1`, [
      tool.name,
      plan.tool.tokens,
      plan.tool.updatedMs,
      plan.lastTenant,
    ]);
    if (plan.tenants.size > 0) {
      const ts = [...plan.tenants];
      await m.query(
        `INSERT INTO tenant_buckets (tool, tenant_id, tokens, updated_ms)
         SELECT $1, t, k, u FROM unnest($2::text[], $3::float8[], $4::float8[]) AS x(t, k, u)
         ON CONFLICT (tool, tenant_id) DO UPDATE SET tokens = EXCLUDED.tokens, updated_ms = EXCLUDED.updated_ms`,
        [tool.name, ts.map(([t]) => t), ts.map(([, b]) => b.tokens), ts.map(([, b]) => b.updatedMs)],
      );
    }
    if (plan.admit.length > 0) {
      await m.query(
        `UPDATE calls SET status = 'admitted', admitted_ms = $3 FROM unnest($1::text[], $2::text[]) AS u(s, c)
         WHERE calls.session_id = u.s AND calls.call_id = u.c`,
        [plan.admit.map((q) => q.sessionId), plan.admit.map((q) => q.callId), now],
      );
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
    }
    const admitted = new Set(plan.admit.map((q) => key(q.sessionId, q.callId)));
    const stillQueued = new Set(live.filter((q) => !admitted.has(key(q.sessionId, q.callId))).map((q) => key(q.sessionId, q.callId)));
    if (stillQueued.size === 0 && queued.length < PUMP_BATCH) return { stillQueued };
    // Capped by concurrency: the next outcome pumps again; the sweep covers a lost wake-up.
    const wakeMs = plan.blocked?.retryAfterMs !== undefined ? Math.max(1, plan.blocked.retryAfterMs) : queued.length >= PUMP_BATCH ? 1 : undefined;
    return {
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
      const r = await this.tx((m, out) => this.pumpLocked(m, tool, out));
      if (r.wakeMs !== undefined) this.wake(name, r.wakeMs);
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

async function nowMs(m: EntityManager): Promise<number> {
  const [r] = (await m.query(`SELECT (extract(epoch FROM clock_timestamp()) * 1000)::float8 AS now_ms`)) as [{ now_ms: number }];
  return Number(r.now_ms);
}

/** A tool seen for the first time starts with a full bucket. */
async function ensureTool(m: EntityManager, tool: ToolDefinition, now: number): Promise<void> {
  await m.query(`INSERT INTO tools (tool, tokens, updated_ms) VALUES ($1, $2, $3) ON CONFLICT (tool) DO NOTHING`, [
    tool.name,
    tool.rateLimit.burst,
    now,
  ]);
}
