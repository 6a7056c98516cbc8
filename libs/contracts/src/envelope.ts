import { Equals, IsString, IsUUID, Length, Matches } from 'class-validator';
import { IsId, IsPresent, IsRfc3339, Optional } from './validation';

export const SPEC_VERSION = '1.0';
export const DATA_CONTENT_TYPE = 'application/json';
/** Kafka `content-type` header for structured-mode CloudEvents (what `encode` produces). */
export const STRUCTURED_CONTENT_TYPE = 'application/cloudevents+json; charset=utf-8';
/**
 * `dataschema` is an absolute URI (CloudEvents requires one) that names the schema; it is an
 * identifier, the file itself is `schemas/events/<type>.json` in the repository.
 */
export const SCHEMA_BASE_URI = 'https://agentplane.dev/schemas/events/';
export function dataschemaFor(type: string): string {
  return `${SCHEMA_BASE_URI}${type}.json`;
}

export const TYPE_PATTERN = /^agentplane(\.[a-z][a-z0-9-]*)+$/;
export const TRACEPARENT_PATTERN = /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/;

/** A CloudEvents 1.0 event in JSON structured mode, typed by its `type` and `data`. */
export interface CloudEvent<T extends string = string, D = unknown> {
  readonly specversion: '1.0';
  /** UUID (v7 when made by agentplane); consumers dedupe by it. */
  readonly id: string;
  /** `agentplane/<service>` for agentplane's own events; any non-empty string from producers. */
  readonly source: string;
  readonly type: T;
  /** Session id; tenant id for tenant-wide control events; tool name for circuit changes. */
  readonly subject: string;
  /** RFC 3339. */
  readonly time: string;
  readonly datacontenttype?: 'application/json';
  readonly dataschema?: string;
  /** Extension: the tenant, for filtering without parsing data. */
  readonly tenantid?: string;
  /** Extension: id of the event this one reacts to. */
  readonly causationid?: string;
  /** Extension: W3C trace context of the producer's span. */
  readonly traceparent?: string;
  readonly data: D;
}

/**
 * The envelope's validation rules. `type` and `data` are narrowed per event type when the
 * per-type schema is built. Unknown top-level attributes are allowed: CloudEvents lets
 * producers add extensions, and consumers ignore the ones they do not know.
 */
export class CloudEventEnvelopeDecl {
  @Equals(SPEC_VERSION, { message: 'specversion must be "1.0"' }) readonly specversion: string;
  @IsUUID('all', { message: 'id must be a UUID' }) readonly id: string;
  @IsString() @Length(1, 256) readonly source: string;
  @Matches(TYPE_PATTERN, { message: 'type must look like agentplane.<noun>.<verb>' }) readonly type: string;
  @IsString() @Length(1, 256) readonly subject: string;
  @IsRfc3339() readonly time: string;
  @Optional() @Equals(DATA_CONTENT_TYPE, { message: 'datacontenttype must be "application/json"' }) readonly datacontenttype?: string;
  @Optional() @IsString() @Length(1, 2048) readonly dataschema?: string;
  @Optional() @IsId() readonly tenantid?: string;
  @Optional() @IsUUID('all', { message: 'causationid must be a UUID' }) readonly causationid?: string;
  @Optional() @Matches(TRACEPARENT_PATTERN, { message: 'traceparent must be a W3C traceparent (00-<32 hex>-<16 hex>-<2 hex>)' })
  readonly traceparent?: string;
  @IsPresent({ message: 'data is missing' }) readonly data: unknown;
}
