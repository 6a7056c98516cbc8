/**
 * The loopback model and tools of the agent workloads (W3, the seed's claims, W7), run in a
 * process of their own so that their CPU is not counted as the load generator's or agentplane's.
 *
 * - A fake OpenAI-compatible server (test/fixtures/fake-openai.server.ts) scripted as the W3
 *   agent: turn 1 calls `search`; turn 2 calls `fetch_doc` and `summarize` together; turn 3
 *   answers. The turn is read from the conversation (assistant turns so far), so any number of
 *   sessions run at once. The handler itself waits the model latency, which lets it count how
 *   many requests the "model" is working on at each moment.
 * - The demo tool server (test/fixtures/tool-server.ts), with its own latency and in-flight count.
 *
 * Latency: a fixed number of ms, or uniform in [min, max] drawn per request.
 * Started with `fork()` by startFakes(); answers { id, cmd: 'stats' | 'reset' } over IPC.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { startFakeOpenAI, type FakeReply } from '../../test/fixtures/fake-openai.server';
import { startToolServer } from '../../test/fixtures/tool-server';

export type Latency = number | readonly [number, number];

export function parseLatency(s: string): Latency {
  const m = /^(\d+(?:\.\d+)?)-(\d+(?:\.\d+)?)$/.exec(s);
  return m ? [Number(m[1]), Number(m[2])] : Number(s);
}

export function drawLatency(l: Latency): number {
  return typeof l === 'number' ? l : l[0] + Math.random() * (l[1] - l[0]);
}

export function meanLatency(l: Latency): number {
  return typeof l === 'number' ? l : (l[0] + l[1]) / 2;
}

export function latencyLabel(l: Latency): string {
  return typeof l === 'number' ? `${l} ms` : `uniform ${l[0]}-${l[1]} ms`;
}

/** The task every session carries, and the tools it may use. */
export const TASK = 'What does Kafka keep per partition? Search, read the best document and summarise it.';
export const TOOLS = ['search', 'fetch_doc', 'summarize'] as const;

/** The scripted agent: the reply for a conversation that already holds `turn` assistant turns. */
export function scriptedReply(turn: number): FakeReply {
  if (turn === 0) return { toolCalls: [{ name: 'search', arguments: { query: 'kafka partition order' } }] };
  if (turn === 1) {
    return {
      toolCalls: [
        { name: 'fetch_doc', arguments: { id: 'doc-kafka' } },
        { name: 'summarize', arguments: { text: 'Kafka keeps the order of records within one partition.' } },
      ],
    };
  }
  return { final: 'Kafka keeps records of one partition in order; keying by session keeps a session on one partition.' };
}

export interface FakesStats {
  llm: {
    requests: number;
    inFlight: number;
    maxInFlight: number;
    /** Sum of the model latencies served, ms (= time-integral of requests in flight). */
    busyMs: number;
    /** How many requests were in flight (itself included) when each request arrived: count by level. */
    concurrencyAtArrival: Record<string, number>;
  };
  tools: {
    requests: number;
    inFlight: number;
    maxInFlight: number;
    byPath: Record<string, { requests: number; maxInFlight: number; maxPerSecond: number; statuses: Record<string, number> }>;
  };
}

export interface Fakes {
  readonly llmUrl: string;
  readonly toolsUrl: string;
  readonly pid: number;
  readonly child: ChildProcess;
  stats(): Promise<FakesStats>;
  /** Zeroes the counters (a measurement window starts). */
  reset(): Promise<void>;
  close(): Promise<void>;
}

/** Forks this file as the fakes process and waits until both servers listen. */
export async function startFakes(opts: { llmLatency: Latency; toolLatency: Latency }): Promise<Fakes> {
  const child = fork(__filename, ['--serve', JSON.stringify(opts)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: [] });
  const pending = new Map<number, (v: unknown) => void>();
  let seq = 0;
  const ready = new Promise<{ llmUrl: string; toolsUrl: string }>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`fakes process exited with ${code} before listening`)));
    child.on('message', (m: { id?: number; ready?: { llmUrl: string; toolsUrl: string }; result?: unknown }) => {
      if (m.ready) resolve(m.ready);
      else if (m.id !== undefined) {
        pending.get(m.id)?.(m.result);
        pending.delete(m.id);
      }
    });
  });
  const urls = await ready;
  const call = <T>(cmd: string): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      if (!child.connected) return reject(new Error('fakes process is gone'));
      const id = ++seq;
      pending.set(id, resolve as (v: unknown) => void);
      child.send({ id, cmd });
    });
  return {
    ...urls,
    pid: child.pid!,
    child,
    stats: () => call<FakesStats>('stats'),
    reset: () => call<void>('reset'),
    close: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      child.kill('SIGTERM');
      const deadline = sleep(5_000).then(() => 'late');
      if ((await Promise.race([exited.then(() => 'ok'), deadline])) === 'late') child.kill('SIGKILL');
    },
  };
}

async function serve(opts: { llmLatency: Latency; toolLatency: Latency }): Promise<void> {
  let inFlight = 0;
  let maxInFlight = 0;
  let requests = 0;
  let busyMs = 0;
  let atArrival = new Map<number, number>();
  const ai = await startFakeOpenAI({
    port: 0,
    handler: async (req) => {
      // The fake keeps every request; only the current one matters here.
      ai.requests.length = 0;
      const turn = ((req.body.messages ?? []) as Array<{ role: string }>).filter((m) => m.role === 'assistant').length;
      requests++;
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      atArrival.set(inFlight, (atArrival.get(inFlight) ?? 0) + 1);
      const ms = drawLatency(opts.llmLatency);
      try {
        await sleep(ms); // the model's latency (this is the fake model, not synchronisation)
      } finally {
        inFlight--;
        busyMs += ms;
      }
      return scriptedReply(turn);
    },
  });
  const tools = await startToolServer({ port: 0, latencyMs: opts.toolLatency });
  const stats = (): FakesStats => {
    const t = tools.stats();
    return {
      llm: { requests, inFlight, maxInFlight, busyMs: Math.round(busyMs), concurrencyAtArrival: Object.fromEntries([...atArrival].sort((a, b) => a[0] - b[0])) },
      tools: {
        requests: t.requests,
        inFlight: t.inFlight,
        maxInFlight: t.maxInFlight,
        byPath: Object.fromEntries(
          Object.entries(t.byPath).map(([p, s]) => [p, { requests: s.requests, maxInFlight: s.maxInFlight, maxPerSecond: s.maxPerSecond, statuses: s.statuses }]),
        ),
      },
    };
  };
  process.on('message', (m: { id: number; cmd: string }) => {
    if (m.cmd === 'stats') process.send!({ id: m.id, result: stats() });
    else if (m.cmd === 'reset') {
      requests = 0;
      busyMs = 0;
      maxInFlight = inFlight;
      atArrival = new Map();
      tools.reset();
      process.send!({ id: m.id, result: null });
    }
  });
  // The parent going away (even by kill -9) ends this process too.
  process.on('disconnect', () => process.exit(0));
  const stop = () => void Promise.all([ai.close(), tools.close()]).finally(() => process.exit(0));
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  process.send!({ ready: { llmUrl: ai.url, toolsUrl: tools.url } });
}

if (require.main === module && process.argv[2] === '--serve') {
  serve(JSON.parse(process.argv[3]!) as { llmLatency: Latency; toolLatency: Latency }).catch((e: Error) => {
    process.stderr.write(`fakes: ${e.stack ?? e.message}\n`);
    process.exit(1);
  });
}
