/**
 * Two planner instances share one consumer group, so a `planner.mode.changed` fact on
 * control-events reaches only the instance that owns its partition. The other follows through
 * the shared `planner_modes` table (real Postgres, own random schema), and an older stored
 * fact never overrides a newer one it already holds.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { DataSource } from 'typeorm';
import { loadConfig, loadPlannerSettings, type PlannerSettings, type ServiceConfig } from '@agentplane/config';
import { makeEvent, type PlannerMode } from '@agentplane/contracts';
import type { EventProducer } from '@agentplane/messaging';
import { createDataSource, initializeDatabase } from '@agentplane/platform';
import { ModeService } from '../../apps/planner/src/mode.service';
import { QualityMonitor } from '../../apps/planner/src/quality';
import { MIGRATIONS } from '../../apps/planner/src/migrations';
import { eventually } from '../support';
import { DATABASE_URL, suffix } from '../platform/helpers';

const schema = `t_mode_refresh_${suffix()}`;
let config: ServiceConfig;
let settings: PlannerSettings;
let ds: DataSource;
const services: ModeService[] = [];

before(async () => {
  config = loadConfig('planner', { DATABASE_URL, DB_SCHEMA: schema });
  settings = loadPlannerSettings({ PLANNER_MODE_REFRESH_MS: '50' });
  ds = createDataSource(config, { migrations: MIGRATIONS });
  await initializeDatabase(ds, config);
});

after(async () => {
  for (const s of services) s.onApplicationShutdown();
  await ds.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  await ds.destroy();
});

/** A planner instance's mode state as Nest would start it (these paths never publish). */
async function instance(): Promise<ModeService> {
  const s = new ModeService(config, settings, new QualityMonitor(settings.quality), ds, undefined as unknown as EventProducer);
  await s.onModuleInit();
  s.onApplicationBootstrap();
  services.push(s);
  return s;
}

const changed = (tenantId: string, mode: PlannerMode, time: string) =>
  makeEvent('agentplane.planner.mode.changed', { tenantId, mode, passRate: mode === 'fallback' ? 0.4 : 0.9, window: 50 }, { source: 'test', time });

test('given two instances, when one applies a mode change from control-events, then the other follows it; an older fact does not undo a newer one', async () => {
  const a = await instance();
  const b = await instance();
  const tenant = `t-${suffix()}`;
  assert.equal(b.mode(tenant), 'normal');

  await a.apply(changed(tenant, 'fallback', '2026-12-07T10:00:00.000Z'));
  assert.equal(a.mode(tenant), 'fallback');
  await eventually(() => b.mode(tenant) === 'fallback', { timeoutMs: 10_000, message: 'instance b follows the fallback' });

  // b applies a newer fact itself; a's table write of an older one (a late redelivery) loses.
  await b.apply(changed(tenant, 'normal', '2026-12-07T10:05:00.000Z'));
  await a.apply(changed(tenant, 'fallback', '2026-12-07T10:00:00.000Z'));
  await eventually(() => a.mode(tenant) === 'normal', { timeoutMs: 10_000, message: 'instance a follows the newer normal' });
  await b.refresh();
  assert.equal(b.mode(tenant), 'normal');

  // A restarted instance starts from the table.
  const c = await instance();
  assert.equal(c.mode(tenant), 'normal');
});
