import type { PlannerMode } from '@agentplane/contracts';

export interface QualityOptions {
  readonly window: number;
  readonly minSamples: number;
  readonly fallbackBelow: number;
  readonly recoverAt: number;
}

export interface ModeChange {
  readonly tenantId: string;
  readonly mode: PlannerMode;
  readonly passRate: number;
  readonly window: number;
}

interface ModeEntry {
  readonly mode: PlannerMode;
  /** Time of the fact that set it (ms): an older fact never overrides a newer one. */
  readonly at: number;
}

/**
 * Rolling planner pass rate per (tenant, planner version) and each tenant's mode. Pure state:
 * the service feeds it observed steps and publishes the changes it returns; the mode itself is
 * set from `planner.mode.changed` facts (ours included), so every instance and every restart
 * agrees with the log. Hysteresis: fallback below `fallbackBelow`, normal again at `recoverAt`.
 */
export class QualityMonitor {
  private readonly windows = new Map<string, boolean[]>();
  private readonly modes = new Map<string, ModeEntry>();

  constructor(readonly opts: QualityOptions) {}

  mode(tenantId: string): PlannerMode {
    return this.modes.get(tenantId)?.mode ?? 'normal';
  }

  /** Applies a mode fact; false when an equally new or newer one is already applied. */
  setMode(tenantId: string, mode: PlannerMode, at: number): boolean {
    const cur = this.modes.get(tenantId);
    if (cur && cur.at > at) return false;
    this.modes.set(tenantId, { mode, at });
    return true;
  }

  /** Pass rate and sample count of a (tenant, version) window. */
  rate(tenantId: string, version: string): { passRate: number; samples: number } {
    const w = this.windows.get(`${tenantId}\u0000${version}`) ?? [];
    return { passRate: w.length === 0 ? 1 : w.filter(Boolean).length / w.length, samples: w.length };
  }

  /**
   * Records one LLM step (a real one in normal mode, a shadow call in fallback) and returns the
   * mode change it causes, if any. The caller publishes it; `setMode` makes it current.
   */
  observe(tenantId: string, version: string, pass: boolean): ModeChange | undefined {
    const key = `${tenantId}\u0000${version}`;
    const w = this.windows.get(key) ?? [];
    w.push(pass);
    if (w.length > this.opts.window) w.splice(0, w.length - this.opts.window);
    this.windows.set(key, w);
    if (w.length < this.opts.minSamples) return undefined;
    const passRate = w.filter(Boolean).length / w.length;
    const mode = this.mode(tenantId);
    if (mode === 'normal' && passRate < this.opts.fallbackBelow) return { tenantId, mode: 'fallback', passRate: round(passRate), window: w.length };
    if (mode === 'fallback' && passRate >= this.opts.recoverAt) return { tenantId, mode: 'normal', passRate: round(passRate), window: w.length };
    return undefined;
  }
}

function round(x: number): number {
  return Math.round(x * 10_000) / 10_000;
}
