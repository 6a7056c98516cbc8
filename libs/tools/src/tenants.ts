import { createHash, timingSafeEqual } from 'node:crypto';
import type { ValidateFunction } from 'ajv';
import { ConfigFileError, configAjv, itemLabel, readYamlFile, validateConfig } from './config-file';
import { tenantsFileSchema } from './config-schemas';

export type TenantRole = 'producer' | 'admin';

export interface Tenant {
  readonly id: string;
  readonly name: string;
  /** `sha256:<hex>` of the API key; the key itself is never stored. */
  readonly apiKeyHash: string;
  /** Decimal string. */
  readonly monthlyForecastUsd: string;
  /** Spend over forecast × (1 + guardrailPct/100) pauses non-essential tools. Default 15. */
  readonly guardrailPct: number;
  /** Reference to a secret, `env:<VAR>`; resolve with `resolveSecretRef(ref, env)`. */
  readonly webhookSecret?: string;
  readonly role: TenantRole;
}

export interface AnalystKey {
  readonly name: string;
  readonly apiKeyHash: string;
}

export interface TenantsConfig {
  readonly version: number;
  readonly source: string;
  readonly tenants: readonly Tenant[];
  readonly analystKeys: readonly AnalystKey[];
  readonly byId: ReadonlyMap<string, Tenant>;
}

/** `sha256:<hex>` of a key, the form stored in tenants.yaml. */
export function hashApiKey(key: string): string {
  return `sha256:${createHash('sha256').update(key, 'utf8').digest('hex')}`;
}

/**
 * The entry whose hash matches the key. Compares every entry in constant time and never
 * stops early, so timing reveals neither which entry matched nor how much of a hash did.
 */
export function findByApiKey<T extends { readonly apiKeyHash: string }>(entries: readonly T[], key: string): T | undefined {
  if (typeof key !== 'string' || key.length === 0) return undefined;
  const presented = Buffer.from(hashApiKey(key), 'utf8');
  let found: T | undefined;
  for (const e of entries) {
    const stored = Buffer.from(e.apiKeyHash, 'utf8');
    // Equal-length buffers only; a malformed stored hash compares against itself so the work stays the same.
    const same = stored.length === presented.length ? timingSafeEqual(stored, presented) : (timingSafeEqual(presented, presented), false);
    if (same && !found) found = e;
  }
  return found;
}

export function findTenantByApiKey(tenants: readonly Tenant[] | TenantsConfig, key: string): Tenant | undefined {
  return findByApiKey(Array.isArray(tenants) ? tenants : (tenants as TenantsConfig).tenants, key);
}

export function findAnalystByApiKey(analysts: readonly AnalystKey[] | TenantsConfig, key: string): AnalystKey | undefined {
  return findByApiKey(Array.isArray(analysts) ? analysts : (analysts as TenantsConfig).analystKeys, key);
}

/**
 * Resolves an `env:<VAR>` reference against an environment the caller passes in (libraries
 * never read process.env themselves). Undefined when the variable is unset or empty.
 */
export function resolveSecretRef(ref: string | undefined, env: Readonly<Record<string, string | undefined>>): string | undefined {
  if (!ref) return undefined;
  const m = /^env:([A-Za-z_][A-Za-z0-9_]*)$/.exec(ref);
  if (!m) throw new Error(`secret reference ${JSON.stringify(ref)} must look like env:<VAR>`);
  const v = env[m[1]];
  return v ? v : undefined;
}

let fileValidator: ValidateFunction | undefined;

export function createTenants(data: unknown, label = 'tenants.yaml'): TenantsConfig {
  fileValidator ??= configAjv().compile(tenantsFileSchema);
  const problems = validateConfig(fileValidator, data, label, (segs, d) => {
    const doc = d as { tenants?: unknown; analystKeys?: unknown };
    if (segs[0] === 'tenants' && segs.length >= 2) return { item: itemLabel('tenant', doc.tenants, Number(segs[1]), 'id'), consumed: 2 };
    if (segs[0] === 'analystKeys' && segs.length >= 2) {
      return { item: itemLabel('analyst key', doc.analystKeys, Number(segs[1]), 'name'), consumed: 2 };
    }
    return { consumed: 0 };
  });
  if (problems.length > 0) throw new ConfigFileError(label, problems);

  const file = data as { version?: number; tenants: Tenant[]; analystKeys?: AnalystKey[] };
  const analystKeys = file.analystKeys ?? [];
  const ids = new Set<string>();
  const hashes = new Map<string, string>();
  const claimHash = (hash: string, owner: string) => {
    const prev = hashes.get(hash);
    if (prev) problems.push(`${label}: ${owner}: apiKeyHash is already used by ${prev}`);
    else hashes.set(hash, owner);
  };
  file.tenants.forEach((t, i) => {
    const item = itemLabel('tenant', file.tenants, i, 'id');
    if (ids.has(t.id)) problems.push(`${label}: ${item}: id "${t.id}" is declared more than once`);
    ids.add(t.id);
    claimHash(t.apiKeyHash, item);
  });
  analystKeys.forEach((a, i) => claimHash(a.apiKeyHash, itemLabel('analyst key', analystKeys, i, 'name')));
  if (problems.length > 0) throw new ConfigFileError(label, problems);

  // useDefaults filled guardrailPct and role in place.
  const tenants = file.tenants.map((t) => Object.freeze({ ...t }));
  return Object.freeze({
    version: file.version ?? 1,
    source: label,
    tenants: Object.freeze(tenants),
    analystKeys: Object.freeze(analystKeys.map((a) => Object.freeze({ ...a }))),
    byId: new Map(tenants.map((t) => [t.id, t])),
  });
}

/** Loads and validates tenants.yaml; errors name the file, tenant (or analyst key) and field. */
export function loadTenants(filePath: string): TenantsConfig {
  return createTenants(readYamlFile(filePath), filePath);
}
