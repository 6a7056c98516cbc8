import { createHash, randomFillSync } from 'node:crypto';

// Random bytes are drawn from a pooled buffer: one syscall per 256 ids instead of one per id.
const POOL = Buffer.allocUnsafe(16 * 256);
let poolOffset = POOL.length;

function random10(): Buffer {
  if (poolOffset + 10 > POOL.length) {
    randomFillSync(POOL);
    poolOffset = 0;
  }
  const out = POOL.subarray(poolOffset, poolOffset + 10);
  poolOffset += 10;
  return out;
}

const HEX: string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

function format(b: Uint8Array): string {
  return (
    HEX[b[0]] + HEX[b[1]] + HEX[b[2]] + HEX[b[3]] + '-' +
    HEX[b[4]] + HEX[b[5]] + '-' + HEX[b[6]] + HEX[b[7]] + '-' +
    HEX[b[8]] + HEX[b[9]] + '-' +
    HEX[b[10]] + HEX[b[11]] + HEX[b[12]] + HEX[b[13]] + HEX[b[14]] + HEX[b[15]]
  );
}

let lastMs = -1;
let seq = 0;

/**
 * RFC 9562 UUIDv7: 48-bit Unix ms timestamp, then a 12-bit counter (method 1) so ids made in
 * the same millisecond by this process still sort in creation order; the rest is random.
 * A clock that steps back keeps the last timestamp rather than breaking monotonicity.
 */
export function uuidv7(nowMs: number = Date.now()): string {
  let ms = Math.floor(nowMs);
  if (ms > lastMs) {
    lastMs = ms;
    // Start the counter in its lower half so bursts have room before borrowing the next ms.
    const r = random10();
    seq = ((r[0] << 8) | r[1]) & 0x7ff;
  } else {
    seq++;
    if (seq > 0xfff) {
      lastMs++;
      seq = 0;
    }
    ms = lastMs;
  }
  const b = new Uint8Array(16);
  // 48-bit big-endian timestamp; split because bitwise ops in JS are 32-bit.
  const hi = Math.floor(ms / 0x100000000);
  const lo = ms >>> 0;
  b[0] = (hi >>> 8) & 0xff;
  b[1] = hi & 0xff;
  b[2] = (lo >>> 24) & 0xff;
  b[3] = (lo >>> 16) & 0xff;
  b[4] = (lo >>> 8) & 0xff;
  b[5] = lo & 0xff;
  b[6] = 0x70 | ((seq >>> 8) & 0x0f);
  b[7] = seq & 0xff;
  const r = random10();
  for (let i = 0; i < 8; i++) b[8 + i] = r[2 + i];
  b[8] = (b[8] & 0x3f) | 0x80;
  return format(b);
}

/** The Unix ms timestamp embedded in a UUIDv7, or undefined for other versions. */
export function uuidv7Time(id: string): number | undefined {
  if (!UUID_RE.test(id) || id[14] !== '7') return undefined;
  return parseInt(id.slice(0, 8) + id.slice(9, 13), 16);
}

export const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Name-based UUIDv8 from SHA-256 (RFC 9562 appendix B.2): the same namespace and parts always
 * give the same id, so an event re-emitted after a crash dedupes downstream by id.
 * Parts are length-prefixed so ('ab','c') and ('a','bc') differ.
 */
export function deterministicEventId(namespace: string, ...parts: ReadonlyArray<string | number>): string {
  const h = createHash('sha256');
  for (const p of [namespace, ...parts]) {
    const s = String(p);
    h.update(`${Buffer.byteLength(s)}:`);
    h.update(s);
  }
  const b = h.digest().subarray(0, 16);
  b[6] = (b[6] & 0x0f) | 0x80;
  b[8] = (b[8] & 0x3f) | 0x80;
  return format(b);
}
