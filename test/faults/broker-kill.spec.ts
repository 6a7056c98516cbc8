/**
 * kill -9 of the broker in the middle of 100 sessions, then a restart on the same data dir.
 * The test runs its OWN broker (temp AGENTPLANE_HOME, random ports; the shared one is never
 * touched) and the loop's services as processes pointed at it. Every session must complete,
 * none may be lost, and the counting tool server must see at most one effect per idempotency key.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { infraLayout, kafkaPid, startKafka, stopKafka, type InfraLayout, type KafkaOptions } from '@agentplane/infra';
import { Loop, LOOP, workflow } from '../deploy/loop';
import { startToolServer, type ToolServer } from '../fixtures/tool-server';
import { Client } from 'pg';
import { DATABASE_URL, freePort } from '../platform/helpers';
import { eventually, readTopic } from '../support';

const REPO = resolve(__dirname, '../../..');
const home = mkdtempSync(join(tmpdir(), 'agentplane-brokerkill-'));
// Own data dir, logs and pid file; the jars are the repository's (fetched once by infra up / CI).
const layout: InfraLayout = { ...infraLayout(REPO, home), kafkaLibs: infraLayout(REPO).kafkaLibs };
const SESSIONS = 100;
let kafkaOpts: KafkaOptions;
let tools: ToolServer;
let loop: Loop | undefined;

before(async () => {
  kafkaOpts = { port: await freePort(), controllerPort: await freePort(), heapOpts: ['-Xms128m', '-Xmx512m'], readyTimeoutMs: 60_000 };
  await startKafka(layout, kafkaOpts);
  // Some latency per call, so sessions are still in flight when the broker dies.
  tools = await startToolServer({ port: 0, latencyMs: [20, 60] });
  loop = new Loop({ brokers: `127.0.0.1:${kafkaOpts.port}`, toolsUrl: tools.url, partitions: 4, env: { PLANNER_DEFAULT_DEADLINE_MS: '120000' } });
  await loop.prepare(LOOP);
  await Promise.all(LOOP.map((svc) => loop!.start(svc)));
});

after(async () => {
  await loop?.stop();
  await tools?.close();
  await stopKafka(layout, 5_000).catch(() => undefined);
  rmSync(home, { recursive: true, force: true });
});

test('broker kill -9 and restart in the middle of 100 sessions: all complete, none lost, no duplicate effect', { timeout: 300_000 }, async (t) => {
  const l = loop!;
  const t0 = Date.now();
  const posted = await Promise.all(Array.from({ length: SESSIONS }, () => l.post({ input: 'broker kill', workflow: workflow() }, 0)));
  for (const p of posted) assert.ok(p.status === 202 || p.status === 200, JSON.stringify(p.body));
  const ids = posted.map((p) => p.body.sessionId as string);
  assert.equal(new Set(ids).size, SESSIONS);

  // Mid-way: some effects happened, most sessions are still running.
  await eventually(() => tools.stats().executions >= 40, { timeoutMs: 30_000, intervalMs: 20, message: `first effects\n${l.logs()}` });
  const atKill = tools.stats().executions;
  const pid = kafkaPid(layout)!;
  process.kill(pid, 'SIGKILL');
  await eventually(() => kafkaPid(layout) === undefined, { timeoutMs: 10_000, intervalMs: 20, message: 'broker gone' });
  const killedAt = Date.now() - t0;
  await startKafka(layout, kafkaOpts);
  const backAt = Date.now() - t0;
  assert.ok(atKill < 3 * SESSIONS, `the kill came too late to matter (${atKill} effects already)`);

  const ended = new Map<string, any>();
  await eventually(
    async () => {
      for (const id of ids) {
        if (ended.has(id)) continue;
        const v = await l.get(id).catch(() => undefined);
        if (v && v.status !== 'requested' && v.status !== 'running') ended.set(id, v);
      }
      return ended.size === SESSIONS;
    },
    { timeoutMs: 60_000, intervalMs: 250, message: 'every session ended' },
  ).catch(async (err: Error) => {
    // Where the unfinished sessions stopped, and what was dead-lettered: the log tails rarely say.
    const stuck = new Set(ids.filter((id) => !ended.has(id)));
    // kcat reads the whole topic and exits at its end (readTopic would stop at the first batch).
    const trail = new Map<string, string[]>();
    try {
      const lines = execFileSync('kcat', ['-C', '-b', `127.0.0.1:${kafkaOpts.port}`, '-t', l.topic('session-events'), '-o', 'beginning', '-e', '-q'], { maxBuffer: 1 << 28 }).toString().split('\n');
      for (const line of lines) {
        if (!line.trim()) continue;
        const e = JSON.parse(line) as { subject?: string; type: string; data: { callId?: string } };
        if (e.subject && stuck.has(e.subject)) (trail.get(e.subject) ?? trail.set(e.subject, []).get(e.subject)!).push(`${e.type.replace('agentplane.', '')}${e.data.callId ? `(${e.data.callId})` : ''}`);
      }
    } catch (e) {
      trail.set('(kcat)', [String(e)]);
    }
    const dead = await readTopic(l.kafka, l.topic('dead-letters'), (rs) => rs.map((r) => r.value!.toString().slice(0, 400)), 5_000).catch(() => []);
    const where = [...stuck].map((id) => `${id}: ${(trail.get(id) ?? []).join(' > ')}`).join('\n');
    // Where each stuck session's last record sits, and what each group committed there.
    const diag: string[] = [];
    try {
      const lines = execFileSync('kcat', ['-C', '-b', `127.0.0.1:${kafkaOpts.port}`, '-t', l.topic('session-events'), '-o', 'beginning', '-e', '-q', '-f', '%p %o %T %s\n'], { maxBuffer: 1 << 28 }).toString().split('\n');
      for (const line of lines) {
        const m = /^(\d+) (\d+) (\d+) (.*)$/.exec(line);
        if (!m) continue;
        const e = JSON.parse(m[4]!) as { subject?: string; type: string; id: string };
        if (e.subject && stuck.has(e.subject)) diag.push(`p${m[1]}@${m[2]} ts=${m[3]} ${e.type} ${e.id}`);
      }
      const admin = await l.admin();
      for (const svc of LOOP) {
        const offs = await admin.fetchOffsets({ groupId: `agentplane-${svc}-${l.run}`, topics: [l.topic('session-events')] });
        diag.push(`${svc} committed: ${offs[0]!.partitions.map((p) => `p${p.partition}=${p.offset}`).join(' ')}`);
      }
      const pg = new Client({ connectionString: DATABASE_URL });
      await pg.connect();
      try {
        const rl = `t_dep_rate_limiter_${l.run}`;
        const calls = await pg.query(`SELECT session_id, call_id, status, queued_ms, done_ms FROM "${rl}".calls WHERE session_id = ANY($1)`, [[...stuck]]);
        diag.push(`rate-limiter calls: ${JSON.stringify(calls.rows)}`);
        const ex = `t_dep_executor_${l.run}`;
        const keys = await pg.query(`SELECT * FROM "${ex}".tool_calls WHERE session_id = ANY($1)`, [[...stuck]]).catch((e: Error) => ({ rows: [String(e)] }));
        diag.push(`executor idempotency: ${JSON.stringify(keys.rows).slice(0, 2000)}`);
      } finally {
        await pg.end();
      }
      const ends = await admin.fetchTopicOffsets(l.topic('session-events'));
      diag.push(`ends: ${ends.map((p) => `p${p.partition}=${p.high}`).join(' ')}`);
    } catch (e) {
      diag.push(`(diag) ${String(e)}`);
    }
    const logFile = join(tmpdir(), `agentplane-brokerkill-${l.run}.log`);
    writeFileSync(logFile, l.instances.map((i) => `--- ${i.name}\n${i.proc.output()}`).join('\n'));
    throw new Error(`${err.message} (${ended.size}/${SESSIONS}; ${tools.stats().executions} effects)\nstuck:\n${where}\n${diag.join('\n')}\nfull logs: ${logFile}\ndead letters: ${dead.length}\n${dead.join('\n')}\n${l.logs()}`);
  });
  t.diagnostic(`killed at ${killedAt} ms (${atKill} effects), broker back at ${backAt} ms, all ended at ${Date.now() - t0} ms`);
  const notCompleted = [...ended.values()].filter((v) => v.status !== 'completed');
  assert.deepEqual(notCompleted.map((v) => `${v.sessionId}: ${v.status} ${v.reason ?? ''}`), []);

  // One effect per call: 3 calls per session, none executed twice (a redelivery replays the stored result).
  const st = tools.stats();
  const twice = Object.entries(st.byKey).filter(([, k]) => k.executions > 1);
  assert.deepEqual(twice, [], 'no idempotency key executed twice');
  assert.equal(st.executions, 3 * SESSIONS, JSON.stringify({ executions: st.executions, atKill }));
});
