import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import type { AgentplaneEvent, SessionEvent } from '@agentplane/contracts';
import type { ServiceConfig } from '@agentplane/config';
import { topicName } from '@agentplane/infra';
import { EventProducer } from '@agentplane/messaging';
import { MetricsService, SERVICE_CONFIG } from '@agentplane/platform';
import type { ToolOutcomeEvent } from '@agentplane/session';
import { PlannerEngine, type Decision } from './planner.engine';
import { ModeService } from './mode.service';
import { PlanCacheStore } from './plan-cache';
import { SessionStore } from './session.store';
import { PLANNER_ENGINE, PLANNER_SETTINGS } from './tokens';
import type { PlannerSettings } from '@agentplane/config';

/** Providers whose steps are not LLM output: they say nothing about the model's quality. */
const NOT_LLM = new Set(['workflow', 'fallback', 'none']);

/**
 * Load state → decide → append → save, one session at a time. Events are appended before the
 * state is saved: a crash in between redelivers the trigger, the decider re-emits the same
 * event ids, and every consumer dedupes them.
 */
@Injectable()
export class PlannerService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly log = new Logger('Planner');
  private readonly topic: string;
  // Requests and session events of one session arrive on two topics; handle them one at a time.
  private readonly locks = new Map<string, Promise<void>>();
  private sweeper?: NodeJS.Timeout;
  /** Where a fact's handling time goes, by phase; W2 prints the means (BENCHMARKS.md). */
  private readonly phase: Record<'load' | 'decide' | 'publish' | 'save', { observe(seconds: number): void }>;

  constructor(
    @Inject(SERVICE_CONFIG) config: ServiceConfig,
    @Inject(PLANNER_SETTINGS) private readonly settings: PlannerSettings,
    @Inject(PLANNER_ENGINE) private readonly engine: PlannerEngine,
    private readonly store: SessionStore,
    private readonly producer: EventProducer<SessionEvent>,
    private readonly modes: ModeService,
    private readonly plans: PlanCacheStore,
    metrics: MetricsService,
  ) {
    this.topic = topicName(config.topicPrefix, 'session-events');
    const h = metrics.histogram('agentplane_planner_phase_seconds', 'Planner fact handling by phase: load, decide, publish, save', ['phase']);
    // Label children bound once: observing then costs no label lookup per fact.
    this.phase = { load: h.labels('load'), decide: h.labels('decide'), publish: h.labels('publish'), save: h.labels('save') };
  }

  onRequested(e: AgentplaneEvent<'agentplane.session.requested'>): Promise<void> {
    return this.run(e.data.sessionId, (s) => this.engine.onRequested(e, s));
  }

  onCancelRequested(e: AgentplaneEvent<'agentplane.session.cancel-requested'>): Promise<void> {
    return this.run(e.data.sessionId, (s) => this.engine.onCancelRequested(e, s));
  }

  onToolOutcome(e: ToolOutcomeEvent): Promise<void> {
    return this.run(e.data.sessionId, (s) => this.engine.onToolOutcome(e, s));
  }

  private run(sessionId: string, decide: (s: Decision['state']) => Promise<Decision> | Decision): Promise<void> {
    const prev = this.locks.get(sessionId) ?? Promise.resolve();
    const next = prev.then(async () => {
      const t0 = performance.now();
      const { state, version } = await this.store.load(sessionId);
      const t1 = performance.now();
      this.phase.load.observe((t1 - t0) / 1000);
      const d = await decide(state);
      let t = performance.now();
      this.phase.decide.observe((t - t1) / 1000);
      // An outcome that only fills in the step (no event to append) still changes the state.
      if (d.events.length > 0) {
        await this.producer.publish(this.topic, d.events);
        this.phase.publish.observe((performance.now() - t) / 1000);
        t = performance.now();
      }
      if (d.state !== state) {
        await this.store.save(sessionId, d.state, version);
        this.phase.save.observe((performance.now() - t) / 1000);
      }
      // After the save: a decision lost to a concurrent save is decided again and counted then.
      this.observe(d.events);
      if (d.cachePlan) await this.plans.put(d.cachePlan).catch((err: Error) => this.log.warn(`caching the plan of ${sessionId}: ${err.message}`));
    });
    const tail = next.catch(() => undefined);
    this.locks.set(sessionId, tail);
    void tail.then(() => {
      if (this.locks.get(sessionId) === tail) this.locks.delete(sessionId);
    });
    return next;
  }

  /** Feeds the pass rate with the LLM's own steps (fallback steps and workflows excluded). */
  private observe(events: readonly SessionEvent[]): void {
    const fallbackSteps = new Set(events.filter((e) => e.type === 'agentplane.planner.fallback.used').map((e) => (e.data as { step: number }).step));
    for (const e of events) {
      if (e.type === 'agentplane.planner.step.completed') {
        if (!NOT_LLM.has(e.data.provider) && !fallbackSteps.has(e.data.step)) this.modes.observe(e.data.tenantId, e.data.model, e.data.pass);
      } else if (e.type === 'agentplane.planner.step.failed') {
        // Errors listed = the model answered with nothing usable; none = no answer (an outage).
        if (!NOT_LLM.has(e.data.provider) && !fallbackSteps.has(e.data.step) && e.data.errors.length > 0) this.modes.observe(e.data.tenantId, e.data.model, false);
      }
    }
  }

  onApplicationBootstrap(): void {
    this.sweeper = setInterval(() => void this.sweep(), this.settings.sweepIntervalMs);
    this.sweeper.unref();
  }

  onApplicationShutdown(): void {
    if (this.sweeper) clearInterval(this.sweeper);
  }

  /** Fails sessions past their deadline; any instance may do it, the version check keeps it single. */
  private async sweep(): Promise<void> {
    try {
      for (const id of await this.store.overdue(100)) {
        await this.run(id, (s) => this.engine.onOverdue(s)).catch((err: Error) => this.log.warn(`deadline of ${id}: ${err.message}`));
      }
    } catch (err) {
      this.log.warn(`deadline sweep failed: ${(err as Error).message}`);
    }
  }
}
