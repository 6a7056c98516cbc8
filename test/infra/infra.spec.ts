// Integration: the topics `infra up` creates on the real broker, and `infra status`.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
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
