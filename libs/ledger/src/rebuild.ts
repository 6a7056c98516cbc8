import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { decode, type AgentplaneEvent } from '@agentplane/contracts';
import type { Consumer, Kafka } from '@agentplane/messaging';
import { factOf, PROJECTED_TYPES } from './facts';
import { PriceBook } from './price-book';
import { AGGREGATES, LEDGER, MemoryProjection, type Row } from './projection';
import type { WorkerIn, WorkerOut } from './rebuild-worker';
import { copyProcessedIds, copyRows, REBUILT_TABLES, type CopyClient } from './sql';

type Pos = Map<string, bigint>;
const tpOf = (topic: string, partition: number) => `${topic}\u0000${partition}`;

export interface LogRecord {
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
  readonly value: Buffer | null;
  readonly headers: Record<string, Buffer | string | undefined>;
}

/**
 * Reads topics from the start with a throwaway consumer group up to per-partition targets
 * (exclusive end offsets). A partition that reaches its target is paused and rewound to that
 * offset, so the targets can be raised later (`extendTo`) and reading resumes exactly there.
 */
export class LogReader {
  private consumer: Consumer | null = null;
  private readonly groupId = `agentplane-rebuild-${randomUUID()}`;
  private readonly targets: Pos = new Map();
  private readonly pos: Pos = new Map();
  private readonly paused = new Set<string>();
  private readonly parts = new Map<string, { topic: string; partition: number }>();
  private waiters: Array<{ ok: () => void; fail: (e: unknown) => void }> = [];
  private failed: unknown = null;
  records = 0;

  constructor(
    private readonly kafka: Kafka,
    private readonly topics: readonly string[],
    private readonly onRecord: (r: LogRecord) => void,
  ) {}

  /** High watermarks now, as targets. */
  async highWatermarks(): Promise<Pos> {
    const admin = this.kafka.admin();
    await admin.connect();
    try {
      const out: Pos = new Map();
      for (const topic of this.topics) {
        for (const p of await admin.fetchTopicOffsets(topic)) {
          out.set(tpOf(topic, p.partition), BigInt(p.high));
          this.parts.set(tpOf(topic, p.partition), { topic, partition: p.partition });
          if (!this.pos.has(tpOf(topic, p.partition))) this.pos.set(tpOf(topic, p.partition), BigInt(p.low));
        }
      }
      return out;
    } finally {
      await admin.disconnect();
    }
  }

  caughtUp(): boolean {
    for (const [tp, target] of this.targets) if ((this.pos.get(tp) ?? 0n) < target) return false;
    return true;
  }

  private settle(): void {
    if (this.failed) {
      for (const w of this.waiters.splice(0)) w.fail(this.failed);
    } else if (this.caughtUp()) {
      for (const w of this.waiters.splice(0)) w.ok();
    }
  }

  /** Resolves once every partition reached its target. */
  wait(): Promise<void> {
    return new Promise((ok, fail) => {
      this.waiters.push({ ok, fail });
      this.settle();
    });
  }

  async start(targets: Pos): Promise<void> {
    for (const [tp, t] of targets) this.targets.set(tp, t);
    const consumer = this.kafka.consumer({
      groupId: this.groupId,
      allowAutoTopicCreation: false,
      minBytes: 1,
      maxWaitTimeInMs: 50,
      // Large fetches, but under the broker's fetch.max.bytes (55 MB by default): with bigger
      // per-partition sizes kafkajs stalled after the first round (seen at 1M events).
      maxBytes: 48 << 20,
      maxBytesPerPartition: 4 << 20,
      sessionTimeout: 60_000,
    });
    this.consumer = consumer;
    consumer.on(consumer.events.CRASH, (e) => {
      if (!e.payload.restart) {
        this.failed = e.payload.error;
        this.settle();
      }
    });
    await consumer.connect();
    await consumer.subscribe({ topics: [...this.topics], fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      // Resolved offsets are what kafkajs fetches from next: resolve each record read (or skipped).
      eachBatch: async ({ batch, heartbeat, resolveOffset }) => {
        const tp = tpOf(batch.topic, batch.partition);
        const target = this.targets.get(tp) ?? 0n;
        let pos = this.pos.get(tp) ?? 0n;
        let stoppedAt: string | null = null;
        for (const m of batch.messages) {
          const off = BigInt(m.offset);
          if (off < pos) {
            resolveOffset(m.offset); // re-fetched after a rewind
            continue;
          }
          if (off >= target) {
            stoppedAt = m.offset;
            break;
          }
          this.onRecord({ topic: batch.topic, partition: batch.partition, offset: m.offset, value: m.value, headers: m.headers as LogRecord['headers'] });
          this.records++;
          pos = off + 1n;
          resolveOffset(m.offset);
        }
        // Offsets skipped by the broker (control records) count as read up to the batch end.
        if (stoppedAt === null && !batch.isEmpty()) {
          const last = BigInt(batch.lastOffset()) + 1n;
          if (last > pos) pos = last < target ? last : target;
        }
        this.pos.set(tp, pos);
        if (stoppedAt !== null || pos >= target) {
          consumer.pause([{ topic: batch.topic, partitions: [batch.partition] }]);
          consumer.seek({ topic: batch.topic, partition: batch.partition, offset: (stoppedAt ?? pos.toString()) as string });
          this.paused.add(tp);
        }
        await heartbeat();
        this.settle();
      },
    });
    // Partitions with nothing to read never get a batch.
    this.settle();
  }

  /** Raises targets (never lowers them) and resumes the partitions that have more to read. */
  extendTo(targets: Pos): boolean {
    let more = false;
    for (const [tp, t] of targets) {
      if (t > (this.targets.get(tp) ?? 0n)) {
        this.targets.set(tp, t);
        more = true;
        if (this.paused.delete(tp)) {
          const p = this.parts.get(tp)!;
          this.consumer!.resume([{ topic: p.topic, partitions: [p.partition] }]);
        }
      }
    }
    return more;
  }

  /** Next offset to apply per partition: what the rebuilt projections contain. */
  positions(): Array<{ topic: string; partition: number; nextOffset: bigint }> {
    return [...this.targets.keys()].map((tp) => ({ ...this.parts.get(tp)!, nextOffset: this.pos.get(tp) ?? 0n }));
  }

  partOf(tp: string) {
    return this.parts.get(tp);
  }

  async close(): Promise<void> {
    if (this.consumer) await this.consumer.disconnect().catch(() => undefined);
    const admin = this.kafka.admin();
    await admin.connect().catch(() => undefined);
    await admin.deleteGroups([this.groupId]).catch(() => undefined);
    await admin.disconnect().catch(() => undefined);
  }
}

export interface RebuildOptions {
  readonly kafka: Kafka;
  /** The session-events topic(s) of the deployment. */
  readonly topics: readonly string[];
  readonly prices: PriceBook;
  /** A connected pg Client whose search_path is the service schema. */
  readonly db: CopyClient;
  readonly onProgress?: (records: number) => void;
  /** Decode and fold on a worker thread while this one reads Kafka (default true). */
  readonly threads?: boolean;
}

/** What the fold hands to the writer. */
interface Folded {
  ledger: string[];
  otherIds: string[];
  tables: Map<string, Row[]>;
  applied: number;
  duplicates: number;
  invalid: number;
  ignored: number;
}

interface Fold {
  onRecord(r: LogRecord): void;
  finish(): Promise<Folded>;
  close(): void;
}

function inProcessFold(prices: PriceBook): Fold {
  const mem = new MemoryProjection(prices);
  const p = projector(mem);
  return {
    onRecord: p.onRecord,
    finish: async () => ({
      ledger: mem.ledger, otherIds: mem.otherIds, tables: new Map(AGGREGATES.map((t) => [t.name, mem.rows(t)])),
      applied: mem.applied, duplicates: mem.duplicates, invalid: p.stats.invalid, ignored: p.stats.ignored,
    }),
    close: () => undefined,
  };
}

/**
 * Reading Kafka (kafkajs decoding, CRCs) and decoding + folding events each take about half a
 * rebuild; a worker thread does the second while this thread does the first. Records cross
 * as one buffer per chunk (transferred, not copied). Binary-mode records (CloudEvents in
 * headers) are rare: they are folded here, into a second MemoryProjection merged at the end.
 */
function workerFold(prices: PriceBook): Fold {
  const worker = new Worker(join(__dirname, 'rebuild-worker.js'));
  let failed: unknown = null;
  worker.on('error', (err) => (failed = err));
  worker.postMessage({ kind: 'init', prices: [...prices.versions] } satisfies WorkerIn);
  const local = inProcessFold(prices);
  let chunk: Buffer[] = [];
  let bytes = 0;
  const flush = () => {
    if (chunk.length === 0) return;
    const data = Buffer.concat(chunk, bytes);
    const lengths = new Uint32Array(chunk.map((b) => b.length));
    const u8 = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    // Buffer.concat of more than the pool size owns its ArrayBuffer, so it can be transferred.
    const transfer = data.byteOffset === 0 && data.buffer.byteLength === data.byteLength ? [data.buffer as ArrayBuffer, lengths.buffer] : [lengths.buffer];
    worker.postMessage({ kind: 'records', data: u8, lengths } satisfies WorkerIn, transfer);
    chunk = [];
    bytes = 0;
  };
  return {
    onRecord(r) {
      if (failed) throw failed;
      const binary = r.headers && r.headers['ce_specversion'] !== undefined;
      if (binary || r.value === null) {
        local.onRecord(r);
        return;
      }
      chunk.push(r.value);
      bytes += r.value.length;
      if (chunk.length >= 4096) flush();
    },
    async finish() {
      flush();
      const out = await new Promise<WorkerOut>((ok, fail) => {
        if (failed) return fail(failed);
        worker.once('message', ok);
        worker.once('error', fail);
        worker.postMessage({ kind: 'finish' } satisfies WorkerIn);
      });
      const mine = await local.finish();
      const tables = new Map(out.tables.map(([name, rows]) => [name, rows as Row[]]));
      if (mine.applied > 0) {
        // Merge the few binary-mode events (commutative merges: order does not matter).
        const merged = new MemoryProjection(prices);
        for (const t of AGGREGATES) for (const r of [...tables.get(t.name)!, ...mine.tables.get(t.name)!]) merged.add(t, r);
        for (const t of AGGREGATES) tables.set(t.name, merged.rows(t));
      }
      return {
        ledger: mine.ledger.length ? [...out.ledger, ...mine.ledger] : out.ledger,
        otherIds: mine.otherIds.length ? [...out.otherIds, ...mine.otherIds] : out.otherIds,
        tables,
        applied: out.applied + mine.applied,
        duplicates: out.duplicates + mine.duplicates,
        invalid: out.invalid + mine.invalid,
        ignored: out.ignored + mine.ignored,
      };
    },
    close() {
      void worker.terminate();
    },
  };
}

export interface RebuildReport {
  readonly records: number;
  readonly projected: number;
  readonly duplicates: number;
  readonly invalid: number;
  readonly ignored: number;
  readonly ledgerEntries: number;
  readonly rows: Record<string, number>;
  readonly readMs: number;
  /** After the read: waiting for the fold thread to finish its backlog and hand its result over. */
  readonly foldWaitMs: number;
  readonly writeMs: number;
  readonly totalMs: number;
  readonly offsets: Array<{ topic: string; partition: number; nextOffset: string }>;
}

const PROJECTED = new Set<string>(PROJECTED_TYPES);
const TYPE_KEY = Buffer.from('"type":"');
const DATA_KEY = Buffer.from('"data":');

/** The `type` of a structured-mode event, read without parsing (makeEvent puts it near the start). */
function typeHint(value: Buffer | null): string | undefined {
  if (!value) return undefined;
  const i = value.indexOf(TYPE_KEY);
  if (i < 0 || i > 400) return undefined;
  // A "type" inside data (data written first) is not the envelope's: no hint then.
  const d = value.indexOf(DATA_KEY);
  if (d >= 0 && d < i) return undefined;
  const start = i + TYPE_KEY.length;
  const end = value.indexOf(0x22, start);
  return end < 0 ? undefined : value.toString('latin1', start, end);
}

/** Folds raw records into a MemoryProjection (invalid ones are skipped, as live dead-letters them). */
export function projector(mem: MemoryProjection): { onRecord: (r: LogRecord) => void; stats: { invalid: number; ignored: number } } {
  const stats = { invalid: 0, ignored: 0 };
  return {
    stats,
    onRecord: (r) => {
      // Types no projection reads are skipped before validation (a fifth of a typical log).
      const t = typeHint(r.value);
      if (t !== undefined && !PROJECTED.has(t)) {
        stats.ignored++;
        return;
      }
      const d = decode(r.value, r.headers as never);
      if (!d.ok) {
        stats.invalid++;
        return;
      }
      const f = factOf(d.event as AgentplaneEvent);
      if (!f) {
        stats.ignored++;
        return;
      }
      mem.apply(f);
    },
  };
}

/**
 * Drops and rebuilds every projection from the log. Reads to the current end without holding
 * any lock; then, holding the checkpoint table lock (live handlers wait on it), reads whatever
 * the live service applied meanwhile, and swaps the projections in one transaction. Live
 * handling then continues from the rebuilt checkpoints: nothing is counted twice or lost.
 */
export async function rebuildProjections(opts: RebuildOptions): Promise<RebuildReport> {
  const started = performance.now();
  const fold = opts.threads === false ? inProcessFold(opts.prices) : workerFold(opts.prices);
  let lastReport = 0;
  const reader = new LogReader(opts.kafka, opts.topics, (r) => {
    fold.onRecord(r);
    if (opts.onProgress && reader.records - lastReport >= 50_000) {
      lastReport = reader.records;
      opts.onProgress(reader.records);
    }
  });
  const db = opts.db;
  try {
    await reader.start(await reader.highWatermarks());
    await reader.wait();
    const readMs = performance.now() - started;

    await db.query('BEGIN');
    try {
      await db.query('LOCK TABLE projection_offsets IN EXCLUSIVE MODE');
      const live = await db.query<{ topic: string; partition: number; next_offset: string }>(
        `SELECT topic, partition, next_offset FROM projection_offsets WHERE topic = ANY($1)`,
        [opts.topics],
      );
      const more: Pos = await reader.highWatermarks();
      // Only what the live side already applied must be in the swap; reading to the new end is a bonus.
      for (const r of live.rows) {
        const tp = tpOf(r.topic, r.partition);
        const n = BigInt(r.next_offset);
        if (n > (more.get(tp) ?? 0n)) more.set(tp, n);
      }
      if (reader.extendTo(more)) await reader.wait();
      const foldStart = performance.now();
      const mem = await fold.finish();
      const foldMs = performance.now() - foldStart;
      const writeStart = performance.now();
      await db.query(`TRUNCATE ${REBUILT_TABLES.join(', ')}`);
      await copyRows(db, LEDGER, mem.ledger);
      const rows: Record<string, number> = { [LEDGER.name]: mem.ledger.length };
      for (const t of AGGREGATES) {
        const list = mem.tables.get(t.name)!;
        rows[t.name] = list.length;
        await copyRows(db, t, list);
      }
      await copyProcessedIds(db, mem.otherIds);
      const offsets = reader.positions();
      if (offsets.length) {
        await db.query(
          `INSERT INTO projection_offsets (topic, partition, next_offset) SELECT * FROM unnest($1::text[], $2::int[], $3::bigint[])`,
          [offsets.map((o) => o.topic), offsets.map((o) => o.partition), offsets.map((o) => o.nextOffset.toString())],
        );
      }
      await db.query('COMMIT');
      const writeMs = performance.now() - writeStart;
      return {
        records: reader.records,
        projected: mem.applied,
        duplicates: mem.duplicates,
        invalid: mem.invalid,
        ignored: mem.ignored,
        ledgerEntries: mem.ledger.length,
        rows,
        readMs: Math.round(readMs),
        foldWaitMs: Math.round(foldMs),
        writeMs: Math.round(writeMs),
        totalMs: Math.round(performance.now() - started),
        offsets: offsets.map((o) => ({ ...o, nextOffset: o.nextOffset.toString() })),
      };
    } catch (err) {
      await db.query('ROLLBACK').catch(() => undefined);
      throw err;
    }
  } finally {
    fold.close();
    await reader.close();
  }
}
