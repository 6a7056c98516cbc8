import { SpanKind, SpanStatusCode, context } from '@opentelemetry/api';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { MetricsService } from './metrics';
import { extractTraceContext, startSpan, type HeaderCarrier } from './tracing';

/**
 * Per request: a SERVER span continuing the caller's `traceparent` (or starting a trace), active
 * for the whole handler so logs and produced events carry it; and the latency histogram by
 * route template, recorded when the response is sent.
 */
export function httpObservability(metrics: MetricsService) {
  return (req: IncomingMessage & { route?: { path?: string } }, res: ServerResponse, next: () => void): void => {
    const start = process.hrtime.bigint();
    const { span, ctx } = startSpan(`HTTP ${req.method ?? 'GET'}`, SpanKind.SERVER, extractTraceContext(req.headers as HeaderCarrier));
    res.on('finish', () => {
      // Route template, e.g. /v1/sessions/:id; unmatched paths share one label value.
      const route: string = req.route?.path ?? 'unmatched';
      metrics.httpRequestDuration.observe(
        { method: req.method ?? 'GET', route, status: String(res.statusCode) },
        Number(process.hrtime.bigint() - start) / 1e9,
      );
      span.updateName(`HTTP ${req.method} ${route}`);
      span.setAttribute('http.response.status_code', res.statusCode);
      if (res.statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
      span.end();
    });
    context.with(ctx, next);
  };
}
