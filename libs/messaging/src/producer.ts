import { CompressionTypes, Kafka, Partitioners, type Message, type Producer, type TopicMessages } from 'kafkajs';
import { createKafka, type KafkaClientOptions } from './kafka';
import type { Encoder, MinimalEvent } from './types';

export interface EventProducerOptions<E> {
  /** Event → record value. Default: JSON (CloudEvents structured mode). */
  encode?: Encoder<E>;
  /** Upper bound of records in one coalesced sendBatch (bounds request size). Default 1000. */
  maxBatchMessages?: number;
  compression?: CompressionTypes;
}

export interface PublishOptions {
  /** Record key; default: the event's `subject` (session id), else no key. */
  key?: string | Buffer | null;
  /** Extra headers, merged over the ones derived from the event. */
  headers?: Record<string, string | Buffer>;
}

/** A record as-is, for non-event payloads (tests, tools that forward foreign bytes). */
export interface RawMessage {
  key?: string | Buffer | null;
  value: string | Buffer | null;
  headers?: Record<string, string | Buffer>;
  partition?: number;
}

export const CLOUDEVENTS_CONTENT_TYPE = 'application/cloudevents+json; charset=utf-8';

export const jsonEncoder: Encoder<unknown> = (event) => Buffer.from(JSON.stringify(event), 'utf8');

/** Headers the wire format promises next to the structured-mode JSON body. */
export function eventHeaders(event: MinimalEvent): Record<string, string> {
  const h: Record<string, string> = {
    'content-type': CLOUDEVENTS_CONTENT_TYPE,
    ce_type: event.type,
    ce_id: event.id,
  };
  if (typeof event.traceparent === 'string') h.traceparent = event.traceparent;
  if (typeof event.tracestate === 'string') h.tracestate = event.tracestate;
  return h;
}

interface Pending {
  topic: string;
  messages: Message[];
  resolve: () => void;
  reject: (err: unknown) => void;
}

/**
 * Idempotent producer with tick-level coalescing. kafkajs has no `linger.ms`: every send() is
 * its own request. Here publishes are queued and sent as one sendBatch on the next tick; while
 * a batch is in flight, new publishes accumulate and go out together as soon as it completes
 * (Nagle-style). A lone message therefore waits only one process.nextTick, and under load the
 * batch size grows by itself. One request in flight at a time keeps the idempotent producer's
 * sequence numbers safe (maxInFlightRequests: 1) and preserves publish order per partition.
 */
export class EventProducer<E extends MinimalEvent = MinimalEvent> {
  readonly kafka: Kafka;
  private producer: Producer;
  private readonly encode: Encoder<E>;
  private readonly maxBatch: number;
  private readonly compression: CompressionTypes;
  private queue: Pending[] = [];
  private scheduled = false;
  private inflight: Promise<void> | null = null;
  private connecting: Promise<void> | null = null;
  private closed = false;
  private idleWaiters: Array<() => void> = [];
  private counters = { batches: 0, messages: 0, failedBatches: 0, producerResets: 0 };

  constructor(kafka: Kafka | KafkaClientOptions, opts: EventProducerOptions<E> = {}) {
    this.kafka = createKafka(kafka);
    this.encode = opts.encode ?? (jsonEncoder as Encoder<E>);
    this.maxBatch = opts.maxBatchMessages ?? 1000;
    this.compression = opts.compression ?? CompressionTypes.None;
    this.producer = this.newProducer();
  }

  private newProducer(): Producer {
    return this.kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
      // Java-compatible murmur2: a key lands on the same partition as from kcat/Java/Go clients.
      createPartitioner: Partitioners.DefaultPartitioner,
    });
  }

  /**
   * After a failed sendBatch the kafkajs producer must not be used again. kafkajs rolls the
   * partition sequence back when a produce request fails, even if the broker had appended it
   * (the response was lost: broker killed, connection cut). Our callers then retry with a
   * differently composed batch; it gets the same sequence range, the broker takes it for a
   * duplicate of the appended one and acknowledges it without writing it: silent loss. A new
   * producer has a new producer id, so nothing can be mistaken for a duplicate; the records
   * that did land twice carry the same event ids and consumers dedupe them.
   */
  private replaceProducer(): void {
    const old = this.producer;
    const wasConnected = this.connecting !== null;
    this.producer = this.newProducer();
    this.connecting = null;
    this.counters.producerResets++;
    if (wasConnected) void old.disconnect().catch(() => undefined);
  }

  connect(): Promise<void> {
    if (!this.connecting) {
      this.connecting = this.producer.connect().catch((err) => {
        this.connecting = null; // let the next publish try again
        throw err;
      });
    }
    return this.connecting;
  }

  /** Publishes one event or several (in order); resolves when the broker acknowledged them all. */
  publish(topic: string, events: E | readonly E[], opts: PublishOptions = {}): Promise<void> {
    const list = (Array.isArray(events) ? events : [events]) as readonly E[];
    let messages: Message[];
    try {
      messages = list.map((event) => ({
        key: opts.key !== undefined ? opts.key : (event.subject ?? null),
        value: this.encode(event),
        headers: { ...eventHeaders(event), ...(opts.headers ?? {}) },
      }));
    } catch (err) {
      return Promise.reject(err);
    }
    return this.enqueue(topic, messages);
  }

  /** Publishes records as given (no envelope); same batching and idempotence. */
  publishRaw(topic: string, records: RawMessage | readonly RawMessage[]): Promise<void> {
    const list = (Array.isArray(records) ? records : [records]) as readonly RawMessage[];
    return this.enqueue(topic, list.map((r) => ({ ...r }) as Message));
  }

  /** Resolves once everything published so far has been acknowledged (or failed). */
  flush(): Promise<void> {
    if (!this.inflight && this.queue.length === 0 && !this.scheduled) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  async disconnect(): Promise<void> {
    this.closed = true;
    await this.flush();
    if (this.connecting) {
      await this.connecting.catch(() => undefined);
      await this.producer.disconnect();
      this.connecting = null;
    }
  }

  stats(): { batches: number; messages: number; failedBatches: number; producerResets: number; queued: number } {
    return { ...this.counters, queued: this.queue.reduce((n, p) => n + p.messages.length, 0) };
  }

  private enqueue(topic: string, messages: Message[]): Promise<void> {
    if (this.closed) return Promise.reject(new Error('EventProducer: publish after disconnect()'));
    if (messages.length === 0) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ topic, messages, resolve, reject });
      if (!this.scheduled && !this.inflight) {
        this.scheduled = true;
        // Collects every publish made in the current tick; a lone message waits only this tick.
        process.nextTick(() => this.drain());
      }
    });
  }

  private drain(): void {
    this.scheduled = false;
    if (this.inflight) return;
    if (this.queue.length === 0) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
      return;
    }
    const batch: Pending[] = [];
    let count = 0;
    while (this.queue.length > 0 && (count === 0 || count + this.queue[0]!.messages.length <= this.maxBatch)) {
      const p = this.queue.shift()!;
      batch.push(p);
      count += p.messages.length;
    }
    // Group by topic, keeping publish order inside each topic.
    const byTopic = new Map<string, Message[]>();
    for (const p of batch) {
      const arr = byTopic.get(p.topic);
      if (arr) arr.push(...p.messages);
      else byTopic.set(p.topic, [...p.messages]);
    }
    const topicMessages: TopicMessages[] = [...byTopic].map(([topic, messages]) => ({ topic, messages }));
    this.inflight = (async () => {
      try {
        await this.connect();
        await this.producer.sendBatch({ topicMessages, acks: -1, compression: this.compression });
        this.counters.batches++;
        this.counters.messages += count;
        for (const p of batch) p.resolve();
      } catch (err) {
        this.counters.failedBatches++;
        this.replaceProducer();
        for (const p of batch) p.reject(err);
      }
    })().finally(() => {
      this.inflight = null;
      this.drain();
    });
  }
}
