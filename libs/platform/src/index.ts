export { bootstrapService, type BootstrapOptions, type RunningService, type TransportOptions } from './bootstrap';
export {
  MIGRATIONS_TABLE,
  createDataSource,
  initializeDatabase,
  markProcessed,
  quoteIdent,
  type DatabaseOptions,
  type EntityList,
  type MigrationList,
} from './database';
export { HealthController } from './health.controller';
export { httpObservability } from './http-middleware';
export { createKafkaClient, type KafkaClient } from './kafka';
export { REDACT_PATHS, censor, createLogger, pinoHttpOptions, pinoOptions } from './logging';
export { MetricsController } from './metrics.controller';
export { LATENCY_BUCKETS, MetricsService, type MessageOutcome } from './metrics';
export { PlatformModule, type PlatformOptions } from './platform.module';
export { ReadinessRegistry, type ProbeResult, type ReadinessProbe, type ReadinessReport } from './readiness';
export { KAFKA_CLIENT, SERVICE_CONFIG } from './tokens';
export { TraceContextInterceptor } from './trace.interceptor';
export {
  currentTraceparent,
  extractTraceContext,
  headerGetter,
  headerSetter,
  initTracing,
  injectTraceContext,
  installTracePropagation,
  startSpan,
  tracer,
  withConsumerSpan,
  type HeaderCarrier,
  type HeaderValue,
  type TracingHandle,
} from './tracing';
export { Init1764028800000 } from './init.migration';
