import { decimalFromNumber, decimalFromUnits, decimalToUnits } from '@agentplane/contracts';

const HUNDRED = 100n * 10n ** 9n;

/** forecast × (1 + pct/100), in nano-USD, rounded half up. */
export function guardrailThresholdUnits(forecastUsd: string, guardrailPct: number): bigint {
  const f = decimalToUnits(forecastUsd);
  const pct = decimalToUnits(decimalFromNumber(guardrailPct));
  return (f * (HUNDRED + pct) + HUNDRED / 2n) / HUNDRED;
}

/** Strictly above the threshold trips; exactly at it does not. */
export function isOverGuardrail(spendUnits: bigint, thresholdUnits: bigint): boolean {
  return spendUnits > thresholdUnits;
}

export function currentMonth(nowMs: number = Date.now()): string {
  return new Date(nowMs).toISOString().slice(0, 7);
}

export { decimalFromUnits };
