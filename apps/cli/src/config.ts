// The CLI's configuration: the one place that reads environment variables.
import * as path from 'node:path';
import { DEFAULT_DATABASE_URL, DEFAULT_TOPIC_PREFIX, infraLayout, InfraLayout, InfraOptions } from '@agentplane/infra';

/** dist/apps/cli/src/main.js → repository root. */
export const REPO_ROOT = path.resolve(__dirname, '..', '..', '..', '..');

export interface CliConfig {
  layout: InfraLayout;
  kafkaPort: number;
  kafkaControllerPort: number;
  externalKafkaBrokers?: string;
  databaseUrl: string;
  localPgPort: number;
  topicPrefix: string;
  sessionPartitions: number;
  auxPartitions: number;
}

function int(name: string, fallback: number): number {
  const v = process.env[name];
  if (v === undefined || v === '') return fallback;
  const n = Number.parseInt(v, 10);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} must be a positive integer, got "${v}"`);
  return n;
}

export function loadConfig(overrides: { port?: number } = {}): CliConfig {
  let brokers = process.env.KAFKA_BROKERS || undefined;
  let kafkaPort = overrides.port ?? int('KAFKA_PORT', 9092);
  // KAFKA_BROKERS naming one loopback address (the documented default 127.0.0.1:9092) means
  // "the local broker on that port": start it when absent rather than fail.
  const local = brokers && /^(?:127\.0\.0\.1|localhost):(\d+)$/.exec(brokers.trim());
  if (local && overrides.port === undefined) {
    kafkaPort = Number(local[1]);
    brokers = undefined;
  }
  return {
    layout: infraLayout(REPO_ROOT, process.env.AGENTPLANE_HOME || undefined),
    kafkaPort,
    kafkaControllerPort: int('KAFKA_CONTROLLER_PORT', kafkaPort + 1),
    // Only an explicit non-local KAFKA_BROKERS means "use that cluster"; otherwise we run our own.
    externalKafkaBrokers: brokers,
    databaseUrl: process.env.DATABASE_URL || DEFAULT_DATABASE_URL,
    localPgPort: int('AGENTPLANE_PG_PORT', 5433),
    topicPrefix: process.env.AGENTPLANE_TOPIC_PREFIX || DEFAULT_TOPIC_PREFIX,
    sessionPartitions: int('AGENTPLANE_SESSION_PARTITIONS', 12),
    auxPartitions: int('AGENTPLANE_AUX_PARTITIONS', 3),
  };
}

export function infraOptions(c: CliConfig, extra: Partial<InfraOptions> = {}): InfraOptions {
  return {
    layout: c.layout,
    kafkaPort: c.kafkaPort,
    kafkaControllerPort: c.kafkaControllerPort,
    externalKafkaBrokers: c.externalKafkaBrokers,
    databaseUrl: c.databaseUrl,
    localPgPort: c.localPgPort,
    topicPrefix: c.topicPrefix,
    topics: { sessionPartitions: c.sessionPartitions, auxPartitions: c.auxPartitions },
    ...extra,
  };
}
