import type { MigrationInterface, QueryRunner } from 'typeorm';

/** NOLOGIN role the audit service writes as: SELECT and INSERT only (see docs/audit.md). */
export const AUDIT_WRITER_ROLE = 'agentplane_audit_writer';

/**
 * The append-only, hash-chained event store (docs/audit.md). Protection lives in the database
 * itself: triggers refuse UPDATE, DELETE and TRUNCATE, and the service writes as a role that has
 * no such privilege. Appends go through append_events(), which serialises writers per schema
 * so positions are gapless per stream and global_seq order is commit order (the Merkle leaf
 * order). Frozen once shipped.
 */
export class AuditStore1764201600000 implements MigrationInterface {
  name = 'AuditStore1764201600000';

  async up(q: QueryRunner): Promise<void> {
    const [{ schema }] = (await q.query(`SELECT current_schema() AS schema`)) as Array<{ schema: string }>;
    const s = `"${schema.replace(/"/g, '""')}"`;
    await q.query(`
      CREATE TABLE events (
        global_seq  bigserial PRIMARY KEY,
        event_id    uuid NOT NULL,
        stream_id   text NOT NULL,
        position    integer NOT NULL CHECK (position >= 1),
        type        text NOT NULL,
        time        timestamptz NOT NULL,
        canon       text NOT NULL,
        event       jsonb GENERATED ALWAYS AS (canon::jsonb) STORED,
        prev_hash   bytea NOT NULL,
        hash        bytea NOT NULL,
        recorded_at timestamptz NOT NULL DEFAULT clock_timestamp(),
        CONSTRAINT events_event_id_key UNIQUE (event_id),
        CONSTRAINT events_stream_position_key UNIQUE (stream_id, position)
      )`);
    await q.query(`CREATE INDEX events_type_idx ON events (type)`);
    await q.query(`
      CREATE TABLE checkpoints (
        seq        bigserial PRIMARY KEY,
        tree_size  bigint NOT NULL CHECK (tree_size >= 0),
        root_hash  bytea NOT NULL,
        key_id     text NOT NULL,
        signed     jsonb NOT NULL,
        created_at timestamptz NOT NULL DEFAULT clock_timestamp()
      )`);
    await q.query(`CREATE INDEX checkpoints_tree_size_idx ON checkpoints (tree_size)`);

    await q.query(`
      CREATE FUNCTION refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        RAISE EXCEPTION 'audit log is append-only: % on %.% refused', TG_OP, TG_TABLE_SCHEMA, TG_TABLE_NAME
          USING ERRCODE = 'insufficient_privilege';
      END $$`);
    for (const t of ['events', 'checkpoints']) {
      await q.query(`CREATE TRIGGER ${t}_no_update_delete BEFORE UPDATE OR DELETE ON ${t} FOR EACH ROW EXECUTE FUNCTION refuse_change()`);
      await q.query(`CREATE TRIGGER ${t}_no_truncate BEFORE TRUNCATE ON ${t} FOR EACH STATEMENT EXECUTE FUNCTION refuse_change()`);
    }

    // Dedupe by event id, then chain: h = sha256(prev || canon). Returns one row per input.
    await q.query(`
      CREATE FUNCTION append_events(p_ids uuid[], p_streams text[], p_types text[], p_times timestamptz[], p_canons text[])
      RETURNS TABLE (o_event_id uuid, o_global_seq bigint, o_stream_id text, o_position integer, o_hash bytea, o_inserted boolean, o_same boolean)
      LANGUAGE plpgsql AS $$
      DECLARE
        i integer;
        prev_pos integer;
        prev_h bytea;
        ex record;
      BEGIN
        -- One appender at a time per schema (held to commit): gapless positions, and global_seq
        -- order equals commit order, so the Merkle leaves a reader sees never gain a hole.
        PERFORM pg_advisory_xact_lock(hashtext('agentplane.audit.append:' || current_schema()));
        FOR i IN 1 .. coalesce(array_length(p_ids, 1), 0) LOOP
          SELECT e.global_seq, e.stream_id, e.position, e.hash, e.canon INTO ex FROM events e WHERE e.event_id = p_ids[i];
          IF FOUND THEN
            o_event_id := p_ids[i]; o_global_seq := ex.global_seq; o_stream_id := ex.stream_id; o_position := ex.position;
            o_hash := ex.hash; o_inserted := false; o_same := (ex.canon = p_canons[i]);
            RETURN NEXT;
            CONTINUE;
          END IF;
          SELECT e.position, e.hash INTO prev_pos, prev_h FROM events e WHERE e.stream_id = p_streams[i] ORDER BY e.position DESC LIMIT 1;
          IF NOT FOUND THEN
            prev_pos := 0;
            prev_h := decode(repeat('00', 32), 'hex');
          END IF;
          o_hash := sha256(prev_h || convert_to(p_canons[i], 'UTF8'));
          INSERT INTO events (event_id, stream_id, position, type, time, canon, prev_hash, hash)
            VALUES (p_ids[i], p_streams[i], prev_pos + 1, p_types[i], p_times[i], p_canons[i], prev_h, o_hash)
            RETURNING global_seq INTO o_global_seq;
          o_event_id := p_ids[i]; o_stream_id := p_streams[i]; o_position := prev_pos + 1; o_inserted := true; o_same := true;
          RETURN NEXT;
        END LOOP;
      END $$`);

    // The writer role: created once per cluster (roles are global), granted per schema. A
    // database user without CREATEROLE gets a warning and must create it (docs/audit.md).
    await q.query(`
      DO $$ BEGIN
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '${AUDIT_WRITER_ROLE}') THEN
          BEGIN
            CREATE ROLE ${AUDIT_WRITER_ROLE} NOLOGIN;
          EXCEPTION
            WHEN duplicate_object OR unique_violation THEN NULL; -- created by a concurrent migration
            WHEN insufficient_privilege THEN RAISE WARNING 'cannot create role ${AUDIT_WRITER_ROLE}: create it as an administrator';
          END;
        END IF;
      END $$`);
    await q.query(`
      DO $$ BEGIN
        IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '${AUDIT_WRITER_ROLE}') THEN
          EXECUTE 'GRANT USAGE ON SCHEMA ${s.replace(/'/g, "''")} TO ${AUDIT_WRITER_ROLE}';
          EXECUTE 'REVOKE ALL ON events, checkpoints FROM PUBLIC, ${AUDIT_WRITER_ROLE}';
          EXECUTE 'GRANT SELECT, INSERT ON events, checkpoints TO ${AUDIT_WRITER_ROLE}';
          EXECUTE 'GRANT USAGE ON SEQUENCE events_global_seq_seq, checkpoints_seq_seq TO ${AUDIT_WRITER_ROLE}';
          EXECUTE 'GRANT EXECUTE ON FUNCTION append_events(uuid[], text[], text[], timestamptz[], text[]) TO ${AUDIT_WRITER_ROLE}';
        END IF;
      END $$`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP FUNCTION append_events(uuid[], text[], text[], timestamptz[], text[])`);
    await q.query(`DROP TABLE checkpoints`);
    await q.query(`DROP TABLE events`);
    await q.query(`DROP FUNCTION refuse_change()`);
  }
}
