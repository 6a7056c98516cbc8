// W3 — scale-out: sessions/s of the loop (planner, rate limiter, executor as OS processes) with
// 1 and then 3 instances of each service over 12 partitions, closed loop with N sessions in
// flight, tools with a fixed latency (so waiting, not only CPU, is what instances share).
// Sessions are produced straight to session-requests (no gateway, as in W2/W4).
//   node dist/bench/w3-scale.js [--instances 1,3] [--seconds 20] [--concurrency 64]
//        [--tool-latency 30] [--out FILE]
// On a 2-core machine 3 instances per service (9 processes) mostly share the same two cores:
// the gain measured there is what overlapping waits buy, not more CPU.
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { decode, makeEvent, uuidv7 } from '@agentplane/contracts';
import { EventProducer } from '@agentplane/messaging';
import { startToolServer } from '../test/fixtures/tool-server';
import { Loop, workflow } from '../test/deploy/loop';

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : dflt;
}

const BROKERS = process.env.KAFKA_BROKERS ?? '127.0.0.1:9092';
const INSTANCES = arg('instances', '1,3').split(',').map(Number);
const SECONDS = Number(arg('seconds', '20'));
const WARMUP_S = Number(arg('warmup', '5'));
const CONCURRENCY = Number(arg('concurrency', '64'));
const TOOL_LATENCY = Number(arg('tool-latency', '30'));
const OUT = resolve(arg('out', join(process.cwd(), 'bench', 'results', 'w3-scale.json')));
const SVCS = ['planner', 'rate-limiter', 'executor'] as const;

function pct(s: number[], p: number): number {
  return s.length === 0 ? NaN : s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}

async function measure(n: number): Promise<Record<string, unknown>> {
  const tools = await startToolServer({ port: 0, latencyMs: TOOL_LATENCY });
  const loop = new Loop({ brokers: BROKERS, partitions: 12, toolsUrl: tools.url, env: { LOG_LEVEL: 'error' } });
  try {
    await loop.prepare(SVCS);
    for (let i = 0; i < n; i++) await Promise.all(SVCS.map((s) => loop.start(s, {}, 120_000)));
    const producer = new EventProducer(loop.kafka);
    await producer.connect();
    const waiting = new Map<string, (ok: boolean) => void>();
    const consumer = loop.kafka.consumer({ groupId: `bench-w3-${loop.run}`, maxWaitTimeInMs: 10 });
    await consumer.connect();
    await consumer.subscribe({ topics: [loop.topic('session-events')], fromBeginning: true });
    let joined!: () => void;
    const isJoined = new Promise<void>((r) => (joined = r));
    consumer.on(consumer.events.GROUP_JOIN, () => joined());
    await consumer.run({
      partitionsConsumedConcurrently: 12,
      eachMessage: async ({ message }) => {
        const d = decode(message.value);
        if (!d.ok) return;
        const t = d.event.type;
        if (t === 'agentplane.session.completed' || t === 'agentplane.session.failed' || t === 'agentplane.session.rejected') {
          const w = waiting.get(d.event.subject!);
          if (w) {
            waiting.delete(d.event.subject!);
            w(t === 'agentplane.session.completed');
          }
        }
      },
    });
    await isJoined;
    const one = (): Promise<{ ms: number; ok: boolean }> =>
      new Promise((done) => {
        const sessionId = uuidv7();
        const t0 = performance.now();
        waiting.set(sessionId, (ok) => done({ ms: performance.now() - t0, ok }));
        const e = makeEvent('agentplane.session.requested', { tenantId: 'acme', sessionId, input: 'w3', workflow: workflow() } as never, { source: 'bench' });
        void producer.publish(loop.topic('session-requests'), e);
      });
    const run = async (seconds: number) => {
      const lat: number[] = [];
      let failed = 0;
      const t0 = performance.now();
      const end = t0 + seconds * 1000;
      await Promise.all(
        Array.from({ length: CONCURRENCY }, async () => {
          while (performance.now() < end) {
            const r = await one();
            lat.push(r.ms);
            if (!r.ok) failed++;
          }
        }),
      );
      return { lat, failed, secs: (performance.now() - t0) / 1000 };
    };
    await run(WARMUP_S);
    const r = await run(SECONDS);
    const s = [...r.lat].sort((a, b) => a - b);
    await consumer.disconnect();
    await producer.disconnect();
    return {
      instancesPerService: n,
      processes: n * SVCS.length,
      sessions: r.lat.length,
      failed: r.failed,
      seconds: Math.round(r.secs * 10) / 10,
      sessionsPerSec: Math.round((r.lat.length / r.secs) * 10) / 10,
      toolCallsPerSec: Math.round(((r.lat.length * 3) / r.secs) * 10) / 10,
      p50Ms: Math.round(pct(s, 50)),
      p99Ms: Math.round(pct(s, 99)),
    };
  } finally {
    await loop.stop();
    await tools.close();
  }
}

async function main(): Promise<void> {
  const result: Record<string, unknown> = {
    workload: `W3 scale-out: sessions of 3 tool calls (search, then fetch_doc ∥ summarize), tools ${TOOL_LATENCY} ms, ${CONCURRENCY} in flight, 12 partitions`,
    machine: { cpus: cpus().length, model: cpus()[0]?.model, memGiB: Math.round(totalmem() / 2 ** 30), node: process.version, loadavgAtStart: loadavg() },
    at: new Date().toISOString(),
    runs: [] as unknown[],
  };
  for (const n of INSTANCES) {
    const r = await measure(n);
    (result.runs as unknown[]).push(r);
    console.table({ [`${n} per service`]: r });
  }
  const runs = result.runs as Array<{ instancesPerService: number; sessionsPerSec: number }>;
  const base = runs.find((r) => r.instancesPerService === 1);
  if (base) for (const r of runs) (r as Record<string, unknown>).speedup = Math.round((r.sessionsPerSec / base.sessionsPerSec) * 100) / 100;
  result.loadavgAtEnd = loadavg();
  mkdirSync(dirname(OUT), { recursive: true });
  writeFileSync(OUT, JSON.stringify(result, null, 2) + '\n');
  console.table(Object.fromEntries(runs.map((r) => [`${r.instancesPerService} per service`, r])));
}

main().then(
  () => process.exit(0),
  (e) => {
    process.stderr.write(`${(e as Error).stack ?? e}\n`);
    process.exit(1);
  },
);
