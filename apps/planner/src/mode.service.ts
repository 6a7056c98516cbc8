import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { makeEvent, type AgentplaneEvent, type PlannerMode } from '@agentplane/contracts';
import type { PlannerSettings, ServiceConfig } from '@agentplane/config';
import { topicName } from '@agentplane/infra';
import { EventProducer } from '@agentplane/messaging';
import { SERVICE_CONFIG } from '@agentplane/platform';
import type { ModeChange } from './quality';
import { QualityMonitor } from './quality';
import { PLANNER_SETTINGS, QUALITY_MONITOR } from './tokens';

type ModeChanged = AgentplaneEvent<'agentplane.planner.mode.changed'>;

/**
 * Each tenant's planner mode. The monitor decides a change from observed passes; the change is
 * published on control-events (keyed by tenant) and applied from there like anyone's: kept in
 * memory and in `planner_modes`, which is read back at boot so a restart keeps the mode.
 * Planner instances share one consumer group, so each control-events partition reaches one of
 * them: every instance also reads `planner_modes` every PLANNER_MODE_REFRESH_MS, which is how
 * a change applied by another instance reaches this one.
 */
@Injectable()
export class ModeService implements OnModuleInit, OnApplicationBootstrap, OnApplicationShutdown {
  private readonly log = new Logger('PlannerMode');
  private readonly topic: string;
  private refresher?: NodeJS.Timeout;

  constructor(
    @Inject(SERVICE_CONFIG) config: ServiceConfig,
    @Inject(PLANNER_SETTINGS) private readonly settings: PlannerSettings,
    @Inject(QUALITY_MONITOR) private readonly monitor: QualityMonitor,
    private readonly ds: DataSource,
    private readonly producer: EventProducer,
  ) {
    this.topic = topicName(config.topicPrefix, 'control-events');
  }

  async onModuleInit(): Promise<void> {
    const fallback = (await this.refresh()).filter((c) => c.mode === 'fallback').map((c) => c.tenantId);
    if (fallback.length > 0) this.log.warn(`tenants in fallback mode at boot: ${fallback.join(', ')}`);
  }

  onApplicationBootstrap(): void {
    this.refresher = setInterval(() => {
      this.refresh().then(
        (changes) => changes.forEach((c) => this.log.warn(`tenant ${c.tenantId}: planner mode → ${c.mode} (applied by another instance)`)),
        (err: Error) => this.log.warn(`reading planner modes failed: ${err.message}`),
      );
    }, this.settings.quality.modeRefreshMs);
    this.refresher.unref();
  }

  onApplicationShutdown(): void {
    if (this.refresher) clearInterval(this.refresher);
  }

  /**
   * Applies every tenant's stored mode (a stored fact older than the one in memory changes
   * nothing) and returns the tenants whose mode it changed.
   */
  async refresh(): Promise<Array<{ tenantId: string; mode: PlannerMode }>> {
    const rows: Array<{ tenant_id: string; mode: PlannerMode; changed_at: Date }> = await this.ds.query(`SELECT tenant_id, mode, changed_at FROM planner_modes`);
    const changed: Array<{ tenantId: string; mode: PlannerMode }> = [];
    for (const r of rows) {
      const was = this.monitor.mode(r.tenant_id);
      if (this.monitor.setMode(r.tenant_id, r.mode, new Date(r.changed_at).getTime()) && was !== r.mode) changed.push({ tenantId: r.tenant_id, mode: r.mode });
    }
    return changed;
  }

  mode(tenantId: string): PlannerMode {
    return this.monitor.mode(tenantId);
  }

  /** One LLM step's pass (real, or a shadow call in fallback). */
  observe(tenantId: string, model: string, pass: boolean): void {
    const change = this.monitor.observe(tenantId, `${model}@${this.settings.quality.version}`, pass);
    if (change) void this.announce(change);
  }

  private async announce(ch: ModeChange): Promise<void> {
    const event = makeEvent('agentplane.planner.mode.changed', { tenantId: ch.tenantId, mode: ch.mode, passRate: ch.passRate, window: ch.window }, { source: 'agentplane/planner' });
    // Applied here at once so the steps planned meanwhile follow it (and the change fires once).
    this.monitor.setMode(ch.tenantId, ch.mode, Date.parse(event.time));
    this.log.warn(`tenant ${ch.tenantId}: planner mode → ${ch.mode} (pass rate ${ch.passRate} over ${ch.window} steps)`);
    try {
      await this.producer.publish(this.topic, event, { key: ch.tenantId });
      await this.apply(event);
    } catch (err) {
      this.log.error(`publishing planner.mode.changed for ${ch.tenantId} failed: ${(err as Error).message}`);
    }
  }

  /** A planner.mode.changed fact from control-events; an older fact never overrides a newer one. */
  async apply(e: ModeChanged): Promise<void> {
    const at = Date.parse(e.time);
    this.monitor.setMode(e.data.tenantId, e.data.mode, at);
    await this.ds.query(
      `INSERT INTO planner_modes (tenant_id, mode, pass_rate, window_size, event_id, changed_at) VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (tenant_id) DO UPDATE SET mode = EXCLUDED.mode, pass_rate = EXCLUDED.pass_rate, window_size = EXCLUDED.window_size,
         event_id = EXCLUDED.event_id, changed_at = EXCLUDED.changed_at
       WHERE planner_modes.changed_at <= EXCLUDED.changed_at`,
      [e.data.tenantId, e.data.mode, e.data.passRate, e.data.window, e.id, e.time],
    );
  }
}
