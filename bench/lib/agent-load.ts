/**
 * Shared machinery of the agent workloads (W3 load, the seed's claims, W7 recovery): the
 * sessions of the W3 agent (search; then fetch_doc ∥ summarize; then an answer — 3 model calls
 * and 3 tool calls) driven either through agentplane (planner, rate limiter and executor as OS
 * processes on the local broker and Postgres, the planner on its LLM path against the fake
 * model) or inline (direct-call: one Node process calls the model and the tools itself), a
 * closed load loop, per-process CPU and memory from /proc, consumer lag, and per-hop times
 * from the event log's producer timestamps.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { decode, makeEvent, uuidv7 } from '@agentplane/contracts';
import { EventProducer, type Consumer } from '@agentplane/messaging';
import { OpenAICompatibleProvider, type PlanHistoryEntry } from '@agentplane/planning';
import { invokeHttpTool, loadPrices, loadToolRegistry, type PriceTable, type ToolRegistry } from '@agentplane/tools';
import { Loop, groupOf, type Instance, type LoopService } from '../../test/deploy/loop';
import { TASK, TOOLS } from './fakes';

export const REPO = resolve(__dirname, '../../..');
export const BROKERS = process.env.KAFKA_BROKERS ?? '127.0.0.1:9092';
export const MODEL = 'gpt-4o-mini';

// ---------------------------------------------------------------- arguments and figures

export function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : dflt;
}

export function flag(name: string): boolean {
  return process.argv.includes(`--${name}`);
}

export function pct(sorted: readonly number[], p: number): number {
  return sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

/** count, p50/p90/p99 and max of latencies in ms (2 decimals), the shape W2 and the Restate reference print. */
export function latencyStats(ms: readonly number[]): Record<string, number> {
  const s = [...ms].sort((a, b) => a - b);
  return { count: s.length, p50Ms: r2(pct(s, 50)), p90Ms: r2(pct(s, 90)), p99Ms: r2(pct(s, 99)), maxMs: r2(s[s.length - 1] ?? NaN) };
}

export const r1 = (v: number) => Math.round(v * 10) / 10;
export const r2 = (v: number) => Math.round(v * 100) / 100;

export interface Summary {
  count: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
  meanMs: number;
}

export function summary(ms: readonly number[]): Summary {
  const s = [...ms].sort((a, b) => a - b);
  const mean = s.length ? s.reduce((a, b) => a + b, 0) / s.length : NaN;
  return { count: s.length, p50Ms: r1(pct(s, 50)), p90Ms: r1(pct(s, 90)), p99Ms: r1(pct(s, 99)), maxMs: r1(s[s.length - 1] ?? NaN), meanMs: r1(mean) };
}

export function machine(): Record<string, unknown> {
  return {
    cpus: cpus().length,
    model: cpus()[0]?.model,
    memGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    loadavgAtStart: loadavg().map(r2),
    note: 'shared machine: broker, Postgres, services, fakes and the load generator share these cores with other work',
  };
}

export function writeResult(out: string, result: Record<string, unknown>): void {
  result.loadavgAtEnd = loadavg().map(r2);
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, JSON.stringify(result, null, 2) + '\n');
  console.log(`wrote ${out}`);
}

// ---------------------------------------------------------------- cleanup on any exit

const children = new Set<{ kill(sig: NodeJS.Signals): unknown; exitCode: number | null; signalCode: NodeJS.Signals | null }>();
const cleanups: Array<() => Promise<unknown>> = [];

/** Child processes to kill -9 if this process ends without stopping them. */
export function track(child: { kill(sig: NodeJS.Signals): unknown; exitCode: number | null; signalCode: NodeJS.Signals | null }): void {
  children.add(child);
}

/** Orderly cleanup run once on SIGINT/SIGTERM (before the kill -9 of what is left). */
export function onCleanup(fn: () => Promise<unknown>): void {
  cleanups.push(fn);
}

function killLeft(): void {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
}

let installed = false;
export function installExitHandlers(): void {
  if (installed) return;
  installed = true;
  process.on('exit', killLeft);
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      process.stderr.write(`${sig}: stopping\n`);
      const bounded = Promise.race([Promise.allSettled(cleanups.map((f) => f())), sleep(20_000)]);
      void bounded.finally(() => {
        killLeft();
        process.exit(130);
      });
    });
  }
}

/** Runs main, then exits 0; any error is printed and exits 1 (children killed by the exit hook). */
export function runMain(main: () => Promise<void>): void {
  installExitHandlers();
  main().then(
    () => process.exit(0),
    (e) => {
      process.stderr.write(`${(e as Error).stack ?? e}\n`);
      process.exit(1);
    },
  );
}

// ---------------------------------------------------------------- processes: CPU and memory

export interface ProcRef {
  readonly name: string;
  readonly pid: number;
}

let clkTck = 0;
function ticksPerSecond(): number {
  if (!clkTck) {
    const r = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
    clkTck = Number(r.stdout?.trim()) || 100;
  }
  return clkTck;
}

/** utime + stime of a process, in clock ticks; undefined when it is gone. */
export function cpuTicks(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(rest[11]) + Number(rest[12]);
  } catch {
    return undefined;
  }
}

/** Resident set (VmRSS) and its peak (VmHWM), KiB. */
export function memory(pid: number): { rssKiB: number; hwmKiB: number } | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kib = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? NaN);
    return { rssKiB: kib('VmRSS'), hwmKiB: kib('VmHWM') };
  } catch {
    return undefined;
  }
}

/** Every process named `postgres` on the machine (the server is shared with other work). */
export function postgresPids(): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (readFileSync(`/proc/${d}/comm`, 'utf8').trim() === 'postgres') out.push(Number(d));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** The broker `agentplane infra up` started for this worktree, if it runs. */
export function kafkaPid(): number | undefined {
  try {
    const env = JSON.parse(readFileSync(join(process.env.AGENTPLANE_HOME ?? join(REPO, '.agentplane'), 'env.json'), 'utf8')) as { kafka?: { pid?: number } };
    const pid = env.kafka?.pid;
    return pid && cpuTicks(pid) !== undefined ? pid : undefined;
  } catch {
    return undefined;
  }
}

export interface ProcFigures {
  pids: number[];
  cpuSeconds: number;
  /** 100 = one core busy for the whole window. */
  cpuPct: number;
  rssMaxMiB: number;
  rssEndMiB: number;
}

/**
 * CPU over a window (ticks at begin and end) and resident memory sampled every second, per
 * name (several pids under one name are summed: instances of a service, Postgres backends).
 */
export class ProcMonitor {
  private t0 = 0;
  private start = new Map<number, number>();
  private rssMax = new Map<string, number>();
  private timer?: NodeJS.Timeout;

  constructor(private readonly refs: () => ProcRef[]) {}

  begin(): void {
    this.t0 = performance.now();
    this.start = new Map();
    this.rssMax = new Map();
    for (const r of this.refs()) {
      const t = cpuTicks(r.pid);
      if (t !== undefined) this.start.set(r.pid, t);
    }
    this.sample();
    this.timer = setInterval(() => this.sample(), 1000);
    this.timer.unref();
  }

  /** Resident memory now, MiB per name. */
  rssNow(): Record<string, number> {
    const byName: Record<string, number> = {};
    for (const r of this.refs()) {
      const m = memory(r.pid);
      if (m) byName[r.name] = (byName[r.name] ?? 0) + m.rssKiB / 1024;
    }
    return byName;
  }

  private sample(): void {
    for (const [name, mib] of Object.entries(this.rssNow())) this.rssMax.set(name, Math.max(this.rssMax.get(name) ?? 0, mib));
  }

  end(): Record<string, ProcFigures> {
    if (this.timer) clearInterval(this.timer);
    this.sample();
    const secs = (performance.now() - this.t0) / 1000;
    const hz = ticksPerSecond();
    const out: Record<string, ProcFigures> = {};
    const rssEnd = this.rssNow();
    for (const r of this.refs()) {
      const now = cpuTicks(r.pid);
      const f = (out[r.name] ??= { pids: [], cpuSeconds: 0, cpuPct: 0, rssMaxMiB: r1(this.rssMax.get(r.name) ?? NaN), rssEndMiB: r1(rssEnd[r.name] ?? NaN) });
      f.pids.push(r.pid);
      // A process started during the window counts from zero.
      if (now !== undefined) f.cpuSeconds += (now - (this.start.get(r.pid) ?? 0)) / hz;
    }
    for (const f of Object.values(out)) {
      f.cpuSeconds = r2(f.cpuSeconds);
      f.cpuPct = r1((f.cpuSeconds / secs) * 100);
    }
    return out;
  }
}

// ---------------------------------------------------------------- sessions and the load loop

export interface SessionResult {
  ok: boolean;
  /** End-to-end, ms. */
  ms: number;
  /** performance.now() when it ended (or timed out). */
  endAt: number;
  timedOut?: boolean;
  error?: string;
  costUsd?: number;
  promptTokens?: number;
  completionTokens?: number;
  toolCalls?: number;
}

export interface Completed extends SessionResult {
  startAt: number;
}

export interface Load {
  readonly results: Completed[];
  /** Sessions started and not ended yet. */
  inFlight(): number;
  /** Stops issuing; resolves when every worker's last session has ended (or timed out). */
  stop(): Promise<void>;
}

/** Closed loop: `concurrency` agents, each running one session after the other until stopped. */
export function runLoad(concurrency: number, one: () => Promise<SessionResult>): Load {
  let stopping = false;
  let inFlight = 0;
  const results: Completed[] = [];
  const workers = Array.from({ length: concurrency }, async () => {
    while (!stopping) {
      const startAt = performance.now();
      inFlight++;
      try {
        results.push({ ...(await one()), startAt });
      } catch (e) {
        results.push({ ok: false, ms: performance.now() - startAt, endAt: performance.now(), error: (e as Error).message, startAt });
      } finally {
        inFlight--;
      }
    }
  });
  return {
    results,
    inFlight: () => inFlight,
    stop: async () => {
      stopping = true;
      await Promise.all(workers);
    },
  };
}

/** Sessions that ended within [from, to] (performance.now() ms). */
export function endedIn(results: readonly Completed[], from: number, to: number): Completed[] {
  return results.filter((r) => r.endAt >= from && r.endAt <= to);
}

/** The benchmark's own clock: waits until performance.now() reaches `t` (a phase of the run, not synchronisation). */
export async function until(t: number): Promise<void> {
  const left = t - performance.now();
  if (left > 0) await sleep(left);
}

/** Per time bucket: sessions ended, sessions/s, p50/p99 of those sessions. */
export function series(results: readonly Completed[], from: number, to: number, bucketS: number): Array<Record<string, number>> {
  const out: Array<Record<string, number>> = [];
  for (let t = from; to - t >= bucketS * 500; t += bucketS * 1000) {
    const end = Math.min(to, t + bucketS * 1000);
    const b = endedIn(results, t, end).filter((r) => r.ok);
    const s = b.map((r) => r.ms).sort((a, c) => a - c);
    out.push({ atS: r1((t - from) / 1000), sessions: b.length, sessionsPerSec: r1(b.length / ((end - t) / 1000)), p50Ms: r1(pct(s, 50)), p99Ms: r1(pct(s, 99)) });
  }
  return out;
}

// ---------------------------------------------------------------- config for tools

/** tools.yaml with the demo tools pointed at `toolsUrl`; `openCaps` lifts every rate limit out of the way. */
export const OPEN_CAPS: Array<[RegExp, string]> = [[/rateLimit: \{[^}\n]*\}/g, 'rateLimit: { rps: 100000, burst: 100000, maxConcurrent: 100000 }']];

function toolsYaml(toolsUrl: string): string {
  const url = toolsUrl.replace(/\/$/, '');
  return readFileSync(join(REPO, 'config', 'tools.yaml'), 'utf8').replaceAll('http://127.0.0.1:7070', url).replaceAll('127.0.0.1:7070', new URL(url).host);
}

/** Registry prices: inference by tokens (prices.yaml), tools per call (tools.yaml costUsd). */
export function inferenceUsd(prices: PriceTable, promptTokens: number, completionTokens: number): number {
  const p = prices.models[MODEL];
  return p ? (promptTokens * Number(p.inputPer1M) + completionTokens * Number(p.outputPer1M)) / 1e6 : NaN;
}

// ---------------------------------------------------------------- direct-call agents

/**
 * Direct-call: each agent calls the model and the tools inline from this process, with the
 * project's own clients (OpenAICompatibleProvider, invokeHttpTool), one attempt per tool call,
 * no queueing, no Kafka, no database.
 */
export class DirectAgents {
  private readonly provider: OpenAICompatibleProvider;
  private readonly registry: ToolRegistry;
  readonly prices: PriceTable;

  constructor(llmUrl: string, toolsUrl: string) {
    const dir = mkdtempSync(join(tmpdir(), 'agentplane-direct-'));
    try {
      writeFileSync(join(dir, 'tools.yaml'), toolsYaml(toolsUrl));
      this.registry = loadToolRegistry(join(dir, 'tools.yaml'));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    this.prices = loadPrices(join(REPO, 'config', 'prices.yaml'));
    this.provider = new OpenAICompatibleProvider({ baseUrl: llmUrl, model: MODEL, timeoutMs: 30_000, maxRetries: 3 });
  }

  /** Registry price of one session's tool calls (one call of each tool). */
  toolUsdPerSession(): number {
    return TOOLS.reduce((a, t) => a + Number(this.registry.get(t)?.costUsd ?? NaN), 0);
  }

  async session(timeoutMs: number): Promise<SessionResult> {
    const t0 = performance.now();
    const signal = AbortSignal.timeout(timeoutMs);
    const sessionId = uuidv7();
    const history: PlanHistoryEntry[] = [];
    let prompt = 0;
    let completion = 0;
    let toolUsd = 0;
    const tools = this.registry.toOpenAIFunctions([...TOOLS]);
    const end = (ok: boolean, error?: string): SessionResult => ({
      ok,
      ms: performance.now() - t0,
      endAt: performance.now(),
      ...(error ? { error } : {}),
      costUsd: inferenceUsd(this.prices, prompt, completion) + toolUsd,
      promptTokens: prompt,
      completionTokens: completion,
      toolCalls: history.length,
    });
    try {
      for (let step = 1; step <= 8; step++) {
        const r = await this.provider.plan({ sessionId, tenantId: 'acme', step, input: TASK, model: MODEL, tools, history }, signal);
        prompt += r.promptTokens;
        completion += r.completionTokens;
        if (r.kind === 'final') return end(true);
        if (r.kind !== 'tool_calls') return end(false, r.errors.join('; '));
        const outcomes = await Promise.all(
          r.calls.map(async (c) => {
            const tool = this.registry.get(c.tool);
            if (!tool) return { c, error: { message: `unknown tool ${c.tool}` } };
            const o = await invokeHttpTool(tool, c.args, { idempotencyKey: `${sessionId}:${c.callId}`, signal });
            if (o.kind === 'ok') {
              toolUsd += Number(tool.costUsd);
              return { c, result: o.body };
            }
            return { c, error: { message: `${o.kind}${'status' in o ? ` ${o.status}` : ''}` } };
          }),
        );
        for (const o of outcomes) history.push({ callId: o.c.callId, tool: o.c.tool, args: o.c.args, step, ...('result' in o ? { result: o.result } : { error: o.error! }) });
        if (outcomes.some((o) => 'error' in o)) return end(false, outcomes.find((o) => 'error' in o)!.error!.message);
      }
      return end(false, 'too many steps');
    } catch (e) {
      return { ...end(false, (e as Error).message), timedOut: signal.aborted };
    }
  }
}

// ---------------------------------------------------------------- through agentplane

export const LOOP_SERVICES = ['planner', 'rate-limiter', 'executor'] as const;
/** The topics each service consumes (apps/<svc>/src/main.ts TOPICS): what its lag is measured on. */
export const CONSUMES: Record<(typeof LOOP_SERVICES)[number], ReadonlyArray<'session-requests' | 'session-events' | 'control-events'>> = {
  planner: ['session-requests', 'session-events', 'control-events'],
  'rate-limiter': ['session-events', 'control-events'],
  executor: ['session-events'],
};

export interface AgentplaneOptions {
  llmUrl: string;
  toolsUrl: string;
  /** 'shipped': config/tools.yaml's rate limits as they are; 'open': lifted out of the way. */
  caps: 'shipped' | 'open';
  partitions: number;
  /** PLANNER_LLM_CONCURRENCY. */
  llmConcurrency: number;
  env?: Record<string, string>;
}

interface Ev {
  type: string;
  ts: number;
  step?: number;
  callId?: string;
  latencyMs?: number;
  queueWaitMs?: number;
  batchSize?: number;
  promptTokens?: number;
  completionTokens?: number;
  costUsd?: string;
}

interface Waiting {
  t0: number;
  wall0: number;
  events: Ev[];
  done: (r: SessionResult) => void;
}

const TERMINAL = new Set(['agentplane.session.completed', 'agentplane.session.failed', 'agentplane.session.rejected']);

/** Per-hop samples, from the producer timestamps of each session's events (ms resolution). */
export class Hops {
  readonly raw: Record<string, number[]> = {};
  readonly net: Record<string, number[]> = {};
  readonly batchSize: number[] = [];
  readonly queueWaitMs: number[] = [];
  recording = false;
  /** One session's timeline (ms after the request), for the report. */
  example?: Array<[string, number]>;

  private add(into: Record<string, number[]>, k: string, v: number): void {
    if (Number.isFinite(v)) (into[k] ??= []).push(v);
  }

  record(wall0: number, events: readonly Ev[], seenAt: number): void {
    if (!this.recording) return;
    this.example ??= [['request published', 0], ...events.map((e): [string, number] => [`${e.type.replace('agentplane.', '')}${e.callId ? ` ${e.callId}` : e.step ? ` ${e.step}` : ''}`, e.ts - wall0])];
    const at = (type: string, pred: (e: Ev) => boolean = () => true) => events.find((e) => e.type === type && pred(e));
    const steps = events.filter((e) => e.type === 'agentplane.planner.step.completed');
    const requested = events.filter((e) => e.type === 'agentplane.tool.call.requested');
    const outcome = (callId: string) => at('agentplane.tool.call.succeeded', (e) => e.callId === callId) ?? at('agentplane.tool.call.failed', (e) => e.callId === callId);
    for (const s of steps) {
      let trigger = wall0;
      if (s.step! > 1) {
        const prev = requested.filter((r) => r.step === s.step! - 1).map((r) => outcome(r.callId!)?.ts ?? NaN);
        trigger = prev.length ? Math.max(...prev) : NaN;
      }
      const d = s.ts - trigger;
      this.add(this.raw, s.step === 1 ? 'planner (request → step 1)' : 'planner (outcome → next step)', d);
      this.add(this.net, s.step === 1 ? 'planner (request → step 1)' : 'planner (outcome → next step)', d - (s.latencyMs ?? 0));
      if (s.batchSize !== undefined) this.batchSize.push(s.batchSize);
      if (s.queueWaitMs !== undefined) this.queueWaitMs.push(s.queueWaitMs);
    }
    for (const r of requested) {
      const adm = at('agentplane.tool.call.admitted', (e) => e.callId === r.callId);
      const out = outcome(r.callId!);
      if (adm) {
        this.add(this.raw, 'rate limiter (requested → admitted)', adm.ts - r.ts);
        this.add(this.net, 'rate limiter (requested → admitted)', adm.ts - r.ts);
      }
      if (adm && out) {
        this.add(this.raw, 'executor (admitted → outcome)', out.ts - adm.ts);
        this.add(this.net, 'executor (admitted → outcome)', out.ts - adm.ts - (out.latencyMs ?? 0));
      }
    }
    const end = events.find((e) => TERMINAL.has(e.type));
    if (end) {
      this.add(this.raw, 'reader (terminal event → seen by the load generator)', seenAt - end.ts);
      this.add(this.net, 'reader (terminal event → seen by the load generator)', seenAt - end.ts);
    }
  }

  report(): Record<string, unknown> {
    const row = (xs: number[]) => {
      const s = [...xs].sort((a, b) => a - b);
      return { count: s.length, p50Ms: r1(pct(s, 50)), p99Ms: r1(pct(s, 99)) };
    };
    return {
      note: 'raw = Kafka producer timestamp difference (ms resolution); net = raw minus the model or tool latency the event reports',
      raw: Object.fromEntries(Object.entries(this.raw).map(([k, v]) => [k, row(v)])),
      net: Object.fromEntries(Object.entries(this.net).map(([k, v]) => [k, row(v)])),
      plannerBatchSize: { ...row(this.batchSize), p50Ms: undefined, p99Ms: undefined, p50: pct([...this.batchSize].sort((a, b) => a - b), 50), max: Math.max(0, ...this.batchSize) },
      plannerQueueWait: row(this.queueWaitMs),
      exampleSession: this.example,
    };
  }
}

/**
 * agentplane as OS processes (planner on its LLM path, rate limiter, executor) on the local
 * broker and Postgres. Sessions go straight to session-requests (no gateway, as in W2-W4);
 * a reader on session-events ends each one and keeps its events for the per-hop times.
 */
export class Agentplane {
  readonly hops = new Hops();
  private readonly waiting = new Map<string, Waiting>();
  private producer!: EventProducer;
  private consumer!: Consumer;
  private lagTimer?: NodeJS.Timeout;
  private lagSamples: Record<string, number[]> = {};
  private lagBusy = false;

  private constructor(
    readonly loop: Loop,
    readonly opts: AgentplaneOptions,
  ) {}

  static async start(opts: AgentplaneOptions): Promise<Agentplane> {
    const loop = new Loop({
      brokers: BROKERS,
      partitions: opts.partitions,
      toolsUrl: opts.toolsUrl,
      ...(opts.caps === 'open' ? { toolsReplace: OPEN_CAPS } : {}),
      env: {
        LOG_LEVEL: 'error',
        PLANNER_BASE_URL: opts.llmUrl,
        PLANNER_MODEL: MODEL,
        PLANNER_LLM_CONCURRENCY: String(opts.llmConcurrency),
        ...opts.env,
      },
    });
    const ap = new Agentplane(loop, opts);
    onCleanup(() => ap.stop());
    await loop.prepare(LOOP_SERVICES);
    for (const svc of LOOP_SERVICES) ap.track(await loop.start(svc, {}, 120_000));
    await ap.connect();
    return ap;
  }

  /** Kill -9 on exit for an instance started outside start() (W7 restarts). */
  track(i: Instance): Instance {
    track(i.proc.child);
    return i;
  }

  private async connect(): Promise<void> {
    this.producer = new EventProducer(this.loop.kafka);
    await this.producer.connect();
    this.consumer = this.loop.kafka.consumer({ groupId: `bench-agents-${this.loop.run}`, maxWaitTimeInMs: 10 });
    await this.consumer.connect();
    await this.consumer.subscribe({ topics: [this.loop.topic('session-events')], fromBeginning: true });
    let joined!: () => void;
    const isJoined = new Promise<void>((r) => (joined = r));
    this.consumer.on(this.consumer.events.GROUP_JOIN, () => joined());
    await this.consumer.run({
      partitionsConsumedConcurrently: this.opts.partitions,
      eachMessage: async ({ message }) => {
        const d = decode(message.value);
        if (!d.ok || !d.event.subject) return;
        const w = this.waiting.get(d.event.subject);
        if (!w) return;
        const data = d.event.data as unknown as Record<string, unknown>;
        const ev: Ev = { type: d.event.type, ts: Number(message.timestamp) };
        for (const k of ['step', 'callId', 'latencyMs', 'queueWaitMs', 'batchSize', 'promptTokens', 'completionTokens', 'costUsd'] as const) {
          if (data[k] !== undefined) (ev as unknown as Record<string, unknown>)[k] = data[k];
        }
        w.events.push(ev);
        if (!TERMINAL.has(ev.type)) return;
        this.waiting.delete(d.event.subject);
        const seen = Date.now();
        this.hops.record(w.wall0, w.events, seen);
        const steps = w.events.filter((e) => e.type === 'agentplane.planner.step.completed');
        w.done({
          ok: ev.type === 'agentplane.session.completed',
          ms: performance.now() - w.t0,
          endAt: performance.now(),
          ...(ev.type !== 'agentplane.session.completed' ? { error: ev.type } : {}),
          ...(ev.costUsd !== undefined ? { costUsd: Number(ev.costUsd) } : {}),
          promptTokens: steps.reduce((a, e) => a + (e.promptTokens ?? 0), 0),
          completionTokens: steps.reduce((a, e) => a + (e.completionTokens ?? 0), 0),
          toolCalls: w.events.filter((e) => e.type === 'agentplane.tool.call.requested').length,
        });
      },
    });
    await isJoined;
  }

  /** One session through agentplane; resolves when its terminal event is read (or after timeoutMs). */
  session(timeoutMs: number): Promise<SessionResult> {
    return new Promise<SessionResult>((done) => {
      const sessionId = uuidv7();
      const t0 = performance.now();
      const timer = setTimeout(() => {
        if (!this.waiting.delete(sessionId)) return;
        done({ ok: false, ms: performance.now() - t0, endAt: performance.now(), timedOut: true, error: 'no terminal event in time' });
      }, timeoutMs);
      this.waiting.set(sessionId, {
        t0,
        wall0: Date.now(),
        events: [],
        done: (r) => {
          clearTimeout(timer);
          done(r);
        },
      });
      const e = makeEvent('agentplane.session.requested', { tenantId: 'acme', sessionId, input: TASK, tools: [...TOOLS] } as never, { source: 'bench' });
      void this.producer.publish(this.loop.topic('session-requests'), e).catch((err: Error) => {
        const w = this.waiting.get(sessionId);
        if (!w) return;
        this.waiting.delete(sessionId);
        w.done({ ok: false, ms: performance.now() - t0, endAt: performance.now(), error: `publish: ${err.message}` });
      });
    });
  }

  processes(): ProcRef[] {
    return this.loop.instances.filter((i) => this.loop.alive(i)).map((i) => ({ name: i.svc, pid: i.proc.child.pid! }));
  }

  /** Samples every service group's lag (end offset − committed, summed over the topics it consumes) each second. */
  startLag(): void {
    this.lagSamples = {};
    this.lagTimer = setInterval(() => {
      if (this.lagBusy) return;
      this.lagBusy = true;
      void Promise.all(
        LOOP_SERVICES.map(async (svc) => {
          const lag = await this.loop.lag(svc as LoopService, CONSUMES[svc]).catch(() => undefined);
          if (lag !== undefined) (this.lagSamples[svc] ??= []).push(lag);
        }),
      ).finally(() => (this.lagBusy = false));
    }, 1000);
    this.lagTimer.unref();
  }

  stopLag(): Record<string, { samples: number; p50: number; max: number }> {
    if (this.lagTimer) clearInterval(this.lagTimer);
    return Object.fromEntries(
      Object.entries(this.lagSamples).map(([svc, xs]) => {
        const s = [...xs].sort((a, b) => a - b);
        return [svc, { samples: s.length, p50: pct(s, 50), max: s[s.length - 1] ?? NaN }];
      }),
    );
  }

  /** The consumer group of a service (for W7). */
  group(svc: LoopService): string {
    return groupOf(this.loop.run, svc);
  }

  private stopped = false;
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.lagTimer) clearInterval(this.lagTimer);
    await this.consumer?.disconnect().catch(() => undefined);
    await this.producer?.disconnect().catch(() => undefined);
    await this.loop.stop();
  }
}
