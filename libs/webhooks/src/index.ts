/**
 * @agentplane/webhooks — Standard Webhooks (https://www.standardwebhooks.com) signing and
 * verification. The gateway signs; receivers call `verifyWebhook` with the tenant's secret, the
 * request headers and the raw body (the exact bytes: re-serialised JSON will not verify).
 *
 * Signed content is `${webhook-id}.${webhook-timestamp}.${body}`, HMAC-SHA256, base64, sent as
 * `webhook-signature: v1,<sig>` (several space-separated signatures are allowed during secret
 * rotation). A `whsec_`-prefixed secret is base64 after the prefix (the Standard Webhooks form);
 * any other secret is used as its UTF-8 bytes.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export const DEFAULT_TOLERANCE_SEC = 300;

export type HeaderBag = Headers | Readonly<Record<string, string | readonly string[] | undefined>>;

export class WebhookVerificationError extends Error {
  constructor(
    readonly code: 'missing_headers' | 'bad_timestamp' | 'stale_timestamp' | 'future_timestamp' | 'bad_signature' | 'replayed',
    message: string,
  ) {
    super(message);
    this.name = 'WebhookVerificationError';
  }
}

export function secretBytes(secret: string): Buffer {
  if (secret.startsWith('whsec_')) return Buffer.from(secret.slice('whsec_'.length), 'base64');
  return Buffer.from(secret, 'utf8');
}

/** `v1,<base64 HMAC-SHA256 of id.timestamp.body>`. */
export function signWebhook(secret: string, id: string, timestampSec: number, body: string | Buffer): string {
  const mac = createHmac('sha256', secretBytes(secret));
  mac.update(`${id}.${timestampSec}.`);
  mac.update(body);
  return `v1,${mac.digest('base64')}`;
}

/** The three headers of one delivery attempt (the id stays the same across retries). */
export function webhookHeaders(secret: string, id: string, body: string | Buffer, timestampSec = Math.floor(Date.now() / 1000)): Record<string, string> {
  return {
    'webhook-id': id,
    'webhook-timestamp': String(timestampSec),
    'webhook-signature': signWebhook(secret, id, timestampSec, body),
  };
}

function header(h: HeaderBag, name: string): string | undefined {
  if (typeof (h as Headers).get === 'function') return (h as Headers).get(name) ?? undefined;
  const bag = h as Readonly<Record<string, string | readonly string[] | undefined>>;
  const v = bag[name] ?? Object.entries(bag).find(([k]) => k.toLowerCase() === name)?.[1];
  return Array.isArray(v) ? v[0] : (v as string | undefined);
}

export interface VerifyOptions {
  /** Accepted distance between webhook-timestamp and now, either way. Default 300 s. */
  readonly toleranceSec?: number;
  /** Clock, for tests. */
  readonly nowSec?: number;
}

export interface VerifiedWebhook<T = unknown> {
  readonly id: string;
  readonly timestamp: number;
  readonly payload: T;
}

/**
 * Checks the signature (constant time) and the timestamp window; returns the parsed payload or
 * throws WebhookVerificationError. Dedupe on the returned `id` (see WebhookReplayGuard): a retry
 * carries the same id, and a captured request can be replayed within the tolerance.
 */
export function verifyWebhook<T = unknown>(secret: string, headers: HeaderBag, body: string | Buffer, opts: VerifyOptions = {}): VerifiedWebhook<T> {
  const id = header(headers, 'webhook-id');
  const ts = header(headers, 'webhook-timestamp');
  const sigs = header(headers, 'webhook-signature');
  if (!id || !ts || !sigs) throw new WebhookVerificationError('missing_headers', 'webhook-id, webhook-timestamp and webhook-signature are required');
  if (!/^\d{1,12}$/.test(ts)) throw new WebhookVerificationError('bad_timestamp', `webhook-timestamp ${JSON.stringify(ts)} is not Unix seconds`);
  const timestamp = Number(ts);
  const now = opts.nowSec ?? Math.floor(Date.now() / 1000);
  const tolerance = opts.toleranceSec ?? DEFAULT_TOLERANCE_SEC;
  if (timestamp < now - tolerance) throw new WebhookVerificationError('stale_timestamp', `webhook-timestamp is ${now - timestamp} s old (tolerance ${tolerance} s)`);
  if (timestamp > now + tolerance) throw new WebhookVerificationError('future_timestamp', `webhook-timestamp is ${timestamp - now} s in the future (tolerance ${tolerance} s)`);
  const expected = Buffer.from(signWebhook(secret, id, timestamp, body).slice(3), 'base64');
  const ok = sigs.split(' ').some((s) => {
    const [version, sig] = s.split(',', 2);
    if (version !== 'v1' || !sig) return false;
    const got = Buffer.from(sig, 'base64');
    return got.length === expected.length && timingSafeEqual(got, expected);
  });
  if (!ok) throw new WebhookVerificationError('bad_signature', 'no webhook-signature matches');
  const text = typeof body === 'string' ? body : body.toString('utf8');
  return { id, timestamp, payload: JSON.parse(text) as T };
}

/**
 * Remembers webhook ids for as long as their timestamp is acceptable, so each delivery is
 * processed once. In memory: a receiver with several instances keeps the ids in its database.
 */
export class WebhookReplayGuard {
  private readonly seen = new Map<string, number>();
  constructor(private readonly toleranceSec = DEFAULT_TOLERANCE_SEC) {}

  /** True the first time an id is seen; false for a replay (or a retry already processed). */
  firstTime(id: string, nowSec = Math.floor(Date.now() / 1000)): boolean {
    for (const [k, until] of this.seen) if (until < nowSec) this.seen.delete(k);
    if (this.seen.has(id)) return false;
    // Kept twice the tolerance: an id older than that fails the timestamp check anyway.
    this.seen.set(id, nowSec + 2 * this.toleranceSec);
    return true;
  }
}
