/**
 * Each service's migrations on an empty schema of the real Postgres: applied in order into that
 * schema only, recorded in the schema's own migrations table, a no-op the second time, and
 * reversible. Also the idempotency helper on the resulting dedupe table.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { Client } from 'pg';
import type { DataSource } from 'typeorm';
import { SERVICE_NAMES, loadConfig, type ServiceName } from '@agentplane/config';
import { createDataSource, initializeDatabase, markProcessed, type MigrationList } from '@agentplane/platform';
import { DATABASE_URL, suffix } from './helpers';

/* eslint-disable @typescript-eslint/no-require-imports */
const migrationsOf = (svc: ServiceName): MigrationList =>
  (require(`../../apps/${svc}/src/migrations`) as { MIGRATIONS: MigrationList }).MIGRATIONS;

const run = suffix();
const schemas: string[] = [];
let pg: Client;

before(async () => {
  pg = new Client({ connectionString: DATABASE_URL });
  await pg.connect();
});

after(async () => {
  for (const s of schemas) await pg.query(`DROP SCHEMA IF EXISTS "${s}" CASCADE`);
  await pg.end();
});

for (const svc of SERVICE_NAMES) {
  test(`${svc}: migrations run on an empty schema, idempotently, and revert`, async () => {
    const schema = `m_${svc.replace(/-/g, '_')}_${run}`;
    schemas.push(schema);
    const exists = await pg.query(`SELECT 1 FROM pg_namespace WHERE nspname = $1`, [schema]);
    assert.equal(exists.rowCount, 0, 'starts from nothing');

    const config = loadConfig(svc, { DATABASE_URL, DB_SCHEMA: schema });
    const ds = createDataSource(config, { migrations: migrationsOf(svc) });
    try {
      const first = await initializeDatabase(ds, config);
      const names = (migrationsOf(svc) as unknown as Array<{ name: string }>).map((m) => m.name);
      assert.deepEqual(first.applied, names, 'every migration, in order');
      assert.equal(first.applied[0], 'Init1764028800000');

      const tables = await pg.query<{ table_name: string }>(
        `SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY 1`,
        [schema],
      );
      const names2 = tables.rows.map((r) => r.table_name);
      for (const t of ['migrations', 'processed_events']) assert.ok(names2.includes(t), `${t} in ${schema}: ${names2.join(', ')}`);

      // Booting again (a restart, a second replica) applies nothing.
      const second = await initializeDatabase(ds, config);
      assert.deepEqual(second.applied, []);

      await checkDedupe(ds);

      // Every migration reverts, newest first, down to nothing.
      for (let i = 0; i < first.applied.length; i++) await ds.undoLastMigration();
      const left = await pg.query(`SELECT to_regclass($1) AS t`, [`"${schema}".processed_events`]);
      assert.equal(left.rows[0].t, null, 'down() drops what up() created');
    } finally {
      if (ds.isInitialized) await ds.destroy();
    }
  });
}

test('replicas booting together migrate once (advisory lock)', async () => {
  const schema = `m_race_${run}`;
  schemas.push(schema);
  const config = loadConfig('executor', { DATABASE_URL, DB_SCHEMA: schema });
  const sources = [0, 1, 2].map(() => createDataSource(config, { migrations: migrationsOf('executor') }));
  try {
    const results = await Promise.all(sources.map((ds) => initializeDatabase(ds, config)));
    const n = migrationsOf('executor').length;
    assert.deepEqual(results.map((r) => r.applied.length).sort(), [0, 0, n]);
  } finally {
    await Promise.all(sources.map((ds) => (ds.isInitialized ? ds.destroy() : undefined)));
  }
});

async function checkDedupe(ds: DataSource): Promise<void> {
  const id = randomUUID();
  assert.equal(await markProcessed(ds.manager, id, 'agentplane.session.requested'), true);
  assert.equal(await markProcessed(ds.manager, id, 'agentplane.session.requested'), false);
  // Rolled back with the handler's transaction: the event counts as not handled.
  const other = randomUUID();
  await assert.rejects(
    ds.transaction(async (m) => {
      assert.equal(await markProcessed(m, other, 't'), true);
      throw new Error('handler failed');
    }),
  );
  assert.equal(await markProcessed(ds.manager, other, 't'), true);
}

test('DB_SYNCHRONOUS_COMMIT reaches every connection of the service (default on)', async () => {
  for (const value of [undefined, 'off'] as const) {
    const schema = `m_sync_${run}_${value ?? 'default'}`;
    schemas.push(schema);
    const config = loadConfig('planner', { DATABASE_URL, DB_SCHEMA: schema, ...(value ? { DB_SYNCHRONOUS_COMMIT: value } : {}) });
    const ds = createDataSource(config, { migrations: migrationsOf('planner') });
    await ds.initialize();
    try {
      const [row] = (await ds.query('SHOW synchronous_commit')) as Array<{ synchronous_commit: string }>;
      assert.equal(row!.synchronous_commit, value ?? 'on');
    } finally {
      await ds.destroy();
    }
  }
});
