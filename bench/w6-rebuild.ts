// W6 — rebuild every cost projection from the log: N realistic session events on a fresh
// 12-partition topic (sessions of ~11 events: started, 3 planner steps, 2 tool calls with their
// requested/admitted, completed or failed), then `rebuildProjections` into a fresh schema.
//
//   node dist/bench/w6-rebuild.js [--events 100000] [--partitions 12] [--out FILE] [--keep]
//   (--events 1000000 is the full run; target: ≤ 20 s)
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { loadConfig } from '@agentplane/config';
import { deterministicEventId, makeEvent, type AgentplaneEvent, type EventData, type EventType } from '@agentplane/contracts';
import { loadPriceBook, projectionChecksum, rebuildProjections, recordPriceTable } from '@agentplane/ledger';
import { createKafka } from '@agentplane/messaging';
import { createDataSource, initializeDatabase } from '@agentplane/platform';
import { MIGRATIONS } from '../apps/cost-accounting/src/migrations';

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : dflt;
}

const BROKERS = process.env.KAFKA_BROKERS ?? '127.0.0.1:9092';
const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const EVENTS = Number(arg('events', '100000'));
const PARTITIONS = Number(arg('partitions', '12'));
const OUT = resolve(arg('out', join(process.cwd(), 'bench', 'results', 'w6-rebuild.json')));
const KEEP = process.argv.includes('--keep');

const TENANTS = Array.from({ length: 20 }, (_, i) => `tenant-${i}`);
const TOOLS = [['search', '0.0005'], ['fetch_doc', '0.0002'], ['summarize', '0.002'], ['translate', '0.001'], ['weather', '0']] as const;
const MODELS = ['gpt-4o-mini', 'llama-3.1-8b', 'workflow'];

/** Deterministic pseudo-random numbers, so every run feeds the same workload. */
let seed = 42;
const rnd = (n: number) => {
  seed = (seed * 1103515245 + 12345) & 0x7fffffff;
  return seed % n;
};

function* sessionEvents(total: number, startMs: number): Generator<AgentplaneEvent> {
  let made = 0;
  let t = startMs;
  for (let s = 0; made < total; s++) {
    const tenantId = TENANTS[rnd(TENANTS.length)];
    const sessionId = `bench-${s}`;
    const model = MODELS[rnd(MODELS.length)];
    const out: AgentplaneEvent[] = [];
    const e = <T extends EventType>(type: T, data: EventData<T>, k: string) => {
      t += 3;
      out.push(makeEvent(type, data, { source: 'bench', id: deterministicEventId('w6', sessionId, k), time: new Date(t) }) as AgentplaneEvent);
    };
    e('agentplane.session.started', { tenantId, sessionId, mode: 'llm', maxSteps: 8, deadlineAt: new Date(t + 60_000).toISOString(), input: 'summarise the quarterly reports', budgetUsd: '1.00' } as never, 'started');
    for (let step = 1; step <= 3; step++) {
      const pass = rnd(10) > 0;
      e('agentplane.planner.step.completed', {
        tenantId, sessionId, step, provider: 'bench', model, promptTokens: 500 + rnd(3000), completionTokens: 50 + rnd(800),
        latencyMs: 200 + rnd(600), batchSize: 4 + rnd(8), queueWaitMs: rnd(50), pass,
        outcome: step < 3 ? { kind: 'tool_calls', calls: [{ callId: `c${step}`, tool: 'search', args: { query: 'quarterly report' } }] } : { kind: 'final', answer: 'Revenue grew 12% quarter over quarter.' },
      } as never, `step-${step}`);
      if (step < 3) {
        const [tool, cost] = TOOLS[rnd(TOOLS.length)];
        const callId = `c${step}`;
        e('agentplane.tool.call.requested', { tenantId, sessionId, step, callId, tool, args: { query: 'quarterly report' }, idempotencyKey: `${sessionId}-${callId}`, essential: false } as never, `${callId}-req`);
        e('agentplane.tool.call.admitted', { tenantId, sessionId, callId, tool, queuedMs: rnd(20) } as never, `${callId}-adm`);
        const attempts = 1 + (rnd(20) === 0 ? 1 : 0);
        const ok = rnd(50) > 0;
        const base = { tenantId, sessionId, callId, tool, attempts, latencyMs: 150 + rnd(350), costUsd: cost };
        if (ok) e('agentplane.tool.call.succeeded', { ...base, result: { results: [{ id: 'doc-1', title: 'Q3', snippet: '…', score: 0.9 }] } } as never, `${callId}-ok`);
        else e('agentplane.tool.call.failed', { ...base, error: 'upstream 503', code: 'http_error' } as never, `${callId}-fail`);
      }
    }
    if (rnd(20) > 0) e('agentplane.session.completed', { tenantId, sessionId, answer: 'Revenue grew 12%.', steps: 3, toolCalls: 2, costUsd: '0.01' } as never, 'completed');
    else e('agentplane.session.failed', { tenantId, sessionId, reason: 'tool failed', code: 'tool_failed' } as never, 'failed');
    for (const x of out) {
      if (made++ >= total) return;
      yield x;
    }
  }
}

async function main(): Promise<void> {
  const run = randomBytes(4).toString('hex');
  const prefix = `bench-w6-${run}`;
  const topic = `${prefix}.session-events`;
  const schema = `bench_w6_${run}`;
  const kafka = createKafka({ brokers: BROKERS, clientId: 'bench-w6', logLevel: 'nothing' });
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: PARTITIONS, replicationFactor: 1 }] });

  const config = loadConfig('cost-accounting', { DATABASE_URL, DB_SCHEMA: schema });
  const ds = createDataSource(config, { migrations: MIGRATIONS });
  await initializeDatabase(ds, config);
  await ds.destroy();
  const db = new Client({ connectionString: DATABASE_URL, options: `-c search_path="${schema}"` });
  await db.connect();

  try {
    // Feed the log (not measured).
    const t0 = performance.now();
    const producer = kafka.producer({ idempotent: false, allowAutoTopicCreation: false });
    await producer.connect();
    let batch: Array<{ key: string; value: string }> = [];
    let bytes = 0;
    const start = Date.now() - 10 * 60_000;
    for (const ev of sessionEvents(EVENTS, start)) {
      const value = JSON.stringify(ev);
      bytes += value.length;
      batch.push({ key: ev.subject, value });
      if (batch.length === 10_000) {
        await producer.send({ topic, messages: batch });
        batch = [];
      }
    }
    if (batch.length) await producer.send({ topic, messages: batch });
    await producer.disconnect();
    const produceMs = performance.now() - t0;
    process.stderr.write(`w6: produced ${EVENTS} events (${(bytes / 1e6).toFixed(0)} MB) in ${(produceMs / 1000).toFixed(1)} s; rebuilding ...\n`);

    await recordPriceTable(db, {
      version: 1,
      models: { 'gpt-4o-mini': { inputPer1M: '0.15', outputPer1M: '0.60' }, 'llama-3.1-8b': { inputPer1M: '0.05', outputPer1M: '0.08' }, workflow: { inputPer1M: '0', outputPer1M: '0' } },
    }, 'bench', start - 60_000);
    const prices = await loadPriceBook(db);

    let peakRss = 0;
    const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 100);
    const r = await rebuildProjections({ kafka, db, prices, topics: [topic], onProgress: (n) => process.stderr.write(`  ${n}\r`) });
    clearInterval(sampler);
    const sum = await projectionChecksum(db);

    const result = {
      bench: 'w6-rebuild',
      date: new Date().toISOString(),
      machine: { cpus: cpus().length, cpu: cpus()[0]?.model, memGb: Math.round(totalmem() / 2 ** 30), node: process.version },
      events: EVENTS,
      partitions: PARTITIONS,
      logMb: Math.round(bytes / 1e6),
      readMs: r.readMs,
      foldWaitMs: r.foldWaitMs,
      writeMs: r.writeMs,
      totalMs: r.totalMs,
      eventsPerSec: Math.round(EVENTS / (r.totalMs / 1000)),
      peakRssMb: Math.round(peakRss / 2 ** 20),
      projected: r.projected,
      ignoredTypes: r.ignored,
      rows: r.rows,
      checksum: sum.checksum,
      targetMsAt1M: 20_000,
    };
    const rows: Array<[string, string]> = [
      ['events', String(EVENTS)],
      ['log size', `${result.logMb} MB, ${PARTITIONS} partitions`],
      ['read (fold alongside)', `${(r.readMs / 1000).toFixed(2)} s`],
      ['fold backlog + handover', `${(r.foldWaitMs / 1000).toFixed(2)} s`],
      ['write (COPY)', `${(r.writeMs / 1000).toFixed(2)} s`],
      ['total', `${(r.totalMs / 1000).toFixed(2)} s`],
      ['throughput', `${result.eventsPerSec} events/s`],
      ['peak RSS', `${result.peakRssMb} MB`],
      ...Object.entries(r.rows).map(([k, n]): [string, string] => [`  ${k}`, String(n)]),
    ];
    process.stdout.write(`\nW6 projection rebuild\n${rows.map(([k, v]) => `${k.padEnd(22)} ${v}`).join('\n')}\n`);
    mkdirSync(dirname(OUT), { recursive: true });
    writeFileSync(OUT, JSON.stringify(result, null, 2) + '\n');
    process.stdout.write(`(written to ${OUT})\n`);
  } finally {
    if (!KEEP) {
      await db.query(`DROP SCHEMA "${schema}" CASCADE`).catch(() => undefined);
      await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
    }
    await db.end();
    await admin.disconnect();
  }
}

main().catch((err) => {
  process.stderr.write(`w6-rebuild: ${(err as Error).stack ?? err}\n`);
  process.exit(1);
});
