import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { stringify } from 'yaml';
import { ConfigFileError } from './config-file';
import { loadPrices } from './prices';
import {
  findAnalystByApiKey,
  findTenantByApiKey,
  hashApiKey,
  loadTenants,
  resolveSecretRef,
} from './tenants';
import { repoRoot, tempFile } from './test-helpers';

function problemsOf(fn: () => unknown, file: string): string[] {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigFileError);
    return err.problems.map((p) => (p.startsWith(`${file}: `) ? p.slice(file.length + 2) : `NOT PREFIXED: ${p}`));
  }
  assert.fail('expected a ConfigFileError');
}

describe('tenants.yaml', () => {
  it('given the shipped demo tenants, when a demo key is presented, then it resolves to its tenant', () => {
    const cfg = loadTenants(join(repoRoot(), 'config/tenants.yaml'));
    assert.deepEqual(cfg.tenants.map((t) => t.id), ['acme', 'globex']);
    assert.equal(findTenantByApiKey(cfg, 'ap_demo_acme_3f9c2b7e1d4a')?.id, 'acme');
    assert.equal(findTenantByApiKey(cfg.tenants, 'ap_demo_globex_8a1e6d0c5b72')?.id, 'globex');
    assert.equal(findTenantByApiKey(cfg, 'ap_demo_acme_3f9c2b7e1d4b'), undefined);
    assert.equal(findTenantByApiKey(cfg, ''), undefined);
    assert.equal(findAnalystByApiKey(cfg, 'ap_demo_analyst_5d2c9e71b0f4')?.name, 'demo-analyst');
    // An analyst key is not a tenant key.
    assert.equal(findTenantByApiKey(cfg, 'ap_demo_analyst_5d2c9e71b0f4'), undefined);
  });

  it('given a tenant without guardrailPct or role, when loaded, then the defaults apply', () => {
    const cfg = loadTenants(join(repoRoot(), 'config/tenants.yaml'));
    const globex = cfg.byId.get('globex')!;
    assert.equal(globex.guardrailPct, 15);
    assert.equal(globex.role, 'producer');
    assert.equal(globex.monthlyForecastUsd, '50.00');
  });

  it('hashApiKey produces the stored form', () => {
    assert.equal(hashApiKey('abc'), 'sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });

  it('given bad tenants, when loaded, then every problem names the file, the tenant and the field', () => {
    const h = hashApiKey('k1');
    const file = tempFile(
      'tenants.yaml',
      stringify({
        tenants: [
          { id: 'acme', name: 'Acme', apiKeyHash: 'md5:abc', monthlyForecastUsd: '100', guardrailPct: -1 },
          { id: 'globex', name: 'Globex', apiKeyHash: h, monthlyForecastUsd: 100, webhookSecret: 'plain-secret' },
          { id: 'globex', name: 'Globex 2', apiKeyHash: hashApiKey('k2'), monthlyForecastUsd: '1' },
        ],
        analystKeys: [{ name: 'ana', apiKeyHash: h }],
      }),
    );
    const first = problemsOf(() => loadTenants(file), file);
    assert.deepEqual(first.sort(), [
      'tenant "acme": apiKeyHash must look like "sha256:<64 lowercase hex>" (got "md5:abc")',
      'tenant "acme": guardrailPct must be >= 0',
      'tenant "globex": monthlyForecastUsd must be string (got 100)',
      'tenant "globex": webhookSecret must reference an environment variable, e.g. "env:TENANT_ACME_WEBHOOK_SECRET" (got "plain-secret")',
    ]);
  });

  it('given duplicate ids and a key hash shared with an analyst, when loaded, then both are reported', () => {
    const h = hashApiKey('k1');
    const file = tempFile(
      'tenants.yaml',
      stringify({
        tenants: [
          { id: 'acme', name: 'Acme', apiKeyHash: h, monthlyForecastUsd: '100' },
          { id: 'acme', name: 'Acme again', apiKeyHash: hashApiKey('k2'), monthlyForecastUsd: '1' },
        ],
        analystKeys: [{ name: 'ana', apiKeyHash: h }],
      }),
    );
    assert.deepEqual(problemsOf(() => loadTenants(file), file), [
      'tenant "acme": id "acme" is declared more than once',
      'analyst key "ana": apiKeyHash is already used by tenant "acme"',
    ]);
  });

  it('resolveSecretRef reads only the environment it is given', () => {
    assert.equal(resolveSecretRef('env:HOOK', { HOOK: 's3cret' }), 's3cret');
    assert.equal(resolveSecretRef('env:HOOK', {}), undefined);
    assert.equal(resolveSecretRef(undefined, { HOOK: 'x' }), undefined);
    assert.throws(() => resolveSecretRef('HOOK', {}), /must look like env:<VAR>/);
  });
});

describe('prices.yaml', () => {
  it('given the shipped prices, when loaded, then the three models are priced as decimal strings', () => {
    const prices = loadPrices(join(repoRoot(), 'config/prices.yaml'));
    assert.deepEqual(Object.keys(prices.models), ['gpt-4o-mini', 'llama-3.1-8b', 'workflow']);
    assert.deepEqual(prices.models['workflow'], { inputPer1M: '0', outputPer1M: '0' });
    assert.equal(prices.models['gpt-4o-mini'].outputPer1M, '0.60');
  });

  it('given bad prices, when loaded, then errors name the file, model and field', () => {
    const file = tempFile('prices.yaml', stringify({ version: 1, models: { 'gpt-x': { inputPer1M: 0.1, outputPer1M: '-1' }, m2: { inputPer1M: '1' } } }));
    assert.deepEqual(problemsOf(() => loadPrices(file), file).sort(), [
      'model "gpt-x": inputPer1M must be string (got 0.1)',
      'model "gpt-x": outputPer1M must be a non-negative decimal string, e.g. "0.002" (got "-1")',
      'model "m2": outputPer1M is required',
    ]);
    const noVersion = tempFile('prices.yaml', stringify({ models: { a: { inputPer1M: '1', outputPer1M: '1' } } }));
    assert.deepEqual(problemsOf(() => loadPrices(noVersion), noVersion), ['version is required']);
  });
});
