import type { IncomingMessage } from 'node:http';
import { context as otelContext, trace } from '@opentelemetry/api';
import pino, { type Logger, type LoggerOptions } from 'pino';
import { redactUrl, type ServiceConfig } from '@agentplane/config';

/**
 * Paths pino masks wherever they appear in a log object. `*` is one level deep, so the common
 * shapes (`{ tenant: { apiKey } }`, `req.headers.authorization`) are covered.
 */
export const REDACT_PATHS: readonly string[] = [
  'authorization',
  'headers.authorization',
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-api-key"]',
  'res.headers["set-cookie"]',
  'apiKey',
  'password',
  'secret',
  'token',
  '*.apiKey',
  '*.password',
  '*.secret',
  '*.token',
  '*.authorization',
  '*.headers.authorization',
  'databaseUrl',
  '*.databaseUrl',
  'DATABASE_URL',
  '*.DATABASE_URL',
];

/** Keeps URLs readable (host, db) while dropping the password; everything else is replaced. */
export function censor(value: unknown): unknown {
  if (typeof value === 'string' && /^[a-z][a-z0-9+.-]*:\/\//i.test(value)) return redactUrl(value);
  return '[Redacted]';
}

const QUIET_ROUTES = new Set(['/health/live', '/health/ready', '/metrics']);

/** pino options shared by the Nest logger and `createLogger`: JSON, ISO time, trace ids, redaction. */
export function pinoOptions(config: ServiceConfig): LoggerOptions {
  return {
    level: config.logLevel,
    base: { service: config.service, pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
    redact: { paths: [...REDACT_PATHS], censor },
    // Correlate logs with traces: whatever span context is active (HTTP request, Kafka message).
    mixin() {
      const sc = trace.getSpanContext(otelContext.active());
      return sc ? { trace_id: sc.traceId, span_id: sc.spanId } : {};
    },
    hooks: {
      // Connection strings end up in error messages (pg, typeorm); scrub passwords from them.
      logMethod(args, method) {
        method.apply(
          this,
          args.map((a) => (typeof a === 'string' ? redactUrl(a) : a)) as Parameters<typeof method>,
        );
      },
    },
  };
}

/** A plain pino logger for code outside Nest (boot failures, CLIs, scripts). */
export function createLogger(config: ServiceConfig): Logger {
  return pino(pinoOptions(config));
}

/** nestjs-pino `pinoHttp` params: one log line per request, probes and scrapes left out. */
export function pinoHttpOptions(config: ServiceConfig) {
  return {
    ...pinoOptions(config),
    autoLogging: { ignore: (req: IncomingMessage) => QUIET_ROUTES.has((req.url ?? '').split('?')[0]) },
    customLogLevel: (_req: IncomingMessage, res: { statusCode: number }, err?: Error) =>
      err || res.statusCode >= 500 ? 'error' : res.statusCode >= 400 ? 'warn' : 'info',
  };
}
