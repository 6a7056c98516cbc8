import { Inject, Injectable, Optional } from '@nestjs/common';
import type { GatewaySettings } from '@agentplane/config';
import { DataSource, type EntityManager } from 'typeorm';
import { decimalFromUnits, decimalToUnits, type SessionEvent } from '@agentplane/contracts';
import { markProcessed } from '@agentplane/platform';
import { type SessionStatus, type SessionSummary, type SessionView, type StepView, type ToolCallView } from './session-view';

type Row = Record<string, unknown>;

const TERMINAL_SQL = `('completed', 'rejected', 'failed', 'cancelled')`;

/** numeric(38,9) comes back as "0.012500000"; the wire form is canonical ("0.0125"). */
function money(v: unknown): string {
  return v === null || v === undefined ? '0' : decimalFromUnits(decimalToUnits(String(v)));
}
function iso(v: unknown): string | undefined {
  return v instanceof Date ? v.toISOString() : typeof v === 'string' ? new Date(v).toISOString() : undefined;
}
function opt<T>(v: T | null | undefined): T | undefined {
  return v === null ? undefined : v;
}
/** Drops undefined keys so JSON answers stay compact. */
function compact<T extends object>(o: T): T {
  for (const k of Object.keys(o) as (keyof T)[]) if (o[k] === undefined) delete o[k];
  return o;
}

export interface NewSession {
  sessionId: string;
  tenantId: string;
  input: string;
  mode?: string;
  model?: string;
  webhookUrl?: string;
}

export interface IdempotencyRecord {
  sessionId: string;
  requestHash: string;
}

/**
 * The gateway's projection of session-events (sessions, steps, tool calls, cost) and its
 * idempotency store, in its own schema. Every projected event is applied once: its id goes into
 * processed_events in the same transaction as its effects, so a redelivery changes nothing.
 */
@Injectable()
export class SessionStore {
  /** Terminal events older than this create no webhook delivery (a projection rebuild meets them again). */
  readonly webhookMaxAgeMs: number;

  constructor(
    readonly ds: DataSource,
    @Optional() @Inject(Symbol.for('agentplane.gateway.settings')) settings?: GatewaySettings,
  ) {
    this.webhookMaxAgeMs = settings?.webhooks.maxAgeMs ?? 86_400_000;
  }

  /** Applies one event; returns false when it was already applied (redelivery). */
  async project(e: SessionEvent): Promise<boolean> {
    return this.ds.transaction(async (m) => {
      if (!(await markProcessed(m, e.id, e.type))) return false;
      await apply(m, e);
      if (TERMINAL_TYPES.has(e.type) && Date.now() - Date.parse(e.time) <= this.webhookMaxAgeMs) await enqueueWebhook(m, e);
      return true;
    });
  }

  /**
   * The row a POST creates before publishing, so GET answers `requested` at once. Returns false
   * when the id is taken (by this or another tenant).
   */
  async insertRequested(m: EntityManager, s: NewSession): Promise<boolean> {
    const rows: unknown[] = await m.query(
      `INSERT INTO sessions (session_id, tenant_id, status, input, mode, model, webhook_url, requested_at, created_at, updated_at)
       VALUES ($1, $2, 'requested', $3, $4, $5, $6, now(), now(), now())
       ON CONFLICT (session_id) DO NOTHING RETURNING session_id`,
      [s.sessionId, s.tenantId, s.input, s.mode ?? null, s.model ?? null, s.webhookUrl ?? null],
    );
    return rows.length === 1;
  }

  async deleteRequested(sessionId: string): Promise<void> {
    await this.ds.query(`DELETE FROM sessions WHERE session_id = $1 AND status = 'requested'`, [sessionId]);
  }

  /**
   * Claims (tenant, key) for a new request, or returns the record that holds it. A concurrent
   * claim of the same key blocks on the primary key until the first transaction ends, so exactly
   * one request publishes.
   */
  async claimIdempotencyKey(
    m: EntityManager,
    tenantId: string,
    key: string,
    requestHash: string,
    sessionId: string,
  ): Promise<{ claimed: true } | { claimed: false; existing: IdempotencyRecord }> {
    const ins: unknown[] = await m.query(
      `INSERT INTO idempotency_keys (tenant_id, idempotency_key, request_hash, session_id) VALUES ($1, $2, $3, $4)
       ON CONFLICT (tenant_id, idempotency_key) DO NOTHING RETURNING session_id`,
      [tenantId, key, requestHash, sessionId],
    );
    if (ins.length === 1) return { claimed: true };
    const rows: Row[] = await m.query(
      `SELECT session_id, request_hash FROM idempotency_keys WHERE tenant_id = $1 AND idempotency_key = $2`,
      [tenantId, key],
    );
    const r = rows[0]!;
    return { claimed: false, existing: { sessionId: String(r.session_id), requestHash: String(r.request_hash) } };
  }

  async markCancelRequested(tenantId: string, sessionId: string): Promise<void> {
    await this.ds.query(
      `UPDATE sessions SET cancel_requested_at = COALESCE(cancel_requested_at, now()) WHERE session_id = $1 AND tenant_id = $2`,
      [sessionId, tenantId],
    );
  }

  /** Status only (cheap), tenant-scoped. */
  async status(tenantId: string, sessionId: string): Promise<SessionStatus | undefined> {
    const rows: Row[] = await this.ds.query(`SELECT status FROM sessions WHERE session_id = $1 AND tenant_id = $2`, [sessionId, tenantId]);
    return rows[0] ? (rows[0].status as SessionStatus) : undefined;
  }

  /**
   * The full view, tenant-scoped: another tenant's session is as absent as an unknown one. One
   * snapshot (REPEATABLE READ) so the session row, steps and calls agree with each other.
   */
  async view(tenantId: string, sessionId: string): Promise<SessionView | undefined> {
    return this.ds.transaction('REPEATABLE READ', async (m) => {
      const rows: Row[] = await m.query(`SELECT * FROM sessions WHERE session_id = $1 AND tenant_id = $2`, [sessionId, tenantId]);
      if (!rows[0]) return undefined;
      const steps: Row[] = await m.query(`SELECT * FROM session_steps WHERE session_id = $1 ORDER BY step`, [sessionId]);
      const calls: Row[] = await m.query(
        `SELECT * FROM session_tool_calls WHERE session_id = $1 ORDER BY step NULLS LAST, requested_at NULLS LAST, call_id`,
        [sessionId],
      );
      return toView(rows[0], steps, calls);
    });
  }

  async list(tenantId: string, limit: number, status?: SessionStatus): Promise<SessionSummary[]> {
    const rows: Row[] = await this.ds.query(
      `SELECT * FROM sessions WHERE tenant_id = $1 AND ($2::text IS NULL OR status = $2)
       ORDER BY created_at DESC, session_id DESC LIMIT $3`,
      [tenantId, status ?? null, limit],
    );
    return rows.map(toSummary);
  }
}

function toSummary(r: Row): SessionSummary {
  const status = r.status as SessionStatus;
  return compact({
    sessionId: String(r.session_id),
    tenantId: String(r.tenant_id),
    status,
    input: opt(r.input as string | null),
    costUsd:
      r.final_cost_usd !== null && r.final_cost_usd !== undefined
        ? money(r.final_cost_usd)
        : decimalFromUnits(decimalToUnits(money(r.inference_cost_usd)) + decimalToUnits(money(r.tool_cost_usd))),
    stepCount: Number(r.step_count),
    toolCallCount: Number(r.tool_call_count),
    createdAt: iso(r.created_at)!,
    endedAt: iso(r.ended_at),
  });
}

function toView(r: Row, steps: Row[], calls: Row[]): SessionView {
  return compact({
    ...toSummary(r),
    mode: opt(r.mode as string | null),
    model: opt(r.model as string | null),
    answer: opt(r.answer as string | null),
    errors: opt(r.errors as string[] | null),
    reason: opt(r.reason as string | null),
    failureCode: opt(r.failure_code as string | null),
    inferenceCostUsd: money(r.inference_cost_usd),
    toolCostUsd: money(r.tool_cost_usd),
    steps: steps.map(
      (s): StepView =>
        compact({
          step: Number(s.step),
          status: s.status as StepView['status'],
          pass: opt(s.pass as boolean | null),
          provider: opt(s.provider as string | null),
          model: opt(s.model as string | null),
          outcome: opt(s.outcome as string | null),
          promptTokens: Number(s.prompt_tokens),
          completionTokens: Number(s.completion_tokens),
          latencyMs: s.latency_ms === null ? undefined : Number(s.latency_ms),
          batchSize: s.batch_size === null ? undefined : Number(s.batch_size),
          errors: opt(s.errors as string[] | null),
          reason: opt(s.reason as string | null),
          fallback: opt(s.fallback as string | null),
          attempts: Number(s.attempts),
          costUsd: money(s.cost_usd),
        }),
    ),
    toolCalls: calls.map(
      (c): ToolCallView =>
        compact({
          callId: String(c.call_id),
          step: c.step === null ? undefined : Number(c.step),
          tool: String(c.tool),
          status: String(c.status),
          essential: opt(c.essential as boolean | null),
          attempts: Number(c.attempts),
          latencyMs: c.latency_ms === null ? undefined : Number(c.latency_ms),
          queuedMs: c.queued_ms === null ? undefined : Number(c.queued_ms),
          costUsd: money(c.cost_usd),
          code: opt(c.code as string | null),
          error: opt(c.error as string | null),
          requestedAt: iso(c.requested_at),
          endedAt: iso(c.ended_at),
        }),
    ),
    requestedAt: iso(r.requested_at),
    startedAt: iso(r.started_at),
    deadlineAt: iso(r.deadline_at),
    cancelRequestedAt: iso(r.cancel_requested_at),
    updatedAt: iso(r.updated_at)!,
  });
}

export const TERMINAL_TYPES: ReadonlySet<string> = new Set([
  'agentplane.session.completed',
  'agentplane.session.rejected',
  'agentplane.session.failed',
  'agentplane.session.cancelled',
]);

/**
 * The session's outcome, to its webhookUrl: one delivery per session (the first terminal event
 * wins, like the status), its id derived from that event so a re-sent delivery (after a
 * projection rebuild) is the same `webhook-id` to the receiver.
 */
async function enqueueWebhook(m: EntityManager, e: SessionEvent): Promise<void> {
  const body = JSON.stringify({ type: e.type, timestamp: e.time, data: e.data });
  await m.query(
    `INSERT INTO webhook_deliveries (webhook_id, session_id, tenant_id, event_type, url, body)
     SELECT $2, session_id, tenant_id, $3, webhook_url, $4 FROM sessions WHERE session_id = $1 AND webhook_url IS NOT NULL
     ON CONFLICT DO NOTHING`,
    [e.data.sessionId, `msg_${e.id}`, e.type, body],
  );
}

/**
 * A session the gateway has not seen yet (requested straight on Kafka, or the projection is
 * being rebuilt from the log) gets its row from whichever of its events comes first.
 */
async function ensureSession(m: EntityManager, e: SessionEvent, status: SessionStatus): Promise<void> {
  await m.query(
    `INSERT INTO sessions (session_id, tenant_id, status, created_at, updated_at) VALUES ($1, $2, $3, $4, $4)
     ON CONFLICT (session_id) DO NOTHING`,
    [e.data.sessionId, e.data.tenantId, status, e.time],
  );
}

/** A terminal status is final: the first terminal event wins, later ones only add detail. */
async function end(m: EntityManager, e: SessionEvent, status: SessionStatus, set: string, params: unknown[]): Promise<void> {
  await ensureSession(m, e, status);
  await m.query(
    `UPDATE sessions SET status = CASE WHEN status IN ${TERMINAL_SQL} THEN status ELSE $2 END,
       ended_at = COALESCE(ended_at, $3), updated_at = $3${set ? `, ${set}` : ''}
     WHERE session_id = $1`,
    [e.data.sessionId, status, e.time, ...params],
  );
}

async function touch(m: EntityManager, e: SessionEvent, set = '', params: unknown[] = []): Promise<void> {
  await m.query(`UPDATE sessions SET updated_at = $2${set ? `, ${set}` : ''} WHERE session_id = $1`, [e.data.sessionId, e.time, ...params]);
}

/** The call's row in its new status; the caller then sets what this event adds. */
async function upsertCall(m: EntityManager, e: SessionEvent & { data: { callId: string; tool: string } }, status: string): Promise<void> {
  await ensureSession(m, e, 'running');
  await m.query(
    `INSERT INTO session_tool_calls (session_id, call_id, tool, status, updated_at) VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (session_id, call_id) DO UPDATE SET status = $4, updated_at = $5`,
    [e.data.sessionId, e.data.callId, e.data.tool, status, e.time],
  );
}

/** Sets columns of one tool call: `set` uses $3.. for `params`. */
async function setCall(m: EntityManager, e: SessionEvent & { data: { callId: string } }, set: string, params: unknown[]): Promise<void> {
  await m.query(`UPDATE session_tool_calls SET ${set} WHERE session_id = $1 AND call_id = $2`, [e.data.sessionId, e.data.callId, ...params]);
}

async function apply(m: EntityManager, e: SessionEvent): Promise<void> {
  switch (e.type) {
    case 'agentplane.session.started': {
      const d = e.data;
      await ensureSession(m, e, 'running');
      await m.query(
        `UPDATE sessions SET status = CASE WHEN status = 'requested' THEN 'running' ELSE status END,
           input = COALESCE(input, $3), mode = $4, model = COALESCE($5, model), deadline_at = $6,
           webhook_url = COALESCE($7, webhook_url), started_at = $2, updated_at = $2
         WHERE session_id = $1`,
        [d.sessionId, e.time, d.input, d.mode, d.model ?? null, d.deadlineAt, d.webhookUrl ?? null],
      );
      return;
    }
    case 'agentplane.session.rejected':
      return end(m, e, 'rejected', `errors = $4`, [JSON.stringify(e.data.errors)]);
    case 'agentplane.session.completed':
      return end(m, e, 'completed', `answer = $4, step_count = GREATEST(step_count, $5), tool_call_count = GREATEST(tool_call_count, $6), final_cost_usd = $7`, [
        e.data.answer,
        e.data.steps,
        e.data.toolCalls,
        e.data.costUsd,
      ]);
    case 'agentplane.session.failed':
      return end(m, e, 'failed', `reason = $4, failure_code = $5`, [e.data.reason, e.data.code]);
    case 'agentplane.session.cancelled':
      return end(m, e, 'cancelled', `reason = COALESCE($4, reason)`, [e.data.reason ?? null]);

    case 'agentplane.planner.step.completed': {
      const d = e.data;
      await ensureSession(m, e, 'running');
      await m.query(
        `INSERT INTO session_steps (session_id, step, status, pass, provider, model, outcome, prompt_tokens, completion_tokens,
           latency_ms, batch_size, errors, cost_usd, updated_at)
         VALUES ($1, $2, 'completed', $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
         ON CONFLICT (session_id, step) DO UPDATE SET
           attempts = CASE WHEN session_steps.status = 'planning' THEN 1 ELSE session_steps.attempts + 1 END,
           status = 'completed', pass = EXCLUDED.pass, provider = EXCLUDED.provider, model = EXCLUDED.model,
           outcome = EXCLUDED.outcome, prompt_tokens = session_steps.prompt_tokens + EXCLUDED.prompt_tokens,
           completion_tokens = session_steps.completion_tokens + EXCLUDED.completion_tokens,
           latency_ms = EXCLUDED.latency_ms, batch_size = EXCLUDED.batch_size, errors = EXCLUDED.errors, reason = NULL,
           cost_usd = session_steps.cost_usd + EXCLUDED.cost_usd, updated_at = EXCLUDED.updated_at`,
        [
          d.sessionId, d.step, d.pass, d.provider, d.model, d.outcome.kind, d.promptTokens, d.completionTokens,
          d.latencyMs, d.batchSize, d.errors ? JSON.stringify(d.errors) : null, d.costUsd ?? '0', e.time,
        ],
      );
      return touch(m, e, `inference_cost_usd = inference_cost_usd + $3, step_count = (SELECT count(*) FROM session_steps WHERE session_id = $1)`, [
        d.costUsd ?? '0',
      ]);
    }
    case 'agentplane.planner.step.failed': {
      const d = e.data;
      await ensureSession(m, e, 'running');
      await m.query(
        `INSERT INTO session_steps (session_id, step, status, provider, model, prompt_tokens, completion_tokens, latency_ms,
           errors, reason, cost_usd, updated_at)
         VALUES ($1, $2, 'failed', $3, $4, $5, $6, $7, $8, $9, $10, $11)
         ON CONFLICT (session_id, step) DO UPDATE SET
           attempts = CASE WHEN session_steps.status = 'planning' THEN 1 ELSE session_steps.attempts + 1 END,
           status = 'failed', pass = false, provider = EXCLUDED.provider, model = EXCLUDED.model,
           prompt_tokens = session_steps.prompt_tokens + EXCLUDED.prompt_tokens,
           completion_tokens = session_steps.completion_tokens + EXCLUDED.completion_tokens,
           latency_ms = EXCLUDED.latency_ms, errors = EXCLUDED.errors, reason = EXCLUDED.reason,
           cost_usd = session_steps.cost_usd + EXCLUDED.cost_usd, updated_at = EXCLUDED.updated_at`,
        [d.sessionId, d.step, d.provider, d.model, d.promptTokens, d.completionTokens, d.latencyMs, JSON.stringify(d.errors), d.reason, d.costUsd ?? '0', e.time],
      );
      return touch(m, e, `inference_cost_usd = inference_cost_usd + $3, step_count = (SELECT count(*) FROM session_steps WHERE session_id = $1)`, [
        d.costUsd ?? '0',
      ]);
    }
    case 'agentplane.planner.fallback.used': {
      await ensureSession(m, e, 'running');
      await m.query(
        `INSERT INTO session_steps (session_id, step, status, fallback, updated_at) VALUES ($1, $2, 'planning', $3, $4)
         ON CONFLICT (session_id, step) DO UPDATE SET fallback = EXCLUDED.fallback, updated_at = EXCLUDED.updated_at`,
        [e.data.sessionId, e.data.step, e.data.source, e.time],
      );
      return touch(m, e);
    }

    case 'agentplane.tool.call.requested':
      await upsertCall(m, e, 'requested');
      await setCall(m, e, `step = $3, essential = $4, requested_at = COALESCE(requested_at, $5)`, [e.data.step, e.data.essential, e.time]);
      return touch(m, e, `tool_call_count = (SELECT count(*) FROM session_tool_calls WHERE session_id = $1)`);
    case 'agentplane.tool.call.admitted':
      await upsertCall(m, e, 'admitted');
      await setCall(m, e, `queued_ms = $3`, [e.data.queuedMs]);
      return touch(m, e);
    case 'agentplane.tool.call.deferred':
      await upsertCall(m, e, 'deferred');
      await setCall(m, e, `error = $3`, [e.data.reason]);
      return touch(m, e);
    case 'agentplane.tool.call.rejected':
      await upsertCall(m, e, 'rejected');
      await setCall(m, e, `code = $3, error = $4, ended_at = $5`, [e.data.reason, e.data.detail ?? null, e.time]);
      return touch(m, e);
    case 'agentplane.tool.call.succeeded':
      await upsertCall(m, e, 'succeeded');
      await setCall(m, e, `attempts = $3, latency_ms = $4, cost_usd = $5, code = NULL, error = NULL, ended_at = $6`, [
        e.data.attempts, e.data.latencyMs, e.data.costUsd, e.time,
      ]);
      return touch(m, e, `tool_cost_usd = tool_cost_usd + $3`, [e.data.costUsd]);
    case 'agentplane.tool.call.failed':
      await upsertCall(m, e, 'failed');
      await setCall(m, e, `attempts = $3, latency_ms = $4, cost_usd = $5, code = $6, error = $7, ended_at = $8`, [
        e.data.attempts, e.data.latencyMs, e.data.costUsd, e.data.code, e.data.error, e.time,
      ]);
      return touch(m, e, `tool_cost_usd = tool_cost_usd + $3`, [e.data.costUsd]);
  }
}

