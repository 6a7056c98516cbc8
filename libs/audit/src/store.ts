import { Pool, type Connection, type PoolClient, type Submittable } from 'pg';
import type { AgentplaneEvent } from '@agentplane/contracts';
import { canonicalJson } from './canonical';
import { streamIdOf, type ChainRow } from './chain';
import type { SignedCheckpoint } from './checkpoint';

export interface StoredEvent extends ChainRow {
  /** bigint as a decimal string. */
  readonly globalSeq: string;
  readonly streamId: string;
  readonly time: string;
  readonly recordedAt: string;
}

export interface AppendOutcome {
  readonly eventId: string;
  readonly globalSeq: string;
  readonly streamId: string;
  readonly position: number;
  readonly hash: Buffer;
  /** False when the event id was already stored (a redelivery). */
  readonly inserted: boolean;
  /** False when an already stored event with this id has different content. */
  readonly same: boolean;
}

export interface StoredCheckpoint {
  readonly seq: string;
  readonly signed: SignedCheckpoint;
  readonly createdAt: string;
}

export interface OpenStoreOptions {
  databaseUrl: string;
  schema: string;
  /** Role to write as (SET ROLE at connect); null to stay the connecting user. */
  role?: string | null;
  max?: number;
  applicationName?: string;
}

const COLS = `global_seq::text AS global_seq, event_id::text AS event_id, stream_id, position, type,
  to_char(time AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS time, canon, prev_hash, hash,
  to_char(recorded_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS recorded_at`;

interface Row {
  global_seq: string;
  event_id: string;
  stream_id: string;
  position: number;
  type: string;
  time: string;
  canon: string;
  prev_hash: Buffer;
  hash: Buffer;
  recorded_at: string;
}

function toStored(r: Row): StoredEvent {
  return {
    globalSeq: r.global_seq,
    eventId: r.event_id,
    streamId: r.stream_id,
    position: r.position,
    type: r.type,
    time: r.time,
    canon: r.canon,
    prevHash: r.prev_hash,
    hash: r.hash,
    recordedAt: r.recorded_at,
  };
}

const IDENT = /^[a-z_][a-z0-9_]{0,62}$/;

/**
 * A one-column simple query whose rows go to `onRow` as pg parses them (pg's Submittable: the
 * client calls these handlers), instead of piling up in a result: bounded memory for any table
 * size, and the socket is not read again until `onRow` has taken the rows already received.
 */
class RowScan implements Submittable {
  readonly done: Promise<number>;
  /** False after a connection failure: the client must then be discarded. */
  reusable = true;
  private rows = 0;
  private failure: unknown = null;
  private settle!: { resolve: (n: number) => void; reject: (e: unknown) => void };

  constructor(
    private readonly text: string,
    private readonly onRow: (value: string) => void,
  ) {
    this.done = new Promise<number>((resolve, reject) => (this.settle = { resolve, reject }));
  }

  submit(connection: Connection): void {
    connection.query(this.text);
  }

  handleRowDescription(): void {}

  handleDataRow(msg: { fields: Array<string | null> }): void {
    if (this.failure !== null) return;
    try {
      this.onRow(msg.fields[0] as string);
      this.rows++;
    } catch (err) {
      // Thrown into pg's socket handler it would break the connection; keep it for the end.
      this.failure = err;
    }
  }

  handleCommandComplete(): void {}

  handleEmptyQuery(): void {}

  handleReadyForQuery(): void {
    if (this.failure !== null) this.settle.reject(this.failure);
    else this.settle.resolve(this.rows);
  }

  handleError(err: Error & { severity?: string }): void {
    // An error Postgres reports (it has a severity) leaves the session usable; any other is the connection's.
    this.reusable = err.severity !== undefined;
    this.settle.reject(err);
  }
}

/** The audit schema in Postgres: appends through append_events(), reads for replay and verify. */
export class AuditStore {
  constructor(
    readonly pool: Pool,
    readonly schema: string,
  ) {}

  static open(o: OpenStoreOptions): AuditStore {
    if (!IDENT.test(o.schema)) throw new Error(`invalid schema name ${o.schema}`);
    if (o.role && !IDENT.test(o.role)) throw new Error(`invalid role name ${o.role}`);
    const options = `-c search_path=${o.schema}${o.role ? ` -c role=${o.role}` : ''}`;
    const pool = new Pool({
      connectionString: o.databaseUrl,
      options,
      max: o.max ?? 4,
      application_name: o.applicationName ?? 'agentplane-audit',
      connectionTimeoutMillis: 5_000,
    });
    pool.on('error', () => undefined); // an idle client that dies is replaced on the next checkout
    return new AuditStore(pool, o.schema);
  }

  async close(): Promise<void> {
    await this.pool.end();
  }

  /** The role this store's connections act as (to confirm the writer role is in effect). */
  async currentRole(): Promise<string> {
    const r = await this.pool.query<{ r: string }>(`SELECT current_user AS r`);
    return r.rows[0].r;
  }

  /** Appends in order, deduped by event id; one transaction, one round trip. */
  async append(events: readonly AgentplaneEvent[]): Promise<AppendOutcome[]> {
    if (events.length === 0) return [];
    const ids: string[] = [];
    const streams: string[] = [];
    const types: string[] = [];
    const times: string[] = [];
    const canons: string[] = [];
    for (const e of events) {
      ids.push(e.id);
      streams.push(streamIdOf(e));
      types.push(e.type);
      times.push(e.time);
      canons.push(canonicalJson(e));
    }
    const r = await this.pool.query<{
      o_event_id: string;
      o_global_seq: string;
      o_stream_id: string;
      o_position: number;
      o_hash: Buffer;
      o_inserted: boolean;
      o_same: boolean;
    }>(`SELECT * FROM append_events($1::uuid[], $2::text[], $3::text[], $4::timestamptz[], $5::text[])`, [ids, streams, types, times, canons]);
    return r.rows.map((x) => ({
      eventId: x.o_event_id,
      globalSeq: x.o_global_seq,
      streamId: x.o_stream_id,
      position: x.o_position,
      hash: x.o_hash,
      inserted: x.o_inserted,
      same: x.o_same,
    }));
  }

  /** One stream's rows by position (1-based, inclusive bounds). */
  async stream(streamId: string, range: { from?: number; to?: number; limit?: number } = {}): Promise<StoredEvent[]> {
    const r = await this.pool.query<Row>(
      `SELECT ${COLS} FROM events WHERE stream_id = $1 AND position >= $2 AND position <= $3 ORDER BY position LIMIT $4`,
      [streamId, range.from ?? 1, range.to ?? 2_147_483_647, range.limit ?? 1_000_000],
    );
    return r.rows.map(toStored);
  }

  async count(): Promise<number> {
    const r = await this.pool.query<{ n: string }>(`SELECT count(*)::text AS n FROM events`);
    return Number(r.rows[0].n);
  }

  async streamCount(streamId: string): Promise<number> {
    const r = await this.pool.query<{ n: number | null }>(`SELECT max(position) AS n FROM events WHERE stream_id = $1`, [streamId]);
    return r.rows[0].n ?? 0;
  }

  /** Every row ordered by (stream, position), in pages: chain verification of the whole store. */
  async *scanByStream(pageSize = 10_000): AsyncGenerator<StoredEvent[]> {
    let after: [string, number] | null = null;
    for (;;) {
      const r: { rows: Row[] } = after
        ? await this.pool.query<Row>(`SELECT ${COLS} FROM events WHERE (stream_id, position) > ($1, $2) ORDER BY stream_id, position LIMIT $3`, [after[0], after[1], pageSize])
        : await this.pool.query<Row>(`SELECT ${COLS} FROM events ORDER BY stream_id, position LIMIT $1`, [pageSize]);
      if (r.rows.length === 0) return;
      const last: Row = r.rows[r.rows.length - 1];
      after = [last.stream_id, last.position];
      yield r.rows.map(toStored);
    }
  }

  /** Canonical texts in append (global_seq) order, after `afterSeq`: the Merkle leaves. */
  async *scanCanon(o: { afterSeq?: string; pageSize?: number; upTo?: number } = {}): AsyncGenerator<{ seqs: string[]; canons: string[] }> {
    let after = o.afterSeq ?? '0';
    let left = o.upTo ?? Number.MAX_SAFE_INTEGER;
    const page = o.pageSize ?? 20_000;
    while (left > 0) {
      const r = await this.pool.query<{ s: string; c: string }>(
        `SELECT global_seq::text AS s, canon AS c FROM events WHERE global_seq > $1 ORDER BY global_seq LIMIT $2`,
        [after, Math.min(page, left)],
      );
      if (r.rows.length === 0) return;
      after = r.rows[r.rows.length - 1].s;
      left -= r.rows.length;
      yield { seqs: r.rows.map((x) => x.s), canons: r.rows.map((x) => x.c) };
    }
  }

  /**
   * Calls `fn` with every event in a session stream, in append order; resolves with how many.
   * Each is the stored canonical text parsed whole (type, time and data as recorded: the values
   * the jsonb column gave before; not validated, as before). One plain SELECT of that text along
   * the primary key, its rows handed over as they arrive: Postgres reads and sends while `fn`
   * folds (building JSON from the jsonb column per page cost Postgres more than the whole fold,
   * and COPY's stream added a copy per row; W5 profile). If `fn` throws, the remaining rows are
   * read and dropped and the promise rejects with that error.
   */
  async scanSessionEvents(fn: (event: { type: string; time: string; data: unknown }) => void): Promise<number> {
    const client = await this.pool.connect();
    // NOT LIKE rather than strpos(): the planner estimates it, so it keeps the index order
    // instead of sorting the whole table (strpos() = 0 is guessed at 0.5 % of rows).
    const scan = new RowScan(`SELECT canon FROM events WHERE stream_id NOT LIKE '%/%' ORDER BY global_seq`, (canon) =>
      fn(JSON.parse(canon) as { type: string; time: string; data: unknown }),
    );
    try {
      void client.query(scan);
      const n = await scan.done;
      client.release();
      return n;
    } catch (err) {
      client.release(scan.reusable ? undefined : (err as Error));
      throw err;
    }
  }

  async byEventIds(ids: readonly string[]): Promise<Map<string, { canon: string; streamId: string; position: number; globalSeq: string }>> {
    const out = new Map<string, { canon: string; streamId: string; position: number; globalSeq: string }>();
    if (ids.length === 0) return out;
    const r = await this.pool.query<{ id: string; canon: string; stream_id: string; position: number; s: string }>(
      `SELECT event_id::text AS id, canon, stream_id, position, global_seq::text AS s FROM events WHERE event_id = ANY($1::uuid[])`,
      [ids],
    );
    for (const x of r.rows) out.set(x.id, { canon: x.canon, streamId: x.stream_id, position: x.position, globalSeq: x.s });
    return out;
  }

  /** Leaf index (0-based rank in append order) of an event. */
  async leafIndexOf(eventId: string): Promise<{ index: number; canon: string } | null> {
    const r = await this.pool.query<{ idx: string; canon: string }>(
      `SELECT (SELECT count(*) FROM events x WHERE x.global_seq < e.global_seq)::text AS idx, e.canon FROM events e WHERE e.event_id = $1::uuid`,
      [eventId],
    );
    return r.rows[0] ? { index: Number(r.rows[0].idx), canon: r.rows[0].canon } : null;
  }

  /** Subjects ("topic/partition/offset") that have a dead letter stored. */
  async deadLetteredSubjects(subjects: readonly string[]): Promise<Set<string>> {
    if (subjects.length === 0) return new Set();
    const r = await this.pool.query<{ s: string }>(
      `SELECT DISTINCT event->>'subject' AS s FROM events WHERE type = 'agentplane.message.dead-lettered' AND event->>'subject' = ANY($1::text[])`,
      [subjects],
    );
    return new Set(r.rows.map((x) => x.s));
  }

  async insertCheckpoint(signed: SignedCheckpoint): Promise<void> {
    const c = signed.checkpoint;
    await this.pool.query(`INSERT INTO checkpoints (tree_size, root_hash, key_id, signed) VALUES ($1, $2, $3, $4::jsonb)`, [
      c.treeSize,
      Buffer.from(c.rootHash, 'hex'),
      c.keyId,
      JSON.stringify(signed),
    ]);
  }

  async checkpoints(): Promise<StoredCheckpoint[]> {
    const r = await this.pool.query<{ seq: string; signed: SignedCheckpoint; created_at: Date }>(
      `SELECT seq::text AS seq, signed, created_at FROM checkpoints ORDER BY seq`,
    );
    return r.rows.map((x) => ({ seq: x.seq, signed: x.signed, createdAt: x.created_at.toISOString() }));
  }

  async latestCheckpoint(): Promise<SignedCheckpoint | null> {
    const r = await this.pool.query<{ signed: SignedCheckpoint }>(`SELECT signed FROM checkpoints ORDER BY tree_size DESC, seq DESC LIMIT 1`);
    return r.rows[0]?.signed ?? null;
  }

  async withClient<T>(fn: (c: PoolClient) => Promise<T>): Promise<T> {
    const c = await this.pool.connect();
    try {
      return await fn(c);
    } finally {
      c.release();
    }
  }
}
