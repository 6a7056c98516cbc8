import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventProducer } from '@agentplane/messaging';
import { eventually, KAFKA_BROKERS, randomGroup, randomTopic, TestAdmin, testKafka, waitForKafka } from '../support';
import { makeTestEvent, type PingEvent } from './test-events';

const FIXTURE = join(__dirname, 'fixtures', 'consumer-process.js');

interface Line {
  id: string;
  partition: number;
  offset: number;
  pid: number;
}

function readLines(file: string): Line[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => {
      const [id, partition, offset, pid] = l.split(' ');
      return { id: id!, partition: Number(partition), offset: Number(offset), pid: Number(pid) };
    });
}

function startConsumer(env: Record<string, string>): { child: ChildProcess; ready: Promise<void>; exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>; stderr: () => string } {
  const child = spawn(process.execPath, ['--enable-source-maps', FIXTURE], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stderr!.on('data', (d) => (err += d));
  const ready = new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (d) => {
      out += d;
      if (out.includes('READY')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`consumer exited (${code}) before READY: ${err}`)));
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  return { child, ready, exited, stderr: () => err };
}

describe('graceful shutdown on SIGTERM (consumer in a separate process)', { timeout: 180000 }, () => {
  const kafka = testKafka('sigterm-spec');
  const admin = new TestAdmin(kafka);
  const dir = mkdtempSync(join(tmpdir(), 'agentplane-sigterm-'));
  const children: ChildProcess[] = [];

  before(async () => {
    await waitForKafka();
    await admin.connect();
  });
  after(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await admin.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('loses nothing and redelivers nothing already committed', async (t) => {
    const topic = randomTopic();
    const dlq = randomTopic('dlq');
    const group = randomGroup();
    const partitions = 3;
    await admin.createTopics([topic, dlq], partitions);
    const out = join(dir, 'handled.log');
    const env = { TOPIC: topic, GROUP: group, DLQ: dlq, OUT: out, DELAY_MS: '1', KAFKA_BROKERS };

    // Everything is in the log before the first consumer starts: it gets big batches, so the
    // SIGTERM lands in the middle of one.
    const total = 3000;
    const producer = new EventProducer<PingEvent>(kafka);
    const events = Array.from({ length: total }, (_, n) => makeTestEvent<PingEvent>('agentplane.test.pinged', { n }, `s-${n % 30}`));
    await producer.publish(topic, events);
    await producer.disconnect();

    const first = startConsumer(env);
    children.push(first.child);
    await first.ready;
    await eventually(() => readLines(out).length >= 300, { timeoutMs: 30000, message: 'first consumer under way' });
    first.child.kill('SIGTERM');
    const exit1 = await first.exited;
    assert.ok(exit1.signal === 'SIGTERM' || exit1.code === 0, `first consumer ended by SIGTERM/0, got ${JSON.stringify(exit1)}: ${first.stderr()}`);
    const handledByFirst = readLines(out);
    assert.ok(handledByFirst.length < total, `SIGTERM came mid-stream (${handledByFirst.length}/${total} handled)`);

    // What the group had committed when the first consumer was gone.
    const committed = await admin.committed(group, topic);
    const committedBeforeSigterm = handledByFirst.filter((l) => l.offset < (committed.get(l.partition) ?? -1));
    // Graceful drain: everything the first consumer handled is committed.
    assert.equal(committedBeforeSigterm.length, handledByFirst.length, 'every handled record was committed on shutdown');

    t.diagnostic(`first consumer handled ${handledByFirst.length}/${total} before SIGTERM; committed ${JSON.stringify([...committed])}`);
    const second = startConsumer(env);
    children.push(second.child);
    await second.ready;
    await eventually(() => new Set(readLines(out).map((l) => l.id)).size === total, { timeoutMs: 60000, message: 'all handled' });
    await eventually(async () => (await admin.lag(group, topic)) === 0, { timeoutMs: 15000, message: 'lag 0' });
    second.child.kill('SIGTERM');
    await second.exited;

    const lines = readLines(out);
    const byId = new Map<string, Line[]>();
    for (const l of lines) byId.set(l.id, [...(byId.get(l.id) ?? []), l]);
    // At least once: every event handled.
    for (const e of events) assert.ok(byId.has(e.id), `event ${e.data.n} handled`);
    // Nothing committed is redelivered.
    const committedIds = new Set(committedBeforeSigterm.map((l) => l.id));
    const redeliveredCommitted = [...committedIds].filter((id) => byId.get(id)!.length > 1);
    assert.deepEqual(redeliveredCommitted, [], 'no committed record handled twice');
    const duplicates = [...byId.values()].filter((ls) => ls.length > 1);
    assert.equal(duplicates.length, 0, 'graceful drain: no duplicates at all');
    assert.equal(lines.length, total);
  });
});
