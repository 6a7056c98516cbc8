/**
 * The session loop as OS processes with any number of instances per service, on any broker
 * (the shared one, or a test's own secure broker). Used by test/deploy (secure mode),
 * test/scale (scale-out under faults) and bench/w3-scale. Every instance of a service shares
 * that service's consumer group and DB schema, as replicas of a Deployment do.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Client } from 'pg';
import { topicSpecs } from '@agentplane/infra';
import { createKafka, type Admin, type Kafka } from '@agentplane/messaging';
import { DATABASE_URL, exitWithin, freePort, startService, suffix, type ServiceProcess } from '../platform/helpers';
import { eventually } from '../support';

export const LOOP = ['planner', 'rate-limiter', 'executor', 'gateway'] as const;
export type LoopService = (typeof LOOP)[number] | 'cost-accounting' | 'audit';

/** The demo tenant's API key (config/tenants.yaml). */
export const ACME = 'ap_demo_acme_3f9c2b7e1d4a';

export interface Sasl {
  mechanism: 'scram-sha-512';
  username: string;
  password: string;
}

export interface LoopOptions {
  brokers: string;
  /** Admin credentials for topic creation and offset pinning (secure brokers). */
  adminSasl?: Sasl;
  /** Topic prefix; default a random `t-dep-<run>` (created here unless `createTopics` is false). */
  prefix?: string;
  createTopics?: boolean;
  partitions?: number;
  toolsUrl: string;
  /** Extra YAML list items for tools.yaml (TOOLS_URL / TOOLS_HOST are substituted). */
  extraToolsYaml?: string;
  /** Text replacements applied to tools.yaml (e.g. a lower maxConcurrent). */
  toolsReplace?: Array<[string | RegExp, string]>;
  env?: Record<string, string>;
}

export interface Instance {
  readonly svc: LoopService;
  readonly name: string;
  readonly port: number;
  proc: ServiceProcess;
}

const REPO = resolve(__dirname, '../../..');

export function groupOf(run: string, svc: LoopService): string {
  // `agentplane-<svc>` prefix: the secure broker's group ACLs are prefixed that way.
  return `agentplane-${svc}-${run}`;
}

export class Loop {
  readonly run = suffix();
  readonly prefix: string;
  readonly configDir = mkdtempSync(join(tmpdir(), 'agentplane-dep-'));
  readonly instances: Instance[] = [];
  readonly kafka: Kafka;
  private adminClient: Admin | undefined;
  private readonly schemas = new Set<string>();
  private rr = 0;

  constructor(readonly opts: LoopOptions) {
    this.prefix = opts.prefix ?? `t-dep-${this.run}`;
    this.kafka = createKafka({ brokers: opts.brokers, clientId: `t-dep-${this.run}`, logLevel: 'nothing', ...(opts.adminSasl ? { sasl: opts.adminSasl } : {}) });
    const url = opts.toolsUrl.replace(/\/$/, '');
    const host = new URL(url).host;
    let tools = readFileSync(join(REPO, 'config', 'tools.yaml'), 'utf8').replaceAll('http://127.0.0.1:7070', url).replaceAll('127.0.0.1:7070', host);
    for (const [from, to] of opts.toolsReplace ?? []) tools = tools.replace(from, to);
    if (opts.extraToolsYaml) tools = `${tools.trimEnd()}\n${opts.extraToolsYaml.replaceAll('TOOLS_URL', url).replaceAll('TOOLS_HOST', host)}\n`;
    writeFileSync(join(this.configDir, 'tools.yaml'), tools);
    for (const f of ['tenants.yaml', 'prices.yaml']) writeFileSync(join(this.configDir, f), readFileSync(join(REPO, 'config', f)));
  }

  topic(kind: 'session-requests' | 'session-events' | 'control-events' | 'dead-letters'): string {
    return `${this.prefix}.${kind}`;
  }

  async admin(): Promise<Admin> {
    if (!this.adminClient) {
      this.adminClient = this.kafka.admin();
      await this.adminClient.connect();
    }
    return this.adminClient;
  }

  /** Creates the topics (unless told not to) and pins every group to their start. */
  async prepare(services: readonly LoopService[]): Promise<void> {
    const admin = await this.admin();
    const partitions = this.opts.partitions ?? 4;
    if (this.opts.createTopics !== false) {
      await admin.createTopics({
        waitForLeaders: true,
        topics: topicSpecs(this.prefix).map((t) => ({ topic: t.topic, numPartitions: partitions, replicationFactor: 1 })),
      });
    }
    // A group without offsets starts at "latest": instances that join one after the other
    // could skip what was published meanwhile. Pin each group to offset 0 first.
    const parts = async (topic: string) => (await admin.fetchTopicMetadata({ topics: [topic] })).topics[0]!.partitions.map((p) => p.partitionId);
    for (const svc of services) {
      for (const kind of ['session-requests', 'session-events', 'control-events'] as const) {
        const ps = await parts(this.topic(kind));
        await admin.setOffsets({ groupId: groupOf(this.run, svc), topic: this.topic(kind), partitions: ps.map((partition) => ({ partition, offset: '0' })) });
      }
    }
  }

  /** Starts one instance and waits until it answers /health/ready. */
  async start(svc: LoopService, env: Record<string, string> = {}, readyTimeoutMs = 60_000): Promise<Instance> {
    const n = this.instances.filter((i) => i.svc === svc).length;
    const schema = `t_dep_${svc.replace('-', '_')}_${this.run}`;
    this.schemas.add(schema);
    const port = await freePort();
    const proc = startService(svc, {
      HOST: '127.0.0.1',
      PORT: String(port),
      KAFKA_BROKERS: this.opts.brokers,
      DATABASE_URL,
      DB_SCHEMA: schema,
      KAFKA_GROUP_ID: groupOf(this.run, svc),
      KAFKA_CLIENT_ID: `${groupOf(this.run, svc)}-${n}`,
      AGENTPLANE_TOPIC_PREFIX: this.prefix,
      AGENTPLANE_CONFIG: this.configDir,
      AUDIT_SIGNING_KEY_FILE: join(this.configDir, 'audit-signing-key.pem'),
      LOG_LEVEL: 'warn',
      ...this.opts.env,
      ...env,
    });
    const inst: Instance = { svc, name: `${svc}#${n}`, port, proc };
    this.instances.push(inst);
    await this.ready(inst, readyTimeoutMs);
    if (process.env.T_DEP_VERBOSE) process.stderr.write(`loop: ${inst.name} ready on :${port}\n`);
    return inst;
  }

  async ready(i: Instance, timeoutMs = 60_000): Promise<void> {
    await eventually(
      async () => {
        if (i.proc.child.exitCode !== null) throw new Error(`${i.name} exited ${i.proc.child.exitCode}:\n${i.proc.output().slice(-3000)}`);
        const r = await fetch(`http://127.0.0.1:${i.port}/health/ready`, { signal: AbortSignal.timeout(2_000) }).catch(() => undefined);
        return r?.status === 200;
      },
      { timeoutMs, intervalMs: 100, message: `${i.name} ready` },
    );
  }

  of(svc: LoopService): Instance[] {
    return this.instances.filter((i) => i.svc === svc);
  }

  alive(i: Instance): boolean {
    return i.proc.child.exitCode === null && i.proc.child.signalCode === null;
  }

  /** A live gateway, round robin. */
  gateway(): Instance {
    const gws = this.of('gateway').filter((g) => this.alive(g));
    if (gws.length === 0) throw new Error('no live gateway');
    return gws[this.rr++ % gws.length]!;
  }

  async post(body: unknown, waitS: number, idempotencyKey?: string): Promise<{ status: number; body: any }> {
    const g = this.gateway();
    const r = await fetch(`http://127.0.0.1:${g.port}/v1/sessions`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${ACME}`,
        'content-type': 'application/json',
        prefer: `wait=${waitS}`,
        ...(idempotencyKey ? { 'idempotency-key': idempotencyKey } : {}),
      },
      body: JSON.stringify(body),
    });
    return { status: r.status, body: await r.json() };
  }

  async get(id: string): Promise<any> {
    const g = this.gateway();
    const r = await fetch(`http://127.0.0.1:${g.port}/v1/sessions/${id}`, { headers: { authorization: `Bearer ${ACME}` } });
    return r.status === 200 ? r.json() : undefined;
  }

  /** Sum over the group's topics of end offset − committed offset. */
  async lag(svc: LoopService, kinds: ReadonlyArray<'session-requests' | 'session-events' | 'control-events'>): Promise<number> {
    const admin = await this.admin();
    let lag = 0;
    for (const kind of kinds) {
      const topic = this.topic(kind);
      const [ends, committed] = await Promise.all([admin.fetchTopicOffsets(topic), admin.fetchOffsets({ groupId: groupOf(this.run, svc), topics: [topic] })]);
      const c = new Map<number, number>();
      for (const t of committed) for (const p of t.partitions) c.set(p.partition, Number(p.offset));
      for (const p of ends) lag += Number(p.high) - Math.max(c.get(p.partition) ?? 0, Number(p.low));
    }
    return lag;
  }

  /** Members of a service's consumer group (as the coordinator sees it). */
  async members(svc: LoopService): Promise<{ state: string; members: number }> {
    const admin = await this.admin();
    const d = await admin.describeGroups([groupOf(this.run, svc)]);
    const g = d.groups[0]!;
    return { state: g.state, members: g.members.length };
  }

  logs(): string {
    return this.instances.map((i) => `--- ${i.name}\n${i.proc.output().slice(-3000)}`).join('\n');
  }

  async stop(): Promise<void> {
    await Promise.all(
      this.instances.map(async (i) => {
        // A SIGSTOPped instance must run again to handle SIGTERM.
        if (this.alive(i)) i.proc.child.kill('SIGCONT');
        if (this.alive(i)) i.proc.child.kill('SIGTERM');
        await exitWithin(i.proc, 20_000).catch(() => i.proc.child.kill('SIGKILL'));
      }),
    );
    if (this.adminClient) {
      if (this.opts.createTopics !== false) await this.adminClient.deleteTopics({ topics: topicSpecs(this.prefix).map((t) => t.topic) }).catch(() => undefined);
      await this.adminClient.disconnect().catch(() => undefined);
    }
    const pg = new Client({ connectionString: DATABASE_URL });
    await pg.connect();
    for (const s of this.schemas) await pg.query(`DROP SCHEMA IF EXISTS "${s}" CASCADE`).catch(() => undefined);
    await pg.end();
    rmSync(this.configDir, { recursive: true, force: true });
  }
}

/** The e2e workflow: search, then fetch_doc and summarize in parallel (3 tool calls). */
export function workflow() {
  return {
    steps: [
      { calls: [{ id: 'find', tool: 'search', args: { query: 'kafka' } }] },
      {
        calls: [
          { id: 'doc', tool: 'fetch_doc', args: { id: '${find.result.results.0.id}' } },
          { id: 'sum', tool: 'summarize', args: { text: 'Kafka keeps an ordered log of events per partition.' } },
        ],
      },
    ],
  };
}
