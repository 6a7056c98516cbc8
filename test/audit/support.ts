import { spawn } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Client } from 'pg';
import { loadConfig } from '@agentplane/config';
import { AuditStore } from '@agentplane/audit';
import { topicSpecs } from '@agentplane/infra';
import { createDataSource, initializeDatabase } from '@agentplane/platform';
import { MIGRATIONS } from '../../apps/audit/src/migrations';
import { TestAdmin } from '../support';
import { suffix } from '../platform/helpers';

export const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
/** dist/ root: this file runs as dist/test/audit/support.js. */
export const DIST = resolve(__dirname, '../..');
export const CLI = resolve(DIST, 'apps', 'cli', 'src', 'main.js');

export function schemaName(tag: string): string {
  return `t_audit_${tag}_${suffix()}`;
}

/** Runs the audit migrations in a fresh schema, as the service does at boot. */
export async function migrate(schema: string): Promise<void> {
  const config = loadConfig('audit', { DB_SCHEMA: schema, DATABASE_URL });
  const ds = createDataSource(config, { migrations: MIGRATIONS });
  try {
    await initializeDatabase(ds, config);
  } finally {
    if (ds.isInitialized) await ds.destroy();
  }
}

/** A store acting as the writer role (what the service uses). */
export function writerStore(schema: string): AuditStore {
  return AuditStore.open({ databaseUrl: DATABASE_URL, schema, role: 'agentplane_audit_writer', max: 4 });
}

/** The superuser, in the schema: what an attacker with database access can do. */
export async function superuser(schema: string): Promise<Client> {
  const c = new Client({ connectionString: DATABASE_URL, options: `-c search_path=${schema}` });
  await c.connect();
  return c;
}

export async function dropSchema(schema: string): Promise<void> {
  const c = new Client({ connectionString: DATABASE_URL });
  await c.connect();
  try {
    await c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await c.end();
  }
}

/** A fresh ed25519 key pair on disk: { dir, privateKeyFile, publicKeyFile }. */
export function keyFiles(): { dir: string; privateKeyFile: string; publicKeyFile: string } {
  const dir = mkdtempSync(join(tmpdir(), 'agentplane-audit-'));
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const privateKeyFile = join(dir, 'signing-key.pem');
  const publicKeyFile = join(dir, 'public-key.pem');
  writeFileSync(privateKeyFile, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  writeFileSync(publicKeyFile, publicKey.export({ type: 'spki', format: 'pem' }));
  return { dir, privateKeyFile, publicKeyFile };
}

/** Creates the prefixed topics (1 partition each for the aux topics, 3 for session topics). */
export async function createTopics(admin: TestAdmin, prefix: string): Promise<void> {
  await admin.connect();
  const specs = topicSpecs(prefix, { sessionPartitions: 3, auxPartitions: 1 });
  for (const s of specs) await admin.createTopics([s.topic], s.numPartitions);
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** `agentplane <args>` as its own process. */
export function cli(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return new Promise((ok, fail) => {
    const child = spawn(process.execPath, ['--enable-source-maps', CLI, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    const o: Buffer[] = [];
    const e: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => o.push(c));
    child.stderr.on('data', (c: Buffer) => e.push(c));
    child.once('error', fail);
    child.once('close', (code) => ok({ code, stdout: Buffer.concat(o).toString('utf8'), stderr: Buffer.concat(e).toString('utf8') }));
  });
}
