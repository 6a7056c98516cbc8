import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import type { PoolClient } from 'pg';
import type { ServiceConfig } from '@agentplane/config';
import { deterministicEventId, makeEvent, type AgentplaneEvent } from '@agentplane/contracts';
import { topicName } from '@agentplane/infra';
import { currentMonth, decimalFromUnits, guardrailThresholdUnits, isOverGuardrail } from '@agentplane/ledger';
import { EventProducer } from '@agentplane/messaging';
import { SERVICE_CONFIG } from '@agentplane/platform';
import type { Tenant } from '@agentplane/tools';
import { CostConfig } from './cost-config';
import { OpsMetrics } from './ops-metrics';

/** How often config files are checked and every tenant's guardrail re-evaluated. */
export const GUARDRAIL_TICK_MS = 1000;

export interface GuardrailView {
  tenantId: string;
  month: string;
  tripped: boolean;
  episode: number;
  spendUsd: string;
  forecastUsd: string;
  thresholdUsd: string;
}

/**
 * Budget guardrail: month-to-date spend (inference + tool) strictly above
 * forecast × (1 + guardrailPct/100) publishes `budget.guardrail.tripped` on control-events;
 * back under (forecast raised, new month) publishes `cleared`. Evaluated in the transaction
 * that booked the spend, under the state row's lock, and the event is published before that
 * transaction commits: a crash in between replays the same decision with the same episode
 * number, hence the same deterministic event id, which consumers dedupe.
 */
@Injectable()
export class GuardrailService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly log = new Logger('Guardrail');
  private readonly topic: string;
  private timer: NodeJS.Timeout | null = null;
  private ticking = false;

  constructor(
    @Inject(SERVICE_CONFIG) config: ServiceConfig,
    private readonly cfg: CostConfig,
    @Inject(EventProducer) private readonly producer: EventProducer,
    private readonly metrics: OpsMetrics,
  ) {
    this.topic = topicName(config.topicPrefix, 'control-events');
  }

  onApplicationBootstrap(): void {
    const loop = () => {
      this.timer = setTimeout(async () => {
        await this.tick().catch((err: Error) => this.log.warn(`guardrail tick failed: ${err.message}`));
        if (this.timer) loop();
      }, GUARDRAIL_TICK_MS);
      this.timer.unref();
    };
    loop();
  }

  onApplicationShutdown(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  /** After spend was booked for (tenant, month), inside that transaction. Only the current month trips. */
  async afterSpend(db: PoolClient, tenantId: string, month: string): Promise<void> {
    if (month !== currentMonth()) return;
    const tenant = this.cfg.tenants.byId.get(tenantId);
    if (tenant) await this.evaluate(db, tenant, month);
  }

  /** Config reload and month change: re-evaluate every tenant, clear stale months. */
  async tick(): Promise<void> {
    if (this.ticking) return;
    this.ticking = true;
    try {
      await this.cfg.reloadIfChanged();
      const month = currentMonth();
      for (const tenant of this.cfg.tenants.tenants) await this.inTx((db) => this.evaluate(db, tenant, month));
      // A tripped state of an earlier month, or of a tenant no longer configured, is cleared.
      const stale = await this.cfg.pool.query<{ tenant_id: string; month: string }>(
        `SELECT tenant_id, month FROM guardrail_state WHERE tripped AND (month <> $1 OR NOT (tenant_id = ANY($2)))`,
        [month, this.cfg.tenants.tenants.map((t) => t.id)],
      );
      for (const s of stale.rows) await this.inTx((db) => this.clearStale(db, s.tenant_id, s.month));
    } finally {
      this.ticking = false;
    }
  }

  private async inTx(fn: (db: PoolClient) => Promise<void>): Promise<void> {
    const db = await this.cfg.pool.connect();
    try {
      await db.query('BEGIN');
      await fn(db);
      await db.query('COMMIT');
    } catch (err) {
      await db.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      db.release();
    }
  }

  private async lockState(db: PoolClient, tenantId: string, month: string): Promise<{ tripped: boolean; episode: number }> {
    await db.query(`INSERT INTO guardrail_state (tenant_id, month) VALUES ($1, $2) ON CONFLICT DO NOTHING`, [tenantId, month]);
    const r = await db.query<{ tripped: boolean; episode: number }>(
      `SELECT tripped, episode FROM guardrail_state WHERE tenant_id = $1 AND month = $2 FOR UPDATE`,
      [tenantId, month],
    );
    return r.rows[0];
  }

  private async evaluate(db: PoolClient, tenant: Tenant, month: string): Promise<void> {
    const st = await this.lockState(db, tenant.id, month);
    const r = await db.query<{ spend: string | null }>(
      `SELECT (inference_usd + tool_usd)::text AS spend FROM tenant_months WHERE tenant_id = $1 AND month = $2`,
      [tenant.id, month],
    );
    const spend = unitsOf(r.rows[0]?.spend ?? '0');
    const threshold = guardrailThresholdUnits(tenant.monthlyForecastUsd, tenant.guardrailPct);
    const over = isOverGuardrail(spend, threshold);
    const view = {
      tenantId: tenant.id, month, spendUsd: decimalFromUnits(spend), forecastUsd: decimalFromUnits(unitsOf(tenant.monthlyForecastUsd)),
      thresholdUsd: decimalFromUnits(threshold),
    };
    this.metrics.guardrailRatio.set({ tenant: tenant.id }, threshold > 0n ? Number((spend * 1_000_000n) / threshold) / 1_000_000 : 0);
    let tripped = st.tripped;
    let episode = st.episode;
    if (over && !st.tripped) {
      episode += 1;
      tripped = true;
      await this.publish('agentplane.budget.guardrail.tripped', view, episode);
    } else if (!over && st.tripped) {
      tripped = false;
      await this.publish('agentplane.budget.guardrail.cleared', view, episode);
    }
    this.metrics.guardrailTripped.set({ tenant: tenant.id }, tripped ? 1 : 0);
    await db.query(
      `UPDATE guardrail_state SET tripped = $3, episode = $4, spend_usd = $5, forecast_usd = $6, threshold_usd = $7,
              changed_at = CASE WHEN tripped <> $3 THEN now() ELSE changed_at END
        WHERE tenant_id = $1 AND month = $2`,
      [tenant.id, month, tripped, episode, view.spendUsd, view.forecastUsd, view.thresholdUsd],
    );
  }

  private async clearStale(db: PoolClient, tenantId: string, month: string): Promise<void> {
    const st = await this.lockState(db, tenantId, month);
    if (!st.tripped) return;
    const r = await db.query<{ spend_usd: string; forecast_usd: string; threshold_usd: string }>(
      `SELECT spend_usd::text, forecast_usd::text, threshold_usd::text FROM guardrail_state WHERE tenant_id = $1 AND month = $2`,
      [tenantId, month],
    );
    const row = r.rows[0];
    await this.publish(
      'agentplane.budget.guardrail.cleared',
      { tenantId, month, spendUsd: canon(row.spend_usd), forecastUsd: canon(row.forecast_usd), thresholdUsd: canon(row.threshold_usd) },
      st.episode,
    );
    await db.query(`UPDATE guardrail_state SET tripped = false, changed_at = now() WHERE tenant_id = $1 AND month = $2`, [tenantId, month]);
    if (month === currentMonth() || !this.cfg.tenants.byId.has(tenantId)) this.metrics.guardrailTripped.set({ tenant: tenantId }, 0);
  }

  private async publish(
    type: 'agentplane.budget.guardrail.tripped' | 'agentplane.budget.guardrail.cleared',
    data: { tenantId: string; month: string; spendUsd: string; forecastUsd: string; thresholdUsd: string },
    episode: number,
  ): Promise<void> {
    const event = makeEvent(type, data, {
      source: 'cost-accounting',
      id: deterministicEventId(type, data.tenantId, data.month, episode),
    }) as AgentplaneEvent;
    await this.producer.publish(this.topic, event);
    this.metrics.guardrailEvents.inc({ tenant: data.tenantId, type: type.endsWith('tripped') ? 'tripped' : 'cleared' });
    this.log.log(`${type} ${data.tenantId} ${data.month}: spend ${data.spendUsd} vs threshold ${data.thresholdUsd} (episode ${episode})`);
  }

  /** Guardrail state of every (tenant, month) row, for the API and dashboard. */
  async states(tenantId?: string): Promise<GuardrailView[]> {
    const r = await this.cfg.pool.query<{
      tenant_id: string; month: string; tripped: boolean; episode: number; spend_usd: string; forecast_usd: string; threshold_usd: string;
    }>(
      `SELECT tenant_id, month, tripped, episode, spend_usd::text, forecast_usd::text, threshold_usd::text FROM guardrail_state
        WHERE ($1::text IS NULL OR tenant_id = $1) ORDER BY tenant_id, month`,
      [tenantId ?? null],
    );
    return r.rows.map((x) => ({
      tenantId: x.tenant_id, month: x.month, tripped: x.tripped, episode: x.episode,
      spendUsd: canon(x.spend_usd), forecastUsd: canon(x.forecast_usd), thresholdUsd: canon(x.threshold_usd),
    }));
  }
}

function unitsOf(s: string): bigint {
  return decimalToUnitsLoose(s);
}

/** numeric text ("12.340000000") → canonical decimal ("12.34"). */
export function canon(s: string | null | undefined): string {
  return decimalFromUnits(decimalToUnitsLoose(s ?? '0'));
}

function decimalToUnitsLoose(s: string): bigint {
  const m = /^(-?)(\d+)(?:\.(\d+))?$/.exec(s.trim());
  if (!m) throw new RangeError(`not a decimal: ${s}`);
  const frac = (m[3] ?? '').slice(0, 9).padEnd(9, '0');
  const u = BigInt(m[2]) * 1_000_000_000n + BigInt(frac);
  return m[1] ? -u : u;
}
