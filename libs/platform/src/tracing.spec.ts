import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SpanKind, context, trace } from '@opentelemetry/api';
import {
  currentTraceparent,
  extractTraceContext,
  initTracing,
  injectTraceContext,
  startSpan,
  withConsumerSpan,
} from './tracing';

const TP = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

test('extracts traceparent from Kafka (Buffer) and HTTP (string) headers', async () => {
  await initTracing({ service: 'test' });
  for (const headers of [{ traceparent: Buffer.from(TP) }, { traceparent: TP }, { Traceparent: TP }]) {
    const sc = trace.getSpanContext(extractTraceContext(headers));
    assert.equal(sc?.traceId, '4bf92f3577b34da6a3ce929d0e0e4736');
    assert.equal(sc?.spanId, '00f067aa0ba902b7');
  }
  assert.equal(trace.getSpanContext(extractTraceContext({})), undefined);
  assert.equal(trace.getSpanContext(extractTraceContext({ traceparent: 'garbage' })), undefined);
});

test('inject writes the active context; nothing when there is none', async () => {
  await initTracing({ service: 'test' });
  assert.deepEqual(injectTraceContext({}), {});
  const h = context.with(extractTraceContext({ traceparent: TP }), () => injectTraceContext({} as Record<string, unknown>));
  assert.equal(h.traceparent, TP);
});

test('a trace starts where none came in, and continues through async work', async () => {
  await initTracing({ service: 'test' });
  const { span, ctx } = startSpan('ingress', SpanKind.SERVER, extractTraceContext({}));
  const traceId = span.spanContext().traceId;
  assert.match(traceId, /^[0-9a-f]{32}$/);
  assert.notEqual(traceId, '0'.repeat(32));
  const later = await context.with(ctx, async () => {
    await new Promise((r) => setImmediate(r));
    return currentTraceparent();
  });
  assert.ok(later?.startsWith(`00-${traceId}-`));
});

test('withConsumerSpan runs the handler in the message trace and rethrows', async () => {
  await initTracing({ service: 'test' });
  const inside = await withConsumerSpan('consume x', { traceparent: Buffer.from(TP) }, async () => currentTraceparent());
  assert.ok(inside?.startsWith('00-4bf92f3577b34da6a3ce929d0e0e4736-'));
  await assert.rejects(
    withConsumerSpan('consume y', {}, () => {
      throw new Error('boom');
    }),
    /boom/,
  );
});

test('OTLP export only when an endpoint is configured', async () => {
  const off = await initTracing({ service: 'test' });
  assert.equal(off.exporting, false);
  // The SDK and exporter are loaded lazily, only here.
  const on = await initTracing({ service: 'test', otlpEndpoint: 'http://127.0.0.1:9' });
  assert.equal(on.exporting, true);
  await on.shutdown();
  trace.disable();
});
