import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Completion webhooks: the session's webhookUrl, and one durable delivery per session (the
 * first terminal event wins), retried with backoff across restarts. `lease_until` lets any
 * instance pick up a delivery whose sender died mid-attempt.
 */
export class Webhooks1765000000000 implements MigrationInterface {
  name = 'Webhooks1765000000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE sessions ADD COLUMN webhook_url text`);
    await q.query(`
      CREATE TABLE webhook_deliveries (
        webhook_id      text PRIMARY KEY,
        session_id      text NOT NULL UNIQUE,
        tenant_id       text NOT NULL,
        event_type      text NOT NULL,
        url             text NOT NULL,
        -- The exact bytes signed and sent on every attempt.
        body            text NOT NULL,
        status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
        attempts        integer NOT NULL DEFAULT 0,
        next_attempt_at timestamptz NOT NULL DEFAULT now(),
        lease_until     timestamptz,
        last_status     integer,
        last_error      text,
        created_at      timestamptz NOT NULL DEFAULT now(),
        ended_at        timestamptz
      )`);
    await q.query(`CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (next_attempt_at) WHERE status = 'pending'`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE webhook_deliveries`);
    await q.query(`ALTER TABLE sessions DROP COLUMN webhook_url`);
  }
}
