/**
 * Shared by the rate-limiter, executor and fault tests: random topics and schemas, a temp
 * config dir whose tools.yaml points at an in-process counting tool server, services as
 * separate OS processes, and a reader of everything on session-events.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { stringify } from 'yaml';
import { makeEvent, type AgentplaneEvent, type ToolCallRequestedData } from '@agentplane/contracts';
import { topicName } from '@agentplane/infra';
import { EventProducer, type Consumer } from '@agentplane/messaging';
import { startToolServer, type ToolServer, type ToolServerOptions } from '../fixtures/tool-server';
import { DATABASE_URL, freePort, startService, suffix, type ServiceProcess } from '../platform/helpers';
import { KAFKA_BROKERS, TestAdmin, eventually, testKafka, waitForKafka } from '../support';

export type ToolSpec = Record<string, unknown> & { name: string };

/** A tool served by the witness at /tools/<path> (default: its name), with generous limits. */
export function tool(name: string, server: ToolServer, over: Partial<ToolSpec> & { path?: string } = {}): ToolSpec {
  const { path = name, ...rest } = over;
  return {
    name,
    version: '1.0.0',
    description: `${name} (test tool)`,
    args: { type: 'object', properties: { text: { type: 'string', maxLength: 100 }, n: { type: 'integer' } }, additionalProperties: true },
    result: { type: 'object', required: ['args'], properties: { args: { type: 'object' } } },
    endpoint: { kind: 'http', method: 'POST', url: `${server.url}/tools/${path}` },
    timeoutMs: 2000,
    retries: 2,
    idempotent: true,
    essential: true,
    costUsd: '0.001',
    rateLimit: { rps: 1000, burst: 1000, maxConcurrent: 200 },
    allowedHosts: [`127.0.0.1:${server.port}`],
    breaker: { errorThresholdPercentage: 50, resetTimeoutMs: 5000, volumeThreshold: 1000 },
    ...rest,
  };
}

export interface Svc {
  readonly name: string;
  readonly port: number;
  proc: ServiceProcess;
}

export class Harness {
  readonly run = suffix();
  readonly prefix = `t-rel-${this.run}`;
  readonly admin = new TestAdmin();
  readonly kafka = testKafka(`t-rel-${this.run}`);
  readonly producer = new EventProducer(this.kafka);
  readonly configDir = mkdtempSync(join(tmpdir(), 'agentplane-rel-'));
  readonly events: AgentplaneEvent[] = [];
  readonly services: Svc[] = [];
  server!: ToolServer;
  private reader: Consumer | undefined;
  private readonly schemas = new Set<string>();
  private seq = 0;

  constructor(private readonly partitions = 3) {}

  topic(kind: 'session-events' | 'control-events' | 'dead-letters' | 'session-requests'): string {
    return topicName(this.prefix, kind);
  }

  async start(serverOpts: ToolServerOptions = {}): Promise<this> {
    await waitForKafka();
    this.server = await startToolServer({ port: 0, ...serverOpts });
    await this.admin.createTopics(
      [this.topic('session-events'), this.topic('control-events'), this.topic('dead-letters'), this.topic('session-requests')],
      this.partitions,
    );
    await this.producer.connect();
    this.reader = this.kafka.consumer({ groupId: `t-rel-reader-${this.run}`, maxWaitTimeInMs: 50 });
    await this.reader.connect();
    await this.reader.subscribe({ topics: [this.topic('session-events'), this.topic('control-events')], fromBeginning: true });
    const joined = new Promise<void>((ok) => this.reader!.on(this.reader!.events.GROUP_JOIN, () => ok()));
    await this.reader.run({
      eachMessage: async ({ message }) => {
        if (message.value) this.events.push(JSON.parse(message.value.toString('utf8')) as AgentplaneEvent);
      },
    });
    await joined;
    return this;
  }

  writeTools(tools: ToolSpec[]): void {
    writeFileSync(join(this.configDir, 'tools.yaml'), stringify({ version: 1, tools }));
  }

  /** Starts a service process; its group starts at the topics' beginning (fresh topics). */
  async startService(svc: 'rate-limiter' | 'executor', opts: { instance?: string; env?: Record<string, string> } = {}): Promise<Svc> {
    const schema = `t_rel_${svc.replace('-', '_')}_${this.run}`;
    const group = `t-rel-${svc}-${this.run}`;
    this.schemas.add(schema);
    if (!this.services.some((x) => x.name.startsWith(svc))) await this.pinGroupToStart(group);
    const port = await freePort();
    const proc = startService(svc, {
      PORT: String(port),
      HOST: '127.0.0.1',
      KAFKA_BROKERS,
      DATABASE_URL,
      DB_SCHEMA: schema,
      KAFKA_GROUP_ID: group,
      KAFKA_CLIENT_ID: `${group}-${opts.instance ?? '0'}`,
      AGENTPLANE_TOPIC_PREFIX: this.prefix,
      AGENTPLANE_CONFIG: this.configDir,
      LOG_LEVEL: 'warn',
      KAFKA_SESSION_TIMEOUT_MS: '6000',
      ...opts.env,
    });
    const s: Svc = { name: `${svc}${opts.instance ? `#${opts.instance}` : ''}`, port, proc };
    this.services.push(s);
    await this.ready(s);
    return s;
  }

  async ready(s: Svc, timeoutMs = 45_000): Promise<void> {
    await eventually(
      async () => {
        if (s.proc.child.exitCode !== null) throw new Error(`${s.name} exited ${s.proc.child.exitCode}:\n${s.proc.output().slice(-3000)}`);
        const r = await fetch(`http://127.0.0.1:${s.port}/health/ready`);
        return r.status === 200;
      },
      { timeoutMs, intervalMs: 100, message: `${s.name} ready` },
    );
  }

  /** A new group would start at "latest" and could miss what is published while it joins. */
  private async pinGroupToStart(group: string): Promise<void> {
    await this.admin.connect();
    const existing = await this.admin.admin.fetchOffsets({ groupId: group, topics: [this.topic('session-events')] });
    if (existing.some((t) => t.partitions.some((p) => Number(p.offset) >= 0))) return;
    for (const t of [this.topic('session-events'), this.topic('control-events')]) {
      await this.admin.admin.setOffsets({ groupId: group, topic: t, partitions: Array.from({ length: this.partitions }, (_, partition) => ({ partition, offset: '0' })) });
    }
  }

  requested(over: Partial<ToolCallRequestedData> & { tool: string }): AgentplaneEvent<'agentplane.tool.call.requested'> {
    const n = ++this.seq;
    const sessionId = over.sessionId ?? `s-${this.run}-${n}`;
    const callId = over.callId ?? `c${n}`;
    return makeEvent(
      'agentplane.tool.call.requested',
      {
        tenantId: 'acme',
        sessionId,
        step: 1,
        callId,
        args: { text: `hello ${n}` },
        idempotencyKey: `${sessionId}:${callId}`,
        essential: false,
        ...over,
      },
      { source: 'agentplane/planner' },
    );
  }

  /** An admission as the rate limiter would publish it (executor-only tests). */
  admitted(over: Partial<ToolCallRequestedData> & { tool: string }): AgentplaneEvent<'agentplane.tool.call.admitted'> {
    const r = this.requested(over);
    return makeEvent('agentplane.tool.call.admitted', { ...r.data, queuedMs: 0 }, { source: 'agentplane/rate-limiter', causationid: r.id });
  }

  async publish(events: AgentplaneEvent | AgentplaneEvent[], kind: 'session-events' | 'control-events' = 'session-events'): Promise<void> {
    await this.producer.publish(this.topic(kind), Array.isArray(events) ? events : [events]);
  }

  of<T extends AgentplaneEvent['type']>(type: T, sessionId?: string): Array<AgentplaneEvent<T>> {
    return this.events.filter((e) => e.type === type && (sessionId === undefined || e.subject === sessionId)) as Array<AgentplaneEvent<T>>;
  }

  /** The terminal tool event of a call (succeeded, failed or rejected), once it is on the log. */
  outcome(sessionId: string, callId: string): AgentplaneEvent | undefined {
    return this.events.find(
      (e) =>
        (e.type === 'agentplane.tool.call.succeeded' || e.type === 'agentplane.tool.call.failed' || e.type === 'agentplane.tool.call.rejected') &&
        e.subject === sessionId &&
        (e.data as { callId: string }).callId === callId,
    );
  }

  async waitOutcomes(calls: Array<{ sessionId: string; callId: string }>, timeoutMs = 30_000): Promise<AgentplaneEvent[]> {
    return eventually(
      () => {
        const out = calls.map((c) => this.outcome(c.sessionId, c.callId));
        return out.every(Boolean) ? (out as AgentplaneEvent[]) : undefined;
      },
      { timeoutMs, intervalMs: 50, message: `outcomes of ${calls.length} calls (have ${calls.filter((c) => this.outcome(c.sessionId, c.callId)).length})` },
    );
  }

  kill(s: Svc, signal: NodeJS.Signals = 'SIGKILL'): Promise<unknown> {
    s.proc.child.kill(signal);
    return s.proc.exited;
  }

  async stop(): Promise<void> {
    for (const s of this.services) if (s.proc.child.exitCode === null && s.proc.child.signalCode === null) s.proc.child.kill('SIGKILL');
    await Promise.all(this.services.map((s) => s.proc.exited));
    await this.reader?.disconnect().catch(() => undefined);
    await this.producer.disconnect().catch(() => undefined);
    await this.server?.close();
    await this.admin.close();
    const pg = new Client({ connectionString: DATABASE_URL });
    await pg.connect();
    for (const s of this.schemas) await pg.query(`DROP SCHEMA IF EXISTS "${s}" CASCADE`);
    await pg.end();
    rmSync(this.configDir, { recursive: true, force: true });
  }

  /** Service logs, for assertion messages. */
  logs(): string {
    return this.services.map((s) => `--- ${s.name}\n${s.proc.output().slice(-4000)}`).join('\n');
  }
}
