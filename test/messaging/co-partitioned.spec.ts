/**
 * assignment 'co-partitioned' on the real broker: five members of one group subscribed to two
 * 12-partition topics (and a 3-partition one) each own the same partition numbers of both
 * topics, so a key's records on the two topics reach one member. kafkajs' round robin would
 * give five members different numbers of the two topics (12 is not a multiple of 5).
 */
import 'reflect-metadata';
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Module, type INestMicroservice } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { EventProducer, KafkaEventTransport } from '@agentplane/messaging';
import { eventually, randomGroup, randomTopic, TestAdmin, testKafka, waitForKafka } from '../support';
import { testDecode, type AnyTestEvent } from './test-events';

@Module({})
class EmptyModule {}

const kafka = testKafka('co-partitioned-spec');
const admin = new TestAdmin(kafka);
let producer: EventProducer<AnyTestEvent>;
const apps: INestMicroservice[] = [];

before(async () => {
  await waitForKafka();
  producer = new EventProducer<AnyTestEvent>(kafka);
  await producer.connect();
});

after(async () => {
  await Promise.all(apps.map((a) => a.close()));
  await producer?.disconnect();
  await admin.close();
});

test('given five members on two 12-partition topics, when the group settles, then each member owns the same partitions of both', { timeout: 120_000 }, async () => {
  const requests = randomTopic('requests');
  const events = randomTopic('events');
  const control = randomTopic('control');
  const dlq = randomTopic('dlq');
  await admin.createTopics([requests, events], 12);
  await admin.createTopics([control, dlq], 3);
  const groupId = randomGroup();
  const transports: Array<KafkaEventTransport<AnyTestEvent>> = [];
  for (let i = 0; i < 5; i++) {
    const transport = new KafkaEventTransport<AnyTestEvent>({
      kafka, groupId, topics: [requests, events, control], deadLetterTopic: dlq, decode: testDecode, producer,
      assignment: 'co-partitioned', sessionTimeout: 10_000, heartbeatInterval: 1000, rebalanceTimeout: 20_000,
    });
    const app = await NestFactory.createMicroservice(EmptyModule, { strategy: transport, logger: ['error'] });
    await app.listen();
    apps.push(app);
    transports.push(transport);
  }
  // Settled: five members, every partition of every topic owned exactly once.
  const owned = () => transports.map((t) => t.health());
  await eventually(() => {
    const hs = owned();
    if (!hs.every((h) => h.ready) || new Set(hs.map((h) => h.memberId)).size !== 5) return false;
    return [requests, events, control].every((topic) => {
      const all = hs.flatMap((h) => h.assignment[topic] ?? []).sort((a, b) => a - b);
      return JSON.stringify(all) === JSON.stringify(Array.from({ length: topic === control ? 3 : 12 }, (_, i) => i));
    });
  }, { timeoutMs: 90_000, message: `group settled: ${JSON.stringify(owned().map((h) => h.assignment))}` });
  for (const h of owned()) {
    const mine = (topic: string) => [...(h.assignment[topic] ?? [])].sort((a, b) => a - b);
    assert.deepEqual(mine(requests), mine(events), `member ${h.memberId}: ${JSON.stringify(h.assignment)}`);
    assert.ok(mine(requests).length >= 2 && mine(requests).length <= 3, 'twelve partitions over five members');
  }
});
