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

const NANO = 1e9;

/**
 * Nano-units of a non-negative decimal string with at most 6 integer digits, as a number, or
 * -1 for anything else. Such amounts stay below 2^53 nano-units (and so does the sum of two), so
 * doubles hold and add them exactly; BigInt and the regex cost more than the session fold itself
 * (every step and tool call adds one), W5 profile. Accepts exactly what decimalToUnits does.
 */
function smallUnits(s: string): number {
  const n = s.length;
  let i = 0;
  let int = 0;
  const c0 = n > 0 ? s.charCodeAt(0) : -1;
  if (c0 === 48) i = 1; // "0" (no leading zeros after it)
  else if (c0 >= 49 && c0 <= 57) {
    while (i < n && i < 7) {
      const c = s.charCodeAt(i);
      if (c < 48 || c > 57) break;
      int = int * 10 + (c - 48);
      i++;
    }
    if (i > 6) return -1;
  } else return -1;
  if (i === n) return int * NANO;
  if (s.charCodeAt(i) !== 46) return -1;
  const digits = n - i - 1;
  if (digits < 1 || digits > 9) return -1;
  let frac = 0;
  for (let j = i + 1; j < n; j++) {
    const c = s.charCodeAt(j);
    if (c < 48 || c > 57) return -1;
    frac = frac * 10 + (c - 48);
  }
  for (let j = digits; j < 9; j++) frac *= 10;
  return int * NANO + frac;
}

/** decimalFromUnits for a non-negative integer number of nano-units below 2^53. */
function smallFromUnits(units: number): string {
  const frac = units % NANO;
  const int = (units - frac) / NANO;
  if (frac === 0) return String(int);
  let f = String(frac).padStart(DECIMAL_SCALE, '0');
  let end = f.length;
  while (f.charCodeAt(end - 1) === 48) end--;
  if (end < f.length) f = f.slice(0, end);
  return `${int}.${f}`;
}

export function addDecimal(a: string, b: string): string {
  const x = smallUnits(a);
  const y = x < 0 ? -1 : smallUnits(b);
  if (y >= 0) return smallFromUnits(x + y);
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
