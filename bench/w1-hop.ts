// W1 — one-hop latency: EventProducer in this process → local broker → KafkaEventTransport in a
// child process (Nest @EventPattern handler). Latency = handler entry − publish() call, both
// read from CLOCK_MONOTONIC (process.hrtime), which all processes of the machine share.
//
//   node dist/bench/w1-hop.js [--messages 2000] [--rates 1000,200] [--partitions 12]
//                             [--max-wait 20] [--concurrency 12] [--commit-interval 1000]
//                             [--warmup 200] [--out FILE]
import { fork } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createKafka, EventProducer, uuidv7, type MinimalEvent } from '@agentplane/messaging';

interface HopEvent extends MinimalEvent {
  specversion: '1.0';
  source: string;
  type: 'agentplane.bench.hop';
  subject: string;
  data: { seq: number; sentAtUs: number; warmup: boolean };
}

const nowUs = (): number => Number(process.hrtime.bigint() / 1000n);

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : dflt;
}

const BROKERS = process.env.KAFKA_BROKERS ?? '127.0.0.1:9092';
const MESSAGES = Number(arg('messages', '2000'));
const RATES = arg('rates', '1000,200').split(',').map(Number);
const PARTITIONS = Number(arg('partitions', '12'));
const MAX_WAIT_MS = Number(arg('max-wait', '20'));
const CONCURRENCY = Number(arg('concurrency', '12'));
const WARMUP = Number(arg('warmup', '200'));
const COMMIT_MS = Number(arg('commit-interval', '1000'));
const OUT = resolve(arg('out', join(process.cwd(), 'bench', 'results', 'w1-hop.json')));

function pct(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const idx = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[idx]!;
}

function summary(us: number[]): Record<string, number> {
  const s = [...us].sort((a, b) => a - b);
  const ms = (v: number): number => Math.round(v) / 1000;
  return {
    count: s.length,
    p50Ms: ms(pct(s, 50)),
    p90Ms: ms(pct(s, 90)),
    p99Ms: ms(pct(s, 99)),
    p999Ms: ms(pct(s, 99.9)),
    maxMs: ms(s[s.length - 1] ?? NaN),
    meanMs: ms(s.reduce((a, b) => a + b, 0) / Math.max(1, s.length)),
  };
}

async function waitUntil(dueUs: number): Promise<void> {
  // Timer sleeps, no spinning: on a 2-core box a busy-wait steals the CPU the broker and the
  // consumer need. Records that fall due in the same timer tick go out together.
  for (;;) {
    const left = dueUs - nowUs();
    if (left <= 0) return;
    await sleep(Math.max(1, Math.floor(left / 1000)));
  }
}

async function main(): Promise<void> {
  const kafka = createKafka({ brokers: BROKERS, clientId: 'w1-hop-producer', logLevel: 'nothing' });
  const admin = kafka.admin();
  await admin.connect();
  const id = uuidv7();
  const topic = `bench-w1-${id}`;
  const dlq = `bench-w1-dlq-${id}`;
  await admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: PARTITIONS }, { topic: dlq, numPartitions: 1 }] });

  const child = fork(join(__dirname, 'w1-hop-consumer.js'), [], {
    env: { ...process.env, KAFKA_BROKERS: BROKERS, TOPIC: topic, DLQ: dlq, GROUP: `bench-w1-${id}`, MAX_WAIT_MS: String(MAX_WAIT_MS), CONCURRENCY: String(CONCURRENCY), COMMIT_MS: String(COMMIT_MS) },
    execArgv: ['--enable-source-maps'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const inbox: Array<{ kind: string; received?: number; latenciesUs?: number[] }> = [];
  child.on('message', (m: any) => inbox.push(m));
  const receive = async (kind: string, timeoutMs = 60000): Promise<any> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = inbox.findIndex((m) => m.kind === kind);
      if (i >= 0) return inbox.splice(i, 1)[0];
      if (Date.now() > deadline) throw new Error(`w1-hop: no '${kind}' from consumer within ${timeoutMs} ms`);
      await sleep(5);
    }
  };
  const consumerCount = async (): Promise<number> => {
    child.send('count');
    return (await receive('count')).received as number;
  };

  const producer = new EventProducer<HopEvent>(kafka);
  await producer.connect();
  await receive('ready');

  const sessions = Array.from({ length: 100 }, () => uuidv7());
  let seq = 0;
  let sent = 0;
  const send = async (n: number, ratePerSec: number, warmup: boolean, ackUs: number[]): Promise<void> => {
    const intervalUs = 1e6 / ratePerSec;
    const t0 = nowUs() + 2000;
    const inflight: Promise<void>[] = [];
    for (let i = 0; i < n; i++) {
      await waitUntil(t0 + i * intervalUs);
      const s = seq++;
      const ev: HopEvent = {
        specversion: '1.0', id: uuidv7(), source: 'agentplane/bench', type: 'agentplane.bench.hop',
        subject: sessions[s % sessions.length]!, data: { seq: s, sentAtUs: nowUs(), warmup },
      };
      const at = ev.data.sentAtUs;
      inflight.push(producer.publish(topic, ev).then(() => void ackUs.push(nowUs() - at)));
    }
    await Promise.all(inflight);
    sent += n;
    const deadline = Date.now() + 60000;
    while ((await consumerCount()) < sent) {
      if (Date.now() > deadline) throw new Error('w1-hop: consumer did not receive everything in time');
      await sleep(20);
    }
  };

  const scenarios: Array<Record<string, unknown>> = [];
  await send(WARMUP, 500, true, []); // connections, metadata, first fetch sessions
  child.send('report');
  await receive('report');
  for (const rate of RATES) {
    const ackUs: number[] = [];
    const startStats = producer.stats();
    await send(MESSAGES, rate, false, ackUs);
    child.send('report');
    const rep = await receive('report');
    const endStats = producer.stats();
    scenarios.push({
      name: `${MESSAGES} msgs at ${rate}/s`,
      ratePerSec: rate,
      messages: MESSAGES,
      hop: summary(rep.latenciesUs),
      producerAck: summary(ackUs),
      producerBatches: endStats.batches - startStats.batches,
    });
  }

  child.send('stop');
  await new Promise((r) => child.once('exit', r));
  await producer.disconnect();
  await admin.deleteTopics({ topics: [topic, dlq] }).catch(() => undefined);
  await admin.disconnect();

  const result = {
    bench: 'w1-hop',
    description: 'one hop: EventProducer (process A) → broker → KafkaEventTransport @EventPattern handler (process B)',
    date: new Date().toISOString(),
    machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model, loadavg1m: loadavg()[0], node: process.version, platform: process.platform },
    broker: BROKERS,
    settings: {
      partitions: PARTITIONS, consumerMaxWaitTimeInMs: MAX_WAIT_MS, consumerMinBytes: 1,
      partitionsConsumedConcurrently: CONCURRENCY, commitIntervalMs: COMMIT_MS, producer: 'idempotent, acks=-1, maxInFlightRequests=1, tick-coalesced sendBatch',
      warmupMessages: WARMUP,
    },
    target: { p50Ms: 1, p99Ms: 4 },
    scenarios,
  };
  mkdirSync(dirname(OUT), { recursive: true });
  writeFileSync(OUT, JSON.stringify(result, null, 2) + '\n');

  const rows = scenarios.map((s: any) => [s.name, s.hop.p50Ms, s.hop.p90Ms, s.hop.p99Ms, s.hop.p999Ms, s.hop.maxMs, s.producerAck.p50Ms, s.producerAck.p99Ms]);
  const head = ['scenario', 'p50 ms', 'p90 ms', 'p99 ms', 'p99.9 ms', 'max ms', 'ack p50', 'ack p99'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const line = (cells: unknown[]): string => cells.map((c, i) => String(c).padEnd(widths[i]!)).join('  ');
  console.log(`W1 one-hop latency (${PARTITIONS} partitions, maxWait ${MAX_WAIT_MS} ms, node ${process.version}, ${cpus().length} cpus)`);
  console.log(line(head));
  for (const r of rows) console.log(line(r));
  console.log(`target: p50 ≤ 1 ms, p99 ≤ 4 ms — written to ${OUT}`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
