import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import type { ToolFailureCode } from '@agentplane/contracts';

/** What a call came to; stored once per (tool, idempotency key) and replayed to duplicates. */
export type CallOutcome =
  | { readonly kind: 'succeeded'; readonly result: unknown; readonly attempts: number; readonly latencyMs: number; readonly costUsd: string }
  | {
      readonly kind: 'failed';
      readonly code: ToolFailureCode;
      readonly error: string;
      readonly attempts: number;
      readonly latencyMs: number;
      readonly costUsd: string;
    };

export type Claim = { readonly kind: 'claimed' } | { readonly kind: 'done'; readonly outcome: CallOutcome } | { readonly kind: 'busy'; readonly owner: string };

export interface CallKey {
  readonly tool: string;
  readonly idempotencyKey: string;
}

/** Postgres-backed idempotency store (see the migration for the protocol). */
@Injectable()
export class IdempotencyStore {
  constructor(private readonly ds: DataSource) {}

  /**
   * Claims the call for `owner`: inserts it, or takes it over when its lease expired (or when
   * `owner` already holds it: a retry of our own). Otherwise says who runs it, or its outcome.
   */
  async claim(k: CallKey, sessionId: string, callId: string, owner: string, leaseMs: number): Promise<Claim> {
    const ins = (await this.ds.query(
      `INSERT INTO tool_calls (tool, idempotency_key, session_id, call_id, status, owner, lease_until)
       VALUES ($1, $2, $3, $4, 'running', $5, clock_timestamp() + $6 * interval '1 millisecond')
       ON CONFLICT (tool, idempotency_key) DO NOTHING RETURNING 1 AS ok`,
      [k.tool, k.idempotencyKey, sessionId, callId, owner, leaseMs],
    )) as unknown[];
    if (ins.length === 1) return { kind: 'claimed' };
    const [taken] = (await this.ds.query(
      `UPDATE tool_calls SET owner = $3, lease_until = clock_timestamp() + $4 * interval '1 millisecond'
       WHERE tool = $1 AND idempotency_key = $2 AND status = 'running' AND (lease_until < clock_timestamp() OR owner = $3)
       RETURNING 1 AS ok`,
      [k.tool, k.idempotencyKey, owner, leaseMs],
    )) as [unknown[], number];
    if (taken.length === 1) return { kind: 'claimed' };
    const [row] = (await this.ds.query(`SELECT status, owner, outcome FROM tool_calls WHERE tool = $1 AND idempotency_key = $2`, [
      k.tool,
      k.idempotencyKey,
    ])) as Array<{ status: string; owner: string; outcome: CallOutcome | null }>;
    if (!row) return this.claim(k, sessionId, callId, owner, leaseMs); // deleted meanwhile: try again
    if (row.status === 'done' && row.outcome) return { kind: 'done', outcome: row.outcome };
    return { kind: 'busy', owner: row.owner };
  }

  async renew(k: CallKey, owner: string, leaseMs: number): Promise<boolean> {
    const [rows] = (await this.ds.query(
      `UPDATE tool_calls SET lease_until = clock_timestamp() + $4 * interval '1 millisecond'
       WHERE tool = $1 AND idempotency_key = $2 AND owner = $3 AND status = 'running' RETURNING 1 AS ok`,
      [k.tool, k.idempotencyKey, owner, leaseMs],
    )) as [unknown[], number];
    return rows.length === 1;
  }

  /** Stores the outcome; the first one stored wins, and that is what every caller gets back. */
  async complete(k: CallKey, outcome: CallOutcome): Promise<CallOutcome> {
    const [rows] = (await this.ds.query(
      `UPDATE tool_calls SET status = 'done', outcome = $3, finished_at = clock_timestamp()
       WHERE tool = $1 AND idempotency_key = $2 AND status = 'running' RETURNING outcome`,
      [k.tool, k.idempotencyKey, JSON.stringify(outcome)],
    )) as [Array<{ outcome: CallOutcome }>, number];
    if (rows.length === 1) return rows[0]!.outcome;
    const [row] = (await this.ds.query(`SELECT outcome FROM tool_calls WHERE tool = $1 AND idempotency_key = $2`, [k.tool, k.idempotencyKey])) as Array<{
      outcome: CallOutcome | null;
    }>;
    return row?.outcome ?? outcome;
  }

  /**
   * Takes one token of the tool's bucket shared by every executor; when empty, says how long
   * until the next one. Keeps attempts (retries included) under the tool's rps everywhere.
   */
  async takeToken(tool: string, rps: number, burst: number): Promise<{ ok: true } | { ok: false; waitMs: number }> {
    const now = `(extract(epoch FROM clock_timestamp()) * 1000)::float8`;
    // One statement (a round trip per attempt is the cost that matters): a tool seen for the
    // first time gets a full bucket minus this token; otherwise refill, then take one if whole.
    // Its transaction commits without waiting for the WAL flush (set_config(..., true) lasts
    // for this statement's own transaction): every attempt of the tool queues on this row's
    // lock, held until commit, and with the flush inside it the statement was two thirds of the
    // executor's database time at 200 sessions in flight (W4). A token taken and then lost to
    // a database crash only lets a few more attempts through in the second after the restart.
    const [row] = (await this.ds.query(
      `WITH ins AS (INSERT INTO rate_buckets (tool, tokens, updated_ms) VALUES ($1, $2::float8 - 1, ${now})
                    ON CONFLICT (tool) DO NOTHING RETURNING 1),
            cur AS (SELECT LEAST($2::float8, tokens + GREATEST(0, ${now} - updated_ms) / 1000.0 * $3::float8) AS t, ${now} AS n
                    FROM rate_buckets WHERE tool = $1 FOR UPDATE),
            upd AS (UPDATE rate_buckets SET tokens = CASE WHEN cur.t >= 1 THEN cur.t - 1 ELSE cur.t END, updated_ms = cur.n
                    FROM cur WHERE rate_buckets.tool = $1 RETURNING cur.t AS before)
       SELECT EXISTS (SELECT 1 FROM ins) AS inserted, (SELECT before FROM upd) AS before,
              set_config('synchronous_commit', 'off', true) AS async_commit`,
      [tool, burst, rps],
    )) as Array<{ inserted: boolean; before: number | null }>;
    if (row?.inserted) return { ok: true };
    // Neither: another executor created the bucket after this statement's snapshot. The caller
    // (pace) asks again after the wait, and then sees it.
    if (row?.before === null || row?.before === undefined) return { ok: false, waitMs: 1 };
    const before = Number(row.before);
    if (before >= 1) return { ok: true };
    return { ok: false, waitMs: Math.max(1, Math.ceil(((1 - before) / rps) * 1000)) };
  }
}
