// W-batching — cross-session micro-batching of planner calls. C concurrent sessions each run K
// planner steps against the fake OpenAI-compatible server on loopback (fixed model latency),
// with a tool call between steps (uniform 150–500 ms, the design's tool budget). Every planner
// call goes through one MicroBatcher, as in the planner service. Reported per setting: requests
// per batch (the planner calls a batch carries), batches that left full vs at their wait bound,
// queue wait p50/p99/max, planner step p99 (queue + model), HTTP calls made; and the same load
// against a provider that takes a whole batch in one call (`planBatch`).
//
//   node dist/bench/w-batching.js [--sessions 20,100] [--steps 4] [--sizes 4,8,12] [--wait 20]
//                                 [--model-ms 200] [--concurrency 16] [--out FILE]
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { MicroBatcher, OpenAICompatibleProvider, type BatchReport, type PlannerProvider, type PlanRequest } from '@agentplane/planning';
import { startFakeOpenAI } from '../test/fixtures/fake-openai.server';

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : dflt;
}
const SESSIONS = arg('sessions', '20,100').split(',').map(Number);
const STEPS = Number(arg('steps', '4'));
const SIZES = arg('sizes', '4,8,12').split(',').map(Number);
const WAIT_MS = Number(arg('wait', '20'));
const MODEL_MS = Number(arg('model-ms', '200'));
const CONCURRENCY = Number(arg('concurrency', '16'));
const OUT = resolve(arg('out', join(process.cwd(), 'bench', 'results', 'w-batching.json')));

const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? 0 : s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
};
const r1 = (x: number) => Math.round(x * 10) / 10;

interface Row {
  provider: 'openai-compatible (pooled calls)' | 'batch endpoint (planBatch)';
  sessions: number;
  batchSize: number;
  waitMs: number;
  requests: number;
  batches: number;
  requestsPerBatch: { mean: number; p50: number; min: number; max: number };
  leftFull: number;
  leftAtWaitBound: number;
  /** enqueue → the call started (queueWaitMs on planner.step.completed): batch wait + pool wait. */
  queueWaitMs: { p50: number; p99: number; max: number };
  /** enqueue → the batch left: what PLANNER_BATCH_WAIT_MS bounds. */
  batchWaitMs: { p50: number; p99: number; max: number };
  stepMs: { p50: number; p99: number };
  providerCalls: number;
  wallMs: number;
}

async function run(inner: PlannerProvider, label: Row['provider'], sessions: number, size: number, calls: () => number): Promise<Row> {
  const reports: BatchReport[] = [];
  const b = new MicroBatcher(inner, { maxBatchSize: size, maxWaitMs: WAIT_MS, concurrency: CONCURRENCY, onBatch: (r) => reports.push(r) });
  const waits: number[] = [];
  const stepMs: number[] = [];
  const before = calls();
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: sessions }, async (_, s) => {
      await sleep(Math.random() * 50); // sessions do not start in lockstep
      for (let step = 1; step <= STEPS; step++) {
        const req: PlanRequest = { sessionId: `s${s}`, tenantId: 'acme', step, input: `bench task ${s}`, model: 'gpt-4o-mini', tools: [], history: [] };
        const t = performance.now();
        const r = await b.plan(req);
        stepMs.push(performance.now() - t);
        waits.push(r.queueWaitMs ?? 0);
        await sleep(150 + Math.random() * 350); // the step's tool call
      }
    }),
  );
  const sizes = reports.map((r) => r.size);
  return {
    provider: label,
    sessions,
    batchSize: size,
    waitMs: WAIT_MS,
    requests: waits.length,
    batches: reports.length,
    requestsPerBatch: { mean: r1(waits.length / reports.length), p50: pct(sizes, 50), min: Math.min(...sizes), max: Math.max(...sizes) },
    leftFull: reports.filter((r) => r.trigger === 'size').length,
    leftAtWaitBound: reports.filter((r) => r.trigger === 'wait').length,
    queueWaitMs: { p50: r1(pct(waits, 50)), p99: r1(pct(waits, 99)), max: r1(Math.max(...waits)) },
    batchWaitMs: ((bw: number[]) => ({ p50: r1(pct(bw, 50)), p99: r1(pct(bw, 99)), max: r1(Math.max(...bw)) }))(reports.flatMap((r) => [...r.batchWaitsMs])),
    stepMs: { p50: r1(pct(stepMs, 50)), p99: r1(pct(stepMs, 99)) },
    providerCalls: calls() - before,
    wallMs: Math.round(performance.now() - t0),
  };
}

async function main(): Promise<void> {
  const ai = await startFakeOpenAI({ port: 0, latencyMs: MODEL_MS, handler: () => ({ final: 'ok' }) });
  const http = new OpenAICompatibleProvider({ baseUrl: ai.url, model: 'gpt-4o-mini', timeoutMs: 30_000, maxRetries: 0 });
  // A provider whose endpoint takes the batch: one call, the model's latency once.
  let batchCalls = 0;
  const batchy: PlannerProvider = {
    name: 'batch-endpoint',
    defaultModel: 'gpt-4o-mini',
    plan: () => Promise.reject(new Error('unused')),
    async planBatch(reqs) {
      batchCalls++;
      await sleep(MODEL_MS);
      return reqs.map((r) => ({ kind: 'final' as const, answer: r.sessionId, model: 'gpt-4o-mini', promptTokens: 0, completionTokens: 0, latencyMs: MODEL_MS, attempts: 1 }));
    },
  };
  const rows: Row[] = [];
  for (const sessions of SESSIONS) {
    for (const size of SIZES) {
      rows.push(await run(http, 'openai-compatible (pooled calls)', sessions, size, () => ai.requests.length));
      rows.push(await run(batchy, 'batch endpoint (planBatch)', sessions, size, () => batchCalls));
      const [a, c] = rows.slice(-2);
      process.stdout.write(`${sessions} sessions, batch ${size}: ${a!.requestsPerBatch.mean}/batch, batch wait p99 ${a!.batchWaitMs.p99} ms, queue wait p99 ${a!.queueWaitMs.p99} ms, step p99 ${a!.stepMs.p99} ms | planBatch: ${c!.providerCalls} calls for ${c!.requests}\n`);
    }
  }
  await ai.close();
  const out = {
    bench: 'w-batching',
    description: `${STEPS} planner steps per session, tool call 150–500 ms between steps, model ${MODEL_MS} ms, sessions start within 50 ms`,
    date: new Date().toISOString(),
    machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model, loadavg1m: r1(loadavg()[0]!), node: process.version, platform: process.platform },
    settings: { waitMs: WAIT_MS, poolConcurrency: CONCURRENCY, modelMs: MODEL_MS, steps: STEPS },
    rows,
  };
  mkdirSync(dirname(OUT), { recursive: true });
  writeFileSync(OUT, JSON.stringify(out, null, 2) + '\n');
  process.stdout.write(`wrote ${OUT}\n`);
}

void main();
