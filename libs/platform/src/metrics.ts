import { Injectable } from '@nestjs/common';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Seconds buckets tuned to the latency budgets of DESIGN.md (sub-ms hops up to 1.5 s answers). */
export const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.4, 0.8, 1.5, 3, 10];

/** Outcomes as the Kafka transport reports them (handled, ignored, dead-lettered, retrying, ...). */
export type MessageOutcome = string;

/**
 * The service's Prometheus registry (one per process, not prom-client's global one, so tests
 * can build several apps in a process). Every series carries a `service` label.
 */
@Injectable()
export class MetricsService {
  readonly registry = new Registry();
  /** Messages handled by a consumer, by outcome. */
  readonly messagesHandled: Counter<'topic' | 'type' | 'outcome'>;
  /** Time spent on one message in this process (decode, handler, retries, dead-lettering). */
  readonly messageHandleSeconds: Histogram<'topic' | 'type' | 'outcome'>;
  /** Record timestamp → outcome: the produce-to-handled hop latency, across processes. */
  readonly messageEndToEndSeconds: Histogram<'topic' | 'type'>;
  /** HTTP server latency by route template (never the raw URL: bounded cardinality). */
  readonly httpRequestDuration: Histogram<'method' | 'route' | 'status'>;

  constructor(service: string) {
    this.registry.setDefaultLabels({ service });
    collectDefaultMetrics({ register: this.registry });
    this.messagesHandled = this.counter('messages_handled_total', 'Messages handled by consumers', [
      'topic',
      'type',
      'outcome',
    ]);
    this.messageHandleSeconds = this.histogram('message_handle_seconds', 'Message handler duration', [
      'topic',
      'type',
      'outcome',
    ]);
    this.messageEndToEndSeconds = this.histogram('message_end_to_end_seconds', 'Produce-to-handled latency', [
      'topic',
      'type',
    ]);
    this.httpRequestDuration = this.histogram('http_request_duration_seconds', 'HTTP request duration', [
      'method',
      'route',
      'status',
    ]);
  }

  /** Get-or-create, so two modules asking for the same metric share it instead of throwing. */
  counter<L extends string>(name: string, help: string, labelNames: readonly L[] = []): Counter<L> {
    const existing = this.registry.getSingleMetric(name);
    if (existing) return existing as Counter<L>;
    return new Counter<L>({ name, help, labelNames, registers: [this.registry] });
  }

  histogram<L extends string>(
    name: string,
    help: string,
    labelNames: readonly L[] = [],
    buckets: number[] = LATENCY_BUCKETS,
  ): Histogram<L> {
    const existing = this.registry.getSingleMetric(name);
    if (existing) return existing as Histogram<L>;
    return new Histogram<L>({ name, help, labelNames, buckets, registers: [this.registry] });
  }

  gauge<L extends string>(name: string, help: string, labelNames: readonly L[] = []): Gauge<L> {
    const existing = this.registry.getSingleMetric(name);
    if (existing) return existing as Gauge<L>;
    return new Gauge<L>({ name, help, labelNames, registers: [this.registry] });
  }

  /** Records one handled message (count + duration) in one call. */
  observeMessage(topic: string, type: string, outcome: MessageOutcome, seconds: number): void {
    this.messagesHandled.inc({ topic, type, outcome });
    this.messageHandleSeconds.observe({ topic, type, outcome }, seconds);
  }

  metrics(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
