import { DataSource, type EntityManager, type MixedList, type EntitySchema } from 'typeorm';
import type { ServiceConfig } from '@agentplane/config';

/** Name of the migrations table, created inside the service's own schema. */
export const MIGRATIONS_TABLE = 'migrations';

// eslint-disable-next-line @typescript-eslint/no-unsafe-function-type
export type MigrationList = MixedList<Function | string>;
// eslint-disable-next-line @typescript-eslint/no-unsafe-function-type
export type EntityList = MixedList<Function | string | EntitySchema>;

export interface DatabaseOptions {
  migrations?: MigrationList;
  entities?: EntityList;
  /** Connection pool size (default 10). */
  poolSize?: number;
}

/** Quotes a Postgres identifier (config already restricts schemas to [a-z0-9_]). */
export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/**
 * A DataSource bound to the service's schema: `search_path` is set on every pooled connection,
 * so unqualified names in migrations and queries land in the service's own schema and never in
 * `public` or another service's. `synchronize` is never used: the schema changes only through
 * migrations, which `initializeDatabase` runs.
 */
export function createDataSource(config: ServiceConfig, opts: DatabaseOptions = {}): DataSource {
  return new DataSource({
    type: 'postgres',
    url: config.databaseUrl,
    schema: config.dbSchema,
    entities: opts.entities ?? [],
    migrations: opts.migrations ?? [],
    migrationsTableName: MIGRATIONS_TABLE,
    migrationsTransactionMode: 'each',
    synchronize: false,
    migrationsRun: false, // run explicitly after the schema exists, under an advisory lock
    applicationName: `agentplane-${config.service}`,
    poolSize: opts.poolSize ?? 10,
    // A frozen or partitioned instance (SIGSTOP, a long GC, a lost network) must not hold row
    // locks that stop every other instance: Postgres ends its idle transaction, and a waiter
    // gives up with a retriable error (55P03) instead of hanging its consumer past a rebalance.
    extra: {
      options: `-c search_path=${quoteIdent(config.dbSchema)} -c idle_in_transaction_session_timeout=10000 -c lock_timeout=10000 -c synchronous_commit=${config.dbSynchronousCommit ?? 'on'}`,
      connectionTimeoutMillis: 5_000,
    },
    logging: false,
  });
}

/**
 * Connects, creates the schema if needed and runs pending migrations, all under a session
 * advisory lock keyed by the schema so several replicas booting together migrate once, in turn.
 * Retries the first connection until `connectDeadlineMs` (a database starting alongside).
 */
export async function initializeDatabase(
  ds: DataSource,
  config: ServiceConfig,
  log?: { info(msg: string): void; warn(msg: string): void },
  connectDeadlineMs = 30_000,
): Promise<{ applied: string[] }> {
  const deadline = Date.now() + connectDeadlineMs;
  for (let attempt = 1; !ds.isInitialized; attempt++) {
    try {
      await ds.initialize();
      break;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      log?.warn(`database not reachable yet (attempt ${attempt}): ${(err as Error).message}`);
      await new Promise((r) => setTimeout(r, Math.min(250 * attempt, 2_000))); // backoff, not sync
    }
  }
  const lockRunner = ds.createQueryRunner();
  const schema = quoteIdent(config.dbSchema);
  try {
    await lockRunner.connect();
    await lockRunner.query(`SELECT pg_advisory_lock(hashtext($1))`, [`agentplane:migrate:${config.dbSchema}`]);
    await lockRunner.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
    const applied = await ds.runMigrations({ transaction: 'each' });
    log?.info(
      applied.length
        ? `migrations applied in schema ${config.dbSchema}: ${applied.map((m) => m.name).join(', ')}`
        : `schema ${config.dbSchema} up to date`,
    );
    return { applied: applied.map((m) => m.name) };
  } finally {
    await lockRunner
      .query(`SELECT pg_advisory_unlock(hashtext($1))`, [`agentplane:migrate:${config.dbSchema}`])
      .catch(() => undefined);
    await lockRunner.release();
  }
}

/**
 * Idempotent handling: records `eventId` in the service's `processed_events` table (created
 * by each service's first migration) and returns true only the first time. Call it inside the
 * same transaction as the handler's writes, so a redelivered event is skipped exactly when
 * its effects were committed.
 */
export async function markProcessed(manager: EntityManager, eventId: string, eventType: string): Promise<boolean> {
  const rows: unknown[] = await manager.query(
    `INSERT INTO processed_events (event_id, event_type, handled_at) VALUES ($1, $2, now())
     ON CONFLICT (event_id) DO NOTHING RETURNING event_id`,
    [eventId, eventType],
  );
  return rows.length === 1;
}
