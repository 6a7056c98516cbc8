import * as fs from 'node:fs';
import { Client } from 'pg';
import { DOCKER_ALTERNATIVE, InfraError } from './errors';
import { InfraLayout } from './layout';
import { run, which } from './proc';

export const DEFAULT_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/postgres';

/** True when `SELECT 1` succeeds within the timeout. */
export async function isPostgresReachable(url: string, timeoutMs = 2_000): Promise<boolean> {
  const c = new Client({ connectionString: url, connectionTimeoutMillis: timeoutMs, query_timeout: timeoutMs });
  try {
    await c.connect();
    await c.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await c.end().catch(() => undefined);
  }
}

export function localPostgresUrl(port: number): string {
  return `postgres://postgres@127.0.0.1:${port}/postgres`;
}

interface PgTools {
  initdb: string;
  pgCtl: string;
  /** Prefix that runs a command as the unprivileged cluster owner (initdb refuses root). */
  asUser: string[];
}

function pgBinDirs(): string[] {
  // Debian keeps the server binaries out of PATH.
  const base = '/usr/lib/postgresql';
  try {
    return fs
      .readdirSync(base)
      .sort((a, b) => Number(b) - Number(a))
      .map((v) => `${base}/${v}/bin`);
  } catch {
    return [];
  }
}

async function pgTools(layout: InfraLayout): Promise<PgTools> {
  const extra = pgBinDirs();
  const initdb = which('initdb', extra);
  const pgCtl = which('pg_ctl', extra);
  if (!initdb || !pgCtl) {
    throw new InfraError(
      'No PostgreSQL reachable at DATABASE_URL and no initdb/pg_ctl to start a local one: install PostgreSQL ' +
        '(Debian/Ubuntu: `apt-get install postgresql`) or set DATABASE_URL to a reachable server.\n' +
        DOCKER_ALTERNATIVE,
    );
  }
  let asUser: string[] = [];
  if (process.getuid?.() === 0) {
    const id = await run('id', ['-u', 'postgres']);
    const runuser = which('runuser');
    if (id.code !== 0 || !runuser) {
      throw new InfraError('Running as root: initdb needs an unprivileged user named `postgres` (and runuser) to own the local cluster.');
    }
    fs.mkdirSync(layout.pgDir, { recursive: true });
    await run('chown', ['-R', 'postgres:', layout.pgDir]);
    asUser = [runuser, '-u', 'postgres', '--'];
  }
  return { initdb, pgCtl, asUser };
}

async function pgRun(t: PgTools, cmd: string, args: string[]) {
  const [bin, ...rest] = t.asUser.length ? [...t.asUser, cmd, ...args] : [cmd, ...args];
  return run(bin, rest, { cwd: '/' });
}

/**
 * Starts (initialising on first use) a throwaway cluster under `.agentplane/pg`, trust auth,
 * listening on 127.0.0.1:<port> only. Returns its URL.
 */
export async function startLocalPostgres(layout: InfraLayout, port: number): Promise<{ url: string; started: boolean }> {
  const url = localPostgresUrl(port);
  if (await isPostgresReachable(url, 1_000)) return { url, started: false };
  const t = await pgTools(layout);
  fs.mkdirSync(layout.pgSocketDir, { recursive: true });
  if (t.asUser.length) await run('chown', ['-R', 'postgres:', layout.pgDir]);
  if (!fs.existsSync(`${layout.pgData}/PG_VERSION`)) {
    const r = await pgRun(t, t.initdb, ['-D', layout.pgData, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-locale']);
    if (r.code !== 0) throw new InfraError(`initdb failed:\n${(r.stdout + r.stderr).trim()}`);
  }
  const opts = `-p ${port} -c listen_addresses=127.0.0.1 -k ${layout.pgSocketDir} -c fsync=off -c max_connections=200`;
  const r = await pgRun(t, t.pgCtl, ['-D', layout.pgData, '-l', layout.pgLog, '-o', opts, '-w', '-t', '60', 'start']);
  if (r.code !== 0) {
    let log = '';
    try {
      log = fs.readFileSync(layout.pgLog, 'utf8').trimEnd().split('\n').slice(-15).join('\n');
    } catch {
      /* none */
    }
    throw new InfraError(`pg_ctl start failed:\n${(r.stdout + r.stderr).trim()}\n${log}`);
  }
  return { url, started: true };
}

export function hasLocalPostgres(layout: InfraLayout): boolean {
  return fs.existsSync(`${layout.pgData}/postmaster.pid`);
}

export async function stopLocalPostgres(layout: InfraLayout): Promise<'stopped' | 'not-running'> {
  if (!hasLocalPostgres(layout)) return 'not-running';
  const t = await pgTools(layout);
  const r = await pgRun(t, t.pgCtl, ['-D', layout.pgData, '-m', 'fast', '-w', '-t', '60', 'stop']);
  if (r.code !== 0 && hasLocalPostgres(layout)) throw new InfraError(`pg_ctl stop failed:\n${(r.stdout + r.stderr).trim()}`);
  return 'stopped';
}
