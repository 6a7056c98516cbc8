// W7 — recovery after kill -9. Steady W3-like load (the W3 agent through the planner's LLM path,
// 1.0 s fake model, 0.5 s tools, N sessions in flight); then, one service at a time, kill -9 its
// process, start a new one (same consumer group and schema, as a restarted pod), and measure the
// time from the kill until the end-to-end p50 over a sliding 2 s window is back within ±20% of
// the steady p50 and stays there for --hold seconds. The window holds the sessions that ended in
// it, so sessions held up by the outage count when they finally end.
//
//   node dist/bench/w7-recovery.js [--concurrency 100] [--warmup 10] [--steady 15]
//        [--services planner,rate-limiter,executor] [--hold 10] [--max-wait 180]
//        [--planner-latency 1000] [--tool-latency 500] [--session-timeout-ms N] [--out FILE]
// --session-timeout-ms sets KAFKA_SESSION_TIMEOUT_MS of the services (default: as shipped, 30 s),
// which bounds how long the broker waits for the killed member before it moves its partitions.
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Agentplane, arg, endedIn, machine, pct, r1, runLoad, runMain, summary, track, until, writeResult, type Completed, LOOP_SERVICES } from './lib/agent-load';
import { latencyLabel, parseLatency, startFakes } from './lib/fakes';
import type { LoopService } from '../test/deploy/loop';

const CONCURRENCY = Number(arg('concurrency', '100'));
const WARMUP = Number(arg('warmup', '10'));
const STEADY = Number(arg('steady', '15'));
const SERVICES = arg('services', LOOP_SERVICES.join(',')).split(',') as LoopService[];
const HOLD_S = Number(arg('hold', '10'));
const MAX_WAIT_S = Number(arg('max-wait', '180'));
const WINDOW_MS = 2000;
const TICK_MS = 500;
const BAND = 0.2;
const PLANNER = parseLatency(arg('planner-latency', '1000'));
const TOOL = parseLatency(arg('tool-latency', '500'));
const SESSION_TIMEOUT = arg('session-timeout-ms', '');
const OUT = resolve(arg('out', join(process.cwd(), 'bench', 'results', 'w7-recovery.json')));
const TIMEOUT_MS = 120_000;

function p50Of(rs: readonly Completed[]): number {
  return pct(rs.filter((r) => r.ok).map((r) => r.ms).sort((a, b) => a - b), 50);
}

async function main(): Promise<void> {
  const result: Record<string, unknown> = {
    workload: `W7: kill -9 and restart of each service under ${CONCURRENCY} sessions in flight (W3 agent, model ${latencyLabel(PLANNER)}, tools ${latencyLabel(TOOL)}); recovered = 2 s-window p50 within ±${BAND * 100}% of steady for ${HOLD_S} s`,
    machine: machine(),
    at: new Date().toISOString(),
    settings: { concurrency: CONCURRENCY, warmupS: WARMUP, steadyS: STEADY, holdS: HOLD_S, maxWaitS: MAX_WAIT_S, kafkaSessionTimeoutMs: SESSION_TIMEOUT || 'default (30000)' },
  };
  console.log(`W7: ${CONCURRENCY} sessions in flight, load average ${(result.machine as { loadavgAtStart: number[] }).loadavgAtStart.join(' ')}`);
  const fakes = await startFakes({ llmLatency: PLANNER, toolLatency: TOOL });
  track(fakes.child);
  const ap = await Agentplane.start({
    llmUrl: fakes.llmUrl,
    toolsUrl: fakes.toolsUrl,
    caps: 'open',
    partitions: 12,
    llmConcurrency: 1024,
    ...(SESSION_TIMEOUT ? { env: { KAFKA_SESSION_TIMEOUT_MS: SESSION_TIMEOUT } } : {}),
  });
  try {
    const load = runLoad(CONCURRENCY, () => ap.session(TIMEOUT_MS));
    const t0 = performance.now();
    await until(t0 + WARMUP * 1000);
    const ss = performance.now();
    await until(ss + STEADY * 1000);
    const steadyRuns = endedIn(load.results, ss, performance.now());
    const steady = summary(steadyRuns.filter((r) => r.ok).map((r) => r.ms));
    result.steady = { ...steady, sessionsPerSec: r1(steady.count / STEADY) };
    console.table({ steady: result.steady });
    const lo = steady.p50Ms * (1 - BAND);
    const hi = steady.p50Ms * (1 + BAND);

    const kills: Array<Record<string, unknown>> = [];
    for (const svc of SERVICES) {
      const victim = ap.loop.of(svc).find((i) => ap.loop.alive(i));
      if (!victim) throw new Error(`no live ${svc}`);
      const killAt = performance.now();
      victim.proc.child.kill('SIGKILL');
      await victim.proc.exited;
      const inst = ap.track(await ap.loop.start(svc, {}, 120_000));
      const readyS = (performance.now() - killAt) / 1000;
      // Slide a 2 s window every 0.5 s; recovered at the first in-band window after the last out-of-band one, once it held HOLD_S.
      let lastBad = killAt;
      let recoveredAt: number | undefined;
      const trace: Array<[number, number, number]> = [];
      for (let t = killAt + TICK_MS; t <= killAt + MAX_WAIT_S * 1000; t += TICK_MS) {
        await until(t);
        const w = endedIn(load.results, t - WINDOW_MS, t);
        const p50 = p50Of(w);
        if (Number.isNaN(p50) || p50 < lo || p50 > hi) lastBad = t;
        if ((t - killAt) % 1000 < TICK_MS) trace.push([r1((t - killAt) / 1000), w.filter((r) => r.ok).length, r1(p50)]);
        if (t - lastBad >= HOLD_S * 1000) {
          recoveredAt = lastBad + TICK_MS;
          break;
        }
      }
      const during = endedIn(load.results, killAt, recoveredAt ?? performance.now());
      const k = {
        service: svc,
        killedPid: victim.proc.child.pid,
        restartedPid: inst.proc.child.pid,
        restartReadyS: r1(readyS),
        recovered: recoveredAt !== undefined,
        recoverySeconds: recoveredAt !== undefined ? r1((recoveredAt - killAt) / 1000) : null,
        sessionsEndedMeanwhile: during.length,
        failedMeanwhile: during.filter((r) => !r.ok).length,
        worstWindowP50Ms: r1(Math.max(0, ...trace.map((x) => (Number.isNaN(x[2]) ? 0 : x[2])))),
        trace: { columns: ['s after kill', 'sessions in window', 'window p50 ms'], rows: trace },
      };
      kills.push(k);
      console.table({ [svc]: { ...k, trace: undefined } });
    }
    result.kills = kills;
    await load.stop();
    const failures = [...new Set(load.results.filter((r) => !r.ok).map((r) => r.error))].slice(0, 5);
    result.totals = { sessions: load.results.length, failed: load.results.filter((r) => !r.ok).length, failureReasons: failures };
    console.table(Object.fromEntries(kills.map((k) => [k.service as string, { readyS: k.restartReadyS, recoveryS: k.recoverySeconds, failed: k.failedMeanwhile, worstP50Ms: k.worstWindowP50Ms }])));
    writeResult(OUT, result);
  } finally {
    await ap.stop();
    await fakes.close();
  }
}

runMain(main);
