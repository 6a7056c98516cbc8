// W5 — audit replay from Postgres. Loads N events (40-event sessions built by the session
// decider, chained exactly as append_events() would) into a fresh audit schema, then measures
//   1. replay fold: every session event streamed from Postgres in append order and folded
//      through the pure session decider, events/s (target ≥ 250k/s);
//   2. one 40-event session's timeline (read its chain + fold + timeline rows), p99 (target ≤ 5 ms).
//
//   node dist/bench/w5-replay.js [--events 100000] [--runs 3] [--timelines 2000] [--keep] [--out FILE]
// 1M: --events 1000000 (loading takes a few minutes; the schema is dropped afterwards unless --keep).
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { Client } from 'pg';
import { loadConfig } from '@agentplane/config';
import { createDataSource, initializeDatabase } from '@agentplane/platform';
import { AuditStore, GENESIS_HASH, SessionFolder, canonicalJson, chainHash, hex, replaySession, synthesizeSession } from '@agentplane/audit';
import type { AgentplaneEvent } from '@agentplane/contracts';
import { MIGRATIONS } from '../apps/audit/src/migrations';

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : dflt;
}
const EVENTS = Number(arg('events', '100000'));
const RUNS = Number(arg('runs', '3'));
const TIMELINES = Number(arg('timelines', '2000'));
const KEEP = process.argv.includes('--keep');
const OUT = resolve(arg('out', join(process.cwd(), 'bench', 'results', 'w5-replay.json')));
const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const PER_SESSION = 40;
const SCHEMA = `bench_w5_${process.pid}`;

const APP = `agentplane-bench-w5-${process.pid}`;

/** CPU time (ms) the store's Postgres backends have used, from /proc (a local server); null when unreadable. */
async function backendCpuMs(store: AuditStore): Promise<number | null> {
  const r = await store.pool.query<{ pid: number }>(`SELECT pid FROM pg_stat_activity WHERE application_name = $1`, [APP]);
  let ticks = 0;
  try {
    for (const { pid } of r.rows) {
      // Fields 14 and 15 (utime, stime), counted after the ")" that ends the command name.
      const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
      ticks += Number(f[11]) + Number(f[12]);
    }
  } catch {
    return null;
  }
  return ticks * 10; // USER_HZ is 100 on Linux
}

const pct = (sorted: number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];

async function load(sessions: number): Promise<void> {
  const c = new Client({ connectionString: DATABASE_URL, options: `-c search_path=${SCHEMA}` });
  await c.connect();
  // The decider's output for one session, re-identified per session (ids, subject) by text
  // substitution: building 25k sessions through the decider would dominate the load time.
  const template = synthesizeSession({ sessionId: 'sess-template', events: PER_SESSION }).events.map((e) => canonicalJson(e));
  const ids = template.map((t) => (JSON.parse(t) as AgentplaneEvent).id);
  const types = template.map((t) => (JSON.parse(t) as AgentplaneEvent).type);
  const times = template.map((t) => (JSON.parse(t) as AgentplaneEvent).time);
  const BATCH = 250; // sessions per INSERT (10k rows)
  const started = Date.now();
  for (let s0 = 0; s0 < sessions; s0 += BATCH) {
    const cols: { id: string[]; stream: string[]; pos: number[]; type: string[]; time: string[]; canon: string[]; prev: Buffer[]; hash: Buffer[] } = { id: [], stream: [], pos: [], type: [], time: [], canon: [], prev: [], hash: [] };
    for (let s = s0; s < Math.min(sessions, s0 + BATCH); s++) {
      const sid = `sess-${String(s).padStart(7, '0')}`;
      const tag = s.toString(16).padStart(8, '0');
      let prev: Buffer = GENESIS_HASH;
      template.forEach((t, i) => {
        // Session ids keep the template's length; event ids differ in their last 8 hex digits.
        const id = ids[i].slice(0, 28) + tag;
        const canon = t.replaceAll('sess-template', sid.padEnd(13, 'x').slice(0, 13)).replace(ids[i], id);
        const h = chainHash(prev, canon);
        cols.id.push(id);
        cols.stream.push(sid.padEnd(13, 'x').slice(0, 13));
        cols.pos.push(i + 1);
        cols.type.push(types[i]);
        cols.time.push(times[i]);
        cols.canon.push(canon);
        cols.prev.push(prev);
        cols.hash.push(h);
        prev = h;
      });
    }
    await c.query(
      `INSERT INTO events (event_id, stream_id, position, type, time, canon, prev_hash, hash)
       SELECT * FROM unnest($1::uuid[], $2::text[], $3::int[], $4::text[], $5::timestamptz[], $6::text[], $7::bytea[], $8::bytea[])`,
      [cols.id, cols.stream, cols.pos, cols.type, cols.time, cols.canon, cols.prev, cols.hash],
    );
    if ((s0 / BATCH) % 20 === 0) process.stderr.write(`\rloaded ${Math.min(sessions, s0 + BATCH) * PER_SESSION} events (${((Date.now() - started) / 1000).toFixed(0)} s)`);
  }
  process.stderr.write(`\rloaded ${sessions * PER_SESSION} events in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
  await c.query('VACUUM ANALYZE events');
  await c.end();
}

async function main(): Promise<void> {
  const sessions = Math.ceil(EVENTS / PER_SESSION);
  const config = loadConfig('audit', { DB_SCHEMA: SCHEMA, DATABASE_URL });
  const ds = createDataSource(config, { migrations: MIGRATIONS });
  await initializeDatabase(ds, config);
  await ds.destroy();
  const store = AuditStore.open({ databaseUrl: DATABASE_URL, schema: SCHEMA, role: null, max: 4, applicationName: APP });
  try {
    await load(sessions);
    const total = sessions * PER_SESSION;

    // 1. Fold every session from Postgres. CPU time of this process and of the store's Postgres
    // backends is recorded too: on a shared machine it moves less than the wall time does.
    const folds: Array<{ seconds: number; eventsPerSec: number; sessions: number; nodeCpuMs: number; pgCpuMs: number | null; loadavg1m: number }> = [];
    await store.count(); // opens the pool's first connection
    for (let r = 0; r < RUNS; r++) {
      const folder = new SessionFolder();
      const pg0 = await backendCpuMs(store);
      const cpu0 = process.cpuUsage();
      const t0 = process.hrtime.bigint();
      await store.scanSessionEvents((e) => folder.apply(e));
      const s = Number(process.hrtime.bigint() - t0) / 1e9;
      const cpu = process.cpuUsage(cpu0);
      const pg1 = await backendCpuMs(store);
      if (folder.events !== total) throw new Error(`folded ${folder.events} of ${total}`);
      const completed = [...folder.states.values()].filter((x) => x.status === 'completed').length;
      if (completed !== sessions) throw new Error(`${completed} of ${sessions} sessions completed`);
      const nodeCpuMs = Math.round((cpu.user + cpu.system) / 1000);
      const pgCpuMs = pg0 !== null && pg1 !== null ? pg1 - pg0 : null;
      folds.push({ seconds: s, eventsPerSec: Math.round(total / s), sessions: folder.states.size, nodeCpuMs, pgCpuMs, loadavg1m: Number(loadavg()[0].toFixed(2)) });
      process.stderr.write(`fold run ${r + 1}: ${(total / s / 1000).toFixed(0)}k events/s (node CPU ${nodeCpuMs} ms, Postgres CPU ${pgCpuMs ?? '?'} ms, wall ${(s * 1000).toFixed(0)} ms, load ${loadavg()[0].toFixed(2)})\n`);
    }

    // 2. One session's timeline, many times over random sessions.
    const lat: number[] = [];
    for (let i = 0; i < TIMELINES + 100; i++) {
      const sid = `sess-${String(Math.floor(Math.random() * sessions)).padStart(7, '0')}`.padEnd(13, 'x').slice(0, 13);
      const t0 = process.hrtime.bigint();
      const rows = await store.stream(sid);
      const r = replaySession(sid, rows.map((x) => ({ event: JSON.parse(x.canon) as AgentplaneEvent, position: x.position, hash: hex(x.hash) })));
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      if (r.timeline.length !== PER_SESSION || r.state.status !== 'completed') throw new Error(`timeline of ${sid}: ${r.timeline.length} rows, ${r.state.status}`);
      if (i >= 100) lat.push(ms); // the first 100 warm up the pool and the JIT
    }
    lat.sort((a, b) => a - b);
    const best = folds.reduce((a, b) => (b.eventsPerSec > a.eventsPerSec ? b : a));
    const median = [...folds].sort((a, b) => a.eventsPerSec - b.eventsPerSec)[Math.floor(folds.length / 2)];
    const result = {
      bench: 'w5-replay',
      description: 'audit replay from Postgres: fold every session event through the session decider; one 40-event session timeline',
      date: new Date().toISOString(),
      machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model.split(' ').slice(0, 2).join(' '), loadavg1m: Number(loadavg()[0].toFixed(2)), node: process.version, platform: process.platform },
      settings: { events: total, sessions, eventsPerSession: PER_SESSION, foldRuns: RUNS, nodeFlags: process.execArgv, read: 'one streamed SELECT of canon, folded per row', timelines: TIMELINES },
      target: { foldEventsPerSec: 250000, timelineP99Ms: 5 },
      fold: { medianEventsPerSec: median.eventsPerSec, bestEventsPerSec: best.eventsPerSec, runs: folds },
      timeline: { p50Ms: +pct(lat, 50).toFixed(3), p90Ms: +pct(lat, 90).toFixed(3), p99Ms: +pct(lat, 99).toFixed(3), maxMs: +lat[lat.length - 1].toFixed(3) },
      pass: { fold: median.eventsPerSec >= 250000, timeline: pct(lat, 99) <= 5 },
    };
    const rows = [
      ['replay fold (events/s, median)', String(result.fold.medianEventsPerSec), '≥ 250000', result.pass.fold ? 'PASS' : 'MISS'],
      ['40-event timeline p50 (ms)', String(result.timeline.p50Ms), '', ''],
      ['40-event timeline p99 (ms)', String(result.timeline.p99Ms), '≤ 5', result.pass.timeline ? 'PASS' : 'MISS'],
    ];
    process.stdout.write(`\nW5 replay — ${total} events in ${sessions} sessions\n`);
    for (const r of [['metric', 'value', 'target', ''], ...rows]) process.stdout.write(`${r[0].padEnd(32)} ${r[1].padStart(10)}  ${r[2].padEnd(9)} ${r[3]}\n`);
    mkdirSync(dirname(OUT), { recursive: true });
    writeFileSync(OUT, JSON.stringify(result, null, 2) + '\n');
    process.stdout.write(`\nwrote ${OUT}\n`);
  } finally {
    await store.close();
    if (!KEEP) {
      const c = new Client({ connectionString: DATABASE_URL });
      await c.connect();
      await c.query(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`);
      await c.end();
    }
  }
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).stack}\n`);
  process.exit(1);
});
