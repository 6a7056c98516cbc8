import { Kafka, logLevel as KafkaLogLevel, type KafkaConfig, type SASLOptions } from 'kafkajs';
import type { ConnectionOptions } from 'node:tls';
import { applyKafkajsFixes } from './kafkajs-fix';

applyKafkajsFixes();

export type LogLevelName = 'nothing' | 'error' | 'warn' | 'info' | 'debug';

export interface KafkaClientOptions {
  /** `host:port` list, or a comma-separated string as in KAFKA_BROKERS. */
  brokers: string[] | string;
  clientId: string;
  sasl?: SASLOptions;
  ssl?: boolean | ConnectionOptions;
  logLevel?: LogLevelName | KafkaLogLevel;
  /** kafkajs log sink; default writes kafkajs' JSON lines to stdout/stderr. */
  logCreator?: KafkaConfig['logCreator'];
  connectionTimeout?: number;
  requestTimeout?: number;
  retry?: KafkaConfig['retry'];
}

const LEVELS: Record<LogLevelName, KafkaLogLevel> = {
  nothing: KafkaLogLevel.NOTHING,
  error: KafkaLogLevel.ERROR,
  warn: KafkaLogLevel.WARN,
  info: KafkaLogLevel.INFO,
  debug: KafkaLogLevel.DEBUG,
};

export function parseBrokers(brokers: string[] | string): string[] {
  const list = (Array.isArray(brokers) ? brokers : brokers.split(','))
    .map((b) => b.trim())
    .filter((b) => b.length > 0);
  if (list.length === 0) throw new Error('createKafka: no brokers given');
  return list;
}

/** The one place a kafkajs client is built. Accepts an existing client unchanged. */
export function createKafka(opts: KafkaClientOptions | Kafka): Kafka {
  if (opts instanceof Kafka) return opts;
  const level = opts.logLevel === undefined ? KafkaLogLevel.WARN
    : typeof opts.logLevel === 'string' ? LEVELS[opts.logLevel] : opts.logLevel;
  return new Kafka({
    clientId: opts.clientId,
    brokers: parseBrokers(opts.brokers),
    ...(opts.sasl ? { sasl: opts.sasl } : {}),
    ...(opts.ssl !== undefined ? { ssl: opts.ssl } : {}),
    logLevel: level,
    ...(opts.logCreator ? { logCreator: opts.logCreator } : {}),
    connectionTimeout: opts.connectionTimeout ?? 3000,
    requestTimeout: opts.requestTimeout ?? 30000,
    ...(opts.retry ? { retry: opts.retry } : {}),
  });
}
