import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The gateway's projection of session-events (what GET /v1/sessions answers from) and its
 * idempotency store. Money is numeric(38,9): exact, and the 9 fractional digits match the wire
 * decimals. Frozen once shipped.
 */
export class Sessions1764115200000 implements MigrationInterface {
  name = 'Sessions1764115200000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE sessions (
        session_id          text PRIMARY KEY,
        tenant_id           text NOT NULL,
        status              text NOT NULL
          CHECK (status IN ('requested', 'running', 'completed', 'rejected', 'failed', 'cancelled')),
        input               text,
        mode                text,
        model               text,
        answer              text,
        errors              jsonb,
        reason              text,
        failure_code        text,
        step_count          integer NOT NULL DEFAULT 0,
        tool_call_count     integer NOT NULL DEFAULT 0,
        inference_cost_usd  numeric(38, 9) NOT NULL DEFAULT 0,
        tool_cost_usd       numeric(38, 9) NOT NULL DEFAULT 0,
        -- The planner's total on session.completed; until then cost is inference + tools.
        final_cost_usd      numeric(38, 9),
        deadline_at         timestamptz,
        requested_at        timestamptz,
        started_at          timestamptz,
        ended_at            timestamptz,
        cancel_requested_at timestamptz,
        created_at          timestamptz NOT NULL DEFAULT now(),
        updated_at          timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`CREATE INDEX sessions_tenant_recent_idx ON sessions (tenant_id, created_at DESC, session_id)`);
    await q.query(`
      CREATE TABLE session_steps (
        session_id        text NOT NULL REFERENCES sessions (session_id) ON DELETE CASCADE,
        step              integer NOT NULL,
        -- planning: only the fallback is known so far (planner.fallback.used precedes the result).
        status            text NOT NULL CHECK (status IN ('planning', 'completed', 'failed')),
        pass              boolean,
        provider          text,
        model             text,
        outcome           text,
        prompt_tokens     integer NOT NULL DEFAULT 0,
        completion_tokens integer NOT NULL DEFAULT 0,
        latency_ms        double precision,
        batch_size        integer,
        errors            jsonb,
        reason            text,
        fallback          text,
        attempts          integer NOT NULL DEFAULT 1,
        cost_usd          numeric(38, 9) NOT NULL DEFAULT 0,
        updated_at        timestamptz NOT NULL,
        PRIMARY KEY (session_id, step)
      )`);
    await q.query(`
      CREATE TABLE session_tool_calls (
        session_id   text NOT NULL REFERENCES sessions (session_id) ON DELETE CASCADE,
        call_id      text NOT NULL,
        step         integer,
        tool         text NOT NULL,
        status       text NOT NULL
          CHECK (status IN ('requested', 'admitted', 'deferred', 'rejected', 'succeeded', 'failed')),
        essential    boolean,
        attempts     integer NOT NULL DEFAULT 0,
        latency_ms   double precision,
        queued_ms    double precision,
        cost_usd     numeric(38, 9) NOT NULL DEFAULT 0,
        code         text,
        error        text,
        requested_at timestamptz,
        ended_at     timestamptz,
        updated_at   timestamptz NOT NULL,
        PRIMARY KEY (session_id, call_id)
      )`);
    // One row per (tenant, Idempotency-Key): the primary key is the unique constraint that makes
    // concurrent retries with the same key publish once.
    await q.query(`
      CREATE TABLE idempotency_keys (
        tenant_id       text NOT NULL,
        idempotency_key text NOT NULL,
        request_hash    text NOT NULL,
        session_id      text NOT NULL,
        created_at      timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (tenant_id, idempotency_key)
      )`);
    await q.query(`CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE idempotency_keys`);
    await q.query(`DROP TABLE session_tool_calls`);
    await q.query(`DROP TABLE session_steps`);
    await q.query(`DROP TABLE sessions`);
  }
}
