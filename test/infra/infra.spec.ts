// Integration: the topics `infra up` creates on the real broker, and `infra status`.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { DEFAULT_TOPIC_PREFIX, describeTopics, topicSpecs } from '@agentplane/infra';

// Provided by scripts/test.js from .agentplane/env.json.
const BROKERS = (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',');
const PREFIX = process.env.AGENTPLANE_TOPIC_PREFIX || DEFAULT_TOPIC_PREFIX;
const CLI = path.resolve(__dirname, '..', '..', 'apps', 'cli', 'src', 'main.js');

test('the project topics exist with their partitions and retention', async () => {
  const specs = topicSpecs(PREFIX);
  const found = await describeTopics(BROKERS, { names: specs.map((s) => s.topic), configNames: ['retention.ms'] });
  const byName = new Map(found.map((t) => [t.topic, t]));
  for (const s of specs) {
    const t = byName.get(s.topic);
    assert.ok(t, `topic ${s.topic} exists`);
    assert.equal(t.partitions, s.numPartitions, `${s.topic} partitions`);
    assert.equal(t.configs['retention.ms'], s.configs['retention.ms'], `${s.topic} retention.ms`);
  }
  assert.equal(byName.get(`${PREFIX}.session-events`)?.configs['retention.ms'], '-1', 'the log is kept forever');
});

test('agentplane infra status reports up', async () => {
  const { stdout } = await promisify(execFile)(process.execPath, [CLI, 'infra', 'status', '--json'], { env: process.env });
  const s = JSON.parse(stdout);
  assert.equal(s.up, true, stdout);
  assert.equal(s.kafka.reachable, true);
  assert.equal(s.postgres.reachable, true);
  assert.ok(s.topics.every((t: { present: boolean }) => t.present));
});

test('infra up is idempotent: a second run creates no topic', async () => {
  const { stdout } = await promisify(execFile)(process.execPath, [CLI, 'infra', 'up', '--json'], { env: process.env });
  const r = JSON.parse(stdout);
  assert.deepEqual(r.createdTopics, []);
  assert.equal(r.startedKafka, false);
});

test('a taken Kafka port is named at once, with the variable that changes it', async () => {
  // A fresh home (no broker of ours runs there) and a port something else holds.
  const home = await mkdtemp(path.join(tmpdir(), 'agentplane-port-'));
  const holder = net.createServer();
  await new Promise<void>((resolve) => holder.listen({ host: '127.0.0.1', port: 0 }, resolve));
  const port = (holder.address() as net.AddressInfo).port;
  try {
    const env: NodeJS.ProcessEnv = { ...process.env, AGENTPLANE_HOME: home, KAFKA_PORT: String(port), KAFKA_CONTROLLER_PORT: String(port + 1) };
    delete env.KAFKA_BROKERS;
    const r = await promisify(execFile)(process.execPath, [CLI, 'infra', 'up'], { env }).then(
      () => assert.fail('infra up succeeded on a taken port'),
      (err: { code: number; stderr: string }) => err,
    );
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, new RegExp(`Port ${port} .*already in use.*KAFKA_PORT`));
  } finally {
    holder.close();
    await rm(home, { recursive: true, force: true });
  }
});
