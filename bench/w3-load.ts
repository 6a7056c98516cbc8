// W3 — N concurrent sessions of the W3 agent (3 model calls, 3 tool calls: search, then
// fetch_doc ∥ summarize, then the answer) with a 1.0 s model and 0.5 s tools, through the
// planner's real LLM path (OpenAI-compatible client, micro-batcher) against the fake model,
// rate limiter and executor as OS processes on the local broker and Postgres. Closed loop:
// every agent starts its next session when the last one ends.
//
// Reports sessions/s against Little's law (ideal = concurrency / ideal session time, where the
// ideal time is the critical path: 3 model calls + search + the slower of fetch_doc/summarize),
// end-to-end p50/p99, per-hop times from the event log, consumer lag, CPU and memory per process.
//
//   node dist/bench/w3-load.js [--concurrency 100] [--seconds 20] [--warmup 8]
//        [--planner-latency 1000] [--tool-latency 500] [--caps open|shipped]
//        [--llm-concurrency 1024] [--partitions 12] [--bucket 5] [--soak] [--out FILE]
//   --soak: 15 minutes measured (per-minute throughput, latency and memory).
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import {
  Agentplane,
  arg,
  endedIn,
  flag,
  kafkaPid,
  machine,
  postgresPids,
  ProcMonitor,
  r1,
  r2,
  runLoad,
  runMain,
  series,
  summary,
  track,
  until,
  writeResult,
  type ProcRef,
} from './lib/agent-load';
import { latencyLabel, meanLatency, parseLatency, startFakes, type Latency } from './lib/fakes';

const SOAK = flag('soak');
const CONCURRENCY = Number(arg('concurrency', '100'));
const SECONDS = Number(arg('seconds', SOAK ? '900' : '20'));
const WARMUP = Number(arg('warmup', '8'));
const PLANNER = parseLatency(arg('planner-latency', '1000'));
const TOOL = parseLatency(arg('tool-latency', '500'));
const CAPS = arg('caps', 'open') as 'open' | 'shipped';
const LLM_CONCURRENCY = Number(arg('llm-concurrency', '1024'));
const PARTITIONS = Number(arg('partitions', '12'));
const BUCKET = Number(arg('bucket', SOAK ? '60' : '5'));
const OUT = resolve(arg('out', join(process.cwd(), 'bench', 'results', SOAK ? 'w3-soak.json' : 'w3-load.json')));
const TIMEOUT_MS = 120_000;

/** Expected maximum of two independent draws (the parallel step). */
function meanMaxOfTwo(l: Latency): number {
  return typeof l === 'number' ? l : l[0] + (2 * (l[1] - l[0])) / 3;
}

/** The critical path of one session with no orchestration cost: 3 model calls, search, then the slower of two tools. */
export function idealSessionMs(planner: Latency, tool: Latency): number {
  return 3 * meanLatency(planner) + meanLatency(tool) + meanMaxOfTwo(tool);
}

async function main(): Promise<void> {
  const result: Record<string, unknown> = {
    workload: `W3: ${CONCURRENCY} concurrent sessions × 3 tool calls (search, then fetch_doc ∥ summarize) and 3 model calls; model ${latencyLabel(PLANNER)}, tools ${latencyLabel(TOOL)}`,
    machine: machine(),
    at: new Date().toISOString(),
    settings: { concurrency: CONCURRENCY, seconds: SECONDS, warmupS: WARMUP, caps: CAPS, llmConcurrency: LLM_CONCURRENCY, partitions: PARTITIONS, soak: SOAK },
  };
  console.log(`W3: ${CONCURRENCY} sessions in flight, ${SECONDS} s measured after ${WARMUP} s, load average ${(result.machine as { loadavgAtStart: number[] }).loadavgAtStart.join(' ')}`);
  const fakes = await startFakes({ llmLatency: PLANNER, toolLatency: TOOL });
  track(fakes.child);
  const ap = await Agentplane.start({ llmUrl: fakes.llmUrl, toolsUrl: fakes.toolsUrl, caps: CAPS, partitions: PARTITIONS, llmConcurrency: LLM_CONCURRENCY });
  try {
    const kafka = kafkaPid();
    const procs = new ProcMonitor((): ProcRef[] => [
      ...ap.processes(),
      { name: 'fakes (model + tools)', pid: fakes.pid },
      { name: 'load generator', pid: process.pid },
      ...(kafka ? [{ name: 'kafka broker', pid: kafka }] : []),
      ...postgresPids().map((pid) => ({ name: 'postgres (all backends, shared)', pid })),
    ]);
    const load = runLoad(CONCURRENCY, () => ap.session(TIMEOUT_MS));
    const t0 = performance.now();
    await until(t0 + WARMUP * 1000);
    await fakes.reset();
    procs.begin();
    ap.startLag();
    ap.hops.recording = true;
    const ws = performance.now();
    const rss: Array<Record<string, number>> = [];
    if (SOAK) {
      for (let t = ws + 60_000; t < ws + SECONDS * 1000; t += 60_000) {
        await until(t);
        rss.push({ atS: r1((t - ws) / 1000), ...Object.fromEntries(Object.entries(procs.rssNow()).map(([k, v]) => [k, r1(v)])) });
        console.log(`soak: ${r1((t - ws) / 60000)} min, ${endedIn(load.results, ws, t).length} sessions`);
      }
    }
    await until(ws + SECONDS * 1000);
    const we = performance.now();
    ap.hops.recording = false;
    const perProcess = procs.end();
    const lag = ap.stopLag();
    const fakeStats = await fakes.stats();
    const drainStart = performance.now();
    await load.stop();
    const drainS = (performance.now() - drainStart) / 1000;

    const win = endedIn(load.results, ws, we);
    const ok = win.filter((r) => r.ok);
    const secs = (we - ws) / 1000;
    const idealMs = idealSessionMs(PLANNER, TOOL);
    const lat = summary(ok.map((r) => r.ms));
    const sessionsPerSec = ok.length / secs;
    const ideal = CONCURRENCY / (idealMs / 1000);
    const throughput = {
      sessions: ok.length,
      failed: win.length - ok.length,
      timedOut: win.filter((r) => r.timedOut).length,
      seconds: r1(secs),
      sessionsPerSec: r2(sessionsPerSec),
      idealSessionMs: r1(idealMs),
      littleIdealSessionsPerSec: r2(ideal),
      ofIdealPct: r1((sessionsPerSec / ideal) * 100),
      littleCheckSessionsPerSec: r2(CONCURRENCY / (lat.meanMs / 1000)),
      toolCallsPerSec: r1((ok.length * 3) / secs),
      modelCallsPerSec: r1(fakeStats.llm.requests / secs),
      drainSeconds: r1(drainS),
    };
    result.throughput = throughput;
    result.latency = lat;
    result.hops = ap.hops.report();
    result.consumerLag = lag;
    result.processes = perProcess;
    result.fakes = fakeStats;
    result.series = series(load.results, ws, we, BUCKET);
    if (SOAK) result.rssPerMinuteMiB = rss;
    const failures = [...new Set(win.filter((r) => !r.ok).map((r) => r.error))].slice(0, 5);
    if (failures.length) result.failureReasons = failures;

    console.table({ W3: throughput });
    console.table({ 'end-to-end (ms)': lat });
    const hops = result.hops as { raw: Record<string, unknown>; net: Record<string, { p50Ms: number; p99Ms: number }> };
    console.table(Object.fromEntries(Object.entries(hops.raw).map(([k, v]) => [k, { ...(v as object), netP50Ms: hops.net[k]?.p50Ms, netP99Ms: hops.net[k]?.p99Ms }])));
    console.table(lag);
    console.table(perProcess);
    console.table({ model: { requests: fakeStats.llm.requests, maxInFlight: fakeStats.llm.maxInFlight }, tools: { requests: fakeStats.tools.requests, maxInFlight: fakeStats.tools.maxInFlight } });
    writeResult(OUT, result);
  } finally {
    await ap.stop();
    await fakes.close();
  }
}

runMain(main);
