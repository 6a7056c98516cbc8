/**
 * ordering 'key' / 'none': records of different keys in one partition are handled at once (a
 * slow record does not hold the others up), the order of one key is kept, and a record whose
 * retries run out is redelivered without anything being lost. A record stuck in one partition
 * does not stop the fetch of another, and a partition whose records pile up is paused.
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
/** n → how long the handler takes; n → failures before it succeeds; n → waits until opened. */
const slow = new Map<number, number>();
const failTimes = new Map<number, number>();
const gates = new Map<number, Promise<void>>();
const openers: Array<() => void> = [];

@Controller()
class OrderingController {
  @EventPattern('agentplane.test.pinged')
  async onPing(@Payload() e: PingEvent): Promise<void> {
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    try {
      await gates.get(e.data.n);
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

async function start(
  topic: string,
  dlq: string,
  ordering: 'partition' | 'key' | 'none',
  more: { maxInFlightPerPartition?: number; maxBufferedPerPartition?: number } = {},
): Promise<{ app: INestMicroservice; transport: KafkaEventTransport<AnyTestEvent> }> {
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
    ...more,
    retry: { inPlaceAttempts: 2, initialBackoffMs: 10, maxBackoffMs: 20, redeliveryBackoffMs: 50, maxRedeliveryBackoffMs: 100 },
  });
  const app = await NestFactory.createMicroservice(OrderingModule, { strategy: transport, logger: ['error'] });
  await app.listen();
  return { app, transport };
}

/** Clears what earlier tests recorded and scripted; a new topic and dead-letter topic. */
async function freshTopics(partitions: number): Promise<{ topic: string; dlq: string }> {
  handled.length = 0;
  maxInFlight = 0;
  slow.clear();
  failTimes.clear();
  const topic = randomTopic();
  const dlq = randomTopic('dlq');
  await admin.createTopics([topic, dlq], partitions);
  return { topic, dlq };
}

/** A gate the handler of record `n` waits on; returns the function that opens it. */
function gate(n: number): () => void {
  let open!: () => void;
  gates.set(n, new Promise<void>((r) => (open = r)));
  openers.push(open);
  return open;
}

function ping(n: number): string {
  return JSON.stringify(makeTestEvent<PingEvent>('agentplane.test.pinged', { n }, `k${n}`));
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
    const { app } = await start(topic, dlq, 'key');
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
    const { topic, dlq } = await freshTopics(1);
    for (let n = 100; n < 132; n++) slow.set(n, 300);
    await producer.publish(topic, Array.from({ length: 32 }, (_, i) => makeTestEvent<PingEvent>('agentplane.test.pinged', { n: 100 + i }, 'same-key')));
    const { app } = await start(topic, dlq, 'none');
    try {
      await eventually(() => handled.length >= 32, { timeoutMs: 60_000, message: '32 handled' });
      assert.ok(maxInFlight >= 8, `one key, yet records ran at once (max ${maxInFlight})`);
      assert.ok(maxInFlight <= 16, `never more than the limit (max ${maxInFlight})`);
    } finally {
      await app.close();
    }
  });
  it("'partition': a record stuck in one partition does not stop another partition's records published after it", async () => {
    const { topic, dlq } = await freshTopics(2);
    const openStuck = gate(300);
    const { app } = await start(topic, dlq, 'partition');
    try {
      await producer.publishRaw(topic, { partition: 0, key: 'k300', value: ping(300) });
      await eventually(() => inFlight === 1, { timeoutMs: 30_000, message: 'record 300 is being handled' });
      // Published while 300 holds partition 0: kafkajs must fetch partition 1 again meanwhile.
      await producer.publishRaw(topic, Array.from({ length: 10 }, (_, i) => ({ partition: 1, key: `k${301 + i}`, value: ping(301 + i) })));
      await eventually(() => handled.filter((h) => h.n > 300).length === 10, { timeoutMs: 30_000, message: 'partition 1 handled while partition 0 is stuck' });
      assert.ok(!handled.some((h) => h.n === 300), 'record 300 is still stuck');
      openStuck();
      await eventually(() => handled.some((h) => h.n === 300), { timeoutMs: 30_000, message: 'record 300 handled once opened' });
    } finally {
      for (const open of openers.splice(0)) open(); // a failed assertion must not leave a handler waiting
      gates.clear();
      await app.close();
    }
  });

  it('a partition whose records pile up is paused, and resumed once they drain; nothing is lost or handled twice', async () => {
    const { topic, dlq } = await freshTopics(1);
    const openFirst = gate(400);
    await producer.publishRaw(topic, Array.from({ length: 60 }, (_, i) => ({ partition: 0, key: `k${400 + i}`, value: ping(400 + i) })));
    const { app, transport } = await start(topic, dlq, 'partition', { maxBufferedPerPartition: 10 });
    try {
      const paused = () => transport.unwrap().paused().some((p) => p.topic === topic && p.partitions.includes(0));
      await eventually(paused, { timeoutMs: 30_000, message: 'partition paused while record 400 holds 10 buffered records' });
      assert.equal(handled.length, 0);
      openFirst();
      await eventually(() => handled.length >= 60, { timeoutMs: 60_000, message: 'all 60 handled after the pause' });
      assert.deepEqual(handled.map((h) => h.n), Array.from({ length: 60 }, (_, i) => 400 + i), 'in order, each once');
      await eventually(() => !paused(), { timeoutMs: 30_000, message: 'partition resumed' });
    } finally {
      for (const open of openers.splice(0)) open(); // a failed assertion must not leave a handler waiting
      gates.clear();
      await app.close();
    }
  });
});
