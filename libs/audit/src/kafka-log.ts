import { randomUUID } from 'node:crypto';
import { createKafka, flattenHeaders, type Kafka } from '@agentplane/messaging';

export interface LogRecord {
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  readonly headers: Record<string, Buffer | string | undefined>;
}

/**
 * Reads topics from the beginning up to the end offsets seen at the start, with a throwaway
 * consumer group (deleted afterwards); nothing is committed and nothing is written.
 */
export async function readLog(o: { brokers: string[] | string; topics: string[]; timeoutMs?: number; kafka?: Kafka }): Promise<LogRecord[]> {
  const kafka = o.kafka ?? createKafka({ brokers: o.brokers, clientId: 'agentplane-audit-reader', logLevel: 'nothing' });
  const admin = kafka.admin();
  await admin.connect();
  const remaining = new Map<string, bigint>();
  const out: LogRecord[] = [];
  const groupId = `agentplane-audit-reader-${randomUUID()}`;
  try {
    for (const topic of o.topics) {
      for (const p of await admin.fetchTopicOffsets(topic)) {
        if (BigInt(p.high) > BigInt(p.low)) remaining.set(`${topic}/${p.partition}`, BigInt(p.high) - 1n);
      }
    }
    if (remaining.size === 0) return out;
    const consumer = kafka.consumer({ groupId, maxWaitTimeInMs: 100, sessionTimeout: 10_000 });
    let finish!: () => void;
    let fail!: (e: Error) => void;
    const done = new Promise<void>((ok, no) => {
      finish = ok;
      fail = no;
    });
    const timer = setTimeout(() => fail(new Error(`reading ${o.topics.join(', ')} did not reach the end offsets in time`)), o.timeoutMs ?? 60_000);
    try {
      await consumer.connect();
      await consumer.subscribe({ topics: o.topics, fromBeginning: true });
      await consumer.run({
        autoCommit: false,
        eachMessage: async ({ topic, partition, message }) => {
          const key = `${topic}/${partition}`;
          const last = remaining.get(key);
          if (last === undefined || BigInt(message.offset) > last) return;
          out.push({ topic, partition, offset: message.offset, key: message.key ?? null, value: message.value, headers: flattenHeaders(message.headers) });
          if (BigInt(message.offset) >= last) {
            remaining.delete(key);
            if (remaining.size === 0) finish();
          }
        },
      });
      await done;
    } finally {
      clearTimeout(timer);
      await consumer.disconnect().catch(() => undefined);
      await admin.deleteGroups([groupId]).catch(() => undefined);
    }
    // Kafka order per partition; partitions in a stable order.
    return out.sort((a, b) => (a.topic === b.topic ? a.partition - b.partition || Number(BigInt(a.offset) - BigInt(b.offset)) : a.topic < b.topic ? -1 : 1));
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}
