import { isIP } from 'node:net';
import { performance } from 'node:perf_hooks';
import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { deterministicEventId, makeEvent, type WebhookDeliveryStatus } from '@agentplane/contracts';
import type { GatewaySettings, ServiceConfig } from '@agentplane/config';
import { topicName } from '@agentplane/infra';
import { EventProducer } from '@agentplane/messaging';
import { SERVICE_CONFIG } from '@agentplane/platform';
import { blockedAddressReason, blockedReasonOf, sandboxDispatcher } from '@agentplane/sandbox';
import { resolveSecretRef } from '@agentplane/tools';
import { webhookHeaders } from '@agentplane/webhooks';
import { TenantDirectory } from './auth';
import { GATEWAY_SETTINGS } from './sessions.service';

interface DeliveryRow {
  webhook_id: string;
  session_id: string;
  tenant_id: string;
  event_type: string;
  url: string;
  body: string;
  attempts: number;
}

/**
 * The SSRF rules for webhook targets: http(s) only, no credentials, and no loopback, private,
 * link-local, metadata or other special address — as a literal here, and on every address DNS
 * answers at connect time (the sandbox's lookup). Hosts in `allowedHosts` are exempt.
 */
export function checkWebhookUrl(raw: string, allowedHosts: readonly string[]): string | undefined {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    return 'not a valid URL';
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return `scheme ${u.protocol} is not allowed (only http and https)`;
  if (u.username || u.password) return 'credentials in the URL are not allowed';
  const host = u.hostname.toLowerCase().replace(/^\[|\]$/g, '');
  if (allowedHosts.some((h) => h.toLowerCase() === host || h.toLowerCase() === u.host.toLowerCase())) return undefined;
  if (isIP(host)) {
    const why = blockedAddressReason(host);
    if (why) return `${u.host} is blocked: ${why}`;
  } else if (host === 'localhost' || host.endsWith('.localhost') || host.endsWith('.internal') || host === 'metadata') {
    return `${u.host} is blocked: a local or metadata host name`;
  }
  return undefined;
}

/**
 * Delivers session outcomes to their webhookUrl. Deliveries live in `webhook_deliveries` (queued
 * with the terminal event's projection), so they survive restarts; any instance claims due ones
 * under a lease. Each attempt is signed afresh (Standard Webhooks), a 2xx is success and
 * anything else — 3xx included, redirects are not followed — is retried on the backoff schedule;
 * every attempt is published as `webhook.delivery.attempted` on control-events.
 */
@Injectable()
export class WebhookDispatcher implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly log = new Logger('Webhooks');
  private readonly topic: string;
  private readonly dispatcher: ReturnType<typeof sandboxDispatcher>;
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private again = false;
  private stopped = false;

  constructor(
    @Inject(SERVICE_CONFIG) config: ServiceConfig,
    @Inject(GATEWAY_SETTINGS) private readonly settings: GatewaySettings,
    private readonly ds: DataSource,
    private readonly producer: EventProducer,
    private readonly tenants: TenantDirectory,
  ) {
    this.topic = topicName(config.topicPrefix, 'control-events');
    this.dispatcher = sandboxDispatcher({ allowedHosts: [...settings.webhooks.allowedHosts] });
  }

  onApplicationBootstrap(): void {
    this.timer = setInterval(() => this.kick(), this.settings.webhooks.pollMs);
    this.timer.unref();
    this.kick(); // deliveries left due by the previous run
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await this.running?.catch(() => undefined);
    await this.dispatcher.close().catch(() => undefined);
  }

  /** Looks for due deliveries now (coalesced: one pass at a time, one more if kicked meanwhile). */
  kick(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.pass()
      .catch((err: Error) => this.log.warn(`webhook pass failed: ${err.message}`))
      .finally(() => {
        this.running = undefined;
        if (this.again) {
          this.again = false;
          this.kick();
        }
      });
  }

  private async pass(): Promise<void> {
    for (;;) {
      const lease = this.settings.webhooks.timeoutMs * 2 + 5_000;
      const res: unknown = await this.ds.query(
        `UPDATE webhook_deliveries SET lease_until = now() + ($2::int * interval '1 millisecond')
         WHERE webhook_id IN (
           SELECT webhook_id FROM webhook_deliveries
           WHERE status = 'pending' AND next_attempt_at <= now() AND (lease_until IS NULL OR lease_until < now())
           ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED)
         RETURNING webhook_id, session_id, tenant_id, event_type, url, body, attempts`,
        [32, lease],
      );
      const rows = (Array.isArray(res) && Array.isArray(res[0]) ? res[0] : res) as DeliveryRow[];
      if (rows.length === 0 || this.stopped) return;
      await Promise.all(rows.map((r) => this.attempt(r).catch((err: Error) => this.log.warn(`delivery ${r.webhook_id}: ${err.message}`))));
    }
  }

  private async attempt(row: DeliveryRow): Promise<void> {
    const attempt = row.attempts + 1;
    const started = performance.now();
    let httpStatus: number | undefined;
    let error: string | undefined;
    const blocked = checkWebhookUrl(row.url, this.settings.webhooks.allowedHosts);
    const tenant = this.tenants.config.byId.get(row.tenant_id);
    let secret: string | undefined;
    try {
      secret = resolveSecretRef(tenant?.webhookSecret, this.settings.secretEnv);
    } catch (err) {
      error = (err as Error).message;
    }
    if (blocked) error = `refused by the SSRF rules: ${blocked}`;
    else if (!error && !secret) error = `tenant ${row.tenant_id} has no webhook secret (tenants.yaml webhookSecret, resolved from the environment)`;
    else if (!error) {
      try {
        const res = await fetch(row.url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'user-agent': 'agentplane-webhooks/1', ...webhookHeaders(secret!, row.webhook_id, row.body) },
          body: row.body,
          redirect: 'manual',
          signal: AbortSignal.timeout(this.settings.webhooks.timeoutMs),
          dispatcher: this.dispatcher,
        } as RequestInit);
        httpStatus = res.status;
        await res.arrayBuffer().catch(() => undefined);
        if (res.status < 200 || res.status > 299) error = `receiver answered ${res.status}${res.status >= 300 && res.status < 400 ? ' (redirects are not followed)' : ''}`;
      } catch (err) {
        const why = blockedReasonOf(err);
        const cause = (err as { cause?: { code?: string; message?: string } }).cause;
        error = why
          ? `refused by the SSRF rules: ${why}`
          : (err as Error).name === 'TimeoutError'
            ? `no answer within ${this.settings.webhooks.timeoutMs} ms`
            : `request failed: ${cause?.code ?? cause?.message ?? (err as Error).message}`;
      }
    }
    const latencyMs = Math.round(performance.now() - started);
    const backoff = this.settings.webhooks.backoffMs;
    const status: WebhookDeliveryStatus = !error ? 'delivered' : attempt > backoff.length ? 'gave_up' : 'retrying';
    const waitMs = status === 'retrying' ? backoff[attempt - 1]! : 0;
    const nextAttemptAt = status === 'retrying' ? new Date(Date.now() + waitMs).toISOString() : undefined;
    const event = makeEvent(
      'agentplane.webhook.delivery.attempted',
      {
        tenantId: row.tenant_id,
        sessionId: row.session_id,
        webhookId: row.webhook_id,
        eventType: row.event_type,
        url: row.url,
        attempt,
        status,
        ...(httpStatus !== undefined ? { httpStatus } : {}),
        ...(error ? { error: error.slice(0, 2000) } : {}),
        latencyMs,
        ...(nextAttemptAt ? { nextAttemptAt } : {}),
      },
      // One id per (delivery, attempt): a re-published attempt is a duplicate downstream.
      { source: 'agentplane/gateway', id: deterministicEventId('agentplane/gateway', row.webhook_id, String(attempt)) },
    );
    await this.producer.publish(this.topic, event, { key: row.tenant_id }).catch((err: Error) => this.log.warn(`recording attempt ${attempt} of ${row.webhook_id}: ${err.message}`));
    await this.ds.query(
      `UPDATE webhook_deliveries SET attempts = $2, status = $3, last_status = $4, last_error = $5, lease_until = NULL,
         next_attempt_at = CASE WHEN $3 = 'pending' THEN now() + ($6::int * interval '1 millisecond') ELSE next_attempt_at END,
         ended_at = CASE WHEN $3 = 'pending' THEN NULL ELSE now() END
       WHERE webhook_id = $1`,
      [row.webhook_id, attempt, status === 'delivered' ? 'delivered' : status === 'gave_up' ? 'failed' : 'pending', httpStatus ?? null, error ?? null, waitMs],
    );
    if (error) this.log.warn(`webhook ${row.webhook_id} attempt ${attempt} → ${status}: ${error}`);
  }
}
