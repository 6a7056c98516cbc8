import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The ledger and the cost projections (their specs: libs/ledger/src/projection.ts; a test
 * checks these tables match the specs), checkpoints of the log positions they contain, the
 * recorded price tables, and the guardrail state. Frozen once shipped.
 */
export class CostProjections1764201600000 implements MigrationInterface {
  name = 'CostProjections1764201600000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE ledger_entries (
        event_id uuid NOT NULL,
        kind text NOT NULL,
        source_type text NOT NULL,
        tenant_id text NOT NULL,
        session_id text NOT NULL,
        month text NOT NULL,
        occurred_at timestamptz NOT NULL,
        model text,
        tool text,
        prompt_tokens integer NOT NULL,
        completion_tokens integer NOT NULL,
        amount_usd numeric(38,9) NOT NULL,
        price_version text NOT NULL,
        ok boolean NOT NULL,
        pass boolean,
        attempts integer NOT NULL,
        latency_ms double precision NOT NULL,
        PRIMARY KEY (event_id)
      )`);
    await q.query(`
      CREATE TABLE session_costs (
        session_id text NOT NULL,
        tenant_id text NOT NULL,
        inference_usd numeric(38,9) NOT NULL,
        tool_usd numeric(38,9) NOT NULL,
        planner_steps integer NOT NULL,
        max_step integer NOT NULL,
        tool_calls integer NOT NULL,
        tool_failures integer NOT NULL,
        tool_rejections integer NOT NULL,
        status_rank integer NOT NULL,
        status text NOT NULL,
        failure_code text,
        budget_usd numeric(38,9),
        started_at timestamptz,
        ended_at timestamptz,
        last_event_at timestamptz NOT NULL,
        PRIMARY KEY (session_id)
      )`);
    await q.query(`
      CREATE TABLE tenant_months (
        tenant_id text NOT NULL,
        month text NOT NULL,
        inference_usd numeric(38,9) NOT NULL,
        tool_usd numeric(38,9) NOT NULL,
        planner_steps integer NOT NULL,
        tool_calls integer NOT NULL,
        sessions_started integer NOT NULL,
        sessions_completed integer NOT NULL,
        sessions_failed integer NOT NULL,
        sessions_cancelled integer NOT NULL,
        sessions_rejected integer NOT NULL,
        PRIMARY KEY (tenant_id, month)
      )`);
    await q.query(`
      CREATE TABLE tool_months (
        tenant_id text NOT NULL,
        month text NOT NULL,
        tool text NOT NULL,
        calls integer NOT NULL,
        succeeded integer NOT NULL,
        failed integer NOT NULL,
        rejected integer NOT NULL,
        rejected_budget integer NOT NULL,
        attempts bigint NOT NULL,
        retries bigint NOT NULL,
        cost_usd numeric(38,9) NOT NULL,
        latency_us bigint NOT NULL,
        PRIMARY KEY (tenant_id, month, tool)
      )`);
    await q.query(`
      CREATE TABLE model_months (
        tenant_id text NOT NULL,
        month text NOT NULL,
        model text NOT NULL,
        steps integer NOT NULL,
        failed_steps integer NOT NULL,
        passed_steps integer NOT NULL,
        prompt_tokens bigint NOT NULL,
        completion_tokens bigint NOT NULL,
        cost_usd numeric(38,9) NOT NULL,
        latency_us bigint NOT NULL,
        PRIMARY KEY (tenant_id, month, model)
      )`);
    await q.query(`
      CREATE TABLE signal_minutes (
        tenant_id text NOT NULL,
        bucket timestamptz NOT NULL,
        inference_usd numeric(38,9) NOT NULL,
        tool_usd numeric(38,9) NOT NULL,
        tool_calls integer NOT NULL,
        tool_succeeded integer NOT NULL,
        tool_failed integer NOT NULL,
        tool_rejected integer NOT NULL,
        tool_retries integer NOT NULL,
        planner_steps integer NOT NULL,
        planner_passed integer NOT NULL,
        planner_failed integer NOT NULL,
        fallbacks integer NOT NULL,
        sessions_ended integer NOT NULL,
        sessions_completed integer NOT NULL,
        PRIMARY KEY (tenant_id, bucket)
      )`);
    await q.query(`CREATE INDEX ledger_entries_tenant_time_idx ON ledger_entries (tenant_id, occurred_at)`);
    await q.query(`CREATE INDEX ledger_entries_session_idx ON ledger_entries (session_id)`);
    await q.query(`CREATE INDEX session_costs_tenant_idx ON session_costs (tenant_id, last_event_at)`);
    // Next log offset per partition the projections already contain (rebuild swaps it with them).
    await q.query(`
      CREATE TABLE projection_offsets (
        topic text NOT NULL,
        partition integer NOT NULL,
        next_offset bigint NOT NULL,
        PRIMARY KEY (topic, partition)
      )`);
    // Every prices.yaml version seen, immutable: replays price events by the version in effect at their time.
    await q.query(`
      CREATE TABLE price_tables (
        version integer PRIMARY KEY,
        models jsonb NOT NULL,
        effective_from timestamptz NOT NULL,
        source text NOT NULL,
        recorded_at timestamptz NOT NULL DEFAULT now()
      )`);
    // Control state, not a projection: re-evaluated from spend; episode numbers make event ids deterministic.
    await q.query(`
      CREATE TABLE guardrail_state (
        tenant_id text NOT NULL,
        month text NOT NULL,
        tripped boolean NOT NULL DEFAULT false,
        episode integer NOT NULL DEFAULT 0,
        spend_usd numeric(38,9) NOT NULL DEFAULT 0,
        forecast_usd numeric(38,9) NOT NULL DEFAULT 0,
        threshold_usd numeric(38,9) NOT NULL DEFAULT 0,
        changed_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (tenant_id, month)
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE guardrail_state, price_tables, projection_offsets, signal_minutes, model_months, tool_months, tenant_months, session_costs, ledger_entries`);
  }
}
