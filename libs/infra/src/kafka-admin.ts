// TODO move to messaging: house rule says only libs/messaging imports kafkajs; this tiny admin
// helper lives here until the lead folds it into the messaging lib.
import { Admin, Kafka, logLevel } from 'kafkajs';
import type { AclSpec, SaslCredentials } from './secure';
import { TopicSpec } from './topics';

export interface BrokerInfo {
  clusterId: string;
  controller: number | null;
  brokers: { nodeId: number; host: string; port: number }[];
}

function client(brokers: string[], clientId: string, timeoutMs: number, sasl?: SaslCredentials): Kafka {
  return new Kafka({
    clientId,
    brokers,
    ...(sasl ? { sasl: { mechanism: sasl.mechanism, username: sasl.username, password: sasl.password } } : {}),
    connectionTimeout: timeoutMs,
    requestTimeout: Math.max(timeoutMs, 5_000),
    // Readiness polling expects failures; callers retry with their own deadline.
    retry: { retries: 0 },
    logLevel: logLevel.NOTHING,
  });
}

async function withAdmin<T>(brokers: string[], timeoutMs: number, fn: (a: Admin) => Promise<T>, sasl?: SaslCredentials): Promise<T> {
  const admin = client(brokers, 'agentplane-infra', timeoutMs, sasl).admin();
  await admin.connect();
  try {
    return await fn(admin);
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

/** describeCluster against the brokers; throws when unreachable. */
export async function describeCluster(brokers: string[], timeoutMs = 2_000, sasl?: SaslCredentials): Promise<BrokerInfo> {
  return withAdmin(
    brokers,
    timeoutMs,
    async (a) => {
      const c = await a.describeCluster();
      return { clusterId: c.clusterId, controller: c.controller, brokers: c.brokers };
    },
    sasl,
  );
}

export async function isKafkaReachable(brokers: string[], timeoutMs = 1_500, sasl?: SaslCredentials): Promise<boolean> {
  try {
    await describeCluster(brokers, timeoutMs, sasl);
    return true;
  } catch {
    return false;
  }
}

/** Creates the topics that are missing; leaves existing ones as they are. Returns the created names. */
export async function ensureTopics(brokers: string[], specs: TopicSpec[], timeoutMs = 30_000, sasl?: SaslCredentials): Promise<string[]> {
  return withAdmin(brokers, 5_000, async (a) => {
    const existing = new Set(await a.listTopics());
    const missing = specs.filter((s) => !existing.has(s.topic));
    if (missing.length === 0) return [];
    try {
      await a.createTopics({
        waitForLeaders: true,
        timeout: timeoutMs,
        topics: missing.map((s) => ({
          topic: s.topic,
          numPartitions: s.numPartitions,
          replicationFactor: s.replicationFactor,
          configEntries: Object.entries(s.configs).map(([name, value]) => ({ name, value })),
        })),
      });
    } catch (e) {
      // A concurrent `infra up` may have created them meanwhile: fine if they exist now.
      const now = new Set(await a.listTopics());
      if (!missing.every((s) => now.has(s.topic))) throw e;
    }
    return missing.map((s) => s.topic);
  }, sasl);
}

/** Creates ACL entries (idempotent on the broker: an existing binding is left as is). */
export async function createAcls(brokers: string[], sasl: SaslCredentials, entries: AclSpec[]): Promise<void> {
  await withAdmin(brokers, 5_000, async (a) => {
    await a.createAcls({ acl: entries as unknown as Parameters<Admin['createAcls']>[0]['acl'] });
    // Bindings reach the authorizer through the metadata log: return once all are visible,
    // so a client started right after `infra up` is not refused.
    const deadline = Date.now() + 15_000;
    for (;;) {
      const r = await a.describeAcls({ resourceType: 1, resourcePatternType: 1, operation: 1, permissionType: 1 } as Parameters<Admin['describeAcls']>[0]);
      const n = r.resources.reduce((sum, res) => sum + res.acls.length, 0);
      if (n >= new Set(entries.map((e) => JSON.stringify(e))).size) return;
      if (Date.now() > deadline) throw new Error(`only ${n} of ${entries.length} ACL bindings visible after 15 s`);
      await new Promise((r) => setTimeout(r, 100)); // poll interval, bounded by the deadline
    }
  }, sasl);
}

export interface TopicDescription {
  topic: string;
  partitions: number;
  configs: Record<string, string>;
}

/** Lists topics (internal ones excluded) with partition counts and, for `withConfigs`, their configs. */
export async function describeTopics(
  brokers: string[],
  opts: { names?: string[]; configNames?: string[]; sasl?: SaslCredentials } = {},
): Promise<TopicDescription[]> {
  return withAdmin(brokers, 5_000, async (a) => {
    const names = opts.names ?? (await a.listTopics()).filter((t) => !t.startsWith('__'));
    if (names.length === 0) return [];
    const meta = await a.fetchTopicMetadata({ topics: names });
    const configs: Record<string, Record<string, string>> = {};
    if (opts.configNames) {
      const res = await a.describeConfigs({
        includeSynonyms: false,
        resources: names.map((name) => ({ type: 2 /* TOPIC */, name, configNames: opts.configNames })),
      });
      for (const r of res.resources) {
        configs[r.resourceName] = Object.fromEntries(r.configEntries.map((c) => [c.configName, c.configValue]));
      }
    }
    return meta.topics
      .map((t) => ({ topic: t.name, partitions: t.partitions.length, configs: configs[t.name] ?? {} }))
      .sort((x, y) => x.topic.localeCompare(y.topic));
  }, opts.sasl);
}
