import { Inject, Injectable } from '@nestjs/common';
import type { GatewaySettings } from '@agentplane/config';
import { GATEWAY_SETTINGS } from './sessions.service';

/**
 * Planner step latency as the log reports it (planner.step.completed / failed `latencyMs`): the
 * most recent `window` steps no older than `maxAgeMs` by event time, so a projection rebuild
 * reading old history does not count and a quiet period forgets a past slowdown.
 */
@Injectable()
export class PlannerLatency {
  private readonly samples: Array<{ ms: number; at: number }> = [];

  constructor(@Inject(GATEWAY_SETTINGS) private readonly settings: GatewaySettings) {}

  observe(latencyMs: number, at: number, now = Date.now()): void {
    if (now - at > this.settings.latency.maxAgeMs) return;
    this.samples.push({ ms: latencyMs, at });
    if (this.samples.length > this.settings.latency.window) this.samples.splice(0, this.samples.length - this.settings.latency.window);
  }

  /** p95 of the live samples (nearest rank), undefined with fewer than minSamples. */
  p95(now = Date.now()): number | undefined {
    const live = this.samples.filter((s) => now - s.at <= this.settings.latency.maxAgeMs).map((s) => s.ms);
    if (live.length < this.settings.latency.minSamples) return undefined;
    live.sort((a, b) => a - b);
    return live[Math.min(live.length - 1, Math.ceil(0.95 * live.length) - 1)];
  }

  /** The p95 when it is over the async threshold: POST answers 202 at once. */
  overThreshold(now = Date.now()): number | undefined {
    const limit = this.settings.latency.asyncAboveMs;
    if (limit <= 0) return undefined;
    const p = this.p95(now);
    return p !== undefined && p > limit ? p : undefined;
  }
}
