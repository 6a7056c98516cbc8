import { Injectable, type CallHandler, type ExecutionContext, type NestInterceptor } from '@nestjs/common';
import { SpanKind, SpanStatusCode, context } from '@opentelemetry/api';
import { Observable } from 'rxjs';
import { extractTraceContext, headerGetter, startSpan, type HeaderCarrier } from './tracing';

interface EventLike {
  type?: unknown;
  traceparent?: unknown;
  tracestate?: unknown;
}

/**
 * Runs every @EventPattern handler inside a CONSUMER span continuing the trace of the message
 * (the `traceparent` Kafka header, else the CloudEvents `traceparent` extension, which is all a
 * kcat producer may send). Everything the handler does — logs, `currentTraceparent()` for the
 * events it emits — then belongs to the producer's trace.
 */
@Injectable()
export class TraceContextInterceptor implements NestInterceptor {
  intercept(ctx: ExecutionContext, next: CallHandler): Observable<unknown> {
    if (ctx.getType() !== 'rpc') return next.handle();
    const rpc = ctx.switchToRpc();
    const event = (rpc.getData() ?? {}) as EventLike;
    const rctx = rpc.getContext() as { getHeaders?: () => HeaderCarrier } | undefined;
    const headers: HeaderCarrier = { ...(typeof rctx?.getHeaders === 'function' ? rctx.getHeaders() : {}) };
    if (headerGetter.get(headers, 'traceparent') === undefined && typeof event.traceparent === 'string') {
      headers.traceparent = event.traceparent;
      if (typeof event.tracestate === 'string') headers.tracestate = event.tracestate;
    }
    const name = `consume ${typeof event.type === 'string' ? event.type : 'event'}`;
    const { span, ctx: otelCtx } = startSpan(name, SpanKind.CONSUMER, extractTraceContext(headers));
    return new Observable((sub) => {
      // Nest calls the handler on subscription, so subscribing inside context.with makes the
      // span the active context for the handler and all its async continuations.
      const inner = context.with(otelCtx, () =>
        next.handle().subscribe({
          next: (v) => sub.next(v),
          error: (err: unknown) => {
            span.recordException(err as Error);
            span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error)?.message });
            span.end();
            sub.error(err);
          },
          complete: () => {
            span.end();
            sub.complete();
          },
        }),
      );
      return () => inner.unsubscribe();
    });
  }
}
