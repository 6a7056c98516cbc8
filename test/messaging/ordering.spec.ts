/**
 * ordering 'key' / 'none': records of different keys in one partition are handled at once (a
 * slow record does not hold the others up), the order of one key is kept, and a record whose
 * retries run out is redelivered without anything being lost.
 */
import 'reflect-metadata';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Controller, Module, type INestMicroservice } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { EventPattern, Payload } from '@nestjs/microservices';
import { EventProducer, KafkaEventTransport, TransientError } from '@agentplane/messaging';
import { eventually, randomGroup, randomTopic, TestAdmin, testKafka, waitForKafka } from '../support';
import { makeTestEvent, testDecode, type AnyTestEvent, type PingEvent } from './test-events';

const handled: Array<{ key: string; n: number; at: number }> = [];
let inFlight = 0;
let maxInFlight = 0;
/** n → how long the handler takes; n → failures before it succeeds. */
const slow = new Map<number, number>();
const failTimes = new Map<number, number>();

@Controller()
class OrderingController {
  @EventPattern('agentplane.test.pinged')
  async onPing(@Payload() e: PingEvent): Promise<void> {
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    try {
      const ms = slow.get(e.data.n) ?? 5;
      await new Promise((r) => setTimeout(r, ms)); // simulated work, not synchronisation
      const left = failTimes.get(e.data.n) ?? 0;
      if (left > 0) {
        failTimes.set(e.data.n, left - 1);
        throw new TransientError(`scripted failure of ${e.data.n}`);
      }
      handled.push({ key: e.subject!, n: e.data.n, at: Date.now() });
    } finally {
      inFlight--;
    }
  }
}

@Module({ controllers: [OrderingController] })
class OrderingModule {}

const kafka = testKafka('ordering-spec');
const admin = new TestAdmin(kafka);
let producer: EventProducer<AnyTestEvent>;

async function start(topic: string, dlq: string, ordering: 'key' | 'none'): Promise<INestMicroservice> {
  const transport = new KafkaEventTransport<AnyTestEvent>({
    kafka,
    groupId: randomGroup(),
    topics: [topic],
    deadLetterTopic: dlq,
    decode: testDecode,
    producer,
    fromBeginning: true,
    ordering,
    maxInFlightPerPartition: 16,
    retry: { inPlaceAttempts: 2, initialBackoffMs: 10, maxBackoffMs: 20, redeliveryBackoffMs: 50, maxRedeliveryBackoffMs: 100 },
  });
  const app = await NestFactory.createMicroservice(OrderingModule, { strategy: transport, logger: ['error'] });
  await app.listen();
  return app;
}

describe('transport ordering modes (real broker)', { timeout: 120_000 }, () => {
  before(async () => {
    await waitForKafka();
    producer = new EventProducer<AnyTestEvent>(kafka);
    await producer.connect();
  });
  after(async () => {
    await producer?.disconnect();
    await admin.close();
  });

  it("'key': one key stays in order, other keys overtake a slow record, a failing record is redelivered", async () => {
    handled.length = 0;
    maxInFlight = 0;
    const topic = randomTopic();
    const dlq = randomTopic('dlq');
    await admin.createTopics([topic, dlq], 1);
    const keys = ['a', 'b', 'c', 'd'];
    // Key a's first record is slow; key b's third fails three times (more than its in-place attempts).
    slow.set(0, 1500);
    failTimes.set(9, 3);
    const events: PingEvent[] = [];
    for (let n = 0; n < 40; n++) events.push(makeTestEvent<PingEvent>('agentplane.test.pinged', { n }, keys[n % 4]));
    await producer.publish(topic, events);
    const app = await start(topic, dlq, 'key');
    try {
      await eventually(() => new Set(handled.map((h) => h.n)).size === 40, { timeoutMs: 60_000, message: 'all 40 handled' });
      for (const k of keys) {
        const ns = handled.filter((h) => h.key === k).map((h) => h.n);
        const firsts = ns.filter((n, i) => ns.indexOf(n) === i);
        assert.deepEqual(firsts, [...firsts].sort((x, y) => x - y), `key ${k} in order: ${ns.join(',')}`);
      }
      const slowDone = handled.find((h) => h.n === 0)!.at;
      assert.ok(handled.some((h) => h.key !== 'a' && h.at < slowDone), 'other keys did not wait for the slow record');
      assert.ok(maxInFlight > 1, `records ran at once (max ${maxInFlight})`);
    } finally {
      await app.close();
    }
  });

  it("'none': independent records all run at once up to the limit", async () => {
    handled.length = 0;
    maxInFlight = 0;
    slow.clear();
    failTimes.clear();
    const topic = randomTopic();
    const dlq = randomTopic('dlq');
    await admin.createTopics([topic, dlq], 1);
    for (let n = 100; n < 132; n++) slow.set(n, 300);
    await producer.publish(topic, Array.from({ length: 32 }, (_, i) => makeTestEvent<PingEvent>('agentplane.test.pinged', { n: 100 + i }, 'same-key')));
    const app = await start(topic, dlq, 'none');
    try {
      await eventually(() => handled.length >= 32, { timeoutMs: 60_000, message: '32 handled' });
      assert.ok(maxInFlight >= 8, `one key, yet records ran at once (max ${maxInFlight})`);
      assert.ok(maxInFlight <= 16, `never more than the limit (max ${maxInFlight})`);
    } finally {
      await app.close();
    }
  });
});
