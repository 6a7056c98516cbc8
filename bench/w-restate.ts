// Reference in the same run: the W2/W4 session (3 instant tool calls) as a Restate service, on
// this machine. A Restate server (the binary of @restatedev/restate-server, started here as a
// child process on a temp base dir and free loopback ports), a service endpoint written with
// @restatedev/restate-sdk in this process, and a loopback tool server. The handler makes each
// tool call a journaled `ctx.run` doing an HTTP fetch: call 1, then calls 2 and 3 in parallel
// (--shape fanout, the default) or 3 one after another like W2's workflow (--shape sequential).
//   (a) sequential: one session at a time through the ingress; latency p50/p90/p99.
//   (b) saturation: N sessions kept in flight (closed loop) for S seconds after a ramp of R
//       seconds (the first burst opens every connection); sessions/s, also over the whole run.
// Latency = HTTP POST /<service>/<handler> on the ingress until its response (the ingress
// answers when the invocation has completed).
//
//   node dist/bench/w-restate.js [--mode sequential|saturate|both] [--sessions 200]
//        [--warmup 20] [--concurrency 200] [--seconds 15] [--ramp 3] [--shape fanout|sequential] [--out FILE]
// Needs neither Kafka nor Postgres.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createH2Server, type Http2Server } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { arch, cpus, loadavg, platform, tmpdir, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import * as restate from '@restatedev/restate-sdk';
import { Agent, request } from 'undici';
import { freePort, waitFor } from '../test/platform/helpers';
import { arg, latencyStats } from './lib/agent-load';

const MODE = arg('mode', 'both');
const SESSIONS = Number(arg('sessions', '200'));
const WARMUP = Number(arg('warmup', '20'));
const CONCURRENCY = Number(arg('concurrency', '200'));
const SECONDS = Number(arg('seconds', '15'));
const RAMP = Number(arg('ramp', '3'));
const SHAPE = arg('shape', 'fanout');
const OUT = resolve(arg('out', join(process.cwd(), 'bench', 'results', 'w-restate.json')));
if (SHAPE !== 'fanout' && SHAPE !== 'sequential') throw new Error(`--shape must be fanout or sequential, not ${SHAPE}`);

const SERVICE = 'AgentSession';
const HANDLER = 'run';


/** Pinned so every run measures the same server. */
const RESTATE_SERVER_VERSION = '1.7.12';

/**
 * The binary ships in the npm package for this platform, under bin/restate-server. It is about
 * 225 MB, so it is not a project dependency: the first run installs it into .tools/restate.
 */
function restateBinary(): string {
  const pkg = `@restatedev/restate-server-${platform()}-${arch()}`;
  const prefix = join(__dirname, '..', '..', '.tools', 'restate');
  const bin = join(prefix, 'node_modules', pkg, 'bin', 'restate-server');
  if (!existsSync(bin)) {
    process.stderr.write(`installing ${pkg}@${RESTATE_SERVER_VERSION} into ${prefix} (first run only) ...\n`);
    mkdirSync(prefix, { recursive: true });
    const r = spawnSync('npm', ['install', '--prefix', prefix, '--no-save', '--no-audit', '--no-fund', '--loglevel=error', `${pkg}@${RESTATE_SERVER_VERSION}`], { stdio: 'inherit' });
    if (r.status !== 0 || !existsSync(bin)) throw new Error(`could not install ${pkg}@${RESTATE_SERVER_VERSION} from npm`);
  }
  return bin;
}

/** CPU seconds (user + system) a process has used so far, from /proc (Linux); NaN elsewhere. */
function procCpuSeconds(pid: number | undefined): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
  } catch {
    return NaN;
  }
}

// ---- loopback tool: answers at once with a small JSON body -------------------------------------

async function startTool(): Promise<{ url: string; calls: () => number; close: () => Promise<void> }> {
  let calls = 0;
  const server: Server = createHttpServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      calls++;
      const body = JSON.stringify({ tool: req.url?.slice(1), ok: true, result: { id: 'doc-1', text: 'Kafka keeps an ordered log.' } });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    calls: () => calls,
    close: () => new Promise<void>((ok) => { server.closeAllConnections(); server.close(() => ok()); }),
  };
}

// ---- the Restate service: one session of 3 tool calls ------------------------------------------

function sessionService(toolUrl: string) {
  const call = async (tool: string, args: unknown): Promise<unknown> => {
    const res = await fetch(`${toolUrl}/${tool}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(args) });
    if (!res.ok) throw new Error(`tool ${tool}: HTTP ${res.status}`);
    return res.json();
  };
  return restate.service({
    name: SERVICE,
    handlers: {
      [HANDLER]: async (ctx: restate.Context, input: { input: string }) => {
        const a = await ctx.run('search', () => call('search', { query: input.input, limit: 1 }));
        if (SHAPE === 'sequential') {
          const b = await ctx.run('fetch_doc', () => call('fetch_doc', { id: 'doc-1' }));
          const c = await ctx.run('summarize', () => call('summarize', { text: 'Kafka keeps an ordered log.' }));
          return { calls: [a, b, c].length };
        }
        const [b, c] = await restate.RestatePromise.all([
          ctx.run('fetch_doc', () => call('fetch_doc', { id: 'doc-1' })),
          ctx.run('summarize', () => call('summarize', { text: 'Kafka keeps an ordered log.' })),
        ]);
        return { calls: [a, b, c].length };
      },
    },
  });
}

async function startEndpoint(toolUrl: string): Promise<{ url: string; close: () => Promise<void> }> {
  const handler = restate.createEndpointHandler({
    services: [sessionService(toolUrl)],
    // Only warnings and errors: the default transport logs every invocation.
    logger: (meta, message, ...rest) => {
      if (meta.level === 'warn' || meta.level === 'error') console.error(`[sdk ${meta.level}]`, message, ...rest);
    },
  });
  const server: Http2Server = createH2Server(handler);
  const sessions = new Set<import('node:http2').ServerHttp2Session>();
  server.on('session', (s) => { sessions.add(s); s.once('close', () => sessions.delete(s)); });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((ok) => { for (const s of sessions) s.destroy(); server.close(() => ok()); }),
  };
}

// ---- the Restate server as a child process -----------------------------------------------------

interface RestateServer {
  ingress: string;
  admin: string;
  version: string;
  child: ChildProcess;
  output: () => string;
  stop: () => Promise<void>;
}

const children = new Set<ChildProcess>();
const baseDirs = new Set<string>();
// Last resort if this process exits without running its finally blocks (an interrupt, an exit
// from elsewhere): the server must not outlive the bench, nor its data dir.
process.on('exit', () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const d of baseDirs) rmSync(d, { recursive: true, force: true });
});
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => process.exit(sig === 'SIGINT' ? 130 : 143));

async function startRestateOnce(bin: string): Promise<RestateServer> {
  const baseDir = mkdtempSync(join(tmpdir(), 'agentplane-restate-'));
  baseDirs.add(baseDir);
  const [ingressPort, adminPort, fabricPort] = [await freePort(), await freePort(), await freePort()];
  const child = spawn(bin, ['--no-logo', '--base-dir', baseDir], {
    cwd: baseDir,
    env: {
      // Only the settings below: a RESTATE_* variable of the caller's shell must not change the run.
      ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('RESTATE_'))),
      RESTATE_NODE_NAME: 'bench',
      RESTATE_LISTEN_MODE: 'tcp',
      RESTATE_BIND_ADDRESS: `127.0.0.1:${fabricPort}`,
      RESTATE_ADVERTISED_ADDRESS: `http://127.0.0.1:${fabricPort}/`,
      RESTATE_INGRESS__BIND_ADDRESS: `127.0.0.1:${ingressPort}`,
      RESTATE_ADMIN__BIND_ADDRESS: `127.0.0.1:${adminPort}`,
      RESTATE_DISABLE_TELEMETRY: 'true',
      RESTATE_LOG_FILTER: 'warn',
      RESTATE_LOG_DISABLE_ANSI_CODES: 'true',
      RESTATE_SHUTDOWN_TIMEOUT: '5s',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  let out = '';
  const keep = (c: Buffer) => { out = (out + c.toString('utf8')).slice(-20_000); };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exited = new Promise<void>((ok) => child.once('exit', () => { children.delete(child); ok(); }));
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000); // grace period, then force
      await exited;
      clearTimeout(timer);
    }
    rmSync(baseDir, { recursive: true, force: true });
    baseDirs.delete(baseDir);
  };
  const admin = `http://127.0.0.1:${adminPort}`;
  const ingress = `http://127.0.0.1:${ingressPort}`;
  try {
    // Readiness ends at once when the server exits (a port taken meanwhile, a bad setting).
    const ready = async (what: string, url: string): Promise<void> => {
      const state = await waitFor(
        what,
        async () => {
          if (child.exitCode !== null || child.signalCode !== null) return 'exited';
          const r = await fetch(url, { signal: AbortSignal.timeout(2000) });
          await r.arrayBuffer();
          return r.ok ? 'ready' : undefined;
        },
        60_000,
        100,
      );
      if (state === 'exited') throw new Error(`restate-server exited (${child.exitCode ?? child.signalCode}) before ${what} answered`);
    };
    await ready('admin /health', `${admin}/health`);
    await ready('ingress /restate/health', `${ingress}/restate/health`);
    const v = await fetch(`${admin}/version`).then((r) => r.json() as Promise<{ version?: string }>);
    return { ingress, admin, version: v.version ?? 'unknown', child, output: () => out, stop };
  } catch (e) {
    await stop();
    throw new Error(`${(e as Error).message}\n--- restate-server output ---\n${out}`);
  }
}

/** Ports are picked free and released before the server binds them: retry if one was taken meanwhile. */
async function startRestate(): Promise<RestateServer> {
  const bin = restateBinary();
  let last: unknown;
  for (let attempt = 1; attempt <= 3; attempt++) {
    try {
      return await startRestateOnce(bin);
    } catch (e) {
      last = e;
      process.stderr.write(`w-restate: start attempt ${attempt} failed: ${(e as Error).message.split('\n')[0]}\n`);
    }
  }
  throw last;
}

async function register(admin: string, endpointUrl: string): Promise<void> {
  // The admin may answer 503 for a moment after /health while the cluster provisions itself.
  await waitFor(
    'deployment registration',
    async () => {
      const r = await fetch(`${admin}/deployments`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ uri: endpointUrl, force: true }),
        signal: AbortSignal.timeout(10_000),
      });
      const body = await r.text();
      if (r.status === 200 || r.status === 201) return true;
      if (r.status >= 500) return undefined;
      throw new Error(`POST /deployments: HTTP ${r.status} ${body}`);
    },
    30_000,
    100,
  );
}

// ---- load ---------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const result: Record<string, unknown> = {
    workload: `Reference: Restate, session of 3 instant tool calls as journaled ctx.run steps (${SHAPE === 'fanout' ? '1, then 2 in parallel' : '3 sequential'})`,
    machine: { cpus: cpus().length, model: cpus()[0]?.model, memGiB: Math.round(totalmem() / 2 ** 30), node: process.version, loadavgAtStart: loadavg() },
    shape: SHAPE,
    at: new Date().toISOString(),
  };
  const tool = await startTool();
  const endpoint = await startEndpoint(tool.url);
  let server: RestateServer | undefined;
  // Every request is bounded: a stuck server fails the run instead of hanging it.
  const agent = new Agent({ connections: Math.max(CONCURRENCY, 1), keepAliveTimeout: 60_000, headersTimeout: 60_000, bodyTimeout: 60_000 });
  try {
    server = await startRestate();
    const srv = server;
    (result.machine as Record<string, unknown>).restate = srv.version;
    const bin = spawnSync(restateBinary(), ['--version'], { encoding: 'utf8' });
    result.restateBinary = bin.stdout.trim();
    await register(srv.admin, endpoint.url);
    const url = `${srv.ingress}/${SERVICE}/${HANDLER}`;
    let failures = 0;
    const one = async (): Promise<number> => {
      const t0 = performance.now();
      const r = await request(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ input: 'bench' }),
        dispatcher: agent,
      });
      const body = await r.body.text();
      const ms = performance.now() - t0;
      if (r.statusCode !== 200) {
        failures++;
        throw new Error(`POST ${url}: HTTP ${r.statusCode} ${body.slice(0, 300)}`);
      }
      return ms;
    };
    // The ingress learns the new deployment shortly after registration: poll until it answers.
    await waitFor('service reachable through the ingress', async () => (await one().catch(() => undefined)) !== undefined ? true : undefined, 30_000, 100);
    failures = 0;
    for (let i = 0; i < WARMUP; i++) await one();

    if (MODE === 'sequential' || MODE === 'both') {
      const lat: number[] = [];
      for (let i = 0; i < SESSIONS; i++) lat.push(await one());
      result.sequential = latencyStats(lat);
      console.table({ 'Restate sequential (ms)': result.sequential });
    }
    if (MODE === 'saturate' || MODE === 'both') {
      // The first burst of CONCURRENCY sessions opens connections on every side and takes seconds;
      // the closed loop runs RAMP seconds before the measured window, which is reported apart.
      const done: { start: number; end: number }[] = [];
      const t0 = performance.now();
      const from = t0 + RAMP * 1000;
      const end = from + SECONDS * 1000;
      const calls0 = tool.calls();
      const cpu0 = { node: process.cpuUsage(), restate: procCpuSeconds(srv.child.pid) };
      await Promise.all(
        Array.from({ length: CONCURRENCY }, async () => {
          while (performance.now() < end) {
            const start = performance.now();
            const ms = await one();
            done.push({ start, end: start + ms });
          }
        }),
      );
      const last = performance.now();
      const nodeCpu = process.cpuUsage(cpu0.node);
      const cpuShare = (sec: number) => Math.round((sec / ((last - t0) / 1000)) * 100) / 100;
      const inWindow = done.filter((d) => d.end >= from && d.end < end).length;
      const secs = (end - from) / 1000;
      const r1 = (v: number) => Math.round(v * 10) / 10;
      result.saturation = {
        concurrency: CONCURRENCY,
        rampSeconds: RAMP,
        seconds: SECONDS,
        sessions: inWindow,
        sessionsPerSec: r1(inWindow / secs),
        latency: latencyStats(done.filter((d) => d.start >= from).map((d) => d.end - d.start)),
        wholeRun: {
          seconds: r1((last - t0) / 1000),
          sessions: done.length,
          sessionsPerSec: r1(done.length / ((last - t0) / 1000)),
          toolCallsPerSession: Math.round(((tool.calls() - calls0) / done.length) * 100) / 100,
          latency: latencyStats(done.map((d) => d.end - d.start)),
        },
        // Cores busy on average over the whole run: this process (load generator, SDK endpoint and
        // tool together) and the Restate server.
        coresUsed: { benchProcess: cpuShare((nodeCpu.user + nodeCpu.system) / 1e6), restateServer: cpuShare(procCpuSeconds(srv.child.pid) - cpu0.restate) },
      };
      const sat = result.saturation as { sessions: number; sessionsPerSec: number; latency: Record<string, number>; wholeRun: { sessionsPerSec: number; latency: Record<string, number> }; coresUsed: Record<string, number> };
      console.table({
        'Restate saturation': {
          concurrency: CONCURRENCY,
          'window s': SECONDS,
          sessions: sat.sessions,
          'sessions/s': sat.sessionsPerSec,
          'sessions/s incl. ramp': sat.wholeRun.sessionsPerSec,
          'cores: bench process': sat.coresUsed.benchProcess,
          'cores: restate-server': sat.coresUsed.restateServer,
        },
      });
      console.table({ 'latency after ramp (ms)': sat.latency, 'latency incl. ramp (ms)': sat.wholeRun.latency });
    }
    result.failures = failures;
    result.loadavgAtEnd = loadavg();
    mkdirSync(dirname(OUT), { recursive: true });
    writeFileSync(OUT, JSON.stringify(result, null, 2) + '\n');
    console.log(`wrote ${OUT}`);
  } catch (e) {
    if (server) process.stderr.write(`--- restate-server output (tail) ---\n${server.output().slice(-4000)}\n`);
    throw e;
  } finally {
    await agent.close();
    if (server) await server.stop();
    await endpoint.close();
    await tool.close();
  }
}

main().then(
  () => process.exit(0),
  (e: Error) => {
    console.error(e);
    process.exit(1);
  },
);
