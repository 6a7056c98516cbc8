import assert from 'node:assert/strict';
import { test } from 'node:test';
import { infraLayout } from './layout';
import { kafkaServerProperties } from './kafka';
import { topicName, topicSpecs } from './topics';

test('topic names take the prefix', () => {
  assert.equal(topicName('agentplane', 'session-events'), 'agentplane.session-events');
  assert.equal(topicName('t1', 'dead-letters'), 't1.dead-letters');
});

test('default topic specs: session topics 12 partitions, the log kept forever, requests 7 days', () => {
  const specs = Object.fromEntries(topicSpecs('agentplane').map((s) => [s.kind, s]));
  assert.equal(specs['session-requests'].numPartitions, 12);
  assert.equal(specs['session-events'].numPartitions, 12);
  assert.equal(specs['control-events'].numPartitions, 3);
  assert.equal(specs['dead-letters'].numPartitions, 3);
  assert.equal(specs['session-requests'].configs['retention.ms'], String(7 * 24 * 3600 * 1000));
  for (const k of ['session-events', 'control-events', 'dead-letters']) assert.equal(specs[k].configs['retention.ms'], '-1');
  assert.deepEqual(
    topicSpecs('x', { sessionPartitions: 4, auxPartitions: 1 }).map((s) => s.numPartitions),
    [4, 4, 1, 1],
  );
});

test('broker config: single-node settings the group coordinator needs', () => {
  const props = kafkaServerProperties(infraLayout('/r'), { port: 19092, controllerPort: 19093 });
  for (const line of [
    'offsets.topic.replication.factor=1',
    'transaction.state.log.replication.factor=1',
    'transaction.state.log.min.isr=1',
    'auto.create.topics.enable=false',
    'group.initial.rebalance.delay.ms=0',
    'listeners=PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093',
    'log.dirs=/r/.agentplane/kafka/data',
  ]) {
    assert.ok(props.split('\n').includes(line), line);
  }
});
