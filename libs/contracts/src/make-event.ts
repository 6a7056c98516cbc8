import { CloudEvent, DATA_CONTENT_TYPE, SPEC_VERSION, dataschemaFor } from './envelope';
import { AgentplaneEvent, EventData, EventType, subjectFor } from './registry';
import { uuidv7 } from './uuid';

export interface MakeEventOptions {
  /** `agentplane/<service>`; a bare service name ("planner") gets the prefix added. */
  readonly source: string;
  /** Defaults to what the type requires: session id, tenant id, tool, or topic/partition/offset. */
  readonly subject?: string;
  /** Defaults to data.tenantId when the data has one. */
  readonly tenantid?: string;
  readonly causationid?: string;
  /** Defaults to a fresh UUIDv7; pass deterministicEventId(...) for re-emittable events. */
  readonly id?: string;
  /** Defaults to now. */
  readonly time?: string | Date;
  readonly traceparent?: string;
}

/**
 * Builds a typed event. Pure when id and time are passed; it does not validate (producers are
 * typed, and every consumer validates on decode).
 */
export function makeEvent<T extends EventType>(type: T, data: EventData<T>, opts: MakeEventOptions): AgentplaneEvent<T> {
  const tenant = opts.tenantid ?? (data as { tenantId?: unknown }).tenantId;
  const time = opts.time === undefined ? new Date().toISOString() : typeof opts.time === 'string' ? opts.time : opts.time.toISOString();
  // Fixed attribute order keeps encoded bytes stable for identical input.
  const e: Record<string, unknown> = {
    specversion: SPEC_VERSION,
    id: opts.id ?? uuidv7(),
    source: opts.source.includes('/') ? opts.source : `agentplane/${opts.source}`,
    type,
    subject: opts.subject ?? subjectFor(type, data),
    time,
    datacontenttype: DATA_CONTENT_TYPE,
    dataschema: dataschemaFor(type),
  };
  if (typeof tenant === 'string') e.tenantid = tenant;
  if (opts.causationid !== undefined) e.causationid = opts.causationid;
  if (opts.traceparent !== undefined) e.traceparent = opts.traceparent;
  e.data = data;
  return e as unknown as AgentplaneEvent<T>;
}

/** Options that link a new event to the one it reacts to: causation id and trace context. */
export function causedBy(cause: Pick<CloudEvent, 'id' | 'traceparent'>): { causationid: string; traceparent?: string } {
  return cause.traceparent === undefined ? { causationid: cause.id } : { causationid: cause.id, traceparent: cause.traceparent };
}
