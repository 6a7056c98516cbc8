// TODO move to messaging: a read-only log reader for `agentplane tail`, here until
// libs/messaging offers a consumer the CLI can use (house rule: only messaging imports kafkajs).
import { randomUUID } from 'node:crypto';
import { Kafka, logLevel } from 'kafkajs';

export interface TailEvent {
  topic: string;
  partition: number;
  offset: string;
  /** CloudEvents `time`, else the Kafka timestamp. */
  time: string;
  type: string;
  subject?: string;
  tenant?: string;
  data: unknown;
  /** The parsed JSON value, or the raw text when the bytes are not JSON. */
  value: unknown;
  headers: Record<string, string>;
}

export interface TailOptions {
  brokers: string[];
  topics: string[];
  /** Keep watching after reaching the end (default true); false stops at the end offsets seen at start. */
  follow?: boolean;
  filter?: (e: TailEvent) => boolean;
  onEvent: (e: TailEvent) => void;
  /** Stops the reader when aborted (Ctrl-C). */
  signal?: AbortSignal;
}

function toEvent(topic: string, partition: number, m: { offset: string; timestamp: string; value: Buffer | null; headers?: Record<string, unknown> }): TailEvent {
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(m.headers ?? {})) {
    if (v !== undefined) headers[k] = Array.isArray(v) ? v.map(String).join(',') : String(v);
  }
  const text = m.value?.toString('utf8') ?? '';
  let value: unknown = text;
  try {
    value = JSON.parse(text);
  } catch {
    /* not JSON: keep the text (dead letters may hold garbage) */
  }
  const o = (value && typeof value === 'object' ? value : {}) as Record<string, unknown>;
  const str = (x: unknown) => (typeof x === 'string' ? x : undefined);
  const kafkaTime = new Date(Number(m.timestamp)).toISOString();
  const isDead = topic.endsWith('.dead-letters');
  return {
    topic,
    partition,
    offset: m.offset,
    time: str(o.time) ?? kafkaTime,
    type: str(o.type) ?? headers['ce_type'] ?? (isDead ? 'dead-letter' : '?'),
    subject: str(o.subject) ?? headers['ce_subject'],
    tenant: str(o.tenantid) ?? headers['ce_tenantid'],
    data: isDead ? (o.reason ?? o.data ?? value) : (o.data ?? value),
    value,
    headers,
  };
}

/** Reads the topics from the beginning with a throwaway consumer group (deleted afterwards). */
export async function tailTopics(o: TailOptions): Promise<number> {
  const kafka = new Kafka({ clientId: 'agentplane-tail', brokers: o.brokers, logLevel: logLevel.NOTHING });
  const groupId = `agentplane-tail-${randomUUID()}`;
  const admin = kafka.admin();
  await admin.connect();
  const remaining = new Map<string, bigint>();
  if (o.follow === false) {
    for (const topic of o.topics) {
      for (const p of await admin.fetchTopicOffsets(topic)) {
        if (BigInt(p.high) > BigInt(p.low)) remaining.set(`${topic}/${p.partition}`, BigInt(p.high) - 1n);
      }
    }
  }
  const consumer = kafka.consumer({ groupId, maxWaitTimeInMs: 200, sessionTimeout: 10_000 });
  let count = 0;
  let finish: () => void = () => undefined;
  const finished = new Promise<void>((r) => (finish = r));
  o.signal?.addEventListener('abort', () => finish(), { once: true });
  if (o.follow === false && remaining.size === 0) finish();
  try {
    await consumer.connect();
    await consumer.subscribe({ topics: o.topics, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachMessage: async ({ topic, partition, message }) => {
        const e = toEvent(topic, partition, message as never);
        if (!o.filter || o.filter(e)) {
          count++;
          o.onEvent(e);
        }
        const key = `${topic}/${partition}`;
        const last = remaining.get(key);
        if (last !== undefined && BigInt(message.offset) >= last) {
          remaining.delete(key);
          if (remaining.size === 0) finish();
        }
      },
    });
    await finished;
  } finally {
    await consumer.disconnect().catch(() => undefined);
    await admin.deleteGroups([groupId]).catch(() => undefined);
    await admin.disconnect().catch(() => undefined);
  }
  return count;
}
