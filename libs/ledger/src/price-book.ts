import { decimalToUnits } from '@agentplane/contracts';

export interface ModelPriceEntry {
  readonly inputPer1M: string;
  readonly outputPer1M: string;
}

/** One recorded version of prices.yaml and the moment it took effect. */
export interface PriceVersion {
  readonly version: number;
  /** Events at or after this instant are priced with this version (ms since epoch). */
  readonly effectiveFromMs: number;
  readonly models: Readonly<Record<string, ModelPriceEntry>>;
}

export interface InferencePrice {
  /** Nano-USD (9 fractional digits), exact. */
  readonly units: bigint;
  /** `prices.yaml@<version>`, `planner` (the planner's own figure) or `unpriced`. */
  readonly priceVersion: string;
}

const MILLION = 1_000_000n;

/**
 * tokens × USD-per-1M, in nano-USD, rounded half up once per entry. Postgres computes the
 * same with `round((p*i + c*o)/1000000, 9)`, which `cost whatif` relies on.
 */
export function inferenceCostUnits(promptTokens: number, completionTokens: number, price: ModelPriceEntry): bigint {
  return costOf(promptTokens, completionTokens, decimalToUnits(price.inputPer1M), decimalToUnits(price.outputPer1M));
}

function costOf(promptTokens: number, completionTokens: number, inUnits: bigint, outUnits: bigint): bigint {
  const num = BigInt(promptTokens) * inUnits + BigInt(completionTokens) * outUnits;
  return (num + MILLION / 2n) / MILLION;
}

/**
 * Every price table version ever recorded. An event is priced by the version in effect at the
 * event's time (not at processing time), so a replay months later books the same amounts.
 * Events older than the first version use the first one.
 */
export class PriceBook {
  readonly versions: readonly PriceVersion[];
  /** Parsed prices per version and model (parsing decimal strings per event showed in profiles). */
  private readonly parsed = new Map<PriceVersion, Map<string, readonly [bigint, bigint, string]>>();

  constructor(versions: readonly PriceVersion[]) {
    this.versions = [...versions].sort((a, b) => a.effectiveFromMs - b.effectiveFromMs || a.version - b.version);
  }

  at(timeMs: number): PriceVersion | undefined {
    let found: PriceVersion | undefined = this.versions[0];
    for (const v of this.versions) {
      if (v.effectiveFromMs <= timeMs) found = v;
      else break;
    }
    return found;
  }

  /**
   * Prices one planner step. A model missing from the table falls back to the planner's own
   * `costUsd` when it sent one, else books zero as `unpriced` (counted in a metric, never dropped).
   */
  price(model: string, promptTokens: number, completionTokens: number, timeMs: number, plannerCostUsd?: string): InferencePrice {
    const v = this.at(timeMs);
    const p = v ? this.parsedOf(v, model) : undefined;
    if (p) return { units: costOf(promptTokens, completionTokens, p[0], p[1]), priceVersion: p[2] };
    if (plannerCostUsd !== undefined) return { units: decimalToUnits(plannerCostUsd), priceVersion: 'planner' };
    return { units: 0n, priceVersion: 'unpriced' };
  }

  private parsedOf(v: PriceVersion, model: string): readonly [bigint, bigint, string] | undefined {
    let m = this.parsed.get(v);
    if (!m) this.parsed.set(v, (m = new Map()));
    let p = m.get(model);
    if (p === undefined) {
      const e = v.models[model];
      if (!e) return undefined;
      p = [decimalToUnits(e.inputPer1M), decimalToUnits(e.outputPer1M), `prices.yaml@${v.version}`] as const;
      m.set(model, p);
    }
    return p;
  }
}
