import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * First migration of every service: the dedupe table each consumer needs for idempotent
 * handling (Kafka delivers at least once). Unqualified names land in the service's own schema
 * (search_path is set per connection), so the same migration serves all six. Frozen once
 * shipped: change the schema in a new migration of the service.
 */
export class Init1764028800000 implements MigrationInterface {
  name = 'Init1764028800000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE processed_events (
        event_id   uuid PRIMARY KEY,
        event_type text NOT NULL,
        handled_at timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`CREATE INDEX processed_events_handled_at_idx ON processed_events (handled_at)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE processed_events`);
  }
}
