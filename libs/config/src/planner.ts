import { ConfigError, type Env } from './config';

/** Planner-only settings. Kept apart from ServiceConfig so each service's knobs stay in one place. */
export interface PlannerSettings {
  /** OpenAI-compatible Chat Completions endpoint (OpenAI, vLLM, Ollama, llama.cpp); LLM sessions need it. */
  readonly llm?: { readonly baseUrl: string; readonly apiKey?: string; readonly model: string; readonly timeoutMs: number; readonly maxRetries: number };
  /** Steps a session may use (an LLM session; workflow sessions get their step count + 1). */
  readonly maxSteps: number;
  /** Deadline of a session that names none. */
  readonly defaultDeadlineMs: number;
  /** How often overdue sessions are looked for. */
  readonly sweepIntervalMs: number;
  /** Cross-session micro-batching of LLM calls (docs/planner.md). */
  readonly batch: {
    /** PLANNER_BATCH_SIZE: a batch leaves when it holds this many requests (default 8; the seed's range is 4–12). */
    readonly maxSize: number;
    /** PLANNER_BATCH_WAIT_MS: ...or when its oldest request waited this long (default 20). */
    readonly maxWaitMs: number;
    /** PLANNER_LLM_CONCURRENCY: concurrent calls to an OpenAI-compatible endpoint (default 16). */
    readonly concurrency: number;
  };
  /** Quality-triggered fallback (docs/planner.md). */
  readonly quality: {
    /** PLANNER_QUALITY_WINDOW: LLM steps in the rolling pass-rate window (default 50). */
    readonly window: number;
    /** PLANNER_QUALITY_MIN_SAMPLES: steps needed before the mode may change (default 20). */
    readonly minSamples: number;
    /** PLANNER_FALLBACK_BELOW: pass rate under which a tenant goes to fallback (default 0.70). */
    readonly fallbackBelow: number;
    /** PLANNER_RECOVER_AT: pass rate (of shadow calls) at which it returns to normal (default 0.85). */
    readonly recoverAt: number;
    /** PLANNER_SHADOW_RATE: share of fallback steps that also ask the LLM, to measure recovery (default 1). */
    readonly shadowRate: number;
    /** PLANNER_VERSION: prompt/planner version; pass rates are kept per tenant, model and version (default v1). */
    readonly version: string;
    /** PLANNER_MODE_REFRESH_MS: how often an instance reads the modes other instances applied (default 1000). */
    readonly modeRefreshMs: number;
  };
}

export function loadPlannerSettings(env: Env = process.env): PlannerSettings {
  const problems: string[] = [];
  const str = (n: string): string | undefined => (env[n] === undefined || env[n]!.trim() === '' ? undefined : env[n]!.trim());
  const int = (n: string, dflt: number, min: number, max: number): number => {
    const raw = str(n);
    if (raw === undefined) return dflt;
    const v = Number(raw);
    if (!Number.isInteger(v) || v < min || v > max) {
      problems.push(`${n}: expected an integer ${min}..${max}, got "${raw}"`);
      return dflt;
    }
    return v;
  };
  const num = (n: string, dflt: number, min: number, max: number): number => {
    const raw = str(n);
    if (raw === undefined) return dflt;
    const v = Number(raw);
    if (!Number.isFinite(v) || v < min || v > max) {
      problems.push(`${n}: expected a number ${min}..${max}, got "${raw}"`);
      return dflt;
    }
    return v;
  };
  const baseUrl = str('PLANNER_BASE_URL');
  if (baseUrl !== undefined) {
    try {
      const u = new URL(baseUrl);
      if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('protocol');
    } catch {
      problems.push(`PLANNER_BASE_URL: expected an http(s) URL, got "${baseUrl}"`);
    }
  }
  const apiKey = env.PLANNER_API_KEY;
  const settings: PlannerSettings = {
    ...(baseUrl !== undefined
      ? {
          llm: {
            baseUrl,
            ...(apiKey ? { apiKey } : {}),
            model: str('PLANNER_MODEL') ?? 'gpt-4o-mini',
            timeoutMs: int('PLANNER_TIMEOUT_MS', 30_000, 100, 600_000),
            maxRetries: int('PLANNER_MAX_RETRIES', 3, 0, 10),
          },
        }
      : {}),
    maxSteps: int('PLANNER_MAX_STEPS', 8, 1, 100),
    defaultDeadlineMs: int('PLANNER_DEFAULT_DEADLINE_MS', 120_000, 100, 86_400_000),
    sweepIntervalMs: int('PLANNER_SWEEP_INTERVAL_MS', 1_000, 50, 60_000),
    batch: {
      maxSize: int('PLANNER_BATCH_SIZE', 8, 1, 64),
      maxWaitMs: int('PLANNER_BATCH_WAIT_MS', 20, 0, 10_000),
      concurrency: int('PLANNER_LLM_CONCURRENCY', 16, 1, 1024),
    },
    quality: {
      window: int('PLANNER_QUALITY_WINDOW', 50, 1, 100_000),
      minSamples: int('PLANNER_QUALITY_MIN_SAMPLES', 20, 1, 100_000),
      fallbackBelow: num('PLANNER_FALLBACK_BELOW', 0.7, 0, 1),
      recoverAt: num('PLANNER_RECOVER_AT', 0.85, 0, 1),
      shadowRate: num('PLANNER_SHADOW_RATE', 1, 0, 1),
      version: str('PLANNER_VERSION') ?? 'v1',
      modeRefreshMs: int('PLANNER_MODE_REFRESH_MS', 1_000, 50, 600_000),
    },
  };
  if (settings.quality.fallbackBelow >= settings.quality.recoverAt) {
    problems.push(`PLANNER_FALLBACK_BELOW (${settings.quality.fallbackBelow}) must be below PLANNER_RECOVER_AT (${settings.quality.recoverAt})`);
  }
  if (settings.quality.minSamples > settings.quality.window) {
    problems.push(`PLANNER_QUALITY_MIN_SAMPLES (${settings.quality.minSamples}) must not exceed PLANNER_QUALITY_WINDOW (${settings.quality.window})`);
  }
  if (problems.length > 0) throw new ConfigError('planner', problems);
  return Object.freeze(settings);
}

/** For logs: the API key never leaves the process. */
export function redactedPlannerSettings(s: PlannerSettings): Record<string, unknown> {
  return s.llm ? { ...s, llm: { ...s.llm, ...(s.llm.apiKey ? { apiKey: '[Redacted]' } : {}) } } : { ...s };
}
