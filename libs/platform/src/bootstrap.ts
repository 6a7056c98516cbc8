import 'reflect-metadata';
import { Logger as NestLogger, type DynamicModule, type INestApplication, type Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import { Logger } from 'nestjs-pino';
import { decode } from '@agentplane/contracts';
import { topicName, type TopicKind } from '@agentplane/infra';
import { EventProducer, KafkaEventTransport, PreserveErrorsFilter, type Decoder, type MinimalEvent } from '@agentplane/messaging';
import { redacted, type ServiceConfig } from '@agentplane/config';
import { httpObservability } from './http-middleware';
import { createLogger } from './logging';
import { MetricsService } from './metrics';
import { ReadinessRegistry } from './readiness';
import { KAFKA_CLIENT } from './tokens';
import { TraceContextInterceptor } from './trace.interceptor';
import { initTracing } from './tracing';
import type { KafkaClient } from './kafka';

export interface TransportOptions {
  /** Topic kinds consumed (prefix from config), e.g. ['session-events']. */
  topics: readonly TopicKind[];
  /** Consumer group; default `config.kafka.groupId` (`agentplane-<service>`). */
  groupId?: string;
  /**
   * Where a partition without a committed offset starts. Default true (the earliest record):
   * with "latest", a member that takes over a partition before its first offset commit would
   * skip what was appended since the group first joined. A group that is new to a log that
   * already holds history therefore handles that history; give it a new topic prefix or set
   * its offsets first (docs/operations.md) when that is not wanted.
   */
  fromBeginning?: boolean;
  /** Bytes → typed event or dead-letter reason. Default: `decode` of @agentplane/contracts. */
  decode?: Decoder<MinimalEvent>;
  /** Order kept within a partition (see KafkaEventTransportOptions.ordering). Default 'partition'. */
  ordering?: 'partition' | 'key' | 'none';
  /** How the group shares partitions (see KafkaEventTransportOptions.assignment). Default 'round-robin'. */
  assignment?: 'round-robin' | 'co-partitioned';
  maxInFlightPerPartition?: number;
}

export interface SwaggerOptions {
  title?: string;
  description?: string;
  /** Declare the HTTP bearer scheme that `@ApiBearerAuth()` refers to. */
  bearerAuth?: boolean;
}

export interface BootstrapOptions {
  config: ServiceConfig;
  /** The app's root module; it imports `PlatformModule.forService(config, ...)`. */
  module: Type<unknown> | DynamicModule;
  /** Consume Kafka through the event transport: `@EventPattern('<type>')` handlers get events. */
  transport?: TransportOptions;
  /** OpenAPI document at /docs (default true: every service answers /health and /metrics). */
  swagger?: boolean | SwaggerOptions;
  /** Install SIGTERM/SIGINT handlers that stop gracefully and exit (default true). */
  handleSignals?: boolean;
}

export interface RunningService {
  app: INestApplication;
  transport?: KafkaEventTransport;
  /** Port actually bound (useful with PORT=0). */
  port: number;
  /** Graceful stop: drain the consumer, close HTTP, disconnect producer, close DB. */
  stop(): Promise<void>;
}

/**
 * Boots one agentplane service: tracing, the Nest app (whose module init migrates the
 * database), the Kafka consumer, Swagger, then listens. On SIGTERM/SIGINT it stops in order —
 * not-ready, consumer drained and committed, HTTP closed, producer flushed, DB closed — and
 * exits 0, or 1 if that takes longer than `config.shutdownTimeoutMs`. A boot failure is logged
 * and exits 1.
 */
export async function bootstrapService(opts: BootstrapOptions): Promise<RunningService> {
  const { config } = opts;
  const log = createLogger(config);
  try {
    return await boot(opts, log);
  } catch (err) {
    log.fatal({ err }, `${config.service} failed to start: ${(err as Error)?.message ?? err}`);
    // Let pino flush (sync stdout destination) and leave the exit code for supervisors.
    process.exit(1);
  }
}

async function boot(opts: BootstrapOptions, log: ReturnType<typeof createLogger>): Promise<RunningService> {
  const { config } = opts;
  log.info({ config: redacted(config) }, `starting ${config.service}`);
  const tracing = await initTracing({
    service: config.service,
    ...(config.otlpEndpoint ? { otlpEndpoint: config.otlpEndpoint } : {}),
    warn: (m) => log.warn(m),
  });

  const app = await NestFactory.create<NestExpressApplication>(opts.module, { bufferLogs: true });
  app.useLogger(app.get(Logger));
  const logger = new NestLogger('Bootstrap');
  const metrics = app.get(MetricsService);
  const readiness = app.get(ReadinessRegistry);
  app.use(httpObservability(metrics));
  app.disable('x-powered-by');

  if (opts.swagger !== false) {
    const s = typeof opts.swagger === 'object' ? opts.swagger : {};
    const builder = new DocumentBuilder()
      .setTitle(s.title ?? `agentplane ${config.service}`)
      .setDescription(s.description ?? `The ${config.service} service of agentplane.`);
    if (s.bearerAuth) builder.addBearerAuth();
    const doc = builder.build();
    SwaggerModule.setup('docs', app, () => SwaggerModule.createDocument(app, doc), { jsonDocumentUrl: 'docs/json' });
  }

  let transport: KafkaEventTransport | undefined;
  if (opts.transport) {
    const producer = app.get(EventProducer) as EventProducer | null;
    transport = new KafkaEventTransport({
      kafka: app.get<KafkaClient>(KAFKA_CLIENT),
      groupId: opts.transport.groupId ?? config.kafka.groupId,
      topics: opts.transport.topics.map((k) => topicName(config.topicPrefix, k)),
      fromBeginning: opts.transport.fromBeginning ?? true,
      ...(opts.transport.ordering ? { ordering: opts.transport.ordering } : {}),
      ...(opts.transport.assignment ? { assignment: opts.transport.assignment } : {}),
      ...(opts.transport.maxInFlightPerPartition ? { maxInFlightPerPartition: opts.transport.maxInFlightPerPartition } : {}),
      sessionTimeout: config.kafka.sessionTimeoutMs,
      // Three heartbeats per session timeout, as Kafka recommends.
      heartbeatInterval: Math.min(3000, Math.floor(config.kafka.sessionTimeoutMs / 3)),
      // A member that died mid-rebalance is dropped after this, not after kafkajs' fixed 60 s
      // (2 × the 30 s default session timeout keeps that default).
      rebalanceTimeout: 2 * config.kafka.sessionTimeoutMs,
      decode: opts.transport.decode ?? (decode as Decoder<MinimalEvent>),
      deadLetterTopic: topicName(config.topicPrefix, 'dead-letters'),
      ...(producer ? { producer } : {}),
      source: `agentplane/${config.service}`,
      onMessage: (latencyMs, topic, outcome, info) => {
        const type = info.type ?? 'unknown';
        metrics.observeMessage(topic, type, outcome, latencyMs / 1000);
        if (outcome === 'handled') metrics.messageEndToEndSeconds.observe({ topic, type }, info.endToEndMs / 1000);
      },
    });
    const t = transport;
    readiness.register('kafka-consumer', () => {
      const h = t.health();
      const ok = h.alive && (h.state === 'running' || h.state === 'rebalancing');
      return ok ? { ok } : { ok, detail: h.lastError ? `${h.state}: ${h.lastError}` : h.state };
    });
    // Own config (not inherited from HTTP): the filter that hands handler errors to the
    // transport unchanged (so pg/fetch errors are classified retriable) must not touch HTTP.
    const ms = app.connectMicroservice({ strategy: transport }, { inheritAppConfig: false, deferInitialization: true });
    ms.useGlobalFilters(new PreserveErrorsFilter());
    ms.useGlobalInterceptors(new TraceContextInterceptor());
    await app.startAllMicroservices();
    logger.log(`consuming ${opts.transport.topics.join(', ')} as group ${opts.transport.groupId ?? config.kafka.groupId}`);
  }

  await app.listen(config.port, config.host);
  const address = app.getHttpServer().address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  logger.log(`${config.service} listening on ${config.host}:${port}`);

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      readiness.markDraining();
      // Consumer first (close() is idempotent; Nest calls it again in app.close()): handlers in
      // flight finish and commit while HTTP, producer and DB are still up.
      if (transport) await transport.close();
      await app.close(); // HTTP server, then onApplicationShutdown: producer flush, DB close
      await tracing.shutdown();
    })());

  if (opts.handleSignals !== false) {
    let received = false;
    const onSignal = (signal: NodeJS.Signals) => {
      if (received) return; // a second Ctrl-C while draining: keep draining
      received = true;
      logger.log(`${signal} received: shutting down`);
      const timer = setTimeout(() => {
        log.error(`graceful shutdown exceeded ${config.shutdownTimeoutMs} ms; exiting`);
        process.exit(1);
      }, config.shutdownTimeoutMs);
      timer.unref();
      stop().then(
        () => {
          log.info(`${config.service} stopped`);
          process.exit(0);
        },
        (err: unknown) => {
          log.error({ err }, `error during shutdown: ${(err as Error)?.message}`);
          process.exit(1);
        },
      );
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  }

  return { app, ...(transport ? { transport } : {}), port, stop };
}
