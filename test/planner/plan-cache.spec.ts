/**
 * The planner's plan cache on the real Postgres (its own random schema): the latest plan of a
 * task wins, and a plan this process already wrote for the task is not written again.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { DataSource } from 'typeorm';
import { loadConfig } from '@agentplane/config';
import { createDataSource, initializeDatabase } from '@agentplane/platform';
import { PlanCacheStore, taskKey, type CachedPlan } from '../../apps/planner/src/plan-cache';
import { MIGRATIONS } from '../../apps/planner/src/migrations';
import { DATABASE_URL, suffix } from '../platform/helpers';

const schema = `t_plan_cache_${suffix()}`;
let ds: DataSource;

before(async () => {
  const config = loadConfig('planner', { DATABASE_URL, DB_SCHEMA: schema });
  ds = createDataSource(config, { migrations: MIGRATIONS });
  await initializeDatabase(ds, config);
});

after(async () => {
  await ds.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  await ds.destroy();
});

const row = async (key: string) =>
  ((await ds.query(`SELECT plan, session_id, xmin::text AS version FROM plan_cache WHERE task_key = $1`, [key])) as Array<{ plan: CachedPlan; session_id: string; version: string }>)[0];

test('given a cached plan, when the same plan completes again it is not rewritten; a different plan replaces it', async () => {
  const store = new PlanCacheStore(ds);
  const key = taskKey('acme', 'find docs about kafka', undefined);
  const a: CachedPlan = { steps: [{ calls: [{ tool: 'search', args: { query: 'kafka' } }] }], answer: 'a' };
  const b: CachedPlan = { steps: [{ calls: [{ tool: 'search', args: { query: 'kafka logs' } }] }], answer: 'b' };
  const entry = (plan: CachedPlan, sessionId: string) => ({ taskKey: key, tenantId: 'acme', template: 'find docs about kafka', plan, sessionId });

  await store.put(entry(a, 's1'));
  const first = await row(key);
  assert.deepEqual(first?.plan, a);

  await store.put(entry(a, 's2'));
  const same = await row(key);
  assert.equal(same?.version, first?.version, 'the row was not written again');
  assert.equal(same?.session_id, 's1');

  await store.put(entry(b, 's3'));
  const changed = await row(key);
  assert.deepEqual(changed?.plan, b, 'the latest plan wins');
  assert.equal(changed?.session_id, 's3');
  assert.deepEqual(await store.get(key), b);
});
