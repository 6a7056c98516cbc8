// Round trips on their own: one Postgres statement (`SELECT $1`, pg client) and one Kafka
// publish (EventProducer, acks from the broker), issued back to back and then with idle gaps
// between them. A service in W2 issues its statements one at a time with its process idle in
// between; on a virtual machine the wake-up of each side is part of every such round trip.
//
//   node dist/bench/w-roundtrip.js [--count 300] [--gaps 0,5,20,100] [--out FILE]
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client } from 'pg';
import { makeEvent, uuidv7 } from '@agentplane/contracts';
import { createKafka, EventProducer } from '@agentplane/messaging';
import { arg, latencyStats } from './lib/agent-load';

const BROKERS = process.env.KAFKA_BROKERS ?? '127.0.0.1:9092';
const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const COUNT = Number(arg('count', '300'));
const GAPS = arg('gaps', '0,5,20,100').split(',').map(Number);
const OUT = resolve(arg('out', join(process.cwd(), 'bench', 'results', 'w-roundtrip.json')));

async function timed(gapMs: number, n: number, fn: () => Promise<unknown>): Promise<Record<string, number>> {
  const ms: number[] = [];
  for (let i = 0; i < n; i++) {
    if (gapMs > 0) await sleep(gapMs);
    const t = performance.now();
    await fn();
    ms.push(performance.now() - t);
  }
  return latencyStats(ms);
}

async function main(): Promise<void> {
  const pg = new Client({ connectionString: DATABASE_URL });
  await pg.connect();
  const kafka = createKafka({ brokers: BROKERS, clientId: 'bench-roundtrip' });
  const admin = kafka.admin();
  await admin.connect();
  const topic = `bench-roundtrip-${uuidv7()}`;
  await admin.createTopics({ topics: [{ topic, numPartitions: 12 }], waitForLeaders: true });
  const producer = new EventProducer(kafka);
  await producer.connect();
  const result: Record<string, unknown> = {
    workload: 'one Postgres statement and one Kafka publish, back to back and with idle gaps',
    machine: { cpus: cpus().length, model: cpus()[0]?.model, node: process.version, loadavgAtStart: loadavg() },
    at: new Date().toISOString(),
  };
  try {
    // Warm-up: connections, first-statement planning, producer metadata.
    for (let i = 0; i < 50; i++) await pg.query('SELECT $1::int AS x', [i]);
    const publish = () => producer.publish(topic, makeEvent('agentplane.session.cancel-requested', { tenantId: 'bench', sessionId: uuidv7() }, { source: 'bench' }));
    for (let i = 0; i < 50; i++) await publish();
    const rows: Record<string, Record<string, number>> = {};
    for (const gap of GAPS) {
      // Fewer samples with long gaps: the run stays short, and each sample is already independent.
      const n = gap >= 20 ? Math.max(20, Math.round(COUNT / 3)) : COUNT;
      const q = await timed(gap, n, () => pg.query('SELECT $1::int AS x', [gap]));
      const p = await timed(gap, n, publish);
      rows[`postgres statement, gap ${gap} ms`] = { count: q.count!, p50Ms: q.p50Ms!, p90Ms: q.p90Ms!, p99Ms: q.p99Ms! };
      rows[`kafka publish, gap ${gap} ms`] = { count: p.count!, p50Ms: p.p50Ms!, p90Ms: p.p90Ms!, p99Ms: p.p99Ms! };
    }
    result.roundTrips = rows;
    console.table(rows);
    result.loadavgAtEnd = loadavg();
    mkdirSync(dirname(OUT), { recursive: true });
    writeFileSync(OUT, JSON.stringify(result, null, 2) + '\n');
    console.log(`wrote ${OUT}`);
  } finally {
    await producer.disconnect();
    await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
    await admin.disconnect();
    await pg.end();
  }
}

main().catch((e: Error) => {
  console.error(e);
  process.exit(1);
});
