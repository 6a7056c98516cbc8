/**
 * `infra up --secure` on a broker of this test's own (random port, temp data dir; the shared
 * broker on :9092 is never touched): SCRAM principals per service and ACLs. The executor's
 * principal is refused on a topic it does not own; all six services boot with their own
 * credentials and a session completes through the loop.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { infraDown, infraLayout, infraUp, readSecureCredentials, secureEnvFile, SECURE_SERVICES, SERVICE_ACLS, type InfraLayout, type SecureCredentials } from '@agentplane/infra';
import { createKafka } from '@agentplane/messaging';
import { startToolServer, type ToolServer } from '../fixtures/tool-server';
import { DATABASE_URL, freePort } from '../platform/helpers';
import { eventually } from '../support';
import { ACME, Loop, workflow, type LoopService } from './loop';

const REPO = resolve(__dirname, '../../..');
const home = mkdtempSync(join(tmpdir(), 'agentplane-secure-'));
// Own data dir and pid file; the jars are the repository's (fetched once by infra up / CI).
const layout: InfraLayout = { ...infraLayout(REPO, home), kafkaLibs: infraLayout(REPO).kafkaLibs };
let brokers = '';
let creds: SecureCredentials;
let tools: ToolServer;
let loop: Loop | undefined;

before(async () => {
  const port = await freePort();
  const controllerPort = await freePort();
  const r = await infraUp({
    layout,
    kafkaPort: port,
    kafkaControllerPort: controllerPort,
    databaseUrl: DATABASE_URL,
    localPgPort: 5433,
    topicPrefix: 'agentplane',
    topics: { sessionPartitions: 3, auxPartitions: 1 },
    kafkaReadyTimeoutMs: 120_000,
    secure: true,
  });
  brokers = r.env.KAFKA_BROKERS;
  assert.equal(r.env.kafka.secure, true);
  creds = readSecureCredentials(secureEnvFile(layout))!;
  assert.ok(creds, 'secure.env holds every principal');
  tools = await startToolServer({ port: 0 });
});

after(async () => {
  if (process.env.T_DEP_VERBOSE && loop) process.stderr.write(loop.logs());
  await loop?.stop();
  await tools?.close();
  await infraDown({ layout, only: 'kafka' });
  rmSync(home, { recursive: true, force: true });
});

function clientAs(svc: (typeof SECURE_SERVICES)[number] | 'anonymous', password?: string) {
  const sasl = svc === 'anonymous' ? undefined : { ...creds.services[svc], ...(password ? { password } : {}) };
  return createKafka({ brokers, clientId: `t-secure-${svc}`, logLevel: 'nothing', retry: { retries: 1 }, ...(sasl ? { sasl } : {}) });
}

async function tryProduce(svc: (typeof SECURE_SERVICES)[number], topic: string): Promise<string> {
  const p = clientAs(svc).producer({ idempotent: true, maxInFlightRequests: 1 });
  await p.connect();
  try {
    await p.send({ topic, acks: -1, messages: [{ key: 'k', value: '{}' }] });
    return 'ok';
  } catch (e) {
    const err = e as { type?: string; message: string; cause?: { type?: string } };
    return err.type ?? err.cause?.type ?? err.message;
  } finally {
    await p.disconnect().catch(() => undefined);
  }
}

test('the ACL table covers what each app consumes (TOPICS) and every topic its code names', () => {
  for (const svc of SECURE_SERVICES) {
    const dir = join(REPO, 'apps', svc, 'src');
    const main = readFileSync(join(dir, 'main.ts'), 'utf8');
    const consumed = [...(/TOPICS[^=]*=\s*\[([^\]]*)\]/.exec(main)?.[1] ?? '').matchAll(/'([a-z-]+)'/g)].map((m) => m[1]!);
    const named = new Set<string>();
    for (const f of readdirSync(dir).filter((f) => f.endsWith('.ts') && !f.endsWith('.spec.ts'))) {
      for (const m of readFileSync(join(dir, f), 'utf8').matchAll(/topicName\([^,]+,\s*'([a-z-]+)'\)/g)) named.add(m[1]!);
    }
    const acl = SERVICE_ACLS[svc];
    for (const k of consumed) assert.ok(acl.read.includes(k as never), `${svc} consumes ${k} but may not read it`);
    for (const k of named) assert.ok([...acl.read, ...acl.write].includes(k as never), `${svc} names ${k} but has no ACL on it`);
  }
});

test('secure.env: one principal per service, private file', () => {
  const text = readFileSync(secureEnvFile(layout), 'utf8');
  for (const s of SECURE_SERVICES) assert.match(text, new RegExp(`_KAFKA_SASL_USERNAME=agentplane-${s}\\n`));
  assert.equal(statSync(secureEnvFile(layout)).mode & 0o077, 0, 'secure.env is readable by its owner only');
});

test('ACLs: the executor is denied a topic it does not own, allowed its own; wrong password and no SASL are refused', { timeout: 60_000 }, async () => {
  assert.equal(await tryProduce('executor', 'agentplane.session-requests'), 'TOPIC_AUTHORIZATION_FAILED');
  assert.equal(await tryProduce('gateway', 'agentplane.session-events'), 'TOPIC_AUTHORIZATION_FAILED');
  assert.equal(await tryProduce('cost-accounting', 'agentplane.session-events'), 'TOPIC_AUTHORIZATION_FAILED');
  assert.equal(await tryProduce('executor', 'agentplane.session-events'), 'ok');
  assert.equal(await tryProduce('gateway', 'agentplane.session-requests'), 'ok');
  assert.equal(await tryProduce('audit', 'agentplane.dead-letters'), 'ok');

  const bad = clientAs('executor', 'not-the-password').admin();
  await assert.rejects(bad.connect(), /SASL|authentication|Authentication/);
  // The SASL listener refuses a client that does not speak SASL: it never gets metadata.
  const anon = clientAs('anonymous').admin();
  await assert.rejects(
    (async () => {
      await anon.connect();
      await anon.listTopics();
    })(),
  );
  await anon.disconnect().catch(() => undefined);
});

test('every service boots with its own credentials and a session completes through the loop', { timeout: 180_000 }, async () => {
  loop = new Loop({ brokers, adminSasl: creds.admin, prefix: 'agentplane', createTopics: false, toolsUrl: tools.url });
  const all: LoopService[] = ['audit', 'cost-accounting', 'rate-limiter', 'executor', 'planner', 'gateway'];
  const say = (m: string) => process.stderr.write(`secure: ${m}\n`);
  await loop.prepare(all);
  say('groups pinned; starting services');
  await Promise.all(
    all.map((svc) =>
      loop!.start(svc, { KAFKA_SASL_MECHANISM: 'scram-sha-512', KAFKA_SASL_USERNAME: creds.services[svc].username, KAFKA_SASL_PASSWORD: creds.services[svc].password }, 90_000),
    ),
  );
  say('services ready');
  const r = await loop.post({ input: 'secure session', workflow: workflow() }, 30);
  say(`posted: ${r.status}`);
  assert.ok(r.status === 200 || r.status === 202, JSON.stringify(r.body));
  const id = r.body.sessionId as string;
  const view = await eventually(async () => {
    const v = await loop!.get(id);
    return v && v.status !== 'requested' && v.status !== 'running' ? v : undefined;
  }, { timeoutMs: 60_000, message: `session ${id} ended\n${loop.logs()}` });
  assert.equal(view.status, 'completed', JSON.stringify(view));
  assert.equal(tools.stats().executions, 3);
  // Audit (reads everything) and cost accounting (reads session-events) saw it too.
  const auditPort = loop.of('audit')[0]!.port;
  await eventually(async () => {
    const a = await fetch(`http://127.0.0.1:${auditPort}/v1/audit/sessions/${id}/events`);
    if (a.status !== 200) return undefined;
    const body = (await a.json()) as { events?: Array<{ type: string }> } | Array<{ type: string }>;
    const evs = Array.isArray(body) ? body : (body.events ?? []);
    return evs.some((e) => JSON.stringify(e).includes('session.completed')) ? true : undefined;
  }, { timeoutMs: 30_000, message: `audit holds session ${id}` });
  const costPort = loop.of('cost-accounting')[0]!.port;
  await eventually(async () => {
    const c = await fetch(`http://127.0.0.1:${costPort}/v1/sessions/${id}`, { headers: { authorization: `Bearer ${ACME}` } });
    return c.status === 200 ? true : undefined;
  }, { timeoutMs: 30_000, message: `cost accounting holds session ${id}` });
  // Nothing was refused along the way.
  assert.doesNotMatch(loop.logs(), /AUTHORIZATION_FAILED/);
});
