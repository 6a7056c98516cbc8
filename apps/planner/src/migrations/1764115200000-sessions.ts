import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The planner's projection: one row per session holding the decider's state. `version` guards
 * against two instances deciding for one session at once (requests and events partitions of a
 * session may be owned by different instances during a rebalance).
 */
export class Sessions1764115200000 implements MigrationInterface {
  name = 'Sessions1764115200000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE sessions (
        session_id  text PRIMARY KEY,
        tenant_id   text NOT NULL,
        status      text NOT NULL,
        deadline_at timestamptz,
        state       jsonb NOT NULL,
        version     integer NOT NULL,
        updated_at  timestamptz NOT NULL DEFAULT now()
      )`);
    // The deadline sweeper only ever looks at running sessions.
    await q.query(`CREATE INDEX sessions_running_deadline_idx ON sessions (deadline_at) WHERE status = 'running'`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE sessions`);
  }
}
