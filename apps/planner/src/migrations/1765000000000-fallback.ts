import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Quality-triggered fallback: successful plans by normalised task key, and each tenant's
 * planner mode as projected from `planner.mode.changed` on control-events (read back at boot).
 */
export class Fallback1765000000000 implements MigrationInterface {
  name = 'Fallback1765000000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE plan_cache (
        task_key   text PRIMARY KEY,
        tenant_id  text NOT NULL,
        template   text NOT NULL,
        plan       jsonb NOT NULL,
        session_id text NOT NULL,
        hits       integer NOT NULL DEFAULT 0,
        used_at    timestamptz,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`
      CREATE TABLE planner_modes (
        tenant_id  text PRIMARY KEY,
        mode       text NOT NULL CHECK (mode IN ('normal', 'fallback')),
        pass_rate  double precision NOT NULL,
        window_size integer NOT NULL,
        event_id   uuid NOT NULL,
        changed_at timestamptz NOT NULL
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE planner_modes`);
    await q.query(`DROP TABLE plan_cache`);
  }
}
