import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ReadinessRegistry } from './readiness';

test('ready only when every probe passes; failures and hangs are reported', async () => {
  const r = new ReadinessRegistry();
  assert.deepEqual(await r.check(), { ok: true, checks: {} });
  r.register('db', () => true);
  const off = r.register('kafka', () => ({ ok: false, detail: 'connecting' }));
  r.register('slow', () => new Promise<boolean>(() => undefined));
  r.register('throws', async () => {
    throw new Error('nope');
  });
  const rep = await r.check(50);
  assert.equal(rep.ok, false);
  assert.deepEqual(rep.checks.db, { ok: true });
  assert.deepEqual(rep.checks.kafka, { ok: false, detail: 'connecting' });
  assert.match(rep.checks.slow!.detail!, /timed out/);
  assert.deepEqual(rep.checks.throws, { ok: false, detail: 'nope' });
  off();
  assert.equal((await r.check(50)).checks.kafka, undefined);
});

test('draining makes the service not ready', async () => {
  const r = new ReadinessRegistry();
  r.register('db', () => true);
  r.markDraining();
  const rep = await r.check();
  assert.equal(rep.ok, false);
  assert.deepEqual(rep.checks.shutdown, { ok: false, detail: 'draining' });
});
