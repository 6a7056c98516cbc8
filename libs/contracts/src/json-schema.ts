import { getMetadataStorage } from 'class-validator';
import { validationMetadataArrayToSchemas } from 'class-validator-jsonschema';
import { CloudEventEnvelopeDecl, dataschemaFor } from './envelope';
import {
  EVENT_TYPES,
  EVENT_TYPE_NAMES,
  EventType,
  PlannedToolCall,
  PlannerOutcomeDecl,
  WorkflowCallSpec,
  WorkflowSpec,
  WorkflowStepSpec,
} from './registry';
import { SCHEMA_CONVERTERS } from './validation';
import { DeadLetterError } from './events/dead-letter';

/*
 * JSON Schemas derived from the class-validator declarations (the one source). Used by
 * scripts/src/gen-schemas.ts to write schemas/ and by decode() to compile its Ajv fast path.
 */

// class-transformer's metadata (its @Type targets) is needed for nested $refs; its storage
// module ships no typings at this path.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { defaultMetadataStorage } = require('class-transformer/cjs/storage') as { defaultMetadataStorage: unknown };

export type JsonSchema = { [k: string]: unknown };

const NESTED_CLASSES: Function[] = [DeadLetterError, WorkflowCallSpec, WorkflowStepSpec, WorkflowSpec, PlannedToolCall, PlannerOutcomeDecl];

function lineage(cls: Function): Function[] {
  const out: Function[] = [];
  for (let c = cls; c && c !== Function.prototype && c.name; c = Object.getPrototypeOf(c)) out.push(c);
  return out;
}

let cachedDefinitions: Record<string, JsonSchema> | undefined;

/** Definitions of every contracts class by class name. Only our classes, so other libraries' DTOs cannot collide. */
export function contractDefinitions(): Record<string, JsonSchema> {
  if (cachedDefinitions) return cachedDefinitions;
  const storage = getMetadataStorage();
  const classes = new Set<Function>();
  for (const c of [CloudEventEnvelopeDecl, ...NESTED_CLASSES, ...Object.values(EVENT_TYPES).map((d) => d.dataClass)]) {
    for (const l of lineage(c)) classes.add(l);
  }
  const metas = [];
  const seen = new Set<unknown>();
  for (const cls of classes) {
    for (const m of storage.getTargetValidationMetadatas(cls, '', true, false)) {
      if (m.target !== cls || seen.has(m)) continue;
      seen.add(m);
      // Custom constraints are keyed by their constraint name (what SCHEMA_CONVERTERS uses).
      const constraint = m.constraintCls ? storage.getTargetValidatorConstraints(m.constraintCls)[0] : undefined;
      metas.push(constraint ? { ...m, type: constraint.name } : m);
    }
  }
  const raw = validationMetadataArrayToSchemas(metas as never, {
    additionalConverters: SCHEMA_CONVERTERS as never,
    classTransformerMetadataStorage: defaultMetadataStorage as never,
    refPointerPrefix: '#/definitions/',
  }) as Record<string, JsonSchema>;
  const defs: Record<string, JsonSchema> = {};
  for (const name of Object.keys(raw).sort()) {
    const def = tidy(raw[name]);
    // Data is strict: unknown properties are rejected (typos in hand-written requests must not pass silently).
    // The envelope stays open: CloudEvents allows extension attributes.
    if (name !== CloudEventEnvelopeDecl.name) def.additionalProperties = false;
    defs[name] = def;
  }
  cachedDefinitions = defs;
  return defs;
}

/** $ref with siblings is ambiguous in draft-07; keep the $ref alone. Recurse into nested schemas. */
function tidy(s: JsonSchema): JsonSchema {
  if (typeof s.$ref === 'string') return { $ref: s.$ref };
  const out: JsonSchema = {};
  for (const [k, v] of Object.entries(s)) {
    if (k === 'properties' && v && typeof v === 'object') {
      out[k] = Object.fromEntries(Object.entries(v as Record<string, JsonSchema>).map(([p, ps]) => [p, tidy(ps)]));
    } else if ((k === 'items' || k === 'additionalProperties') && v && typeof v === 'object') {
      out[k] = tidy(v as JsonSchema);
    } else {
      out[k] = v;
    }
  }
  // `items: {}` says nothing; drop it to keep generated files quiet.
  if (out.items && typeof out.items === 'object' && Object.keys(out.items as object).length === 0) delete out.items;
  return out;
}

function definitionNameOf(cls: Function, defs: Record<string, JsonSchema>): string {
  for (const c of lineage(cls)) if (defs[c.name]) return c.name;
  throw new Error(`no schema for ${cls.name}`);
}

function refsIn(v: unknown, out: Set<string>): void {
  if (Array.isArray(v)) v.forEach((x) => refsIn(x, out));
  else if (v && typeof v === 'object') {
    for (const [k, x] of Object.entries(v)) {
      if (k === '$ref' && typeof x === 'string') out.add(x.replace('#/definitions/', ''));
      else refsIn(x, out);
    }
  }
}

/** The complete JSON Schema (draft-07) of one event type: envelope + data, self-contained. */
export function eventSchema(type: EventType): JsonSchema {
  const defs = contractDefinitions();
  const env = defs[CloudEventEnvelopeDecl.name];
  const dataName = definitionNameOf(EVENT_TYPES[type].dataClass, defs);
  const used = new Set<string>([dataName]);
  for (let size = 0; size !== used.size; ) {
    size = used.size;
    for (const n of [...used]) refsIn(defs[n], used);
  }
  const definitions: Record<string, JsonSchema> = {};
  for (const n of [...used].sort()) definitions[n] = defs[n];
  return {
    $schema: 'http://json-schema.org/draft-07/schema#',
    $id: dataschemaFor(type),
    title: type,
    description: `${EVENT_TYPES[type].description} CloudEvents 1.0 JSON envelope; topic ${EVENT_TYPES[type].topic}.`,
    type: 'object',
    properties: {
      ...(env.properties as object),
      type: { type: 'string', const: type },
      data: { $ref: `#/definitions/${dataName}` },
    },
    required: env.required,
    definitions,
  };
}

export function allEventSchemas(): Record<EventType, JsonSchema> {
  return Object.fromEntries(EVENT_TYPE_NAMES.map((t) => [t, eventSchema(t)])) as Record<EventType, JsonSchema>;
}
