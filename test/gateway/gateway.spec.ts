/**
 * The gateway as its own OS process against the real broker and database, with a random topic
 * prefix, schema, port and consumer group. No planner runs: where a session must progress, the
 * test publishes the session events itself (and, for the 200 path, a tiny fake planner inside
 * the test reacts to requests on the topic). The end-to-end loop with the real services is
 * tested elsewhere.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { SAMPLE_DATA, decode, makeEvent, type AgentplaneEvent, type EventData, type EventType } from '@agentplane/contracts';
import { topicName } from '@agentplane/infra';
import { EventProducer, type Consumer } from '@agentplane/messaging';
import { hashApiKey } from '@agentplane/tools';
import { TestAdmin, eventually, testKafka, waitForKafka } from '../support';
import { DATABASE_URL, DIST, exitWithin, freePort, startService, suffix, waitFor, type ServiceProcess } from '../platform/helpers';

const run = suffix();
const prefix = `t-gw-${run}`;
const schema = `t_gateway_${run}`;
const REQUESTS = topicName(prefix, 'session-requests');
const EVENTS = topicName(prefix, 'session-events');
const KEY_A = `ap_test_a_${suffix()}${suffix()}`;
const KEY_B = `ap_test_b_${suffix()}${suffix()}`;
const WAIT_MS = 1500;

const admin = new TestAdmin();
const kafka = testKafka('agentplane-test-gateway');
let producer: EventProducer;
let requestsReader: Consumer;
let gw: ServiceProcess;
let base: string;
let configDir: string;

/** Everything on the requests topic, decoded, as the background reader saw it. */
const requests: Array<{ key: string | null; event: AgentplaneEvent; headers: Record<string, unknown> }> = [];

function ev<T extends EventType>(type: T, tenantId: string, sessionId: string, data: Partial<EventData<T>> = {}, id?: string): AgentplaneEvent<T> {
  const full = { ...SAMPLE_DATA[type], tenantId, sessionId, ...data } as EventData<T>;
  return makeEvent(type, full, { source: 'planner', ...(id ? { id } : {}) });
}

/** The events a planner/limiter/executor would emit for a one-tool-call session. */
function lifecycle(tenantId: string, sessionId: string, answer: string) {
  return [
    ev('agentplane.session.started', tenantId, sessionId, { mode: 'workflow', input: 'hello' }),
    ev('agentplane.planner.step.completed', tenantId, sessionId, { step: 1, costUsd: '0.0001' }),
    ev('agentplane.tool.call.requested', tenantId, sessionId, { step: 1, callId: 'c1', tool: 'search' }),
    ev('agentplane.tool.call.admitted', tenantId, sessionId, { callId: 'c1', tool: 'search', queuedMs: 1.5 }),
    ev('agentplane.tool.call.succeeded', tenantId, sessionId, { callId: 'c1', tool: 'search', attempts: 2, latencyMs: 120, costUsd: '0.002' }),
    ev('agentplane.planner.step.completed', tenantId, sessionId, {
      step: 2,
      costUsd: '0.0002',
      outcome: { kind: 'final', answer },
    }),
    ev('agentplane.session.completed', tenantId, sessionId, { answer, steps: 2, toolCalls: 1, costUsd: '0.0023' }),
  ];
}

async function requestsInLog(): Promise<number> {
  const offsets = await admin.admin.fetchTopicOffsets(REQUESTS);
  return offsets.reduce((n, p) => n + Number(p.high) - Number(p.low), 0);
}

function http(method: string, path: string, opts: { key?: string | null; body?: unknown; headers?: Record<string, string> } = {}) {
  const headers: Record<string, string> = { ...(opts.headers ?? {}) };
  const key = opts.key === undefined ? KEY_A : opts.key;
  if (key !== null) headers.authorization = `Bearer ${key}`;
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  return fetch(`${base}${path}`, { method, headers, ...(opts.body !== undefined ? { body: typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body) } : {}) });
}

/** The CLI as its own process; never rejects, returns the exit code and output. */
function cli(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [join(DIST, 'apps/cli/src/main.js'), ...args], { env: { ...process.env, ...env }, timeout: 60_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

async function json<T = any>(res: Response): Promise<T> {
  return (await res.json()) as T;
}

before(async () => {
  await waitForKafka();
  await admin.createTopics([REQUESTS, EVENTS], 3);
  await admin.createTopics([topicName(prefix, 'control-events'), topicName(prefix, 'dead-letters')], 1);
  producer = new EventProducer(kafka);
  await producer.connect();

  // Background reader of the requests topic; doubles as the fake planner for "FAST" inputs.
  requestsReader = kafka.consumer({ groupId: `t-gw-reader-${run}`, maxWaitTimeInMs: 20 });
  await requestsReader.connect();
  await requestsReader.subscribe({ topics: [REQUESTS], fromBeginning: true });
  await requestsReader.run({
    eachMessage: async ({ message }) => {
      const d = decode(message.value, message.headers as never);
      assert.ok(d.ok, `gateway published an invalid event: ${!d.ok && d.reason}`);
      requests.push({ key: message.key?.toString() ?? null, event: d.event, headers: message.headers ?? {} });
      const e = d.event;
      if (e.type === 'agentplane.session.requested' && e.data.input.startsWith('FAST')) {
        await producer.publish(EVENTS, [
          ev('agentplane.session.started', e.data.tenantId, e.data.sessionId, { mode: 'workflow', input: e.data.input }),
          ev('agentplane.session.completed', e.data.tenantId, e.data.sessionId, { answer: 'fast answer', steps: 1, toolCalls: 0, costUsd: '0.01' }),
        ]);
      }
    },
  });

  configDir = mkdtempSync(join(tmpdir(), 'agentplane-gw-'));
  writeFileSync(
    join(configDir, 'tenants.yaml'),
    [
      'version: 1',
      'tenants:',
      `  - { id: tenant-a, name: A, apiKeyHash: "${hashApiKey(KEY_A)}", monthlyForecastUsd: "100" }`,
      `  - { id: tenant-b, name: B, apiKeyHash: "${hashApiKey(KEY_B)}", monthlyForecastUsd: "100" }`,
      '',
    ].join('\n'),
  );
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  gw = startService('gateway', {
    PORT: String(port),
    HOST: '127.0.0.1',
    DATABASE_URL,
    DB_SCHEMA: schema,
    KAFKA_GROUP_ID: `t-gw-${run}`,
    AGENTPLANE_TOPIC_PREFIX: prefix,
    AGENTPLANE_CONFIG: configDir,
    GATEWAY_WAIT_MS: String(WAIT_MS),
    LOG_LEVEL: 'info',
  });
  await waitFor(
    'gateway ready',
    async () => {
      if (gw.child.exitCode !== null) throw new Error(`gateway exited ${gw.child.exitCode}:\n${gw.output().slice(-4000)}`);
      const r = await fetch(`${base}/health/ready`).catch(() => undefined);
      return r?.status === 200 ? true : undefined;
    },
    90_000,
  ).catch((err: Error) => assert.fail(`${err.message}\n${gw.output().slice(-4000)}`));
});

after(async () => {
  if (gw && gw.child.exitCode === null) {
    gw.child.kill('SIGTERM');
    await exitWithin(gw, 20_000).catch(() => gw.child.kill('SIGKILL'));
  }
  await requestsReader?.disconnect().catch(() => undefined);
  await producer?.disconnect().catch(() => undefined);
  await admin.close();
  const pg = new Client({ connectionString: DATABASE_URL });
  await pg.connect();
  await pg.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  await pg.end();
  if (configDir) rmSync(configDir, { recursive: true, force: true });
});

describe('gateway', { timeout: 180_000 }, () => {
  test('refused requests publish nothing: 401 without or with an unknown key, 400 naming the fields', async () => {
    for (const key of [null, 'ap_nope', '']) {
      const res = await http('POST', '/v1/sessions', { key, body: { input: 'hi' } });
      assert.equal(res.status, 401, `key ${JSON.stringify(key)}`);
      assert.match(res.headers.get('www-authenticate') ?? '', /^Bearer/);
    }
    assert.equal((await http('POST', '/v1/sessions', { key: null, headers: { authorization: `Basic ${KEY_A}` }, body: { input: 'hi' } })).status, 401);
    assert.equal((await http('GET', '/v1/sessions', { key: 'ap_nope' })).status, 401);
    assert.equal((await http('GET', '/v1/sessions/x', { key: null })).status, 401);
    assert.equal((await http('DELETE', '/v1/sessions/x', { key: 'ap_nope' })).status, 401);
    // Auth comes first: an invalid body from an unknown caller is still a 401.
    assert.equal((await http('POST', '/v1/sessions', { key: 'ap_nope', body: { nope: 1 } })).status, 401);

    const cases: Array<{ body: unknown; fields: string[] }> = [
      { body: {}, fields: ['input'] },
      { body: { input: '' }, fields: ['input'] },
      { body: { input: 5, budgetUsd: '1e3', deadlineMs: 0 }, fields: ['input', 'budgetUsd', 'deadlineMs'] },
      { body: { input: 'x', tenantId: 'tenant-b', colour: 'red' }, fields: ['tenantId', 'colour'] },
      { body: { input: 'x', sessionId: 'bad id!', webhookUrl: 'ftp://x', planner: 'magic' }, fields: ['sessionId', 'webhookUrl', 'planner'] },
      { body: { input: 'x', workflow: { steps: [{ calls: [{ id: 'a', tool: '', args: 3 }] }] } }, fields: ['workflow.steps.0.calls.0.tool', 'workflow.steps.0.calls.0.args'] },
      { body: [{ input: 'x' }], fields: [] },
    ];
    for (const c of cases) {
      const res = await http('POST', '/v1/sessions', { body: c.body, headers: { 'idempotency-key': `bad-${suffix()}` } });
      const b = await json(res);
      assert.equal(res.status, 400, JSON.stringify(b));
      assert.deepEqual([...b.fields].sort(), [...c.fields].sort(), JSON.stringify(b));
      for (const f of c.fields) assert.ok(b.message.some((m: string) => m.includes(f)), `a message names ${f}: ${JSON.stringify(b.message)}`);
    }
    const malformed = await http('POST', '/v1/sessions', { body: '{"input": ' });
    assert.equal(malformed.status, 400);
    const badKey = await http('POST', '/v1/sessions', { body: { input: 'x' }, headers: { 'idempotency-key': 'has space' } });
    assert.equal(badKey.status, 400);
    assert.deepEqual((await json(badKey)).fields, ['Idempotency-Key']);

    // Every response above came after any publish would have been acknowledged: the log is final.
    assert.equal(await requestsInLog(), 0, 'nothing published for refused requests');
  });

  test('no planner: 202 after the wait budget with Location; the projected events complete the view', async () => {
    const started = Date.now();
    const res = await http('POST', '/v1/sessions', {
      body: { input: 'hello', tools: ['search'], budgetUsd: '0.50', metadata: { team: 'qa' }, planner: 'workflow' },
      headers: { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' },
    });
    const elapsed = Date.now() - started;
    const view = await json(res);
    assert.equal(res.status, 202, JSON.stringify(view));
    assert.ok(elapsed >= WAIT_MS - 50, `answered after ${elapsed} ms, budget ${WAIT_MS}`);
    assert.equal(res.headers.get('location'), `/v1/sessions/${view.sessionId}`);
    assert.equal(view.status, 'requested');
    assert.equal(view.tenantId, 'tenant-a');
    assert.match(view.sessionId, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-/, 'a UUIDv7 session id');
    const id: string = view.sessionId;

    const published = await eventually(() => requests.find((r) => r.event.subject === id));
    assert.equal(published.key, id, 'keyed by session id');
    assert.equal(published.event.type, 'agentplane.session.requested');
    assert.equal(published.event.source, 'agentplane/gateway');
    assert.deepEqual(published.event.data, {
      tenantId: 'tenant-a',
      sessionId: id,
      input: 'hello',
      tools: ['search'],
      budgetUsd: '0.50',
      metadata: { team: 'qa' },
      planner: 'workflow',
    });
    assert.match(String(published.event.traceparent), /^00-0af7651916cd43dd8448eb211c80319c-/, 'continues the caller trace');

    const got = await json(await http('GET', `/v1/sessions/${id}`));
    assert.equal(got.status, 'requested');

    const events = lifecycle('tenant-a', id, 'forty-two');
    await producer.publish(EVENTS, events.slice(0, 5));
    const running = await eventually(async () => {
      const v = await json(await http('GET', `/v1/sessions/${id}`));
      return v.toolCalls?.[0]?.status === 'succeeded' ? v : undefined;
    });
    assert.equal(running.status, 'running');
    assert.equal(running.costUsd, '0.0021', 'cost so far: inference + tools, exact');
    // Redelivery (same ids) changes nothing.
    await producer.publish(EVENTS, events.slice(0, 5));
    await producer.publish(EVENTS, events.slice(5));
    const done = await eventually(async () => {
      const v = await json(await http('GET', `/v1/sessions/${id}`));
      return v.status === 'completed' ? v : undefined;
    });
    assert.equal(done.answer, 'forty-two');
    assert.equal(done.costUsd, '0.0023');
    assert.equal(done.inferenceCostUsd, '0.0003');
    assert.equal(done.toolCostUsd, '0.002');
    assert.equal(done.stepCount, 2);
    assert.equal(done.toolCallCount, 1);
    assert.equal(done.mode, 'workflow');
    assert.deepEqual(
      done.steps.map((s: any) => [s.step, s.status, s.outcome, s.attempts, s.costUsd]),
      [
        [1, 'completed', 'tool_calls', 1, '0.0001'],
        [2, 'completed', 'final', 1, '0.0002'],
      ],
    );
    assert.equal(done.toolCalls.length, 1);
    const call = done.toolCalls[0];
    assert.deepEqual(
      { callId: call.callId, tool: call.tool, status: call.status, attempts: call.attempts, latencyMs: call.latencyMs, queuedMs: call.queuedMs, costUsd: call.costUsd, step: call.step },
      { callId: 'c1', tool: 'search', status: 'succeeded', attempts: 2, latencyMs: 120, queuedMs: 1.5, costUsd: '0.002', step: 1 },
    );
    assert.ok(done.startedAt && done.endedAt && done.createdAt);

    // Already ended: cancelling is refused and publishes nothing.
    const before = await requestsInLog();
    assert.equal((await http('DELETE', `/v1/sessions/${id}`)).status, 409);
    assert.equal(await requestsInLog(), before);
  });

  test('200 within the budget when the outcome arrives in time', async () => {
    const started = Date.now();
    const res = await http('POST', '/v1/sessions', { body: { input: 'FAST please', sessionId: `fast-${run}` } });
    const view = await json(res);
    assert.equal(res.status, 200, JSON.stringify(view));
    assert.ok(Date.now() - started < WAIT_MS, 'answered before the budget ran out');
    assert.equal(view.sessionId, `fast-${run}`);
    assert.equal(view.status, 'completed');
    assert.equal(view.answer, 'fast answer');
    assert.equal(view.costUsd, '0.01');
    assert.equal(res.headers.get('location'), `/v1/sessions/fast-${run}`);

    // A taken session id is a conflict, not a second session.
    const again = await http('POST', '/v1/sessions', { body: { input: 'FAST again', sessionId: `fast-${run}` } });
    assert.equal(again.status, 409);
    // Prefer: wait=N overrides the budget (and says so).
    const slow = await http('POST', '/v1/sessions', { body: { input: 'FAST with prefer' }, headers: { prefer: 'wait=10' } });
    assert.equal(slow.status, 200);
    assert.equal(slow.headers.get('preference-applied'), 'wait=10');
  });

  test('Idempotency-Key: same key and body → one publish, same answer; another body → 422', async () => {
    const body = { input: 'idempotent hello', metadata: { k: 'v' } };
    const key = `idem-${suffix()}`;
    const before = await requestsInLog();
    const first = await http('POST', '/v1/sessions', { body, headers: { 'idempotency-key': key, prefer: 'respond-async' } });
    assert.equal(first.status, 202);
    const v1 = await json(first);
    // Concurrent retries, body keys in another order (same JSON): all the same session.
    const retries = await Promise.all(
      Array.from({ length: 5 }, () =>
        http('POST', '/v1/sessions', { body: { metadata: { k: 'v' }, input: 'idempotent hello' }, headers: { 'idempotency-key': key, prefer: 'respond-async' } }),
      ),
    );
    for (const r of retries) {
      assert.equal(r.status, 202);
      assert.equal(r.headers.get('idempotent-replayed'), 'true');
      assert.equal((await json(r)).sessionId, v1.sessionId);
    }
    assert.equal(await requestsInLog(), before + 1, 'published once');

    const other = await http('POST', '/v1/sessions', { body: { input: 'something else' }, headers: { 'idempotency-key': key } });
    assert.equal(other.status, 422);
    assert.equal(await requestsInLog(), before + 1);

    // The same key from another tenant is another key.
    const b = await http('POST', '/v1/sessions', { key: KEY_B, body, headers: { 'idempotency-key': key, prefer: 'respond-async' } });
    assert.equal(b.status, 202);
    assert.notEqual((await json(b)).sessionId, v1.sessionId);

    // Once it completed, a retry gets the completed answer (200), still without publishing.
    await producer.publish(EVENTS, lifecycle('tenant-a', v1.sessionId, 'idempotent answer'));
    await eventually(async () => (await json(await http('GET', `/v1/sessions/${v1.sessionId}`))).status === 'completed');
    const n = await requestsInLog();
    const late = await http('POST', '/v1/sessions', { body, headers: { 'idempotency-key': key } });
    assert.equal(late.status, 200);
    assert.equal((await json(late)).answer, 'idempotent answer');
    assert.equal(await requestsInLog(), n);
  });

  test('tenant isolation: another tenant sees 404 and not in its list', async () => {
    const res = await http('POST', '/v1/sessions', { body: { input: 'private' }, headers: { prefer: 'respond-async' } });
    const { sessionId } = await json(res);
    assert.equal((await http('GET', `/v1/sessions/${sessionId}`)).status, 200);
    assert.equal((await http('GET', `/v1/sessions/${sessionId}`, { key: KEY_B })).status, 404);
    const before = await requestsInLog();
    assert.equal((await http('DELETE', `/v1/sessions/${sessionId}`, { key: KEY_B })).status, 404);
    assert.equal(await requestsInLog(), before);
    const listB = await json(await http('GET', '/v1/sessions?limit=200', { key: KEY_B }));
    assert.ok(listB.sessions.every((s: any) => s.tenantId === 'tenant-b'));
    assert.ok(!listB.sessions.some((s: any) => s.sessionId === sessionId));
    assert.equal((await http('GET', '/v1/sessions/does-not-exist')).status, 404);
  });

  test('DELETE publishes session.cancel-requested → 202; the cancelled event ends the session', async () => {
    const res = await http('POST', '/v1/sessions', { body: { input: 'long task' }, headers: { prefer: 'respond-async' } });
    const { sessionId } = await json(res);
    await producer.publish(EVENTS, ev('agentplane.session.started', 'tenant-a', sessionId, { mode: 'workflow', input: 'long task' }));
    await eventually(async () => (await json(await http('GET', `/v1/sessions/${sessionId}`))).status === 'running');

    const del = await http('DELETE', `/v1/sessions/${sessionId}?reason=${encodeURIComponent('user closed the tab')}`);
    assert.equal(del.status, 202);
    assert.deepEqual(await json(del), { sessionId, status: 'running', cancelRequested: true });
    const cancel = await eventually(() => requests.find((r) => r.event.subject === sessionId && r.event.type === 'agentplane.session.cancel-requested'));
    assert.equal(cancel.key, sessionId);
    assert.deepEqual(cancel.event.data, { tenantId: 'tenant-a', sessionId, reason: 'user closed the tab' });

    await producer.publish(EVENTS, ev('agentplane.session.cancelled', 'tenant-a', sessionId, { reason: 'user closed the tab' }));
    const v = await eventually(async () => {
      const x = await json(await http('GET', `/v1/sessions/${sessionId}`));
      return x.status === 'cancelled' ? x : undefined;
    });
    assert.equal(v.reason, 'user closed the tab');
    assert.ok(v.cancelRequestedAt);
  });

  test('a session requested straight on Kafka shows up from its events; list filters by status', async () => {
    const sessionId = `kcat-${run}`;
    await producer.publish(EVENTS, [
      ev('agentplane.session.started', 'tenant-a', sessionId, { mode: 'workflow', input: 'from kcat' }),
      ev('agentplane.tool.call.requested', 'tenant-a', sessionId, { step: 1, callId: 'x', tool: 'search' }),
      ev('agentplane.tool.call.failed', 'tenant-a', sessionId, { callId: 'x', tool: 'search', code: 'timeout', error: 'slow', attempts: 3, latencyMs: 1500, costUsd: '0.003' }),
      ev('agentplane.session.failed', 'tenant-a', sessionId, { reason: 'tool search failed', code: 'tool_failed' }),
    ]);
    const v = await eventually(async () => {
      const x = await json(await http('GET', `/v1/sessions/${sessionId}`));
      return x.status === 'failed' ? x : undefined;
    });
    assert.equal(v.input, 'from kcat');
    assert.equal(v.failureCode, 'tool_failed');
    assert.equal(v.costUsd, '0.003');
    assert.deepEqual([v.toolCalls[0].status, v.toolCalls[0].code, v.toolCalls[0].attempts], ['failed', 'timeout', 3]);

    const failed = await json(await http('GET', '/v1/sessions?status=failed&limit=5'));
    assert.ok(failed.sessions.length >= 1 && failed.sessions.every((s: any) => s.status === 'failed'));
    assert.ok(failed.sessions.some((s: any) => s.sessionId === sessionId && s.costUsd === '0.003'));
    const two = await json(await http('GET', '/v1/sessions?limit=2'));
    assert.equal(two.sessions.length, 2);
    assert.equal((await http('GET', '/v1/sessions?limit=0')).status, 400);
    assert.equal((await http('GET', '/v1/sessions?status=bogus')).status, 400);
  });

  test('CLI: submit --wait prints the answer; sessions lists status and cost; errors are one line', async () => {
    const wf = join(configDir, 'wf.yaml');
    writeFileSync(wf, 'steps:\n  - calls:\n      - { id: s, tool: search, args: { query: kafka } }\n');
    const sub = await cli(['submit', '--input', 'FAST from the cli', '--tool', 'search', '--workflow', wf, '--meta', 'team=cli', '--wait', '--url', base], {
      AGENTPLANE_API_KEY: KEY_A,
    });
    assert.equal(sub.code, 0, sub.stderr);
    assert.match(sub.stdout, /status\s+completed/);
    assert.match(sub.stdout, /fast answer/);
    const id = /session\s+(\S+)/.exec(sub.stdout)?.[1];
    const published = await eventually(() => requests.find((r) => r.event.subject === id));
    assert.deepEqual((published.event.data as any).workflow, { steps: [{ calls: [{ id: 's', tool: 'search', args: { query: 'kafka' } }] }] });
    assert.deepEqual((published.event.data as any).metadata, { team: 'cli' });

    const list = await cli(['sessions', '--limit', '3', '--key', KEY_A, '--url', base]);
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /^SESSION\s+STATUS\s+COST USD/);
    assert.match(list.stdout, new RegExp(`${id}\\s+completed\\s+\\$0\\.01`));
    assert.equal(list.stdout.trim().split('\n').length, 4);

    const bad = await cli(['submit', '--input', '', '--key', KEY_A, '--url', base]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /400 Bad Request:\n\s+input must be longer/);
    const unauth = await cli(['sessions', '--key', 'ap_nope', '--url', base]);
    assert.equal(unauth.code, 1);
    assert.match(unauth.stderr, /401 .*AGENTPLANE_API_KEY/);
    assert.doesNotMatch(unauth.stderr, /at .*\.js:\d+/, 'no stack trace');
  });

  test('OpenAPI documents the endpoints and DTOs; the API key never reaches the logs', async () => {
    const doc = await json(await fetch(`${base}/docs/json`));
    for (const p of ['/v1/sessions', '/v1/sessions/{id}']) assert.ok(doc.paths[p], `OpenAPI has ${p}`);
    assert.ok(doc.paths['/v1/sessions'].post && doc.paths['/v1/sessions'].get && doc.paths['/v1/sessions/{id}'].delete);
    const body = doc.components.schemas.CreateSessionBody;
    assert.deepEqual(body.required, ['input']);
    assert.ok(body.properties.workflow.properties.steps, 'workflow schema inlined');
    assert.ok(!body.properties.tenantId, 'tenantId comes from the key');
    assert.ok(doc.components.schemas.SessionView.properties.toolCalls);
    assert.ok(doc.components.securitySchemes?.bearer);

    const out = gw.output();
    assert.ok(out.includes('"url":"/v1/sessions'), 'requests were logged');
    assert.ok(!out.includes(KEY_A) && !out.includes(KEY_B), 'API keys never logged');
    assert.doesNotMatch(out, /"level":"(error|fatal)"(?![^\n]*kafkajs)/, 'no error logged');
  });

  // Last: it stops the gateway.
  test('SIGTERM answers waiting requests with 202 at once and exits 0', async () => {
    const sessionId = `shutdown-${run}`;
    const pending = http('POST', '/v1/sessions', { body: { input: 'slow', sessionId }, headers: { prefer: 'wait=60' } });
    // Published means the request is past the publish and waiting on the outcome.
    await eventually(() => requests.find((r) => r.event.subject === sessionId));
    const t0 = Date.now();
    gw.child.kill('SIGTERM');
    const res = await pending;
    assert.equal(res.status, 202);
    assert.equal((await json(res)).status, 'requested');
    assert.deepEqual(await exitWithin(gw, 20_000), { code: 0, signal: null });
    assert.ok(Date.now() - t0 < 15_000, 'did not hold shutdown for the 60 s wait');
  });
});

