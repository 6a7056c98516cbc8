import { existsSync } from 'node:fs';
import { createKafka, type Admin, type Kafka } from '@agentplane/messaging';
import { eventually } from './eventually';

export const KAFKA_BROKERS = process.env.KAFKA_BROKERS ?? '127.0.0.1:9092';
export const KAFKA_READY_FILE = process.env.AGENTPLANE_KAFKA_READY_FILE ?? '/tmp/agentplane-kafka-ready';

export function testKafka(clientId = 'agentplane-test'): Kafka {
  return createKafka({ brokers: KAFKA_BROKERS, clientId, logLevel: 'nothing' });
}

/** Waits for the broker (ready marker of `agentplane infra up`, or a successful metadata call). */
export async function waitForKafka(timeoutMs = 120000): Promise<void> {
  const admin = testKafka('agentplane-test-probe').admin();
  try {
    await eventually(async () => {
      if (!existsSync(KAFKA_READY_FILE) && !process.env.KAFKA_BROKERS) return false;
      await admin.connect();
      await admin.describeCluster();
      return true;
    }, { timeoutMs, intervalMs: 500, message: `Kafka at ${KAFKA_BROKERS}` });
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

/** An admin client for one test file; creates/deletes its random topics and reads lag. */
export class TestAdmin {
  readonly admin: Admin;
  private readonly created = new Set<string>();
  private connected = false;

  constructor(kafka: Kafka = testKafka('agentplane-test-admin')) {
    this.admin = kafka.admin();
  }

  async connect(): Promise<this> {
    if (!this.connected) {
      await this.admin.connect();
      this.connected = true;
    }
    return this;
  }

  async createTopics(topics: string[], numPartitions = 1): Promise<void> {
    await this.connect();
    await this.admin.createTopics({
      waitForLeaders: true,
      topics: topics.map((topic) => ({ topic, numPartitions, replicationFactor: 1 })),
    });
    for (const t of topics) this.created.add(t);
    // Leaders are elected; make sure metadata shows every partition before producing.
    await eventually(async () => {
      const md = await this.admin.fetchTopicMetadata({ topics });
      return md.topics.every((t) => t.partitions.length === numPartitions && t.partitions.every((p) => p.leader >= 0));
    }, { timeoutMs: 15000, message: 'topics ready' });
  }

  /** Sum over partitions of (end offset − committed offset of the group). */
  async lag(groupId: string, topic: string): Promise<number> {
    await this.connect();
    const [ends, committed] = await Promise.all([
      this.admin.fetchTopicOffsets(topic),
      this.admin.fetchOffsets({ groupId, topics: [topic] }),
    ]);
    const byPartition = new Map<number, number>();
    for (const t of committed) for (const p of t.partitions) byPartition.set(p.partition, Number(p.offset));
    let lag = 0;
    for (const p of ends) {
      const c = byPartition.get(p.partition) ?? -1;
      lag += Number(p.high) - (c < 0 ? Number(p.low) : c);
    }
    return lag;
  }

  /** Committed offset per partition (−1 when none). */
  async committed(groupId: string, topic: string): Promise<Map<number, number>> {
    await this.connect();
    const res = await this.admin.fetchOffsets({ groupId, topics: [topic] });
    const out = new Map<number, number>();
    for (const t of res) for (const p of t.partitions) out.set(p.partition, Number(p.offset));
    return out;
  }

  async deleteCreatedTopics(): Promise<void> {
    if (this.created.size === 0) return;
    await this.admin.deleteTopics({ topics: [...this.created] }).catch(() => undefined);
    this.created.clear();
  }

  async close(): Promise<void> {
    await this.deleteCreatedTopics();
    if (this.connected) await this.admin.disconnect().catch(() => undefined);
    this.connected = false;
  }
}

/** Reads every record of a topic from the start until `until(records)` holds (a throwaway consumer). */
export async function readTopic<T = unknown>(
  kafka: Kafka,
  topic: string,
  until: (records: Array<{ key: Buffer | null; value: Buffer | null; headers: Record<string, unknown>; partition: number; offset: string }>) => T,
  timeoutMs = 15000,
): Promise<NonNullable<T>> {
  const records: Array<{ key: Buffer | null; value: Buffer | null; headers: Record<string, unknown>; partition: number; offset: string }> = [];
  const consumer = kafka.consumer({ groupId: `reader-${topic}-${Date.now()}-${Math.random()}`, maxWaitTimeInMs: 50 });
  await consumer.connect();
  try {
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ partition, message }) => {
        records.push({ key: message.key ?? null, value: message.value, headers: message.headers ?? {}, partition, offset: message.offset });
      },
    });
    return await eventually(() => until(records), { timeoutMs, message: `reading ${topic}` });
  } finally {
    await consumer.disconnect();
  }
}
