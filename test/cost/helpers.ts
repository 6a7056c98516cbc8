import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { deterministicEventId, makeEvent, type AgentplaneEvent, type EventData, type EventType } from '@agentplane/contracts';
import { topicName } from '@agentplane/infra';
import { EventProducer } from '@agentplane/messaging';
import { hashApiKey } from '@agentplane/tools';
import { TestAdmin, testKafka } from '../support';
import { DATABASE_URL, freePort, startService, suffix, waitFor, type ServiceProcess } from '../platform/helpers';

export { DATABASE_URL, waitFor };

export const KEYS = { a: 'test-key-tenant-a', b: 'test-key-tenant-b', g: 'test-key-tenant-g', analyst: 'test-key-analyst' };

export const PRICES_V1 = `version: 1
models:
  gpt-4o-mini: { inputPer1M: "0.15", outputPer1M: "0.60" }
  llama-3.1-8b: { inputPer1M: "0.05", outputPer1M: "0.08" }
`;

export function tenantsYaml(forecastG = '1.00'): string {
  return `version: 1
tenants:
  - { id: t-a, name: Tenant A, apiKeyHash: "${hashApiKey(KEYS.a)}", monthlyForecastUsd: "10.00", guardrailPct: 15 }
  - { id: t-b, name: Tenant B, apiKeyHash: "${hashApiKey(KEYS.b)}", monthlyForecastUsd: "1000", guardrailPct: 15 }
  - { id: t-g, name: Tenant G, apiKeyHash: "${hashApiKey(KEYS.g)}", monthlyForecastUsd: "${forecastG}", guardrailPct: 15 }
analystKeys:
  - { name: test-analyst, apiKeyHash: "${hashApiKey(KEYS.analyst)}" }
`;
}

export interface CostEnv {
  prefix: string;
  schema: string;
  configDir: string;
  port: number;
  base: string;
  env: Record<string, string>;
  admin: TestAdmin;
  producer: EventProducer;
  pg: Client;
  proc?: ServiceProcess;
  sessionTopic: string;
  controlTopic: string;
}

/** Random topics (session-events with `partitions`), schema, config dir and port for one test file. */
export async function costEnv(partitions = 3): Promise<CostEnv> {
  const run = suffix();
  const prefix = `t-cost-${run}`;
  const schema = `t_cost_${run}`;
  const configDir = mkdtempSync(join(tmpdir(), 'agentplane-cost-'));
  writeFileSync(join(configDir, 'prices.yaml'), PRICES_V1);
  writeFileSync(join(configDir, 'tenants.yaml'), tenantsYaml());
  const admin = new TestAdmin();
  await admin.createTopics([topicName(prefix, 'session-events')], partitions);
  await admin.createTopics([topicName(prefix, 'control-events'), topicName(prefix, 'dead-letters')], 1);
  const producer = new EventProducer(testKafka('agentplane-test-cost'));
  await producer.connect();
  const pg = new Client({ connectionString: DATABASE_URL, options: `-c search_path="${schema}"` });
  await pg.connect();
  const port = await freePort();
  return {
    prefix, schema, configDir, port, base: `http://127.0.0.1:${port}`, admin, producer, pg,
    sessionTopic: topicName(prefix, 'session-events'),
    controlTopic: topicName(prefix, 'control-events'),
    env: {
      PORT: String(port), HOST: '127.0.0.1', DB_SCHEMA: schema, DATABASE_URL, AGENTPLANE_TOPIC_PREFIX: prefix,
      AGENTPLANE_CONFIG: configDir, KAFKA_GROUP_ID: `t-cost-${run}`, LOG_LEVEL: 'warn',
    },
  };
}

export async function startCost(e: CostEnv): Promise<ServiceProcess> {
  const proc = startService('cost-accounting', e.env);
  e.proc = proc;
  await waitFor('cost-accounting ready', async () => {
    if (proc.child.exitCode !== null) throw new Error(`exited ${proc.child.exitCode}\n${proc.output().slice(-3000)}`);
    const r = await fetch(`${e.base}/health/ready`).catch(() => undefined);
    return r?.status === 200 ? true : undefined;
  }, 90_000);
  return proc;
}

export async function stopCost(e: CostEnv): Promise<void> {
  if (e.proc && e.proc.child.exitCode === null) {
    e.proc.child.kill('SIGTERM');
    await e.proc.exited;
  }
}

export async function disposeEnv(e: CostEnv, dropSchemas: string[] = []): Promise<void> {
  await stopCost(e).catch(() => undefined);
  await e.producer.disconnect().catch(() => undefined);
  for (const s of [e.schema, ...dropSchemas]) await e.pg.query(`DROP SCHEMA IF EXISTS "${s}" CASCADE`).catch(() => undefined);
  await e.pg.end().catch(() => undefined);
  await e.admin.close();
}

// ---- a realistic workload, built with the real event types ---------------------------------

let clock = Date.now() - 30 * 60_000;
let spacingMs = 1000;
/** Strictly increasing event times, `spacingMs` apart, starting minutes ago. */
function nextTime(): string {
  clock += spacingMs;
  return new Date(clock).toISOString();
}

/** Moves the event clock (e.g. to spread a workload over the last hour for the charts). */
export function setEventClock(startMs: number, spacing: number): void {
  clock = startMs;
  spacingMs = spacing;
}

export function ev<T extends EventType>(type: T, data: EventData<T>, key: string): AgentplaneEvent {
  return makeEvent(type, data, { source: 'test', id: deterministicEventId('test-cost', key), time: nextTime() }) as AgentplaneEvent;
}

export function step(tenantId: string, sessionId: string, n: number, model: string, promptTokens: number, completionTokens: number, opts: { pass?: boolean; latencyMs?: number } = {}) {
  return ev('agentplane.planner.step.completed', {
    tenantId, sessionId, step: n, provider: 'test', model, promptTokens, completionTokens, latencyMs: opts.latencyMs ?? 300,
    batchSize: 4, queueWaitMs: 5, pass: opts.pass ?? true, outcome: { kind: 'final', answer: 'ok' },
  } as EventData<'agentplane.planner.step.completed'>, `${sessionId}/step/${n}`);
}

export function stepFailed(tenantId: string, sessionId: string, n: number, model: string, promptTokens: number, completionTokens: number) {
  return ev('agentplane.planner.step.failed', {
    tenantId, sessionId, step: n, provider: 'test', model, reason: 'unparseable', errors: ['output is not JSON'],
    promptTokens, completionTokens, latencyMs: 250, retriable: false,
  } as EventData<'agentplane.planner.step.failed'>, `${sessionId}/step-failed/${n}`);
}

export function tool(tenantId: string, sessionId: string, callId: string, name: string, costUsd: string, opts: { ok?: boolean; attempts?: number; latencyMs?: number } = {}) {
  const ok = opts.ok ?? true;
  const base = { tenantId, sessionId, callId, tool: name, attempts: opts.attempts ?? 1, latencyMs: opts.latencyMs ?? 120, costUsd };
  return ok
    ? ev('agentplane.tool.call.succeeded', { ...base, result: { ok: true } } as EventData<'agentplane.tool.call.succeeded'>, `${sessionId}/${callId}`)
    : ev('agentplane.tool.call.failed', { ...base, error: 'upstream 503', code: 'http_error' } as EventData<'agentplane.tool.call.failed'>, `${sessionId}/${callId}`);
}

export function rejected(tenantId: string, sessionId: string, callId: string, name: string) {
  return ev('agentplane.tool.call.rejected', { tenantId, sessionId, callId, tool: name, reason: 'budget_exceeded' } as EventData<'agentplane.tool.call.rejected'>, `${sessionId}/${callId}/rejected`);
}

export function started(tenantId: string, sessionId: string, budgetUsd?: string) {
  return ev('agentplane.session.started', {
    tenantId, sessionId, mode: 'workflow', maxSteps: 8, deadlineAt: new Date(Date.now() + 60_000).toISOString(), input: 'find things',
    ...(budgetUsd ? { budgetUsd } : {}),
  } as EventData<'agentplane.session.started'>, `${sessionId}/started`);
}

export function completed(tenantId: string, sessionId: string, steps: number, toolCalls: number, costUsd: string) {
  return ev('agentplane.session.completed', { tenantId, sessionId, answer: 'done', steps, toolCalls, costUsd } as EventData<'agentplane.session.completed'>, `${sessionId}/completed`);
}

export function failed(tenantId: string, sessionId: string, code: string) {
  return ev('agentplane.session.failed', { tenantId, sessionId, reason: 'gave up', code } as EventData<'agentplane.session.failed'>, `${sessionId}/failed`);
}

/**
 * The known workload; expected figures are computed by hand in the spec.
 * Prices: gpt-4o-mini 0.15 / 0.60, llama-3.1-8b 0.05 / 0.08 USD per 1M tokens.
 */
export function knownWorkload(): AgentplaneEvent[] {
  return [
    started('t-a', 's-a1', '5.00'),
    step('t-a', 's-a1', 1, 'gpt-4o-mini', 1_000_000, 250_000), // 0.15 + 0.15 = 0.30
    tool('t-a', 's-a1', 'c1', 'search', '0.0005'),
    tool('t-a', 's-a1', 'c2', 'summarize', '0.25', { attempts: 2 }),
    step('t-a', 's-a1', 2, 'llama-3.1-8b', 2_000_000, 500_000), // 0.10 + 0.04 = 0.14
    completed('t-a', 's-a1', 2, 2, '0.6905'),
    started('t-a', 's-a2'),
    step('t-a', 's-a2', 1, 'gpt-4o-mini', 333_333, 111_111, { pass: false }), // 0.04999995 + 0.0666666 = 0.11666655
    tool('t-a', 's-a2', 'c1', 'fetch_doc', '0.0002', { ok: false, attempts: 3 }),
    rejected('t-a', 's-a2', 'c2', 'summarize'),
    stepFailed('t-a', 's-a2', 2, 'gpt-4o-mini', 10_000, 0), // 0.0015
    failed('t-a', 's-a2', 'planner_failed'),
    started('t-b', 's-b1'),
    step('t-b', 's-b1', 1, 'gpt-4o-mini', 100_000, 50_000), // 0.015 + 0.03 = 0.045
    tool('t-b', 's-b1', 'c1', 'search', '0.0005'),
    completed('t-b', 's-b1', 1, 1, '0.0455'),
  ];
}

export async function publish(e: CostEnv, events: readonly AgentplaneEvent[], topic = e.sessionTopic): Promise<void> {
  for (const x of events) await e.producer.publish(topic, x);
}

export async function api(e: CostEnv, path: string, key?: string): Promise<{ status: number; body: any; text: string; type: string }> {
  const r = await fetch(`${e.base}${path}`, { headers: key ? { authorization: `Bearer ${key}` } : {} });
  const text = await r.text();
  let body: unknown = undefined;
  try {
    body = JSON.parse(text);
  } catch {
    // CSV
  }
  return { status: r.status, body, text, type: r.headers.get('content-type') ?? '' };
}
