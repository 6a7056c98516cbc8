import { readFileSync } from 'node:fs';
import Ajv, { type ErrorObject, type ValidateFunction } from 'ajv';
import { parseDocument } from 'yaml';
import { DECIMAL_PATTERN, API_KEY_HASH_PATTERN, SECRET_REF_PATTERN, HOST_PATTERN, TOOL_NAME_PATTERN } from './config-schemas';

/**
 * One error for a whole config file: every problem found, each naming the file, the item
 * (tool/tenant/model) and the field, so an operator fixes everything in one pass.
 */
export class ConfigFileError extends Error {
  constructor(
    readonly file: string,
    readonly problems: readonly string[],
  ) {
    super(
      problems.length === 1
        ? problems[0]
        : `${file}: ${problems.length} problems:\n${problems.map((p) => `  - ${p}`).join('\n')}`,
    );
    this.name = 'ConfigFileError';
  }
}

/** Reads and parses a YAML file; unreadable or unparsable files throw a ConfigFileError. */
export function readYamlFile(filePath: string): unknown {
  let text: string;
  try {
    text = readFileSync(filePath, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ConfigFileError(filePath, [`${filePath}: cannot read file (${code ?? (err as Error).message})`]);
  }
  return parseYamlText(text, filePath);
}

export function parseYamlText(text: string, label: string): unknown {
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new ConfigFileError(
      label,
      doc.errors.map((e) => {
        const pos = e.linePos?.[0];
        const where = pos ? `line ${pos.line}, column ${pos.col}: ` : '';
        return `${label}: ${where}${e.message.split('\n')[0]}`;
      }),
    );
  }
  return doc.toJS();
}

/** Ajv for our own config schemas: strict (typos in our schemas fail fast), all errors, defaults filled. */
export function configAjv(): Ajv {
  return new Ajv({ allErrors: true, strict: true, strictTypes: false, useDefaults: true, verbose: true });
}

const PATTERN_HINTS: Record<string, string> = {
  [DECIMAL_PATTERN]: 'must be a non-negative decimal string, e.g. "0.002"',
  [API_KEY_HASH_PATTERN]: 'must look like "sha256:<64 lowercase hex>"',
  [SECRET_REF_PATTERN]: 'must reference an environment variable, e.g. "env:TENANT_ACME_WEBHOOK_SECRET"',
  [HOST_PATTERN]: 'must be host or host:port',
  [TOOL_NAME_PATTERN]: 'must be 1-64 characters of letters, digits, "_" or "-"',
  '^https?://[^\\s]+$': 'must be an http:// or https:// URL',
  '^[a-z0-9][a-z0-9_-]{0,62}$': 'must be lowercase letters, digits, "_" or "-"',
};

/** JSON pointer → dotted field path: /endpoint/url → endpoint.url, /allowedHosts/0 → allowedHosts[0]. */
export function pointerToField(segments: readonly string[]): string {
  let out = '';
  for (const s of segments) {
    if (/^\d+$/.test(s)) out += `[${s}]`;
    else out += out ? `.${s}` : s;
  }
  return out;
}

export function splitPointer(pointer: string): string[] {
  if (!pointer) return [];
  return pointer
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

/** Human message for one Ajv error about a config field; `field` is '' for the item itself. */
export function describeConfigError(e: ErrorObject, field: string): string | undefined {
  // if/then and allOf wrappers only repeat what their inner errors already said.
  if (e.keyword === 'if' || e.keyword === 'allOf') return undefined;
  const at = (f: string) => (f ? `${f} ` : '');
  switch (e.keyword) {
    case 'required': {
      const missing = (e.params as { missingProperty: string }).missingProperty;
      return `${field ? `${field}.` : ''}${missing} is required`;
    }
    case 'additionalProperties': {
      const extra = (e.params as { additionalProperty: string }).additionalProperty;
      return field ? `${field} has unknown field "${extra}"` : `unknown field "${extra}"`;
    }
    case 'enum': {
      const allowed = (e.params as { allowedValues: unknown[] }).allowedValues;
      return `${at(field)}must be one of ${allowed.map((v) => JSON.stringify(v)).join(', ')}`;
    }
    case 'const':
      return `${at(field)}must be ${JSON.stringify((e.params as { allowedValue: unknown }).allowedValue)}`;
    case 'pattern': {
      const pattern = (e.params as { pattern: string }).pattern;
      return `${at(field)}${PATTERN_HINTS[pattern] ?? `must match ${pattern}`} (got ${JSON.stringify(e.data)})`;
    }
    case 'type':
      return `${at(field)}${e.message} (got ${JSON.stringify(e.data)})`;
    default:
      return `${at(field)}${e.message}`;
  }
}

/**
 * Runs a compiled config validator and turns its errors into "file: item: field message"
 * lines. `itemOf` names the item an error belongs to (e.g. `tool "search"`) from the pointer
 * segments, and returns how many leading segments it consumed.
 */
export function validateConfig(
  validate: ValidateFunction,
  data: unknown,
  label: string,
  itemOf: (segments: string[], data: unknown) => { item?: string; consumed: number },
): string[] {
  if (validate(data)) return [];
  const problems: string[] = [];
  for (const e of validate.errors ?? []) {
    const segments = splitPointer(e.instancePath);
    const { item, consumed } = itemOf(segments, data);
    const field = pointerToField(segments.slice(consumed));
    const msg = describeConfigError(e, field);
    if (!msg) continue;
    const line = `${label}: ${item ? `${item}: ` : ''}${msg}`;
    if (!problems.includes(line)) problems.push(line);
  }
  return problems;
}

/** Names an array item by its `name`/`id` when it has one, else by index. */
export function itemLabel(kind: string, list: unknown, index: number, key: 'name' | 'id'): string {
  const entry = Array.isArray(list) ? (list[index] as Record<string, unknown> | undefined) : undefined;
  const v = entry && typeof entry === 'object' ? entry[key] : undefined;
  return typeof v === 'string' && v ? `${kind} "${v}"` : `${kind} #${index + 1}`;
}
