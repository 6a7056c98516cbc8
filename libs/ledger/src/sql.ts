import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { from as copyFrom } from 'pg-copy-streams';
import { decimalFromUnits } from '@agentplane/contracts';
import { copyLine } from './copy-text';
import { AGGREGATES, LEDGER, PROJECTION_TABLES, keyColumns, rowOf, type ColumnSpec, type ColumnType, type Row, type TableSpec, type Value } from './projection';

/** The slice of pg's Client / PoolClient this module uses. */
export interface Sql {
  query<R = Record<string, unknown>>(text: string, values?: unknown[]): Promise<{ rows: R[]; rowCount: number | null }>;
}
/** A pg client that can also run COPY (pg-copy-streams needs the real Client). */
export type CopyClient = Sql & { query(stream: unknown): unknown };

const SQL_TYPES: Record<ColumnType, string> = {
  text: 'text',
  int: 'integer',
  bigint: 'bigint',
  money: 'numeric(38,9)',
  time: 'timestamptz',
  float: 'double precision',
  bool: 'boolean',
  uuid: 'uuid',
};

/** CREATE TABLE for a spec (used by the migration that froze these tables; kept for tests). */
export function ddlFor(t: TableSpec): string {
  const cols = t.columns.map((col) => `  ${col.name} ${SQL_TYPES[col.type]}${isNullable(col) ? '' : ' NOT NULL'}`);
  return `CREATE TABLE ${t.name} (\n${cols.join(',\n')},\n  PRIMARY KEY (${keyColumns(t).join(', ')})\n)`;
}

function isNullable(col: ColumnSpec): boolean {
  return col.nullable === true;
}

export function sqlTypeOf(col: ColumnSpec): string {
  return SQL_TYPES[col.type];
}

/** In-memory value → pg parameter. */
export function toParam(col: ColumnSpec, v: Value): unknown {
  if (v === null) return null;
  if (col.type === 'money') return decimalFromUnits(v as bigint);
  if (col.type === 'time') return new Date(v as number).toISOString();
  return v;
}

const C = (expr: string, col: ColumnSpec) => (col.type === 'text' ? `${expr} COLLATE "C"` : expr);

function mergeExpr(t: TableSpec, col: ColumnSpec): string {
  const n = col.name;
  switch (col.merge) {
    case 'sum':
      return `t.${n} + EXCLUDED.${n}`;
    case 'max':
      return `GREATEST(${C(`t.${n}`, col)}, ${C(`EXCLUDED.${n}`, col)})`; // GREATEST skips NULLs
    case 'min':
      return `LEAST(${C(`t.${n}`, col)}, ${C(`EXCLUDED.${n}`, col)})`;
    case 'ranked': {
      const rank = (p: string) =>
        `ROW(${(t.rankBy ?? [])
          .map((r) => {
            const rc = t.columns.find((x) => x.name === r)!;
            return rc.type === 'text' ? `coalesce(${p}.${r}, '') COLLATE "C"` : `${p}.${r}`;
          })
          .join(', ')})`;
      return `CASE WHEN ${rank('EXCLUDED')} > ${rank('t')} THEN EXCLUDED.${n} ELSE t.${n} END`;
    }
    default:
      return `t.${n}`;
  }
}

const upsertCache = new Map<string, string>();

/** INSERT … ON CONFLICT DO UPDATE with the spec's merges: the SQL twin of mergeRow. */
export function upsertSql(t: TableSpec): string {
  let s = upsertCache.get(t.name);
  if (!s) {
    const cols = t.columns.map((col) => col.name);
    const params = t.columns.map((col, i) => `$${i + 1}::${SQL_TYPES[col.type]}`);
    const sets = t.columns.filter((col) => col.merge !== 'key').map((col) => `${col.name} = ${mergeExpr(t, col)}`);
    s = `INSERT INTO ${t.name} AS t (${cols.join(', ')}) VALUES (${params.join(', ')}) ON CONFLICT (${keyColumns(t).join(', ')}) DO UPDATE SET ${sets.join(', ')}`;
    upsertCache.set(t.name, s);
  }
  return s;
}

export function paramsOf(t: TableSpec, r: Row): unknown[] {
  return t.columns.map((col) => toParam(col, r[col.name]));
}

/** Inserts the ledger entry; false when an entry for this source event exists already. */
export async function insertLedger(db: Sql, row: Row): Promise<boolean> {
  const cols = LEDGER.columns.map((col) => col.name);
  const params = LEDGER.columns.map((col, i) => `$${i + 1}::${SQL_TYPES[col.type]}`);
  const r = await db.query(
    `INSERT INTO ${LEDGER.name} (${cols.join(', ')}) VALUES (${params.join(', ')}) ON CONFLICT (event_id) DO NOTHING RETURNING event_id`,
    paramsOf(LEDGER, row),
  );
  return r.rows.length === 1;
}

export async function markProcessed(db: Sql, eventId: string, eventType: string): Promise<boolean> {
  const r = await db.query(
    `INSERT INTO processed_events (event_id, event_type) VALUES ($1, $2) ON CONFLICT (event_id) DO NOTHING RETURNING event_id`,
    [eventId, eventType],
  );
  return r.rows.length === 1;
}

/** Upserts a (partial) contribution row, completed with neutral values. */
export async function upsertRow(db: Sql, t: TableSpec, r: Row): Promise<void> {
  await db.query(upsertSql(t), paramsOf(t, rowOf(t, r)));
}

// ---- checkpoints: which log positions the projections already contain ------------------

/**
 * Locks this partition's checkpoint for the transaction and tells whether `offset` is new.
 * A rebuild takes the table lock, so live handling waits while projections are swapped.
 */
export async function claimOffset(db: Sql, topic: string, partition: number, offset: string): Promise<boolean> {
  await db.query(`INSERT INTO projection_offsets (topic, partition, next_offset) VALUES ($1, $2, 0) ON CONFLICT DO NOTHING`, [topic, partition]);
  const r = await db.query<{ next_offset: string }>(
    `SELECT next_offset FROM projection_offsets WHERE topic = $1 AND partition = $2 FOR UPDATE`,
    [topic, partition],
  );
  return BigInt(offset) >= BigInt(r.rows[0].next_offset);
}

export async function advanceOffset(db: Sql, topic: string, partition: number, offset: string): Promise<void> {
  await db.query(`UPDATE projection_offsets SET next_offset = $3 WHERE topic = $1 AND partition = $2`, [topic, partition, (BigInt(offset) + 1n).toString()]);
}

// ---- bulk write (rebuild) ---------------------------------------------------------------

function* copyChunks(t: TableSpec, rows: Iterable<Row | string>): Generator<string> {
  let buf = '';
  for (const r of rows) {
    buf += (typeof r === 'string' ? r : copyLine(t, r)) + '\n';
    if (buf.length > 1 << 20) {
      yield buf;
      buf = '';
    }
  }
  if (buf) yield buf;
}

/** COPY rows into a table (text format): the fast path of a rebuild. */
/** Rows, or lines already rendered with copyLine. */
export async function copyRows(client: CopyClient, t: TableSpec, rows: Iterable<Row | string>): Promise<void> {
  const stream = client.query(copyFrom(`COPY ${t.name} (${t.columns.map((col) => col.name).join(', ')}) FROM STDIN`)) as NodeJS.WritableStream;
  await pipeline(Readable.from(copyChunks(t, rows)), stream);
}

export async function copyProcessedIds(client: CopyClient, ids: readonly string[], type = 'rebuild'): Promise<void> {
  const stream = client.query(copyFrom(`COPY processed_events (event_id, event_type) FROM STDIN`)) as NodeJS.WritableStream;
  function* chunks(): Generator<string> {
    let buf = '';
    for (const id of ids) {
      buf += `${id}\t${type}\n`;
      if (buf.length > 1 << 20) {
        yield buf;
        buf = '';
      }
    }
    if (buf) yield buf;
  }
  await pipeline(Readable.from(chunks()), stream);
}

/** Everything a rebuild replaces (the ledger, aggregates, dedupe ids, checkpoints). */
export const REBUILT_TABLES = [...PROJECTION_TABLES.map((t) => t.name), 'processed_events', 'projection_offsets'];

// ---- checksum -----------------------------------------------------------------------------

export interface ProjectionChecksum {
  readonly checksum: string;
  readonly tables: Record<string, { rows: number; md5: string }>;
}

/**
 * One digest over every projection row (in key order, each row's text form): two databases
 * with equal checksums hold the same projections. Dedupe ids and checkpoints are excluded:
 * they record how the rows were reached, not what they are.
 */
export async function projectionChecksum(db: Sql): Promise<ProjectionChecksum> {
  const tables: Record<string, { rows: number; md5: string }> = {};
  const h = createHash('sha256');
  for (const t of PROJECTION_TABLES) {
    const order = keyColumns(t)
      .map((k) => (t.columns.find((x) => x.name === k)!.type === 'text' ? `${k} COLLATE "C"` : k))
      .join(', ');
    const r = await db.query<{ n: string; md5: string | null }>(
      `SELECT count(*)::text AS n, md5(string_agg(md5(x::text), '' ORDER BY ${order})) AS md5 FROM ${t.name} x`,
    );
    tables[t.name] = { rows: Number(r.rows[0].n), md5: r.rows[0].md5 ?? '' };
    h.update(`${t.name}:${tables[t.name].rows}:${tables[t.name].md5}\n`);
  }
  return { checksum: h.digest('hex'), tables };
}

export { AGGREGATES, LEDGER };
