/**
 * A whole agentplane for one test file: random topic prefix, schemas and groups; each service
 * its own OS process; the demo config copied to a temp dir with tool URLs pointing at the
 * test's own tool server. Nothing is shared with other tests or a running `npm start`.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Client } from 'pg';
import { topicSpecs } from '@agentplane/infra';
import { DATABASE_URL, exitWithin, freePort, startService, suffix, waitFor, type ServiceProcess } from '../platform/helpers';
import { KAFKA_BROKERS, TestAdmin, waitForKafka } from './kafka';

export const SERVICES = ['planner', 'rate-limiter', 'executor', 'gateway', 'cost-accounting', 'audit'] as const;
export type StackService = (typeof SERVICES)[number];

export interface StackOptions {
  /** Default: the session loop (gateway, planner, rate limiter, executor). */
  readonly services?: readonly StackService[];
  /** URL of the tool server that the demo tools should point at. */
  readonly toolsUrl: string;
  /** Extra YAML appended to tools.yaml's tool list (already indented as list items). */
  readonly extraToolsYaml?: string;
  readonly env?: Readonly<Record<string, string>>;
  readonly envFor?: Partial<Record<StackService, Readonly<Record<string, string>>>>;
  readonly partitions?: number;
  /** tenants.yaml content instead of the demo one (e.g. a tiny forecast for guardrail tests). */
  readonly tenantsYaml?: string;
}

export interface Stack {
  readonly prefix: string;
  readonly configDir: string;
  readonly admin: TestAdmin;
  readonly ports: Readonly<Record<string, number>>;
  readonly procs: Record<string, ServiceProcess>;
  url(svc: StackService): string;
  topic(kind: 'session-requests' | 'session-events' | 'control-events' | 'dead-letters'): string;
  /** Output of every service, for a failing assertion's message. */
  logs(): string;
  stop(): Promise<void>;
}

const REPO = resolve(__dirname, '../../..');

export async function startStack(opts: StackOptions): Promise<Stack> {
  await waitForKafka();
  const run = suffix();
  const prefix = `t-e2e-${run}`;
  const admin = new TestAdmin();
  const partitions = opts.partitions ?? 4;
  const kinds = ['session-requests', 'session-events', 'control-events', 'dead-letters'] as const;
  await admin.createTopics(
    topicSpecs(prefix).map((t) => t.topic),
    partitions,
  );

  const configDir = mkdtempSync(join(tmpdir(), 'agentplane-e2e-'));
  const toolsUrl = opts.toolsUrl.replace(/\/$/, '');
  const host = new URL(toolsUrl).host;
  let tools = readFileSync(join(REPO, 'config', 'tools.yaml'), 'utf8').replaceAll('http://127.0.0.1:7070', toolsUrl).replaceAll('127.0.0.1:7070', host);
  if (opts.extraToolsYaml) tools = `${tools.trimEnd()}\n${opts.extraToolsYaml.replaceAll('TOOLS_URL', toolsUrl).replaceAll('TOOLS_HOST', host)}\n`;
  writeFileSync(join(configDir, 'tools.yaml'), tools);
  writeFileSync(join(configDir, 'tenants.yaml'), opts.tenantsYaml ?? readFileSync(join(REPO, 'config', 'tenants.yaml')));
  writeFileSync(join(configDir, 'prices.yaml'), readFileSync(join(REPO, 'config', 'prices.yaml')));

  const services = opts.services ?? (['planner', 'rate-limiter', 'executor', 'gateway'] as const);
  const ports: Record<string, number> = {};
  const procs: Record<string, ServiceProcess> = {};
  const schemas: string[] = [];
  for (const svc of services) {
    ports[svc] = await freePort();
    const schema = `t_${svc.replace('-', '_')}_${run}`;
    schemas.push(schema);
    procs[svc] = startService(svc, {
      HOST: '127.0.0.1',
      PORT: String(ports[svc]),
      KAFKA_BROKERS,
      DATABASE_URL,
      DB_SCHEMA: schema,
      KAFKA_GROUP_ID: `${prefix}-${svc}`,
      AGENTPLANE_TOPIC_PREFIX: prefix,
      AGENTPLANE_CONFIG: configDir,
      LOG_LEVEL: 'warn',
      ...opts.env,
      ...opts.envFor?.[svc],
    });
  }
  const logs = () => Object.entries(procs).map(([s, p]) => `--- ${s}\n${p.output().slice(-4000)}`).join('\n');
  try {
    await Promise.all(
      services.map((svc) =>
        waitFor(`${svc} ready`, async () => {
          if (procs[svc].child.exitCode !== null) throw new Error(`${svc} exited: ${procs[svc].output().slice(-2000)}`);
          const r = await fetch(`http://127.0.0.1:${ports[svc]}/health/ready`);
          return r.status === 200 ? true : undefined;
        }, 60_000),
      ),
    );
  } catch (err) {
    for (const p of Object.values(procs)) p.child.kill('SIGKILL');
    throw new Error(`${(err as Error).message}\n${logs()}`);
  }

  const stop = async () => {
    await Promise.all(
      Object.values(procs).map(async (p) => {
        if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGTERM');
        await exitWithin(p, 20_000).catch(() => p.child.kill('SIGKILL'));
      }),
    );
    const pg = new Client({ connectionString: DATABASE_URL });
    await pg.connect();
    for (const s of schemas) await pg.query(`DROP SCHEMA IF EXISTS "${s}" CASCADE`).catch(() => undefined);
    await pg.end();
    await admin.close();
  };
  return {
    prefix,
    configDir,
    admin,
    ports,
    procs,
    url: (svc) => `http://127.0.0.1:${ports[svc]}`,
    topic: (kind) => `${prefix}.${kinds.includes(kind) ? kind : ''}`,
    logs,
    stop,
  };
}
