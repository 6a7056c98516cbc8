/**
 * Scale-out on one machine: 3 planners, 3 rate limiters, 3 executors and 2 gateways as separate
 * processes over 12 partitions, sessions arriving throughout. One instance of each is killed
 * with kill -9; another of each loop service is SIGSTOPped until its group has rebalanced
 * without it (past KAFKA_SESSION_TIMEOUT_MS), then SIGCONTed. Afterwards: every session
 * completed, each tool call had exactly one effect at the counting tool server, the tool's
 * global concurrency cap held, and every consumer group is stable with lag 0.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startToolServer, type ToolServer } from '../fixtures/tool-server';
import { eventually } from '../support';
import { Loop, workflow, type Instance, type LoopService } from '../deploy/loop';

const SESSION_TIMEOUT_MS = 6000;
const SUMMARIZE_MAX_CONCURRENT = 3;
const WAVE = 16;
const LOOP_SVCS = ['planner', 'rate-limiter', 'executor'] as const;

let tools: ToolServer;
let loop: Loop;
const say = (m: string) => process.stderr.write(`scale: ${m}\n`);

before(async () => {
  // Tool latency keeps calls overlapping, so the concurrency cap is actually contended.
  tools = await startToolServer({ port: 0, latencyMs: [40, 120] });
  loop = new Loop({
    brokers: process.env.KAFKA_BROKERS ?? '127.0.0.1:9092',
    partitions: 12,
    toolsUrl: tools.url,
    toolsReplace: [['rateLimit: { rps: 100, burst: 200, maxConcurrent: 32 }', `rateLimit: { rps: 100, burst: 200, maxConcurrent: ${SUMMARIZE_MAX_CONCURRENT} }`]],
    env: { KAFKA_SESSION_TIMEOUT_MS: String(SESSION_TIMEOUT_MS), PLANNER_DEFAULT_DEADLINE_MS: '170000', LOG_LEVEL: 'error' },
  });
  await loop.prepare([...LOOP_SVCS, 'gateway']);
  // One of each first (they create their schemas), then the others join the groups.
  await Promise.all([...LOOP_SVCS, 'gateway' as const].map((s) => loop.start(s)));
  await Promise.all([...LOOP_SVCS.flatMap((s) => [loop.start(s), loop.start(s)]), loop.start('gateway')]);
  say(`${loop.instances.length} instances ready`);
});

after(async () => {
  await loop?.stop();
  await tools?.close();
});

async function submit(n: number, tag: string): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const r = await loop.post({ input: `scale ${tag} ${i}`, workflow: workflow() }, 0);
    assert.ok(r.status === 200 || r.status === 202, JSON.stringify(r.body));
    ids.push(r.body.sessionId as string);
  }
  return ids;
}

/** The group has exactly `n` members and is not rebalancing. */
async function settled(svc: LoopService, n: number, timeoutMs = 45_000): Promise<void> {
  await eventually(
    async () => {
      const g = await loop.members(svc);
      return g.state === 'Stable' && g.members === n ? g : undefined;
    },
    { timeoutMs, intervalMs: 250, message: `${svc} group stable with ${n} members` },
  );
}

test('3 instances per service: kill -9 one, SIGSTOP another past the session timeout → nothing lost, nothing twice, limits hold, groups settle', { timeout: 240_000 }, async () => {
  const t0 = Date.now();
  const ids = await submit(WAVE, 'a');

  // kill -9 one instance of each service (the first gateway too: HTTP clients use the other).
  const killed: Instance[] = [...LOOP_SVCS.map((s) => loop.of(s)[0]!), loop.of('gateway')[0]!];
  for (const k of killed) k.proc.child.kill('SIGKILL');
  await Promise.all(killed.map((k) => k.proc.exited));
  say(`killed ${killed.map((k) => k.name).join(', ')} at ${Date.now() - t0} ms`);
  ids.push(...(await submit(WAVE, 'b')));

  // SIGSTOP a second instance of each loop service: frozen, it stops heart-beating.
  const stopped: Instance[] = LOOP_SVCS.map((s) => loop.of(s)[1]!);
  for (const s of stopped) s.proc.child.kill('SIGSTOP');
  say(`stopped ${stopped.map((s) => s.name).join(', ')} at ${Date.now() - t0} ms`);
  ids.push(...(await submit(WAVE, 'c')));
  // Past the session timeout the coordinator drops them: each group carries on with one member.
  await Promise.all(LOOP_SVCS.map((s) => settled(s, 1)));
  say(`groups rebalanced to 1 member at ${Date.now() - t0} ms`);
  ids.push(...(await submit(WAVE, 'd')));

  // Resumed, the frozen instances find themselves fenced and rejoin.
  for (const s of stopped) s.proc.child.kill('SIGCONT');
  await Promise.all(LOOP_SVCS.map((s) => settled(s, 2, 60_000)));
  say(`stopped instances rejoined at ${Date.now() - t0} ms`);
  ids.push(...(await submit(WAVE, 'e')));

  // No session lost.
  const views = await eventually(
    async () => {
      const vs = await Promise.all(ids.map((id) => loop.get(id)));
      const done = vs.filter((v) => v && v.status !== 'requested' && v.status !== 'running');
      return done.length === ids.length ? vs : undefined;
    },
    { timeoutMs: 90_000, intervalMs: 500, message: `all ${ids.length} sessions ended\n${loop.logs()}` },
  );
  const notCompleted = views.filter((v) => v.status !== 'completed');
  assert.equal(notCompleted.length, 0, JSON.stringify(notCompleted.slice(0, 3)));
  say(`${ids.length} sessions completed at ${Date.now() - t0} ms`);

  // No duplicate effect: 3 calls per session, each key executed once at the tool server.
  const st = tools.stats();
  const keys = Object.entries(st.byKey);
  const twice = keys.filter(([, c]) => c.executions !== 1);
  assert.equal(twice.length, 0, `keys not executed exactly once: ${JSON.stringify(twice.slice(0, 5))}`);
  assert.equal(st.executions, ids.length * 3, JSON.stringify({ executions: st.executions, requests: st.requests, replays: st.replays }));
  assert.equal(st.withoutKey, 0);

  // The global cap held across the instances (and through the faults).
  const sum = st.byPath['/tools/summarize']!;
  assert.ok(sum.maxInFlight <= SUMMARIZE_MAX_CONCURRENT, `summarize max in flight ${sum.maxInFlight} > ${SUMMARIZE_MAX_CONCURRENT}`);

  // Consumer groups settle: stable, two members each, nothing left to read.
  const kinds = { planner: ['session-requests', 'session-events'], 'rate-limiter': ['session-events', 'control-events'], executor: ['session-events'], gateway: ['session-events'] } as const;
  // Commits are periodic and a record that failed may be in a redelivery backoff: allow time.
  let lags: Record<string, number> = {};
  await eventually(
    async () => {
      lags = {};
      for (const s of [...LOOP_SVCS, 'gateway'] as const) lags[s] = await loop.lag(s, kinds[s]);
      return Object.values(lags).every((n) => n === 0) ? true : undefined;
    },
    { timeoutMs: 90_000, intervalMs: 500, message: 'lag 0 in every group' },
  ).catch((err: Error) => assert.fail(`${err.message}: ${JSON.stringify(lags)}\n${loop.logs()}`));
  for (const s of LOOP_SVCS) assert.deepEqual(await loop.members(s), { state: 'Stable', members: 2 });
  say(`requests ${st.requests}, executions ${st.executions}, replays ${st.replays}, summarize maxInFlight ${sum.maxInFlight}; total ${Date.now() - t0} ms`);
});
