import type { Decoder, MinimalEvent } from '@agentplane/messaging';
import { uuidv7 } from '@agentplane/messaging';

/**
 * A small stand-in for @agentplane/contracts' decode (same shape), so these tests exercise the
 * transport and not the schemas: JSON CloudEvent, known type, data checked per type.
 */
export interface TestEvent<T extends string = string, D = unknown> extends MinimalEvent {
  specversion: '1.0';
  id: string;
  source: string;
  type: T;
  subject: string;
  time: string;
  tenantid: string;
  data: D;
}

export type PingEvent = TestEvent<'agentplane.test.pinged', { n: number; note?: string }>;
export type SessionRequested = TestEvent<'agentplane.session.requested', { tenantId: string; input: string }>;
export type OtherEvent = TestEvent<'agentplane.test.other', Record<string, unknown>>;
export type AnyTestEvent = PingEvent | SessionRequested | OtherEvent;

const validators: Record<string, (d: any) => string | null> = {
  'agentplane.test.pinged': (d) => (d && typeof d.n === 'number' ? null : 'data.n must be a number'),
  'agentplane.session.requested': (d) =>
    d && typeof d.tenantId === 'string' && typeof d.input === 'string' ? null : 'data.tenantId and data.input must be strings',
  'agentplane.test.other': (d) => (d && typeof d === 'object' ? null : 'data must be an object'),
};

export const testDecode: Decoder<AnyTestEvent> = (value) => {
  if (!value) return { ok: false, reason: 'empty value' };
  let obj: any;
  try {
    obj = JSON.parse(value.toString('utf8'));
  } catch (err) {
    return { ok: false, reason: `invalid JSON: ${(err as Error).message}` };
  }
  if (!obj || typeof obj !== 'object' || obj.specversion !== '1.0' || typeof obj.id !== 'string' || typeof obj.type !== 'string') {
    return { ok: false, reason: 'not a CloudEvents 1.0 envelope' };
  }
  const check = validators[obj.type];
  if (!check) return { ok: false, reason: `unknown event type ${obj.type}` };
  const problem = check(obj.data);
  if (problem) return { ok: false, reason: `invalid data for ${obj.type}: ${problem}` };
  return { ok: true, event: obj as AnyTestEvent };
};

export function makeTestEvent<E extends AnyTestEvent>(type: E['type'], data: E['data'], subject = uuidv7()): E {
  return {
    specversion: '1.0',
    id: uuidv7(),
    source: 'agentplane/test',
    type,
    subject,
    time: new Date().toISOString(),
    tenantid: 'tenant-test',
    data,
  } as E;
}
