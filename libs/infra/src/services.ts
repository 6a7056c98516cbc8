import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { InfraError } from './errors';
import { isAlive, livePid, pollUntil, tailFile, terminate } from './proc';

export const SERVICE_PORTS = {
  gateway: 8080,
  'cost-accounting': 8081,
  audit: 8082,
  planner: 8083,
  'rate-limiter': 8084,
  executor: 8085,
} as const;
export type ServiceName = keyof typeof SERVICE_PORTS;
/** Start order: consumers of the log first, the HTTP ingress last. */
export const SERVICE_NAMES: ServiceName[] = ['audit', 'cost-accounting', 'rate-limiter', 'executor', 'planner', 'gateway'];

export interface ServicesOptions {
  root: string;
  runDir: string;
  /** Environment passed to every service (KAFKA_BROKERS, DATABASE_URL, ...); PORT is added per service. */
  env: NodeJS.ProcessEnv;
  services?: ServiceName[];
  ports?: Partial<Record<ServiceName, number>>;
  readyTimeoutMs?: number;
  /** Node binary for the services; defaults to the one running this code (Node 24). */
  nodePath?: string;
}

export interface ServiceStatus {
  name: ServiceName;
  port: number;
  pid?: number;
  ready: boolean;
  log: string;
}

/**
 * Secure mode: each service gets its own SCRAM principal from the per-service variables of
 * `.agentplane/secure.env` (AGENTPLANE_<SVC>_KAFKA_SASL_USERNAME/PASSWORD), when set.
 */
export function serviceCredentials(env: NodeJS.ProcessEnv, name: string): Record<string, string> {
  const p = `AGENTPLANE_${name.toUpperCase().replace(/-/g, '_')}_`;
  const username = env[`${p}KAFKA_SASL_USERNAME`];
  const password = env[`${p}KAFKA_SASL_PASSWORD`];
  if (!username || !password) return {};
  return { KAFKA_SASL_MECHANISM: env.KAFKA_SASL_MECHANISM || 'scram-sha-512', KAFKA_SASL_USERNAME: username, KAFKA_SASL_PASSWORD: password };
}

export function serviceEntry(root: string, name: string): string {
  return path.join(root, 'dist', 'apps', name, 'src', 'main.js');
}

function files(runDir: string, name: string) {
  return { pid: path.join(runDir, `${name}.pid`), log: path.join(runDir, `${name}.log`) };
}

function portOf(o: Pick<ServicesOptions, 'ports'>, name: ServiceName): number {
  return o.ports?.[name] ?? SERVICE_PORTS[name];
}

/** GET /health/ready answers 200. */
export function httpReady(port: number, timeoutMs = 1_000): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/health/ready', timeout: timeoutMs }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
  });
}

/** Starts each service not already running as a detached background process, then waits for readiness. */
export async function startServices(o: ServicesOptions): Promise<ServiceStatus[]> {
  const names = o.services ?? SERVICE_NAMES;
  fs.mkdirSync(o.runDir, { recursive: true });
  const missing = names.filter((n) => !fs.existsSync(serviceEntry(o.root, n)));
  if (missing.length) {
    throw new InfraError(`Services not built: ${missing.map((n) => path.relative(o.root, serviceEntry(o.root, n))).join(', ')}`);
  }
  const pids = new Map<ServiceName, number>();
  for (const name of names) {
    const f = files(o.runDir, name);
    const entry = serviceEntry(o.root, name);
    const running = livePid(f.pid, entry);
    if (running) {
      pids.set(name, running);
      continue;
    }
    const port = portOf(o, name);
    if (await httpReady(port, 500)) {
      throw new InfraError(`Port ${port} for ${name} already answers /health/ready, but not from a process started by agentplane.`);
    }
    const out = fs.openSync(f.log, 'a');
    const child = spawn(o.nodePath ?? process.execPath, ['--enable-source-maps', entry], {
      cwd: o.root,
      detached: true,
      stdio: ['ignore', out, out],
      env: { ...o.env, ...serviceCredentials(o.env, name), PORT: String(port), SERVICE_NAME: name },
    });
    fs.closeSync(out);
    if (child.pid === undefined) throw new InfraError(`Could not spawn ${name}.`);
    child.unref();
    fs.writeFileSync(f.pid, `${child.pid}\n`);
    pids.set(name, child.pid);
  }
  await Promise.all(
    names.map(async (name) => {
      const pid = pids.get(name)!;
      const f = files(o.runDir, name);
      try {
        await pollUntil(
          async () => {
            if (!isAlive(pid)) throw new Error('the process exited');
            return httpReady(portOf(o, name));
          },
          { timeoutMs: o.readyTimeoutMs ?? 60_000, intervalMs: 200, what: `${name} /health/ready on :${portOf(o, name)}` },
        );
      } catch (e) {
        throw new InfraError(`${name} did not become ready: ${(e as Error).message}\n--- ${f.log} (tail) ---\n${tailFile(f.log, 20)}`);
      }
    }),
  );
  return servicesStatus(o);
}

/** SIGTERM every running service (in reverse start order), SIGKILL after the grace period. */
export async function stopServices(o: Pick<ServicesOptions, 'root' | 'runDir' | 'services'>, graceMs = 15_000) {
  const names = [...(o.services ?? SERVICE_NAMES)].reverse();
  const result: Record<string, string> = {};
  await Promise.all(
    names.map(async (name) => {
      const f = files(o.runDir, name);
      const pid = livePid(f.pid, serviceEntry(o.root, name));
      result[name] = pid ? await terminate(pid, graceMs).then((h) => (h === 'kill' ? 'killed' : 'stopped')) : 'not-running';
      fs.rmSync(f.pid, { force: true });
    }),
  );
  return result;
}

export async function servicesStatus(o: Pick<ServicesOptions, 'root' | 'runDir' | 'services' | 'ports'>): Promise<ServiceStatus[]> {
  const names = o.services ?? SERVICE_NAMES;
  return Promise.all(
    names.map(async (name) => {
      const f = files(o.runDir, name);
      const port = portOf(o, name);
      return { name, port, pid: livePid(f.pid, serviceEntry(o.root, name)), ready: await httpReady(port), log: f.log };
    }),
  );
}
