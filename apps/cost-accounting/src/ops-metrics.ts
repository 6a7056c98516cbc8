import { Inject, Injectable } from '@nestjs/common';
import type { Counter, Gauge, Histogram } from 'prom-client';
import { decimalFromUnits, type Fact } from '@agentplane/ledger';
import { KAFKA_CLIENT, MetricsService, SERVICE_CONFIG, type KafkaClient } from '@agentplane/platform';
import type { ServiceConfig } from '@agentplane/config';
import { topicName } from '@agentplane/infra';
import type { Contribution } from '@agentplane/ledger';

/**
 * The cost and success signals on /metrics, counted when an event is first applied live.
 * docs/alerts.yml builds its rules on these (rates over counters), plus consumer lag.
 */
@Injectable()
export class OpsMetrics {
  readonly spend: Counter<'tenant' | 'kind'>;
  readonly plannerSteps: Counter<'tenant' | 'pass'>;
  readonly toolCalls: Counter<'tenant' | 'tool' | 'outcome'>;
  readonly toolRetries: Counter<'tenant' | 'tool'>;
  readonly sessionsEnded: Counter<'tenant' | 'status'>;
  readonly unpriced: Counter<'model'>;
  readonly plannerLatency: Histogram<'tenant'>;
  readonly toolLatency: Histogram<'tool'>;
  readonly guardrailTripped: Gauge<'tenant'>;
  readonly guardrailRatio: Gauge<'tenant'>;
  readonly guardrailEvents: Counter<'tenant' | 'type'>;
  readonly lag: Gauge<'topic'>;
  private lagAt = 0;

  constructor(
    metrics: MetricsService,
    @Inject(KAFKA_CLIENT) kafka: KafkaClient,
    @Inject(SERVICE_CONFIG) config: ServiceConfig,
  ) {
    this.spend = metrics.counter('agentplane_cost_usd_total', 'Spend booked in the ledger, USD (display; the ledger is exact)', ['tenant', 'kind']);
    this.plannerSteps = metrics.counter('agentplane_planner_steps_total', 'Planner steps by pass (a failed step does not pass)', ['tenant', 'pass']);
    this.toolCalls = metrics.counter('agentplane_tool_calls_total', 'Tool call outcomes (succeeded, failed, rejected)', ['tenant', 'tool', 'outcome']);
    this.toolRetries = metrics.counter('agentplane_tool_retries_total', 'Execution retries (attempts beyond the first)', ['tenant', 'tool']);
    this.sessionsEnded = metrics.counter('agentplane_sessions_ended_total', 'Sessions that ended, by status', ['tenant', 'status']);
    this.unpriced = metrics.counter('agentplane_cost_unpriced_steps_total', 'Planner steps whose model has no price (booked at 0 or the planner figure)', ['model']);
    this.plannerLatency = metrics.histogram('agentplane_planner_step_latency_seconds', 'Planner step latency', ['tenant']);
    this.toolLatency = metrics.histogram('agentplane_tool_call_latency_seconds', 'Tool call latency (all attempts)', ['tool']);
    this.guardrailTripped = metrics.gauge('agentplane_budget_guardrail_tripped', '1 while the tenant\'s month-to-date spend is over its guardrail', ['tenant']);
    this.guardrailRatio = metrics.gauge('agentplane_budget_spend_ratio', 'Month-to-date spend / guardrail threshold', ['tenant']);
    this.guardrailEvents = metrics.counter('agentplane_budget_guardrail_events_total', 'Guardrail tripped/cleared events published', ['tenant', 'type']);
    const topic = topicName(config.topicPrefix, 'session-events');
    const group = config.kafka.groupId;
    const self = this;
    this.lag = metrics.gauge('agentplane_consumer_lag_messages', 'Records of the topic not yet consumed by this service\'s group', ['topic']);
    // Measured on scrape (at most every 5 s): end offsets minus the group's committed offsets.
    (this.lag as unknown as { collect?: () => Promise<void> }).collect = async function collect() {
      if (Date.now() - self.lagAt < 5000) return;
      self.lagAt = Date.now();
      const admin = kafka.admin();
      try {
        await admin.connect();
        const [ends, committed] = await Promise.all([admin.fetchTopicOffsets(topic), admin.fetchOffsets({ groupId: group, topics: [topic] })]);
        const c = new Map<number, number>();
        for (const t of committed) for (const p of t.partitions) c.set(p.partition, Number(p.offset));
        let lag = 0;
        for (const p of ends) {
          const at = c.get(p.partition) ?? -1;
          lag += Number(p.high) - (at < 0 ? Number(p.low) : at);
        }
        self.lag.set({ topic }, lag);
      } catch {
        // topic missing or broker away: keep the last value
      } finally {
        await admin.disconnect().catch(() => undefined);
      }
    };
  }

  /** Counts one live-applied fact. */
  observe(f: Fact, c: Contribution): void {
    switch (f.kind) {
      case 'step': {
        const amount = Number(decimalFromUnits((c.ledger?.amount_usd as bigint) ?? 0n));
        this.spend.inc({ tenant: f.tenantId, kind: 'inference' }, amount);
        this.plannerSteps.inc({ tenant: f.tenantId, pass: String(f.pass) });
        this.plannerLatency.observe({ tenant: f.tenantId }, f.latencyMs / 1000);
        if (c.ledger?.price_version === 'unpriced') this.unpriced.inc({ model: f.model });
        break;
      }
      case 'tool':
        this.spend.inc({ tenant: f.tenantId, kind: 'tool' }, Number(f.costUsd));
        this.toolCalls.inc({ tenant: f.tenantId, tool: f.tool, outcome: f.ok ? 'succeeded' : 'failed' });
        if (f.attempts > 1) this.toolRetries.inc({ tenant: f.tenantId, tool: f.tool }, f.attempts - 1);
        this.toolLatency.observe({ tool: f.tool }, f.latencyMs / 1000);
        break;
      case 'tool-rejected':
        this.toolCalls.inc({ tenant: f.tenantId, tool: f.tool, outcome: 'rejected' });
        break;
      case 'session':
        if (f.status !== 'running') this.sessionsEnded.inc({ tenant: f.tenantId, status: f.status });
        break;
      default:
        break;
    }
  }
}
