import { ConfigError, type Env } from './config';

/** Gateway-only settings, kept apart from ServiceConfig like the planner's. */
export interface GatewaySettings {
  /** How long POST /v1/sessions waits for the outcome before answering 202 (GATEWAY_WAIT_MS). */
  readonly waitMs: number;
  /** Upper bound of a client's `Prefer: wait=N` (GATEWAY_MAX_WAIT_MS). */
  readonly maxWaitMs: number;
  /** How often a waiting request re-reads the projection, for outcomes projected by another instance. */
  readonly pollIntervalMs: number;
  /** Latency-aware ingress: planner p95 from planner.step.completed on the log (docs/planner.md). */
  readonly latency: {
    /** GATEWAY_ASYNC_P95_MS: above this planner p95, POST answers 202 at once (default 700; 0 = never). */
    readonly asyncAboveMs: number;
    /** GATEWAY_LATENCY_WINDOW: most recent steps in the p95 (default 200). */
    readonly window: number;
    /** GATEWAY_LATENCY_MAX_AGE_MS: steps older than this (event time) do not count (default 60000). */
    readonly maxAgeMs: number;
    /** GATEWAY_LATENCY_MIN_SAMPLES: steps needed before p95 is trusted (default 5). */
    readonly minSamples: number;
  };
  /** Completion webhooks (Standard Webhooks, signed with the tenant's secret). */
  readonly webhooks: {
    /** GATEWAY_WEBHOOK_BACKOFF_MS: waits between attempts, comma-separated; attempts = entries + 1 (default ≈ 27 h in total). */
    readonly backoffMs: readonly number[];
    /** GATEWAY_WEBHOOK_TIMEOUT_MS: per attempt (default 10000). */
    readonly timeoutMs: number;
    /** GATEWAY_WEBHOOK_POLL_MS: how often due deliveries are looked for (default 1000). */
    readonly pollMs: number;
    /** GATEWAY_WEBHOOK_ALLOWED_HOSTS: hosts exempt from the SSRF rules (loopback receivers in tests); default none. */
    readonly allowedHosts: readonly string[];
    /** GATEWAY_WEBHOOK_MAX_AGE_MS: outcomes older than this (e.g. met again while the projection is rebuilt) are not delivered (default 1 day). */
    readonly maxAgeMs: number;
  };
  /** Where tenants' `env:` secret references (webhookSecret) are resolved: the environment at boot. */
  readonly secretEnv: Env;
}

export function loadGatewaySettings(env: Env = process.env): GatewaySettings {
  const problems: string[] = [];
  const int = (n: string, dflt: number, min: number, max: number): number => {
    const raw = env[n]?.trim();
    if (raw === undefined || raw === '') return dflt;
    const v = Number(raw);
    if (!/^\d+$/.test(raw) || v < min || v > max) {
      problems.push(`${n}: expected an integer ${min}..${max}, got "${raw}"`);
      return dflt;
    }
    return v;
  };
  const list = (n: string, dflt: readonly number[]): readonly number[] => {
    const raw = env[n]?.trim();
    if (raw === undefined || raw === '') return dflt;
    const parts = raw.split(',').map((p) => p.trim());
    if (parts.some((p) => !/^\d{1,10}$/.test(p))) {
      problems.push(`${n}: expected comma-separated milliseconds, got "${raw}"`);
      return dflt;
    }
    return parts.map(Number);
  };
  const settings: GatewaySettings = {
    waitMs: int('GATEWAY_WAIT_MS', 1_500, 0, 600_000),
    maxWaitMs: int('GATEWAY_MAX_WAIT_MS', 60_000, 0, 600_000),
    pollIntervalMs: int('GATEWAY_POLL_INTERVAL_MS', 250, 10, 60_000),
    latency: {
      asyncAboveMs: int('GATEWAY_ASYNC_P95_MS', 700, 0, 600_000),
      window: int('GATEWAY_LATENCY_WINDOW', 200, 1, 100_000),
      maxAgeMs: int('GATEWAY_LATENCY_MAX_AGE_MS', 60_000, 100, 86_400_000),
      minSamples: int('GATEWAY_LATENCY_MIN_SAMPLES', 5, 1, 100_000),
    },
    webhooks: {
      // Standard Webhooks' suggested schedule: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h.
      backoffMs: Object.freeze(list('GATEWAY_WEBHOOK_BACKOFF_MS', [5_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 36_000_000])),
      timeoutMs: int('GATEWAY_WEBHOOK_TIMEOUT_MS', 10_000, 100, 120_000),
      pollMs: int('GATEWAY_WEBHOOK_POLL_MS', 1_000, 10, 60_000),
      allowedHosts: Object.freeze((env.GATEWAY_WEBHOOK_ALLOWED_HOSTS ?? '').split(',').map((h) => h.trim()).filter(Boolean)),
      maxAgeMs: int('GATEWAY_WEBHOOK_MAX_AGE_MS', 86_400_000, 1_000, 2_592_000_000),
    },
    secretEnv: Object.freeze({ ...env }),
  };
  if (problems.length > 0) throw new ConfigError('gateway', problems);
  return Object.freeze(settings);
}
