import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The rate limiter's projection: every call it has seen (queued, admitted = in flight, done),
 * the token buckets and per-tool state (round-robin pointer, circuit), and tripped guardrails.
 * Shared by every rate-limiter instance of the deployment, so limits hold globally
 * (docs/limits.md). Times are ms since the epoch from the database clock.
 */
export class Admission1764288000000 implements MigrationInterface {
  name = 'Admission1764288000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE calls (
        session_id   text NOT NULL,
        call_id      text NOT NULL,
        tenant_id    text NOT NULL,
        tool         text NOT NULL,
        status       text NOT NULL CHECK (status IN ('queued', 'admitted', 'done', 'rejected')),
        request      jsonb NOT NULL,
        cause_id     uuid NOT NULL,
        traceparent  text,
        queued_ms    double precision NOT NULL,
        admitted_ms  double precision,
        done_ms      double precision,
        PRIMARY KEY (session_id, call_id)
      )`);
    await q.query(`CREATE INDEX calls_queued_idx ON calls (tool, queued_ms) WHERE status = 'queued'`);
    await q.query(`CREATE INDEX calls_admitted_idx ON calls (tool) WHERE status = 'admitted'`);
    await q.query(`
      CREATE TABLE tools (
        tool         text PRIMARY KEY,
        tokens       double precision NOT NULL,
        updated_ms   double precision NOT NULL,
        last_tenant  text,
        circuit      text NOT NULL DEFAULT 'closed'
      )`);
    await q.query(`
      CREATE TABLE tenant_buckets (
        tool        text NOT NULL,
        tenant_id   text NOT NULL,
        tokens      double precision NOT NULL,
        updated_ms  double precision NOT NULL,
        PRIMARY KEY (tool, tenant_id)
      )`);
    await q.query(`
      CREATE TABLE guardrails (
        tenant_id  text PRIMARY KEY,
        tripped    boolean NOT NULL,
        month      text NOT NULL
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE guardrails`);
    await q.query(`DROP TABLE tenant_buckets`);
    await q.query(`DROP TABLE tools`);
    await q.query(`DROP TABLE calls`);
  }
}
