import { uuidv7 } from './uuid';
import type { MinimalEvent } from './types';

export const DEAD_LETTERED_TYPE = 'agentplane.message.dead-lettered';

/** `data` of an `agentplane.message.dead-lettered` event: the original record, untouched. */
export interface DeadLetterRecord {
  sourceTopic: string;
  partition: number;
  /** int64 offset as a decimal string. */
  offset: string;
  /** Original key bytes, base64; null when the record had no key. */
  key: string | null;
  /** Original value bytes, base64; null for a tombstone. */
  value: string | null;
  /** Original headers, each value base64 (repeated headers as an array). */
  headers: Record<string, string | string[]>;
  reason: string;
  error?: { name: string; code?: string; message: string };
  /** Consumer group that rejected it (which service). */
  consumerGroup: string;
  deadLetteredAt: string;
}

export interface DeadLetterEvent extends MinimalEvent {
  specversion: '1.0';
  id: string;
  source: string;
  type: typeof DEAD_LETTERED_TYPE;
  /** `<topic>/<partition>/<offset>` of the original record. */
  subject: string;
  time: string;
  datacontenttype: 'application/json';
  tenantid?: string;
  causationid?: string;
  data: DeadLetterRecord;
}

type RawHeaders = Record<string, Buffer | string | (Buffer | string)[] | undefined> | undefined;

const b64 = (v: Buffer | string): string => (typeof v === 'string' ? Buffer.from(v, 'utf8') : v).toString('base64');

export function encodeHeadersBase64(headers: RawHeaders): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(headers ?? {})) {
    if (v === undefined) continue;
    out[k] = Array.isArray(v) ? v.map(b64) : b64(v);
  }
  return out;
}

export interface DeadLetterInput {
  topic: string;
  partition: number;
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
  headers: RawHeaders;
  reason: string;
  error?: { name: string; code?: string; message: string };
  consumerGroup: string;
  source: string;
  /** The decoded event, when decoding succeeded (links tenant and causation). */
  event?: MinimalEvent & { tenantid?: unknown };
  now?: Date;
}

export function buildDeadLetterEvent(input: DeadLetterInput): DeadLetterEvent {
  const now = input.now ?? new Date();
  const tenant = input.event?.tenantid;
  return {
    specversion: '1.0',
    id: uuidv7(now.getTime()),
    source: input.source,
    type: DEAD_LETTERED_TYPE,
    subject: `${input.topic}/${input.partition}/${input.offset}`,
    time: now.toISOString(),
    datacontenttype: 'application/json',
    ...(typeof tenant === 'string' ? { tenantid: tenant } : {}),
    ...(input.event ? { causationid: input.event.id } : {}),
    data: {
      sourceTopic: input.topic,
      partition: input.partition,
      offset: input.offset,
      key: input.key ? input.key.toString('base64') : null,
      value: input.value ? input.value.toString('base64') : null,
      headers: encodeHeadersBase64(input.headers),
      reason: input.reason,
      ...(input.error ? { error: input.error } : {}),
      consumerGroup: input.consumerGroup,
      deadLetteredAt: now.toISOString(),
    },
  };
}
