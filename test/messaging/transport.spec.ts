import 'reflect-metadata';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Controller, Module, type INestMicroservice } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Ctx, EventPattern, MessagePattern, Payload } from '@nestjs/microservices';
import {
  DEAD_LETTERED_TYPE,
  EventProducer,
  HandlerError,
  KafkaEventContext,
  KafkaEventTransport,
  PreserveErrorsFilter,
  TransientError,
  type DeadLetterEvent,
  type KafkaEventTransportOptions,
  type MessageOutcome,
} from '@agentplane/messaging';
import { eventually, KAFKA_BROKERS, randomGroup, randomTopic, readTopic, TestAdmin, testKafka, waitForKafka } from '../support';
import { makeTestEvent, testDecode, type AnyTestEvent, type PingEvent, type SessionRequested } from './test-events';

const run = promisify(execFile);

/** What the controllers saw; a plain module-level sink keeps the test app tiny. */
const seen: Array<{ event: AnyTestEvent; topic: string; partition: number; offset: string; key: string | null }> = [];
/** Per-event-id scripted failures: each call shifts one error off the list. */
const failures = new Map<string, unknown[]>();

@Controller()
class TestController {
  @EventPattern('agentplane.test.pinged')
  onPing(@Payload() event: PingEvent, @Ctx() ctx: KafkaEventContext): void {
    const f = failures.get(event.id);
    if (f && f.length > 0) throw f.shift();
    seen.push({ event, topic: ctx.getTopic(), partition: ctx.getPartition(), offset: ctx.getOffset(), key: ctx.getKey()?.toString() ?? null });
  }

  @EventPattern('agentplane.session.requested')
  async onSession(@Payload() event: SessionRequested, @Ctx() ctx: KafkaEventContext): Promise<void> {
    await Promise.resolve();
    seen.push({ event, topic: ctx.getTopic(), partition: ctx.getPartition(), offset: ctx.getOffset(), key: ctx.getKey()?.toString() ?? null });
  }
}

@Module({ controllers: [TestController] })
class TestModule {}

@Controller()
class RpcController {
  @MessagePattern('agentplane.rpc')
  answer(): string {
    return 'no';
  }
}

@Module({ controllers: [RpcController] })
class RpcModule {}

const kafka = testKafka('messaging-spec');
const admin = new TestAdmin(kafka);
let producer: EventProducer<AnyTestEvent>;

async function startApp(
  opts: Partial<KafkaEventTransportOptions<AnyTestEvent>> & { topics: string[]; deadLetterTopic: string },
  mod: unknown = TestModule,
  preserveErrors = false,
): Promise<{ app: INestMicroservice; transport: KafkaEventTransport<AnyTestEvent>; groupId: string; outcomes: MessageOutcome[] }> {
  const outcomes: MessageOutcome[] = [];
  const groupId = opts.groupId ?? randomGroup();
  const transport = new KafkaEventTransport<AnyTestEvent>({
    kafka,
    groupId,
    decode: testDecode,
    producer,
    fromBeginning: true,
    onMessage: (_ms, _topic, outcome) => outcomes.push(outcome),
    ...opts,
  });
  const app = await NestFactory.createMicroservice(mod as any, { strategy: transport, logger: ['error'] });
  if (preserveErrors) app.useGlobalFilters(new PreserveErrorsFilter());
  await app.listen();
  return { app, transport, groupId, outcomes };
}

async function deadLetters(topic: string, count: number): Promise<DeadLetterEvent[]> {
  const recs = await readTopic(kafka, topic, (r) => (r.length >= count ? r : null));
  return recs.map((r) => JSON.parse(r.value!.toString()) as DeadLetterEvent);
}

describe('KafkaEventTransport (real broker)', { timeout: 120000 }, () => {
  before(async () => {
    await waitForKafka();
    await admin.connect();
    producer = new EventProducer<AnyTestEvent>(kafka);
    await producer.connect();
  });
  after(async () => {
    await producer?.disconnect();
    await admin.close();
  });

  it('delivers an event published by EventProducer to an @EventPattern controller as the typed event', async () => {
    const topic = randomTopic();
    const dlq = randomTopic('dlq');
    await admin.createTopics([topic, dlq], 3);
    const { app, transport, groupId } = await startApp({ topics: [topic], deadLetterTopic: dlq });
    try {
      assert.equal(transport.health().ready, true);
      assert.equal(transport.isAlive(), true);
      const ev = makeTestEvent<PingEvent>('agentplane.test.pinged', { n: 42, note: 'hi' }, 'session-1');
      await producer.publish(topic, ev);
      const got = await eventually(() => seen.find((s) => s.event.id === ev.id));
      assert.deepEqual(got.event, ev);
      assert.equal(got.event.data.n, 42);
      assert.equal(got.key, 'session-1', 'key defaults to subject');
      await eventually(async () => (await admin.lag(groupId, topic)) === 0, { message: 'lag 0' });
    } finally {
      await app.close();
    }
    assert.equal(transport.health().state, 'stopped');
    assert.equal(transport.isAlive(), false);
  });

  it('accepts a message produced by kcat (non-JS client) in the documented wire format', async () => {
    const topic = randomTopic();
    const dlq = randomTopic('dlq');
    await admin.createTopics([topic, dlq], 3);
    const { app, groupId } = await startApp({ topics: [topic], deadLetterTopic: dlq });
    try {
      const ev = makeTestEvent<SessionRequested>('agentplane.session.requested', { tenantId: 'acme', input: 'hello from kcat' }, 'sess-kcat');
      // Structured-mode CloudEvent as JSON, key = session id, headers as the docs describe.
      const child = execFile('kcat', [
        '-P', '-b', KAFKA_BROKERS, '-t', topic, '-k', ev.subject,
        // librdkafka's default partitioner is crc32-based; murmur2 matches Java and agentplane.
        '-X', 'partitioner=murmur2_random',
        '-H', 'content-type=application/cloudevents+json; charset=utf-8',
        '-H', `ce_type=${ev.type}`, '-H', `ce_id=${ev.id}`,
      ]);
      const done = new Promise<void>((resolve, reject) => {
        child.on('error', reject);
        child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`kcat exited ${code}`))));
      });
      child.stdin!.end(JSON.stringify(ev) + '\n');
      await done;
      const got = await eventually(() => seen.find((s) => s.event.id === ev.id), { message: 'kcat event handled' });
      assert.deepEqual(got.event, ev);
      assert.equal(got.key, 'sess-kcat');
      // Same key through EventProducer → same partition, so one session's events stay ordered.
      const twin = makeTestEvent<SessionRequested>('agentplane.session.requested', { tenantId: 'acme', input: 'twin' }, 'sess-kcat');
      await producer.publish(topic, twin);
      const twinSeen = await eventually(() => seen.find((s) => s.event.id === twin.id));
      assert.equal(twinSeen.partition, got.partition);
      await eventually(async () => (await admin.lag(groupId, topic)) === 0, { message: 'lag 0' });
    } finally {
      await app.close();
    }
  });

  it('dead-letters garbage, an unknown type and invalid data with the reason, and goes on (lag returns to 0)', async () => {
    const topic = randomTopic();
    const dlq = randomTopic('dlq');
    await admin.createTopics([topic], 1);
    await admin.createTopics([dlq], 1);
    const { app, groupId, outcomes } = await startApp({ topics: [topic], deadLetterTopic: dlq });
    try {
      const garbage = Buffer.from([0xff, 0x00, 0x13, 0x37, 0x7b]);
      const unknown = makeTestEvent('agentplane.nothing.happened' as any, {}, 'k');
      const invalid = makeTestEvent<PingEvent>('agentplane.test.pinged', { n: 'not-a-number' } as any, 'k');
      const valid = makeTestEvent<PingEvent>('agentplane.test.pinged', { n: 7 }, 'k');
      await producer.publishRaw(topic, [
        { key: 'k', value: garbage, headers: { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' } },
        { key: 'k', value: Buffer.from(JSON.stringify(unknown)) },
        { key: 'k', value: Buffer.from(JSON.stringify(invalid)) },
        { key: 'k', value: Buffer.from(JSON.stringify(valid)) },
      ]);
      await eventually(() => seen.find((s) => s.event.id === valid.id), { message: 'valid event after the bad ones' });
      await eventually(async () => (await admin.lag(groupId, topic)) === 0, { message: 'lag 0' });

      const dls = await deadLetters(dlq, 3);
      assert.equal(dls.length, 3);
      for (const dl of dls) {
        assert.equal(dl.type, DEAD_LETTERED_TYPE);
        assert.equal(dl.specversion, '1.0');
        assert.equal(dl.data.sourceTopic, topic);
        assert.equal(dl.data.partition, 0);
        assert.equal(dl.subject, `${topic}/0/${dl.data.offset}`);
        assert.equal(dl.data.key, Buffer.from('k').toString('base64'));
        assert.equal(dl.data.consumerGroup, groupId);
        assert.ok(!Number.isNaN(Date.parse(dl.data.deadLetteredAt)));
      }
      const [g, u, i] = dls;
      assert.equal(g!.data.offset, '0');
      assert.deepEqual(Buffer.from(g!.data.value!, 'base64'), garbage, 'original bytes kept');
      assert.match(g!.data.reason, /invalid JSON/);
      assert.equal(Buffer.from(g!.data.headers.traceparent as string, 'base64').toString(), '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01');
      assert.equal(u!.data.offset, '1');
      assert.match(u!.data.reason, /unknown event type agentplane\.nothing\.happened/);
      assert.equal(i!.data.offset, '2');
      assert.match(i!.data.reason, /invalid data .*data\.n must be a number/);
      assert.deepEqual(outcomes.slice(0, 4), ['dead-lettered', 'dead-lettered', 'dead-lettered', 'handled']);
    } finally {
      await app.close();
    }
  });

  it('skips a decoded event no handler matches (default onUnmatched=ignore), or dead-letters it when asked', async () => {
    const topic = randomTopic();
    const dlq = randomTopic('dlq');
    await admin.createTopics([topic, dlq], 1);
    const other = makeTestEvent('agentplane.test.other', { x: 1 }, 'k');
    const ping = makeTestEvent<PingEvent>('agentplane.test.pinged', { n: 1 }, 'k');
    await producer.publish(topic, [other, ping]);
    const a = await startApp({ topics: [topic], deadLetterTopic: dlq });
    try {
      await eventually(async () => (await a.transport.health().lastHandledAt) && (await admin.lag(a.groupId, topic)) === 0);
      assert.deepEqual(a.outcomes, ['ignored', 'handled']);
    } finally {
      await a.app.close();
    }
    const b = await startApp({ topics: [topic], deadLetterTopic: dlq, onUnmatched: 'dead-letter' });
    try {
      await eventually(async () => (await admin.lag(b.groupId, topic)) === 0);
      const [dl] = await deadLetters(dlq, 1);
      assert.match(dl!.data.reason, /no handler for event type agentplane\.test\.other/);
      assert.equal(dl!.causationid, other.id);
      assert.equal(dl!.tenantid, 'tenant-test');
    } finally {
      await b.app.close();
    }
  });

  it('dead-letters a non-retriable handler error, retries a retriable one in place, and redelivers after retries run out', async () => {
    const topic = randomTopic();
    const dlq = randomTopic('dlq');
    await admin.createTopics([topic, dlq], 1);
    const bad = makeTestEvent<PingEvent>('agentplane.test.pinged', { n: 1 }, 'k');
    const flaky = makeTestEvent<PingEvent>('agentplane.test.pinged', { n: 2 }, 'k');
    const stubborn = makeTestEvent<PingEvent>('agentplane.test.pinged', { n: 3 }, 'k');
    const plainTransient = makeTestEvent<PingEvent>('agentplane.test.pinged', { n: 4 }, 'k');
    const last = makeTestEvent<PingEvent>('agentplane.test.pinged', { n: 5 }, 'k');
    failures.set(bad.id, [new HandlerError('tenant unknown', { code: 'UNKNOWN_TENANT' })]);
    failures.set(flaky.id, [new TransientError('db down'), new TransientError('db still down')]);
    // 2 in-place attempts per round → 2 rounds of redelivery before the 5th call succeeds.
    failures.set(stubborn.id, [1, 2, 3, 4].map((i) => new TransientError(`busy ${i}`)));
    // A foreign error (pg-style code) is classified as retriable when PreserveErrorsFilter is on.
    failures.set(plainTransient.id, [Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })]);
    await producer.publish(topic, [bad, flaky, stubborn, plainTransient, last]);
    const { app, groupId, outcomes, transport } = await startApp(
      { topics: [topic], deadLetterTopic: dlq, retry: { inPlaceAttempts: 2, initialBackoffMs: 10, redeliveryBackoffMs: 100 } },
      TestModule,
      true,
    );
    try {
      await eventually(() => seen.find((s) => s.event.id === last.id), { timeoutMs: 20000, message: 'last event handled' });
      await eventually(async () => (await admin.lag(groupId, topic)) === 0, { message: 'lag 0' });
      const ids = seen.map((s) => s.event.id);
      assert.ok(!ids.includes(bad.id), 'non-retriable failure is not retried');
      for (const e of [flaky, stubborn, plainTransient, last]) assert.equal(ids.filter((x) => x === e.id).length, 1, `handled once: n=${e.data.n}`);
      // order on the partition is kept: flaky < stubborn < plainTransient < after
      const pos = [flaky, stubborn, plainTransient, last].map((e) => ids.indexOf(e.id));
      assert.deepEqual([...pos].sort((x, y) => x - y), pos);
      const [dl] = await deadLetters(dlq, 1);
      assert.match(dl!.data.reason, /handler failed: tenant unknown/);
      assert.deepEqual(dl!.data.error, { name: 'HandlerError', code: 'UNKNOWN_TENANT', message: 'tenant unknown' });
      // flaky: one round (2 failures, 2 attempts per round); stubborn: two rounds.
      assert.equal(outcomes.filter((o) => o === 'redelivery-scheduled').length, 3);
      assert.equal(transport.health().pausedForRedelivery.length, 0);
    } finally {
      await app.close();
    }
  });

  it('without PreserveErrorsFilter a foreign error is dead-lettered as Nest reports it; health and events are exposed', async () => {
    const topic = randomTopic();
    const dlq = randomTopic('dlq');
    await admin.createTopics([topic, dlq], 1);
    const boom = makeTestEvent<PingEvent>('agentplane.test.pinged', { n: 1 }, 'k');
    failures.set(boom.id, [Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })]);
    await producer.publish(topic, boom);
    const { app, transport, groupId } = await startApp({ topics: [topic], deadLetterTopic: dlq, commitIntervalMs: 20 });
    const dead: string[] = [];
    transport.on('dead-letter', (d) => dead.push(d.reason));
    try {
      await eventually(async () => (await admin.lag(groupId, topic)) === 0);
      const [dl] = await deadLetters(dlq, 1);
      assert.match(dl!.data.reason, /handler failed: Internal server error/);
      assert.deepEqual(dead, [dl!.data.reason]);
      const h = transport.health();
      assert.equal(h.state, 'running');
      assert.equal(h.alive, true);
      assert.equal(h.ready, true);
      assert.equal(h.groupId, groupId);
      assert.ok(h.memberId);
      assert.deepEqual(h.assignment, { [topic]: [0] });
      assert.ok(h.lastPollAt && Date.now() - h.lastPollAt < 5000);
      assert.equal(h.crashes, 0);
      assert.equal(typeof transport.unwrap<{ describeGroup: unknown }>().describeGroup, 'function');
    } finally {
      await app.close();
    }
  });

  it('refuses @MessagePattern (no request/reply over Kafka) with a clear error', async () => {
    const transport = new KafkaEventTransport<AnyTestEvent>({
      kafka, groupId: randomGroup(), topics: ['unused'], deadLetterTopic: 'unused', decode: testDecode,
    });
    await assert.rejects(
      (async () => {
        const app = await NestFactory.createMicroservice(RpcModule, { strategy: transport, logger: false });
        await app.listen();
      })(),
      /no request\/reply over Kafka.*@MessagePattern\("agentplane\.rpc"\)/,
    );
  });

  it('keeps per-key order across partitions handled concurrently', async () => {
    const topic = randomTopic();
    const dlq = randomTopic('dlq');
    await admin.createTopics([topic, dlq], 4);
    const { app, groupId } = await startApp({ topics: [topic], deadLetterTopic: dlq, partitionsConsumedConcurrently: 4 });
    try {
      const keys = ['a', 'b', 'c', 'd', 'e', 'f'].map((k) => `${k}-${groupId}`);
      const events: PingEvent[] = [];
      for (let n = 0; n < 300; n++) events.push(makeTestEvent<PingEvent>('agentplane.test.pinged', { n }, keys[n % keys.length]));
      // Concurrent publishes are coalesced into few sendBatch calls.
      const before = producer.stats().batches;
      await Promise.all(events.map((e) => producer.publish(topic, e)));
      assert.ok(producer.stats().batches - before <= 3, `coalesced into ${producer.stats().batches - before} batches`);
      const ids = new Set(events.map((e) => e.id));
      await eventually(() => seen.filter((s) => ids.has(s.event.id)).length === events.length, { message: 'all handled' });
      for (const k of keys) {
        const ns = seen.filter((s) => s.key === k && ids.has(s.event.id)).map((s) => (s.event as PingEvent).data.n);
        assert.deepEqual(ns, [...ns].sort((x, y) => x - y), `order kept for key ${k}`);
        assert.equal(new Set(seen.filter((s) => s.key === k).map((s) => s.partition)).size, 1);
      }
      await eventually(async () => (await admin.lag(groupId, topic)) === 0);
    } finally {
      await app.close();
    }
  });
});
