// W2 / W4 — a session of 3 tool calls (3 sequential workflow steps, 11 Kafka hops) with instant
// planner and tools, through planner, rate limiter and executor running as separate processes
// on the local broker and Postgres.
//   W2 (--mode sequential): one session at a time; orchestration overhead p50/p99.
//   W4 (--mode saturate): N sessions kept in flight (closed loop); sessions/s and hops/s.
// Latency = session.completed seen by this process − session.requested published by it.
//
//   node dist/bench/w2-session.js [--mode sequential|saturate|both] [--sessions 300]
//        [--concurrency 200] [--seconds 20] [--warmup 30] [--partitions 12] [--out FILE]
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { decode, makeEvent, uuidv7 } from '@agentplane/contracts';
import { createKafka, EventProducer } from '@agentplane/messaging';
import { startToolServer } from '../test/fixtures/tool-server';
import { startStack } from '../test/support/stack';
import { arg, kafkaPid, latencyStats, postgresPids, ProcMonitor, type ProcRef } from './lib/agent-load';

const BROKERS = process.env.KAFKA_BROKERS ?? '127.0.0.1:9092';
const MODE = arg('mode', 'both');
const SESSIONS = Number(arg('sessions', '300'));
const CONCURRENCY = Number(arg('concurrency', '200'));
const SECONDS = Number(arg('seconds', '20'));
const WARMUP = Number(arg('warmup', '30'));
const PARTITIONS = Number(arg('partitions', '12'));
const OUT = resolve(arg('out', join(process.cwd(), 'bench', 'results', 'w2-w4-session.json')));
const HOPS_PER_SESSION = 11;

const WORKFLOW = {
  steps: [
    { calls: [{ id: 'a', tool: 'search', args: { query: 'kafka', limit: 1 } }] },
    { calls: [{ id: 'b', tool: 'fetch_doc', args: { id: '${a.result.results.0.id}' } }] },
    { calls: [{ id: 'c', tool: 'summarize', args: { text: 'Kafka keeps an ordered log.' } }] },
  ],
};

/**
 * Time between consecutive events of a session (producer timestamps, 1 ms resolution), grouped
 * by the pair of event types: the step of the service that reacted to the first one.
 */
function transitions(trail: Map<string, Array<{ type: string; at: number }>>): Record<string, Record<string, number>> {
  const gaps = new Map<string, number[]>();
  for (const events of trail.values()) {
    for (let i = 1; i < events.length; i++) {
      const key = `${events[i - 1].type} → ${events[i].type}`;
      const list = gaps.get(key) ?? [];
      list.push(events[i].at - events[i - 1].at);
      gaps.set(key, list);
    }
  }
  const out: Record<string, Record<string, number>> = {};
  for (const [key, ms] of gaps) {
    const s = latencyStats(ms);
    out[key] = { count: s.count, p50Ms: s.p50Ms, p90Ms: s.p90Ms, p99Ms: s.p99Ms };
  }
  return out;
}

type HandlerSums = Map<string, { n: number; handleS: number; e2eS: number }>;
type Scrape = { handlers: HandlerSums; phases: Map<string, { n: number; s: number }> };

/**
 * Handler time and produce-to-handled time summed per (service, event type), from each
 * service's /metrics: the difference between two scrapes says how much of a transition is
 * spent inside the handler and how much before it starts (the hop, fetch and queueing).
 */
async function scrape(stack: { url(svc: 'planner' | 'rate-limiter' | 'executor'): string }): Promise<Scrape> {
  const out: HandlerSums = new Map();
  const phases = new Map<string, { n: number; s: number }>();
  for (const svc of ['planner', 'rate-limiter', 'executor'] as const) {
    const text = await (await fetch(`${stack.url(svc)}/metrics`)).text();
    for (const line of text.split('\n')) {
      const p = /^agentplane_planner_phase_seconds_(sum|count)\{[^}]*phase="([^"]+)"[^}]*\} (\S+)$/.exec(line);
      if (p) {
        const e = phases.get(p[2]!) ?? { n: 0, s: 0 };
        if (p[1] === 'count') e.n = Number(p[3]);
        else e.s = Number(p[3]);
        phases.set(p[2]!, e);
        continue;
      }
      const m = /^message_(handle|end_to_end)_seconds_(sum|count)\{([^}]*)\} (\S+)$/.exec(line);
      if (!m || (m[1] === 'handle' && !m[3]!.includes('outcome="handled"'))) continue;
      const type = /type="([^"]*)"/.exec(m[3]!)?.[1] ?? '?';
      const key = `${svc} ${type.replace('agentplane.', '')}`;
      const e = out.get(key) ?? { n: 0, handleS: 0, e2eS: 0 };
      const v = Number(m[4]);
      if (m[2] === 'count' && m[1] === 'handle') e.n = v;
      else if (m[2] === 'sum') m[1] === 'handle' ? (e.handleS = v) : (e.e2eS = v);
      out.set(key, e);
    }
  }
  return { handlers: out, phases };
}

function handlerBreakdown(before: Scrape, after: Scrape): Record<string, Record<string, number>> {
  const out: Record<string, Record<string, number>> = {};
  for (const [key, a] of after.handlers) {
    const b = before.handlers.get(key) ?? { n: 0, handleS: 0, e2eS: 0 };
    const n = a.n - b.n;
    if (n <= 0) continue;
    const handle = ((a.handleS - b.handleS) * 1000) / n;
    const e2e = ((a.e2eS - b.e2eS) * 1000) / n;
    out[key] = { count: n, meanHandlerMs: Math.round(handle * 10) / 10, meanBeforeHandlerMs: Math.round((e2e - handle) * 10) / 10 };
  }
  return out;
}

/** The planner's handling of a fact by phase (load, decide, publish, save): mean ms. */
function phaseBreakdown(before: Scrape, after: Scrape): Record<string, Record<string, number>> {
  const out: Record<string, Record<string, number>> = {};
  for (const [phase, a] of after.phases) {
    const b = before.phases.get(phase) ?? { n: 0, s: 0 };
    const n = a.n - b.n;
    if (n > 0) out[`planner ${phase}`] = { count: n, meanMs: Math.round(((a.s - b.s) * 1000 * 10) / n) / 10 };
  }
  return out;
}

async function main(): Promise<void> {
  const tools = await startToolServer({ port: 0 });
  // Generous limits: W4 measures the orchestration, not the rate limiter's caps.
  const stack = await startStack({ toolsUrl: tools.url, services: ['planner', 'rate-limiter', 'executor'], partitions: PARTITIONS, env: { LOG_LEVEL: 'warn' } });
  const kafka = createKafka({ brokers: BROKERS, clientId: 'bench-w2' });
  const producer = new EventProducer(kafka);
  await producer.connect();
  const waiting = new Map<string, { t0: number; done: (ms: number) => void }>();
  let events = 0;
  // Sequential mode: each session's events with their producer timestamps, for the per-transition
  // breakdown (which service's step the time goes to).
  const trail = new Map<string, Array<{ type: string; at: number }>>();
  let tracing = false;
  const consumer = kafka.consumer({ groupId: `bench-w2-${uuidv7()}`, maxWaitTimeInMs: 10 });
  await consumer.connect();
  await consumer.subscribe({ topics: [stack.topic('session-events')], fromBeginning: false });
  await consumer.run({
    partitionsConsumedConcurrently: PARTITIONS,
    eachMessage: async ({ message }) => {
      events++;
      const d = decode(message.value);
      if (!d.ok) return;
      if (tracing && d.event.subject) trail.get(d.event.subject)?.push({ type: d.event.type.replace('agentplane.', ''), at: Number(message.timestamp) });
      if (d.event.type === 'agentplane.session.completed' || d.event.type === 'agentplane.session.failed' || d.event.type === 'agentplane.session.rejected') {
        const w = waiting.get(d.event.subject!);
        if (w) {
          waiting.delete(d.event.subject!);
          if (d.event.type !== 'agentplane.session.completed') process.stderr.write(`session ${d.event.subject} ${d.event.type}\n`);
          w.done(performance.now() - w.t0);
        }
      }
    },
  });
  // The consumer must be assigned before the first request, or its completion could be missed.
  await new Promise((r) => setTimeout(r, 3000));

  const one = (): Promise<number> =>
    new Promise((done) => {
      const sessionId = uuidv7();
      const e = makeEvent('agentplane.session.requested', { tenantId: 'acme', sessionId, input: 'bench', workflow: WORKFLOW } as never, { source: 'bench' });
      waiting.set(sessionId, { t0: performance.now(), done });
      if (tracing) trail.set(sessionId, [{ type: 'session.requested', at: Date.now() }]);
      void producer.publish(stack.topic('session-requests'), e);
    });

  const result: Record<string, unknown> = {
    workload: 'W2/W4 session of 3 tool calls (11 hops), instant planner and tools',
    machine: { cpus: cpus().length, model: cpus()[0]?.model, memGiB: Math.round(totalmem() / 2 ** 30), node: process.version, loadavgAtStart: loadavg() },
    partitions: PARTITIONS,
    at: new Date().toISOString(),
  };
  try {
    if (MODE === 'sequential' || MODE === 'both') {
      for (let i = 0; i < WARMUP; i++) await one();
      const lat: number[] = [];
      tracing = true;
      const sums0 = await scrape(stack);
      for (let i = 0; i < SESSIONS; i++) lat.push(await one());
      const sums1 = await scrape(stack);
      tracing = false;
      result.w2 = latencyStats(lat);
      console.table({ 'W2 sequential (ms)': result.w2 });
      result.w2Transitions = transitions(trail);
      console.table(result.w2Transitions);
      result.w2Handlers = handlerBreakdown(sums0, sums1);
      console.table(result.w2Handlers);
      result.w2PlannerPhases = phaseBreakdown(sums0, sums1);
      console.table(result.w2PlannerPhases);
    }
    if (MODE === 'saturate' || MODE === 'both') {
      const lat: number[] = [];
      const e0 = events;
      // CPU per session per process: what bounds sessions/s once the cores are busy.
      const procs = new ProcMonitor((): ProcRef[] => [
        ...Object.entries(stack.procs).map(([name, p]) => ({ name, pid: p.child.pid! })),
        ...(kafkaPid() !== undefined ? [{ name: 'kafka', pid: kafkaPid()! }] : []),
        ...postgresPids().map((pid) => ({ name: 'postgres', pid })),
        { name: 'load generator + tools', pid: process.pid },
      ]);
      procs.begin();
      const t0 = performance.now();
      const end = t0 + SECONDS * 1000;
      await Promise.all(
        Array.from({ length: CONCURRENCY }, async () => {
          while (performance.now() < end) lat.push(await one());
        }),
      );
      const secs = (performance.now() - t0) / 1000;
      const cpu = procs.end();
      const cpuMsPerSession = Object.fromEntries(Object.entries(cpu).map(([name, f]) => [name, Math.round((f.cpuSeconds * 1000 * 10) / Math.max(1, lat.length)) / 10]));
      cpuMsPerSession.total = Math.round(Object.values(cpuMsPerSession).reduce((a, b) => a + b, 0) * 10) / 10;
      const w4 = {
        concurrency: CONCURRENCY,
        seconds: Math.round(secs * 10) / 10,
        sessionsPerSec: Math.round((lat.length / secs) * 10) / 10,
        hopsPerSec: Math.round(((lat.length * HOPS_PER_SESSION) / secs) * 10) / 10,
        eventsPerSec: Math.round(((events - e0) / secs) * 10) / 10,
      };
      const latency = latencyStats(lat);
      result.w4 = {
        ...w4,
        latency,
        cpuPct: Object.fromEntries(Object.entries(cpu).map(([name, f]) => [name, f.cpuPct])),
        cpuMsPerSession,
      };
      console.table({ 'W4 saturation': w4 });
      console.table({ 'W4 latency (ms)': latency });
      console.table({ 'W4 CPU ms per session': cpuMsPerSession });
    }
    result.loadavgAtEnd = loadavg();
    mkdirSync(dirname(OUT), { recursive: true });
    writeFileSync(OUT, JSON.stringify(result, null, 2) + '\n');
    console.log(`wrote ${OUT}`);
  } finally {
    await consumer.disconnect();
    await producer.disconnect();
    await stack.stop();
    await tools.close();
  }
}

main().catch((e: Error) => {
  console.error(e);
  process.exit(1);
});
