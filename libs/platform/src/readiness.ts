import { Injectable } from '@nestjs/common';

export interface ProbeResult {
  ok: boolean;
  detail?: string;
}
/** A readiness probe: true/false, or a result with a reason shown on /health/ready. */
export type ReadinessProbe = () => boolean | ProbeResult | Promise<boolean | ProbeResult>;

export interface ReadinessReport {
  ok: boolean;
  checks: Record<string, ProbeResult>;
}

/**
 * What `/health/ready` asks. The database, the migrations, the Kafka consumer and producer
 * register probes here; a feature may add its own (e.g. "price table loaded").
 */
@Injectable()
export class ReadinessRegistry {
  private readonly probes = new Map<string, ReadinessProbe>();
  private draining = false;

  /** Registers (or replaces) a probe; returns a function that removes it. */
  register(name: string, probe: ReadinessProbe): () => void {
    this.probes.set(name, probe);
    return () => {
      if (this.probes.get(name) === probe) this.probes.delete(name);
    };
  }

  /** Called when shutdown starts: report not-ready so load balancers stop sending work. */
  markDraining(): void {
    this.draining = true;
  }

  async check(timeoutMs = 2_000): Promise<ReadinessReport> {
    const checks: Record<string, ProbeResult> = {};
    if (this.draining) checks.shutdown = { ok: false, detail: 'draining' };
    await Promise.all(
      [...this.probes].map(async ([name, probe]) => {
        checks[name] = await runProbe(probe, timeoutMs);
      }),
    );
    return { ok: Object.values(checks).every((c) => c.ok), checks };
  }
}

async function runProbe(probe: ReadinessProbe, timeoutMs: number): Promise<ProbeResult> {
  let timer: NodeJS.Timeout | undefined;
  try {
    // A hung dependency must not hang the probe endpoint itself.
    const timeout = new Promise<ProbeResult>((resolve) => {
      timer = setTimeout(() => resolve({ ok: false, detail: `timed out after ${timeoutMs} ms` }), timeoutMs);
    });
    const r = await Promise.race([Promise.resolve().then(probe), timeout]);
    return typeof r === 'boolean' ? { ok: r } : r;
  } catch (err) {
    return { ok: false, detail: err instanceof Error ? err.message : String(err) };
  } finally {
    clearTimeout(timer);
  }
}
