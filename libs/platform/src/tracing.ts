/**
 * W3C trace context across HTTP and Kafka. Always on: an AsyncLocalStorage context manager and
 * the W3C `traceparent`/`tracestate` propagator, so a trace id entering at the gateway follows
 * the session through every hop and into the logs. Span export is optional: only when
 * OTEL_EXPORTER_OTLP_ENDPOINT is configured is the SDK loaded (lazily) and spans sent by OTLP.
 *
 * No Nest or kafkajs imports here, so the messaging layer can use it for consumer spans.
 */
import { randomBytes } from 'node:crypto';
import {
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  TraceFlags,
  context,
  propagation,
  trace,
  type Context,
  type Span,
  type TextMapGetter,
  type TextMapSetter,
} from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';

/** Header values as kafkajs and node:http hand them over. */
export type HeaderValue = string | Buffer | Array<string | Buffer> | undefined;
export type HeaderCarrier = Record<string, HeaderValue>;

const first = (v: HeaderValue): string | undefined => {
  const one = Array.isArray(v) ? v[0] : v;
  return one === undefined ? undefined : Buffer.isBuffer(one) ? one.toString('utf8') : String(one);
};

/** Reads Kafka (Buffer) and HTTP (string, lower-cased) headers alike. */
export const headerGetter: TextMapGetter<HeaderCarrier> = {
  keys: (carrier) => Object.keys(carrier),
  get: (carrier, key) => {
    const direct = carrier[key];
    if (direct !== undefined) return first(direct);
    const k = Object.keys(carrier).find((c) => c.toLowerCase() === key);
    return k === undefined ? undefined : first(carrier[k]);
  },
};

export const headerSetter: TextMapSetter<Record<string, unknown>> = {
  set: (carrier, key, value) => {
    carrier[key] = value;
  },
};

let installed = false;

/** Idempotent; `initTracing` calls it, tests and scripts may call it directly. */
export function installTracePropagation(): void {
  if (installed) return;
  installed = true;
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
}

export interface TracingHandle {
  /** True when spans are exported (an OTLP endpoint is configured and the SDK loaded). */
  readonly exporting: boolean;
  shutdown(): Promise<void>;
}

/**
 * Sets up propagation and, when `otlpEndpoint` is given, an OTLP/HTTP span exporter. The SDK
 * is required lazily so services without an endpoint never load it; if it is missing the
 * service still runs and says why spans are not exported.
 */
export async function initTracing(opts: {
  service: string;
  otlpEndpoint?: string;
  warn?: (msg: string) => void;
}): Promise<TracingHandle> {
  installTracePropagation();
  if (!opts.otlpEndpoint) return { exporting: false, shutdown: async () => undefined };
  try {
    /* eslint-disable @typescript-eslint/no-require-imports */
    const { TracerProvider, BatchSpanProcessor } = require('@opentelemetry/sdk-trace') as typeof import('@opentelemetry/sdk-trace');
    const { OTLPTraceExporter } = require('@opentelemetry/exporter-trace-otlp-http') as typeof import('@opentelemetry/exporter-trace-otlp-http');
    const { resourceFromAttributes } = require('@opentelemetry/resources') as typeof import('@opentelemetry/resources');
    /* eslint-enable @typescript-eslint/no-require-imports */
    const url = `${opts.otlpEndpoint.replace(/\/+$/, '')}/v1/traces`;
    const provider = new TracerProvider({
      resource: resourceFromAttributes({ 'service.name': `agentplane-${opts.service}`, 'service.namespace': 'agentplane' }),
      spanProcessors: [new BatchSpanProcessor({ exporter: new OTLPTraceExporter({ url }) })],
    });
    trace.setGlobalTracerProvider(provider);
    return {
      exporting: true,
      shutdown: async () => {
        await provider.shutdown(); // flushes pending spans
      },
    };
  } catch (err) {
    opts.warn?.(`tracing: OTLP export disabled, SDK could not be loaded: ${(err as Error).message}`);
    return { exporting: false, shutdown: async () => undefined };
  }
}

export function tracer() {
  return trace.getTracer('agentplane');
}

/** Context carried by incoming headers (HTTP request or Kafka message); ROOT when none. */
export function extractTraceContext(headers: HeaderCarrier | undefined, parent: Context = ROOT_CONTEXT): Context {
  return headers ? propagation.extract(parent, headers, headerGetter) : parent;
}

/**
 * Writes `traceparent` (and `tracestate`) of `ctx` into `headers`, returning them; strings,
 * which both kafkajs and node:http accept. A no-op when there is no valid span context.
 */
export function injectTraceContext<T extends Record<string, unknown>>(headers: T, ctx: Context = context.active()): T {
  propagation.inject(ctx, headers, headerSetter);
  return headers;
}

/** The active `traceparent`, if any (e.g. to copy into a CloudEvents extension). */
export function currentTraceparent(ctx: Context = context.active()): string | undefined {
  const h: Record<string, unknown> = {};
  injectTraceContext(h, ctx);
  return typeof h.traceparent === 'string' ? h.traceparent : undefined;
}

/**
 * Starts a span as child of `parent`. Without an exporting SDK the API hands back a
 * non-recording span that still carries the parent's ids; with no parent either, fresh ids are
 * minted so a trace starts here (gateway ingress, producers) and can be followed in logs.
 */
export function startSpan(name: string, kind: SpanKind, parent: Context): { span: Span; ctx: Context } {
  let span = tracer().startSpan(name, { kind }, parent);
  if (!span.spanContext().traceId || span.spanContext().traceId === '00000000000000000000000000000000') {
    const inherited = trace.getSpanContext(parent);
    span = trace.wrapSpanContext({
      traceId: inherited?.traceId ?? randomBytes(16).toString('hex'),
      spanId: randomBytes(8).toString('hex'),
      traceFlags: inherited?.traceFlags ?? TraceFlags.NONE,
    });
  }
  return { span, ctx: trace.setSpan(parent, span) };
}

/**
 * Runs `fn` as the handling of one incoming message: a CONSUMER span child of the trace in the
 * message's headers, active for everything `fn` does (logs, produced events). Ends the span
 * and records the error, rethrowing it.
 */
export async function withConsumerSpan<T>(
  name: string,
  headers: HeaderCarrier | undefined,
  fn: (span: Span) => Promise<T> | T,
): Promise<T> {
  const { span, ctx } = startSpan(name, SpanKind.CONSUMER, extractTraceContext(headers));
  try {
    return await context.with(ctx, () => fn(span));
  } catch (err) {
    span.recordException(err as Error);
    span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error)?.message });
    throw err;
  } finally {
    span.end();
  }
}
