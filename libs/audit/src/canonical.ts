import { createHash } from 'node:crypto';
import canonicalize from 'canonicalize';

/**
 * RFC 8785 (JCS) canonical JSON: sorted keys, no whitespace, ECMAScript number formatting.
 * Two parties that parse the same event get the same bytes, whatever key order or spacing the
 * producer used, so hashes over it can be recomputed by anyone.
 */
export function canonicalJson(value: unknown): string {
  const s = canonicalize(value);
  if (s === undefined) throw new TypeError('value has no JSON representation');
  return s;
}

export function sha256(...parts: Array<Buffer | Uint8Array | string>): Buffer {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest();
}

export const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
export const fromHex = (s: string): Buffer => {
  if (!/^([0-9a-f]{2})*$/i.test(s)) throw new TypeError(`not hex: ${s.slice(0, 20)}`);
  return Buffer.from(s, 'hex');
};
