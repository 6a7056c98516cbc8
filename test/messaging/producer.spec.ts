import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { EventProducer } from '@agentplane/messaging';
import { randomTopic, readTopic, TestAdmin, testKafka, waitForKafka } from '../support';
import { makeTestEvent, type PingEvent } from './test-events';

describe('EventProducer (real broker)', { timeout: 60000 }, () => {
  const kafka = testKafka('producer-spec');
  const admin = new TestAdmin(kafka);
  before(async () => {
    await waitForKafka();
    await admin.connect();
  });
  after(() => admin.close());

  it('coalesces concurrent publishes into few batches, keeps order, and writes the documented record', async () => {
    const topic = randomTopic();
    await admin.createTopics([topic], 1);
    const producer = new EventProducer<PingEvent>(kafka);
    try {
      const lone = makeTestEvent<PingEvent>('agentplane.test.pinged', { n: -1 }, 'sess');
      const withTrace = { ...lone, traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' };
      await producer.publish(topic, withTrace);
      assert.equal(producer.stats().batches, 1, 'a lone publish is sent at once, alone');

      const events = Array.from({ length: 500 }, (_, n) => makeTestEvent<PingEvent>('agentplane.test.pinged', { n }, 'sess'));
      await Promise.all(events.map((e) => producer.publish(topic, e)));
      const batches = producer.stats().batches - 1;
      assert.ok(batches <= 2, `500 concurrent publishes went out in ${batches} sendBatch calls`);

      const recs = await readTopic(kafka, topic, (r) => (r.length >= 501 ? r : null));
      const first = recs[0]!;
      assert.equal(first.key!.toString(), 'sess');
      assert.deepEqual(JSON.parse(first.value!.toString()), withTrace);
      const h = (k: string): string => String(first.headers[k]);
      assert.equal(h('ce_type'), 'agentplane.test.pinged');
      assert.equal(h('ce_id'), lone.id);
      assert.equal(h('traceparent'), withTrace.traceparent);
      assert.equal(h('content-type'), 'application/cloudevents+json; charset=utf-8');
      const ns = recs.slice(1).map((r) => (JSON.parse(r.value!.toString()) as PingEvent).data.n);
      assert.deepEqual(ns, events.map((e) => e.data.n), 'publish order kept');
    } finally {
      await producer.disconnect();
    }
    await assert.rejects(producer.publish(topic, makeTestEvent<PingEvent>('agentplane.test.pinged', { n: 0 })), /after disconnect/);
  });

  it('flush() waits for everything published so far', async () => {
    const topic = randomTopic();
    await admin.createTopics([topic], 2);
    const producer = new EventProducer<PingEvent>(kafka);
    let acked = 0;
    for (let n = 0; n < 50; n++) void producer.publish(topic, makeTestEvent<PingEvent>('agentplane.test.pinged', { n })).then(() => acked++);
    await producer.flush();
    assert.equal(acked, 50);
    await producer.disconnect();
  });
});
