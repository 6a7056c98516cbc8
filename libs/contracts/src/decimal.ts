/**
 * Exact decimal strings for money. Floats lose cents when summing thousands of tool calls, so
 * amounts travel as strings ("0.0125") and are added as BigInt nano-units (9 fractional digits).
 */
export const DECIMAL_SCALE = 9;
const UNIT = 10n ** BigInt(DECIMAL_SCALE);

/** Wire format: non-negative, no exponent, no leading zeros, at most 9 fractional digits. */
export const DECIMAL_PATTERN = /^(0|[1-9][0-9]{0,17})(\.[0-9]{1,9})?$/;
const SIGNED = /^(-?)(0|[1-9][0-9]*)(?:\.([0-9]{1,9}))?$/;

export function isDecimalString(s: unknown): s is string {
  return typeof s === 'string' && DECIMAL_PATTERN.test(s);
}

/** Parses a (possibly negative) decimal string into nano-units; throws on anything else. */
export function decimalToUnits(s: string): bigint {
  const m = SIGNED.exec(s);
  if (!m) throw new RangeError(`not a decimal string: ${JSON.stringify(s)}`);
  const units = BigInt(m[2]) * UNIT + BigInt((m[3] ?? '').padEnd(DECIMAL_SCALE, '0'));
  return m[1] === '-' ? -units : units;
}

/** Canonical form: no trailing fractional zeros ("1.5", "0", "-0.25"). */
export function decimalFromUnits(units: bigint): string {
  const neg = units < 0n;
  const abs = neg ? -units : units;
  const int = abs / UNIT;
  const frac = (abs % UNIT).toString().padStart(DECIMAL_SCALE, '0').replace(/0+$/, '');
  return `${neg ? '-' : ''}${int}${frac ? '.' + frac : ''}`;
}

export function addDecimal(a: string, b: string): string {
  return decimalFromUnits(decimalToUnits(a) + decimalToUnits(b));
}

export function subDecimal(a: string, b: string): string {
  return decimalFromUnits(decimalToUnits(a) - decimalToUnits(b));
}

export function sumDecimals(values: Iterable<string>): string {
  let t = 0n;
  for (const v of values) t += decimalToUnits(v);
  return decimalFromUnits(t);
}

export function compareDecimal(a: string, b: string): -1 | 0 | 1 {
  const x = decimalToUnits(a);
  const y = decimalToUnits(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

/** a × b, rounded half away from zero to 9 fractional digits (e.g. tokens × price per token). */
export function mulDecimal(a: string, b: string): string {
  const p = decimalToUnits(a) * decimalToUnits(b);
  const neg = p < 0n;
  const abs = neg ? -p : p;
  const q = (abs + UNIT / 2n) / UNIT;
  return decimalFromUnits(neg ? -q : q);
}

/** From a JS number (e.g. a price read from YAML); rounded to 9 fractional digits. */
export function decimalFromNumber(n: number): string {
  if (!Number.isFinite(n)) throw new RangeError(`not a finite number: ${n}`);
  return decimalFromUnits(decimalToUnits(n.toFixed(DECIMAL_SCALE)));
}

/** For display and metrics only; never for sums. */
export function decimalToNumber(s: string): number {
  return Number(s);
}
