/**
 * The audit service as its own OS process on the real broker and database, driven like an
 * auditor would: events on Kafka → store; the CLI replays and verifies; the HTTP API answers.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeEvent, SAMPLE_DATA, type AgentplaneEvent } from '@agentplane/contracts';
import { EventProducer } from '@agentplane/messaging';
import { topicName } from '@agentplane/infra';
import { fold } from '@agentplane/session';
import { canonicalJson, generateSigningKey, leafHash, readKeyFile, signCheckpoint, synthesizeSession, verifyCheckpointSignature, verifyInclusion, type SignedCheckpoint } from '@agentplane/audit';
import { eventually, KAFKA_BROKERS, TestAdmin, testKafka, waitForKafka } from '../support';
import { freePort, startService, suffix, type ServiceProcess } from '../platform/helpers';
import { cli, createTopics, DATABASE_URL, dropSchema, keyFiles, schemaName, superuser } from './support';

const run = suffix();
const prefix = `t-audit-${run}`;
const schema = schemaName('svc');
const keys = keyFiles();
const admin = new TestAdmin();
let producer: EventProducer;
let proc: ServiceProcess;
let base: string;

const SESSION = `sess-1k-${run}`;
const session = synthesizeSession({ sessionId: SESSION, events: 1000 });
const conn = ['--schema', schema, '--database-url', DATABASE_URL, '--brokers', KAFKA_BROKERS, '--topic-prefix', prefix];

async function count(): Promise<number> {
  const su = await superuser(schema);
  try {
    return Number((await su.query<{ n: string }>(`SELECT count(*)::text AS n FROM events`)).rows[0].n);
  } catch {
    return -1; // schema not migrated yet
  } finally {
    await su.end();
  }
}

async function api<T>(path: string, init?: RequestInit): Promise<T> {
  const res = await fetch(`${base}${path}`, init);
  assert.equal(res.status < 300, true, `${path}: ${res.status} ${await res.clone().text()}`);
  return (await res.json()) as T;
}

before(async () => {
  await waitForKafka();
  await createTopics(admin, prefix);
  producer = new EventProducer(testKafka('audit-test-producer'));
  await producer.connect();
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  proc = startService('audit', {
    PORT: String(port),
    HOST: '127.0.0.1',
    DB_SCHEMA: schema,
    DATABASE_URL,
    KAFKA_BROKERS,
    AGENTPLANE_TOPIC_PREFIX: prefix,
    KAFKA_GROUP_ID: `agentplane-test-audit-${run}`,
    AUDIT_SIGNING_KEY_FILE: keys.privateKeyFile,
    AUDIT_SIGNING_KEY_CREATE: 'false',
    AUDIT_CHECKPOINT_INTERVAL_MS: '200',
    LOG_LEVEL: 'warn',
  });
  await eventually(
    async () => {
      if (proc.child.exitCode !== null) throw new Error(`audit exited ${proc.child.exitCode}:\n${proc.output().slice(-3000)}`);
      return (await fetch(`${base}/health/ready`)).status === 200;
    },
    { timeoutMs: 90_000, intervalMs: 200, message: 'audit ready' },
  );
});

after(async () => {
  if (proc && proc.child.exitCode === null) proc.child.kill('SIGTERM');
  await proc?.exited;
  await producer?.disconnect().catch(() => undefined);
  await admin.close();
  await dropSchema(schema);
});

describe('audit service: store, replay, verify (real broker and DB)', () => {
  const control = makeEvent('agentplane.budget.guardrail.tripped', { ...SAMPLE_DATA['agentplane.budget.guardrail.tripped'], tenantId: `tenant-${run}` }, { source: 'cost-accounting' });

  it('given a 1,000-event session, a control event and an undecodable message on Kafka, when the service consumed them, then all are stored, the garbage as a dead letter', async () => {
    await producer.publish(topicName(prefix, 'session-events'), session.events as AgentplaneEvent[], { key: SESSION });
    await producer.publish(topicName(prefix, 'control-events'), control);
    await producer.publishRaw(topicName(prefix, 'session-events'), { key: 'garbage', value: Buffer.from('{"not":"an event"') });
    // 1,000 + 1 control + the dead letter of the garbage (written by audit itself, then consumed).
    await eventually(async () => (await count()) === 1002, { timeoutMs: 60_000, intervalMs: 200, message: 'store holds every event' });
    // Redelivery does not duplicate: publish the first 10 again.
    await producer.publish(topicName(prefix, 'session-events'), session.events.slice(0, 10) as AgentplaneEvent[], { key: SESSION });
    await producer.publish(topicName(prefix, 'control-events'), control);
    await eventually(async () => {
      const tenant = await api<{ count: number }>(`/v1/audit/streams/${encodeURIComponent(`tenant/tenant-${run}`)}/events`);
      return tenant.count === 1;
    });
    assert.equal(await count(), 1002);
  });

  it('given the stored session, when replayed from Postgres and from Kafka, then both reproduce the outcome and the cost', async () => {
    const folded = fold(session.events);
    assert.equal(folded.status, 'completed');
    const completed = session.events.at(-1)!;
    assert.equal(completed.type, 'agentplane.session.completed');
    const pg = await cli(['audit', 'replay', SESSION, '--json', ...conn]);
    assert.equal(pg.code, 0, pg.stderr);
    const r = JSON.parse(pg.stdout) as { total: number; state: { status: string; costUsd: string; steps: number; toolCalls: number }; timeline: unknown[] };
    assert.equal(r.total, 1000);
    assert.equal(r.timeline.length, 1000);
    assert.deepEqual(r.state, folded);
    assert.equal(r.state.costUsd, (completed.data as { costUsd: string }).costUsd);
    const kafka = await cli(['audit', 'replay', SESSION, '--json', '--from', 'kafka', ...conn]);
    assert.equal(kafka.code, 0, kafka.stderr);
    assert.deepEqual((JSON.parse(kafka.stdout) as { state: unknown }).state, folded);
    const table = await cli(['audit', 'replay', SESSION, ...conn]);
    assert.match(table.stdout, /state after 1000 of 1000 events: completed, cost \$0\.156936/);
  });

  it('given --at N (CLI) and ?at=N (HTTP), then the state is the decider fold of the first N events', async () => {
    const at = await cli(['audit', 'replay', SESSION, '--json', '--at', '437', ...conn]);
    assert.equal(at.code, 0, at.stderr);
    assert.deepEqual((JSON.parse(at.stdout) as { state: unknown }).state, fold(session.events.slice(0, 437)));
    const viaApi = await api<{ at: number; state: unknown }>(`/v1/audit/sessions/${SESSION}/state?at=437`);
    assert.equal(viaApi.at, 437);
    assert.deepEqual(viaApi.state, fold(session.events.slice(0, 437)));
    const chain = await api<{ ok: boolean; count: number }>(`/v1/audit/sessions/${SESSION}/verify`);
    assert.deepEqual([chain.ok, chain.count], [true, 1000]);
  });

  it('given a checkpoint signed by the service, then the public key, inclusion and consistency proofs check out', async () => {
    const pub = await api<{ keyId: string; publicKeyPem: string }>('/v1/audit/public-key');
    assert.equal(pub.publicKeyPem, readFileSync(keys.publicKeyFile, 'utf8'));
    const cp = await eventually(async () => {
      const res = await fetch(`${base}/v1/audit/checkpoint`);
      const c = res.status === 200 ? ((await res.json()) as SignedCheckpoint) : null;
      return c && c.checkpoint.treeSize === 1002 ? c : null;
    }, { timeoutMs: 15_000, message: 'checkpoint of the whole log' });
    assert.deepEqual(verifyCheckpointSignature(cp, [readKeyFile(keys.publicKeyFile)]), { ok: true });
    const ev = session.events[500];
    const inc = await api<{ leafIndex: number; treeSize: number; leafHash: string; rootHash: string; proof: string[] }>(`/v1/audit/proofs/inclusion?eventId=${ev.id}&treeSize=1002`);
    assert.equal(inc.rootHash, cp.checkpoint.rootHash);
    const buf = (h: string) => Buffer.from(h, 'hex');
    // The auditor hashes the event they hold themselves: RFC 6962 leaf over its RFC 8785 form.
    const mine = leafHash(canonicalJson(ev));
    assert.equal(inc.leafHash, mine.toString('hex'));
    assert.ok(verifyInclusion(inc.leafIndex, inc.treeSize, mine, inc.proof.map(buf), buf(cp.checkpoint.rootHash)));
    const con = await api<{ verified: boolean; toRoot: string }>(`/v1/audit/proofs/consistency?from=500&to=1002`);
    assert.equal(con.verified, true);
    assert.equal(con.toRoot, cp.checkpoint.rootHash);
  });

  it('given the intact store, when verified with the CLI (Kafka included), then it passes with exit code 0', async () => {
    const v = await cli(['audit', 'verify', '--public-key', keys.publicKeyFile, ...conn]);
    assert.equal(v.code, 0, `${v.stdout}\n${v.stderr}`);
    assert.match(v.stdout, /^OK: 1002 events in 3 stream\(s\)/m);
  });

  it('given a checkpoint held by the auditor, when an older backup is restored, then verify --checkpoint detects it; a checkpoint signed by another key is rejected', async () => {
    const su = await superuser(schema);
    try {
      // The backup: the log as it was before the last 100 events of another session.
      await su.query(`CREATE TABLE backup_events AS SELECT * FROM events`);
      await su.query(`CREATE TABLE backup_checkpoints AS SELECT * FROM checkpoints`);
      const later = synthesizeSession({ sessionId: `sess-later-${run}`, events: 100 });
      await producer.publish(topicName(prefix, 'session-events'), later.events as AgentplaneEvent[], { key: later.events[0].subject });
      await eventually(async () => (await count()) === 1102, { timeoutMs: 30_000, message: 'later events stored' });
      const heldFile = join(keys.dir, 'held.json');
      await eventually(async () => {
        const r = await cli(['audit', 'checkpoint', '--out', heldFile, '--public-key', keys.publicKeyFile, ...conn]);
        return r.code === 0 && (JSON.parse(readFileSync(heldFile, 'utf8')) as SignedCheckpoint).checkpoint.treeSize === 1102;
      }, { timeoutMs: 20_000, intervalMs: 300, message: 'auditor saves a checkpoint of 1102 events' });
      const ok = await cli(['audit', 'verify', '--checkpoint', heldFile, '--public-key', keys.publicKeyFile, '--no-kafka', ...conn]);
      assert.equal(ok.code, 0, ok.stdout + ok.stderr);

      // A checkpoint signed with another key: rejected.
      const held = JSON.parse(readFileSync(heldFile, 'utf8')) as SignedCheckpoint;
      const foreignFile = join(keys.dir, 'foreign.json');
      writeFileSync(foreignFile, JSON.stringify(signCheckpoint(generateSigningKey(), held.checkpoint)));
      const foreign = await cli(['audit', 'verify', '--checkpoint', foreignFile, '--public-key', keys.publicKeyFile, '--no-kafka', ...conn]);
      assert.equal(foreign.code, 1);
      assert.match(foreign.stdout, /held checkpoint .* rejected: signed by key [0-9a-f]{16}, which is not a trusted key/);

      // Restore the older backup, as a superuser with the triggers off.
      await su.query('BEGIN');
      await su.query('SET LOCAL session_replication_role = replica');
      await su.query('DELETE FROM events');
      await su.query('DELETE FROM checkpoints');
      await su.query(`INSERT INTO events (global_seq, event_id, stream_id, position, type, time, canon, prev_hash, hash, recorded_at)
                      SELECT global_seq, event_id, stream_id, position, type, time, canon, prev_hash, hash, recorded_at FROM backup_events`);
      await su.query(`INSERT INTO checkpoints SELECT * FROM backup_checkpoints`);
      await su.query('COMMIT');
      const restored = await cli(['audit', 'verify', '--checkpoint', heldFile, '--public-key', keys.publicKeyFile, ...conn]);
      assert.equal(restored.code, 1, restored.stdout);
      assert.match(restored.stdout, /held checkpoint .* attests 1102 events but the store holds 1002: events were removed or an older backup was restored/);
      assert.match(restored.stdout, /is on Kafka but not in the store/);
    } finally {
      await su.end();
    }
  });
});
