import { BadRequestException } from '@nestjs/common';
import type { Pool } from 'pg';
import { addDecimal } from '@agentplane/contracts';
import { canon } from './guardrail.service';

export const BUCKETS = ['minute', 'hour', 'day'] as const;
export type Bucket = (typeof BUCKETS)[number];

const MONTH = /^\d{4}-(0[1-9]|1[0-2])$/;

export function parseTime(name: string, v: string | undefined, dflt: Date): Date {
  if (v === undefined || v === '') return dflt;
  const d = new Date(v);
  if (Number.isNaN(d.getTime())) throw new BadRequestException(`${name} must be an RFC 3339 time or date, got "${v}"`);
  return d;
}

export function parseMonth(name: string, v: string | undefined): string | undefined {
  if (v === undefined || v === '') return undefined;
  if (!MONTH.test(v)) throw new BadRequestException(`${name} must look like 2026-01, got "${v}"`);
  return v;
}

export function parseLimit(v: string | undefined, dflt = 100, max = 10000): number {
  if (v === undefined || v === '') return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > max) throw new BadRequestException(`limit must be 1..${max}`);
  return n;
}

const num = (s: string | number | null) => (s === null ? 0 : Number(s));
const rate = (a: number, b: number) => (b > 0 ? Math.round((a / b) * 1e6) / 1e6 : null);
const iso = (d: Date | null) => (d ? d.toISOString() : null);

/** Read side of the projections; money leaves as canonical decimal strings. */
export class Queries {
  constructor(private readonly pool: Pool) {}

  async session(id: string) {
    const r = await this.pool.query(`SELECT * FROM session_costs WHERE session_id = $1`, [id]);
    if (r.rows.length === 0) return null;
    const entries = await this.pool.query(
      `SELECT event_id, kind, source_type, occurred_at, model, tool, prompt_tokens, completion_tokens, amount_usd::text, price_version, ok, pass, attempts, latency_ms
         FROM ledger_entries WHERE session_id = $1 ORDER BY occurred_at, event_id`,
      [id],
    );
    return {
      ...this.sessionRow(r.rows[0]),
      entries: entries.rows.map((e) => ({
        eventId: e.event_id, kind: e.kind, type: e.source_type, time: iso(e.occurred_at), model: e.model, tool: e.tool,
        promptTokens: e.prompt_tokens, completionTokens: e.completion_tokens, amountUsd: canon(e.amount_usd), priceVersion: e.price_version,
        ok: e.ok, pass: e.pass, attempts: e.attempts, latencyMs: e.latency_ms,
      })),
    };
  }

  sessionRow(s: Record<string, any>) {
    const inference = canon(s.inference_usd);
    const tool = canon(s.tool_usd);
    return {
      sessionId: s.session_id as string,
      tenantId: s.tenant_id as string,
      status: (s.status as string) || 'unknown',
      failureCode: s.failure_code as string | null,
      inferenceUsd: inference,
      toolUsd: tool,
      totalUsd: addCanon(inference, tool),
      budgetUsd: s.budget_usd === null ? null : canon(s.budget_usd),
      plannerSteps: s.planner_steps as number,
      maxStep: s.max_step as number,
      toolCalls: s.tool_calls as number,
      toolFailures: s.tool_failures as number,
      toolRejections: s.tool_rejections as number,
      startedAt: iso(s.started_at),
      endedAt: iso(s.ended_at),
      lastEventAt: iso(s.last_event_at),
    };
  }

  async sessions(q: { tenantId?: string; from: Date; to: Date; status?: string; limit: number }) {
    const r = await this.pool.query(
      `SELECT session_id, tenant_id, status, failure_code, inference_usd::text, tool_usd::text, budget_usd::text, planner_steps, max_step,
              tool_calls, tool_failures, tool_rejections, started_at, ended_at, last_event_at
         FROM session_costs
        WHERE ($1::text IS NULL OR tenant_id = $1) AND last_event_at >= $2 AND last_event_at < $3 AND ($4::text IS NULL OR status = $4)
        ORDER BY last_event_at DESC, session_id LIMIT $5`,
      [q.tenantId ?? null, q.from, q.to, q.status ?? null, q.limit],
    );
    return r.rows.map((s) => this.sessionRow(s));
  }

  async tenantMonths(q: { tenantId?: string; from?: string; to?: string }) {
    const r = await this.pool.query(
      `SELECT tenant_id, month, inference_usd::text, tool_usd::text, (inference_usd + tool_usd)::text AS total, planner_steps, tool_calls,
              sessions_started, sessions_completed, sessions_failed, sessions_cancelled, sessions_rejected
         FROM tenant_months WHERE ($1::text IS NULL OR tenant_id = $1) AND ($2::text IS NULL OR month >= $2) AND ($3::text IS NULL OR month <= $3)
        ORDER BY tenant_id, month`,
      [q.tenantId ?? null, q.from ?? null, q.to ?? null],
    );
    return r.rows.map((x) => ({
      tenantId: x.tenant_id, month: x.month, inferenceUsd: canon(x.inference_usd), toolUsd: canon(x.tool_usd), totalUsd: canon(x.total),
      plannerSteps: x.planner_steps, toolCalls: x.tool_calls, sessionsStarted: x.sessions_started, sessionsCompleted: x.sessions_completed,
      sessionsFailed: x.sessions_failed, sessionsCancelled: x.sessions_cancelled, sessionsRejected: x.sessions_rejected,
    }));
  }

  async tools(q: { tenantId?: string; from?: string; to?: string }) {
    const r = await this.pool.query(
      `SELECT tool, sum(calls)::int AS calls, sum(succeeded)::int AS succeeded, sum(failed)::int AS failed, sum(rejected)::int AS rejected,
              sum(rejected_budget)::int AS rejected_budget, sum(attempts)::text AS attempts, sum(retries)::text AS retries,
              sum(cost_usd)::text AS cost, sum(latency_us)::text AS latency_us
         FROM tool_months WHERE ($1::text IS NULL OR tenant_id = $1) AND ($2::text IS NULL OR month >= $2) AND ($3::text IS NULL OR month <= $3)
        GROUP BY tool ORDER BY tool`,
      [q.tenantId ?? null, q.from ?? null, q.to ?? null],
    );
    return r.rows.map((x) => ({
      tool: x.tool, calls: x.calls, succeeded: x.succeeded, failed: x.failed, rejected: x.rejected, rejectedBudget: x.rejected_budget,
      attempts: num(x.attempts), retries: num(x.retries), successRate: rate(x.succeeded, x.calls), costUsd: canon(x.cost),
      meanLatencyMs: x.calls > 0 ? Math.round(num(x.latency_us) / x.calls) / 1000 : null,
    }));
  }

  async models(q: { tenantId?: string; from?: string; to?: string }) {
    const r = await this.pool.query(
      `SELECT model, sum(steps)::int AS steps, sum(failed_steps)::int AS failed_steps, sum(passed_steps)::int AS passed_steps,
              sum(prompt_tokens)::text AS prompt_tokens, sum(completion_tokens)::text AS completion_tokens, sum(cost_usd)::text AS cost,
              sum(latency_us)::text AS latency_us
         FROM model_months WHERE ($1::text IS NULL OR tenant_id = $1) AND ($2::text IS NULL OR month >= $2) AND ($3::text IS NULL OR month <= $3)
        GROUP BY model ORDER BY model`,
      [q.tenantId ?? null, q.from ?? null, q.to ?? null],
    );
    return r.rows.map((x) => ({
      model: x.model, steps: x.steps, failedSteps: x.failed_steps, passedSteps: x.passed_steps, passRate: rate(x.passed_steps, x.steps),
      promptTokens: num(x.prompt_tokens), completionTokens: num(x.completion_tokens), costUsd: canon(x.cost),
      meanLatencyMs: x.steps > 0 ? Math.round(num(x.latency_us) / x.steps) / 1000 : null,
    }));
  }

  /** Signals per bucket, rolled up from minutes; latency percentiles exact, from the ledger entries. */
  async metrics(q: { tenantId?: string; from: Date; to: Date; bucket: Bucket }) {
    const trunc = (col: string) => `(date_trunc('${q.bucket}', ${col} AT TIME ZONE 'UTC') AT TIME ZONE 'UTC')`;
    const s = await this.pool.query(
      `SELECT ${trunc('bucket')} AS t, sum(inference_usd)::text AS inference, sum(tool_usd)::text AS tool,
              sum(tool_calls)::int AS tool_calls, sum(tool_succeeded)::int AS tool_succeeded, sum(tool_failed)::int AS tool_failed,
              sum(tool_rejected)::int AS tool_rejected, sum(tool_retries)::int AS tool_retries, sum(planner_steps)::int AS planner_steps,
              sum(planner_passed)::int AS planner_passed, sum(planner_failed)::int AS planner_failed, sum(fallbacks)::int AS fallbacks,
              sum(sessions_ended)::int AS sessions_ended, sum(sessions_completed)::int AS sessions_completed
         FROM signal_minutes WHERE ($1::text IS NULL OR tenant_id = $1) AND bucket >= $2 AND bucket < $3
        GROUP BY 1 ORDER BY 1`,
      [q.tenantId ?? null, q.from, q.to],
    );
    const l = await this.pool.query(
      `SELECT ${trunc('occurred_at')} AS t, kind,
              percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY latency_ms) AS p
         FROM ledger_entries WHERE ($1::text IS NULL OR tenant_id = $1) AND occurred_at >= $2 AND occurred_at < $3
        GROUP BY 1, 2`,
      [q.tenantId ?? null, q.from, q.to],
    );
    const lat = new Map<string, { planner?: number[]; tool?: number[] }>();
    for (const x of l.rows) {
      const k = (x.t as Date).toISOString();
      const e = lat.get(k) ?? {};
      e[x.kind === 'inference' ? 'planner' : 'tool'] = (x.p as number[]).map((v) => Math.round(v * 1000) / 1000);
      lat.set(k, e);
    }
    return s.rows.map((x) => {
      const t = (x.t as Date).toISOString();
      const p = lat.get(t) ?? {};
      const inference = canon(x.inference);
      const tool = canon(x.tool);
      return {
        bucket: t, inferenceUsd: inference, toolUsd: tool, totalUsd: addCanon(inference, tool),
        toolCalls: x.tool_calls, toolSucceeded: x.tool_succeeded, toolFailed: x.tool_failed, toolRejected: x.tool_rejected,
        toolRetries: x.tool_retries, toolSuccessRate: rate(x.tool_succeeded, x.tool_calls),
        plannerSteps: x.planner_steps, plannerPassed: x.planner_passed, plannerFailed: x.planner_failed, fallbacks: x.fallbacks,
        plannerPassRate: rate(x.planner_passed, x.planner_steps),
        sessionsEnded: x.sessions_ended, sessionsCompleted: x.sessions_completed, sessionSuccessRate: rate(x.sessions_completed, x.sessions_ended),
        plannerLatencyP50Ms: p.planner?.[0] ?? null, plannerLatencyP95Ms: p.planner?.[1] ?? null, plannerLatencyP99Ms: p.planner?.[2] ?? null,
        toolLatencyP50Ms: p.tool?.[0] ?? null, toolLatencyP95Ms: p.tool?.[1] ?? null, toolLatencyP99Ms: p.tool?.[2] ?? null,
      };
    });
  }

  async ledger(q: { tenantId?: string; sessionId?: string; from: Date; to: Date; limit: number }) {
    const r = await this.pool.query(
      `SELECT event_id, kind, source_type, tenant_id, session_id, month, occurred_at, model, tool, prompt_tokens, completion_tokens,
              amount_usd::text, price_version, ok, pass, attempts, latency_ms
         FROM ledger_entries WHERE ($1::text IS NULL OR tenant_id = $1) AND ($2::text IS NULL OR session_id = $2)
          AND occurred_at >= $3 AND occurred_at < $4
        ORDER BY occurred_at, event_id LIMIT $5`,
      [q.tenantId ?? null, q.sessionId ?? null, q.from, q.to, q.limit],
    );
    return r.rows.map((e) => ({
      eventId: e.event_id, kind: e.kind, type: e.source_type, tenantId: e.tenant_id, sessionId: e.session_id, month: e.month,
      time: iso(e.occurred_at), model: e.model, tool: e.tool, promptTokens: e.prompt_tokens, completionTokens: e.completion_tokens,
      amountUsd: canon(e.amount_usd), priceVersion: e.price_version, ok: e.ok, pass: e.pass, attempts: e.attempts, latencyMs: e.latency_ms,
    }));
  }
}

function addCanon(a: string, b: string): string {
  return addDecimal(a, b);
}
