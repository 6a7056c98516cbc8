/**
 * The platform's only contact with the messaging layer: builds the shared Kafka client from
 * config, with kafkajs' own logs routed into the service's pino logger.
 */
import type { Logger } from 'pino';
import { createKafka } from '@agentplane/messaging';
import type { ServiceConfig } from '@agentplane/config';

export type KafkaClient = ReturnType<typeof createKafka>;

// kafkajs levels: 1 error, 2 warn, 4 info, 5 debug (declared here: only messaging imports kafkajs).
const PINO_LEVEL: Record<number, 'error' | 'warn' | 'info' | 'debug'> = { 1: 'error', 2: 'warn', 4: 'info', 5: 'debug' };

export function createKafkaClient(config: ServiceConfig, logger: Logger): KafkaClient {
  const log = logger.child({ component: 'kafkajs' });
  return createKafka({
    brokers: [...config.kafka.brokers],
    clientId: config.kafka.clientId,
    ...(config.kafka.sasl ? { sasl: { ...config.kafka.sasl } } : {}),
    ...(config.kafka.ssl ? { ssl: true } : {}),
    // kafkajs INFO is chatty (every join/leave); keep WARN+ unless debugging.
    logLevel: config.logLevel === 'debug' || config.logLevel === 'trace' ? 'info' : 'warn',
    logCreator:
      () =>
      ({ namespace, level, log: entry }: { namespace: string; level: number; log: { message: string } }) => {
        const { message, timestamp: _ts, ...rest } = entry as { message: string; timestamp?: string };
        log[PINO_LEVEL[level] ?? 'info']({ namespace, ...rest }, message);
      },
  });
}
