import Ajv, { ErrorObject, ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import { plainToInstance } from 'class-transformer';
import { ValidationError, validateSync } from 'class-validator';
import { CloudEventEnvelopeDecl } from './envelope';
import { eventSchema } from './json-schema';
import { AgentplaneEvent, EVENT_TYPES, EventType, isEventType, subjectFor } from './registry';

export type DecodeResult = { readonly ok: true; readonly event: AgentplaneEvent } | { readonly ok: false; readonly reason: string };

/** Kafka headers as kafkajs hands them over. */
export type MessageHeaders = Readonly<Record<string, Buffer | string | ReadonlyArray<Buffer | string> | undefined>>;

/** Structured-mode JSON bytes. */
export function encode(event: AgentplaneEvent): Buffer {
  return Buffer.from(JSON.stringify(event), 'utf8');
}

/*
 * Validation strategy. The class-validator declarations are the source; from them one JSON
 * Schema per type is generated and compiled with Ajv, which decides acceptance (a few µs,
 * where plainToInstance + validateSync costs tens). Only when a message is refused does
 * class-validator run, to word the reason ("input must be a string"); Ajv's own error is the
 * fallback. spec files check both agree on the samples.
 */
const ajv = new Ajv({ allErrors: false, strict: true, strictTypes: false, strictRequired: false, allowUnionTypes: true });
addFormats(ajv, ['date-time', 'uri', 'uuid']);
const validators = new Map<EventType, ValidateFunction>();

function validatorFor(type: EventType): ValidateFunction {
  let v = validators.get(type);
  if (!v) {
    v = ajv.compile(eventSchema(type));
    validators.set(type, v);
  }
  return v;
}

/** Compiles every validator now, so the first message of each type does not pay for it (call at boot). */
export function warmUpDecoder(): void {
  for (const t of Object.keys(EVENT_TYPES) as EventType[]) validatorFor(t);
}

const fail = (reason: string): DecodeResult => ({ ok: false, reason });

function header(headers: MessageHeaders | undefined, name: string): string | undefined {
  const v = headers?.[name];
  if (v === undefined) return undefined;
  const one = Array.isArray(v) ? v[0] : v;
  return one === undefined ? undefined : typeof one === 'string' ? one : (one as Buffer).toString('utf8');
}

function clip(s: string, n = 120): string {
  return s.length > n ? `${s.slice(0, n)}…` : s;
}

/**
 * The single decode edge: bytes (+ headers) → a validated, typed event, or a reason fit for a
 * dead letter. Accepts CloudEvents structured mode (the JSON envelope, what agentplane writes)
 * and binary mode (`ce_*` headers, data as the value: the default of CloudEvents SDKs).
 */
export function decode(value: Buffer | null, headers?: MessageHeaders): DecodeResult {
  if (value === null || value === undefined) return fail('message has no value (null/tombstone)');
  let parsed: unknown;
  try {
    parsed = JSON.parse(value.toString('utf8'));
  } catch (e) {
    return fail(`value is not valid JSON: ${(e as Error).message}`);
  }
  if (headers && header(headers, 'ce_specversion') !== undefined) {
    const ct = header(headers, 'content-type');
    if (ct !== undefined && !/^application\/json\b/i.test(ct)) return fail(`binary-mode content-type must be application/json, got "${clip(ct)}"`);
    const env: Record<string, unknown> = {};
    for (const key of Object.keys(headers)) {
      if (key.startsWith('ce_')) env[key.slice(3)] = header(headers, key);
    }
    if (ct !== undefined) env.datacontenttype = 'application/json';
    env.data = parsed;
    return validateEvent(env);
  }
  return validateEvent(parsed);
}

/** Validates an already-parsed event object (decode minus JSON parsing). */
export function validateEvent(obj: unknown): DecodeResult {
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) return fail('value is not a JSON object (expected a CloudEvents envelope)');
  const e = obj as Record<string, unknown>;
  const type = e.type;
  if (type === undefined) return fail('invalid envelope: type is missing');
  if (typeof type !== 'string') return fail('invalid envelope: type must be a string');
  if (!isEventType(type)) return fail(`unknown event type "${clip(type)}"`);
  const validate = validatorFor(type);
  if (!validate(e)) return fail(explain(type, e, validate.errors ?? []));
  const data = e.data as Record<string, unknown>;
  const subject = subjectFor(type, data as never);
  if (e.subject !== subject) {
    return fail(`invalid envelope: subject "${clip(String(e.subject))}" must equal ${SUBJECT_SOURCE[EVENT_TYPES[type].subject]} ("${clip(subject)}")`);
  }
  if (e.tenantid !== undefined && typeof data.tenantId === 'string' && e.tenantid !== data.tenantId) {
    return fail(`invalid envelope: tenantid "${clip(String(e.tenantid))}" differs from data.tenantId "${clip(data.tenantId)}"`);
  }
  return { ok: true, event: e as unknown as AgentplaneEvent };
}

const SUBJECT_SOURCE = { session: 'data.sessionId', tenant: 'data.tenantId', tool: 'data.tool', message: 'data.sourceTopic/partition/offset' } as const;

// ---- cold path: wording the reason ----------------------------------------------------------

function explain(type: EventType, e: Record<string, unknown>, errors: ErrorObject[]): string {
  const first = errors[0];
  const inData = first !== undefined && (first.instancePath === '/data' || first.instancePath.startsWith('/data/'));
  if (!inData) {
    const msgs = classValidatorMessages(CloudEventEnvelopeDecl, e, false).filter((m) => !m.startsWith('data '));
    return `invalid envelope: ${msgs.length ? msgs.join('; ') : ajvMessage(first, '')}`;
  }
  const data = e.data;
  if (data === null || typeof data !== 'object' || Array.isArray(data)) return `invalid data for ${type}: data must be a JSON object`;
  let msgs: string[] = [];
  try {
    msgs = classValidatorMessages(EVENT_TYPES[type].dataClass, data, true);
  } catch {
    // A shape class-transformer cannot handle: fall back to Ajv's wording.
  }
  return `invalid data for ${type}: ${msgs.length ? msgs.join('; ') : ajvMessage(first, '/data')}`;
}

// Type errors first: "input must be a string" says more than "input must be shorter than …".
const TYPE_CONSTRAINTS = new Set(['isString', 'isInt', 'isNumber', 'isBoolean', 'isArray', 'isObject', 'isIn', 'equals', 'nestedValidation', 'isPresent']);

function classValidatorMessages(cls: new () => object, plain: object, strict: boolean): string[] {
  const instance = plainToInstance(cls, plain);
  const errors = validateSync(instance, { whitelist: strict, forbidNonWhitelisted: strict, forbidUnknownValues: false });
  const out: string[] = [];
  const walk = (errs: ValidationError[], prefix: string): void => {
    for (const err of errs) {
      const path = /^\d+$/.test(err.property) ? `${prefix}[${err.property}]` : prefix ? `${prefix}.${err.property}` : err.property;
      if (err.constraints) {
        if (err.constraints.whitelistValidation) {
          out.push(`${prefix ? prefix + ' has ' : ''}unknown property "${err.property}"`);
        } else if (err.value === undefined) {
          out.push(`${path} is missing`);
        } else {
          const keys = Object.keys(err.constraints);
          const typeKeys = keys.filter((k) => TYPE_CONSTRAINTS.has(k));
          const msgs = (typeKeys.length ? typeKeys : keys).map((k) => err.constraints![k]);
          // class-validator words messages with the bare property name; name the full path instead.
          for (const m of msgs) out.push(prefix && m.startsWith(err.property) ? `${path}${m.slice(err.property.length)}` : prefix ? `${path}: ${m}` : m);
        }
      }
      if (err.children?.length) walk(err.children, path);
    }
  };
  walk(errors, '');
  return out;
}

function ajvMessage(err: ErrorObject | undefined, root: string): string {
  if (!err) return 'does not match its schema';
  const rel = err.instancePath.startsWith(root) ? err.instancePath.slice(root.length) : err.instancePath;
  const path = rel
    .split('/')
    .filter(Boolean)
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'))
    .reduce((acc, p) => (/^\d+$/.test(p) ? `${acc}[${p}]` : acc ? `${acc}.${p}` : p), '');
  const at = (name: string): string => (path ? `${path}.${name}` : name);
  switch (err.keyword) {
    case 'required':
      return `${at(String(err.params.missingProperty))} is missing`;
    case 'additionalProperties':
      return `${path ? path + ' has ' : ''}unknown property "${String(err.params.additionalProperty)}"`;
    default:
      return `${path || 'value'} ${err.message ?? 'is invalid'}`;
  }
}
