import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The idempotency store: one row per (tool, idempotency key). The first executor to insert it
 * runs the call under a lease it renews; a duplicate waits for the stored outcome, or takes
 * over once the lease expired (its owner died). `rate_buckets` paces attempts per tool across
 * every executor instance (docs/limits.md).
 */
export class Idempotency1764288000000 implements MigrationInterface {
  name = 'Idempotency1764288000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE tool_calls (
        tool             text NOT NULL,
        idempotency_key  text NOT NULL,
        session_id       text NOT NULL,
        call_id          text NOT NULL,
        status           text NOT NULL CHECK (status IN ('running', 'done')),
        owner            text NOT NULL,
        lease_until      timestamptz NOT NULL,
        outcome          jsonb,
        created_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
        finished_at      timestamptz,
        PRIMARY KEY (tool, idempotency_key)
      )`);
    await q.query(`
      CREATE TABLE rate_buckets (
        tool        text PRIMARY KEY,
        tokens      double precision NOT NULL,
        updated_ms  double precision NOT NULL
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE rate_buckets`);
    await q.query(`DROP TABLE tool_calls`);
  }
}
