/**
 * Latency-aware ingress and completion webhooks, services as processes on the real broker: the
 * fake provider slowed to 900 ms pushes planner p95 (from the log) over 700 ms, so the gateway
 * answers 202 at once; the outcome arrives by webhook at a receiver on loopback that verifies
 * the Standard Webhooks signature with `verifyWebhook`; a replayed webhook-id is processed once,
 * a stale timestamp is refused, and a receiver that is down for a while gets the delivery later
 * (every attempt on control-events).
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { verifyWebhook, webhookHeaders, WebhookReplayGuard, WebhookVerificationError } from '@agentplane/webhooks';
import { startFakeOpenAI, type FakeOpenAI } from '../fixtures/fake-openai.server';
import { startToolServer, type ToolServer } from '../fixtures/tool-server';
import { eventually } from '../support';
import { startStack, type Stack } from '../support/stack';
import { ACME, LogReader, turnOf } from '../planner/helpers';

const SECRET = 'whsec_' + Buffer.from('acme-webhook-secret-for-tests-0123456789').toString('base64');

/** A receiver the way a customer writes one: raw body, verify, dedupe on webhook-id. */
class Receiver {
  server!: Server;
  url = '';
  up = true;
  /** Answer the next hook with a redirect (a 3xx is a failed attempt: not followed). */
  redirectNext = false;
  readonly processed: Array<{ id: string; payload: { type: string; data: { sessionId: string; answer?: string } } }> = [];
  readonly refused: string[] = [];
  readonly duplicates: string[] = [];
  attempts = 0;
  private readonly guard = new WebhookReplayGuard(300);

  async start(): Promise<void> {
    this.server = createServer(async (req, res) => {
      const body = await readBody(req);
      if (req.url === '/hook') this.attempts++;
      if (req.url === '/hook' && this.redirectNext) {
        this.redirectNext = false;
        return void res.writeHead(302, { location: '/elsewhere' }).end();
      }
      if (!this.up) return void res.writeHead(503).end('down for maintenance');
      try {
        const v = verifyWebhook<Receiver['processed'][number]['payload']>(SECRET, req.headers as Record<string, string>, body, { toleranceSec: 300 });
        if (!this.guard.firstTime(v.id)) {
          this.duplicates.push(v.id);
          return void res.writeHead(200).end('already processed');
        }
        this.processed.push({ id: v.id, payload: v.payload });
        res.writeHead(204).end();
      } catch (err) {
        this.refused.push(err instanceof WebhookVerificationError ? err.code : String(err));
        res.writeHead(400).end();
      }
    });
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

let ai: FakeOpenAI;
let tools: ToolServer;
let stack: Stack;
let log: LogReader;
let latencyMs = 0;
const receiver = new Receiver();

before(async () => {
  await receiver.start();
  ai = await startFakeOpenAI({
    port: 0,
    handler: (req) => (turnOf(req) === 0 ? { toolCalls: [{ id: 'call_s', name: 'search', arguments: { query: 'kafka' } }], latencyMs } : { final: 'Kafka is a log.', latencyMs }),
  });
  tools = await startToolServer({ port: 0 });
  stack = await startStack({
    toolsUrl: tools.url,
    env: { PLANNER_BASE_URL: ai.url, PLANNER_MODEL: 'gpt-4o-mini', PLANNER_BATCH_WAIT_MS: '5', TENANT_ACME_WEBHOOK_SECRET: SECRET },
    envFor: {
      gateway: {
        GATEWAY_WEBHOOK_ALLOWED_HOSTS: '127.0.0.1',
        GATEWAY_WEBHOOK_BACKOFF_MS: '300,600,1200,2400,4800',
        GATEWAY_WEBHOOK_POLL_MS: '100',
        GATEWAY_LATENCY_MIN_SAMPLES: '3',
      },
    },
  });
  log = await LogReader.start(stack);
});

after(async () => {
  await log?.stop();
  await stack?.stop();
  await tools?.close();
  await ai?.close();
  receiver.server?.close();
});

async function post(body: Record<string, unknown>): Promise<{ status: number; ms: number; json: { sessionId: string; status: string }; headers: Headers }> {
  const t0 = performance.now();
  const r = await fetch(`${stack.url('gateway')}/v1/sessions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ACME}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: r.status, ms: performance.now() - t0, json: (await r.json()) as { sessionId: string; status: string }, headers: r.headers };
}

describe('latency-aware ingress and signed webhooks', () => {
  test('fast planner: the gateway waits (no early 202); the webhook is delivered and verifies', { timeout: 60_000 }, async () => {
    const r = await post({ input: 'fast one', webhookUrl: `${receiver.url}/hook` });
    // 200, or 202 after the full wait budget on a loaded box with cold processes — never at once.
    assert.equal(r.headers.get('agentplane-async-reason'), null);
    assert.ok(r.status === 200 || r.ms >= 1_400, `${r.status} after ${Math.round(r.ms)} ms`);
    await eventually(() => receiver.processed.find((p) => p.payload.data.sessionId === r.json.sessionId), { timeoutMs: 15_000, message: `webhook\n${stack.logs()}` });
    const got = receiver.processed.find((p) => p.payload.data.sessionId === r.json.sessionId)!;
    assert.equal(got.payload.type, 'agentplane.session.completed');
    assert.equal(got.payload.data.answer, 'Kafka is a log.');
  });

  test('a webhookUrl that breaks the SSRF rules is refused at the door', { timeout: 30_000 }, async () => {
    for (const url of ['http://169.254.169.254/latest', 'http://10.0.0.8/hook', 'http://localhost:9/hook', 'ftp://example.com/x']) {
      const r = await post({ input: 'x', webhookUrl: url });
      assert.equal(r.status, 400, `${url}: ${JSON.stringify(r.json)}`);
    }
  });

  test('provider slowed to 900 ms: 202 at once, the webhook verifies; a replay is processed once; a stale timestamp is refused', { timeout: 120_000 }, async () => {
    latencyMs = 900;
    // Warm-up sessions put slow steps on the log; the gateway follows their p95.
    for (let i = 0; i < 2; i++) {
      const w = await post({ input: `slow warm-up ${i}` });
      await eventually(async () => {
        const g = await fetch(`${stack.url('gateway')}/v1/sessions/${w.json.sessionId}`, { headers: { authorization: `Bearer ${ACME}` } });
        return ((await g.json()) as { status: string }).status === 'completed';
      }, { timeoutMs: 30_000 });
    }
    const r = await post({ input: 'slow one', webhookUrl: `${receiver.url}/hook` });
    assert.equal(r.status, 202);
    // At once, not after the wait budget: the header says the gateway chose 202 from planner p95
    // (timings themselves belong to benchmarks).
    assert.equal(r.json.status === 'completed', false, 'answered before the outcome');
    assert.match(r.headers.get('agentplane-async-reason') ?? '', /^planner-p95=\d+ms$/);
    assert.ok(Number(/=(\d+)/.exec(r.headers.get('agentplane-async-reason')!)![1]) > 700);
    const hook = await eventually(() => receiver.processed.find((p) => p.payload.data.sessionId === r.json.sessionId), { timeoutMs: 30_000, message: `slow webhook\n${stack.logs()}` });
    assert.equal(hook.payload.type, 'agentplane.session.completed');

    // A captured delivery replayed (same id, same signature) is processed once.
    const body = JSON.stringify({ type: 'agentplane.session.completed', timestamp: new Date().toISOString(), data: { sessionId: 'replayed' } });
    const headers = { 'content-type': 'application/json', ...webhookHeaders(SECRET, 'msg_replay_1', body) };
    for (let i = 0; i < 2; i++) assert.ok((await fetch(`${receiver.url}/replay`, { method: 'POST', headers, body })).ok);
    assert.equal(receiver.processed.filter((p) => p.id === 'msg_replay_1').length, 1);
    assert.deepEqual(receiver.duplicates, ['msg_replay_1']);

    // A validly signed delivery with a timestamp ten minutes old is refused.
    const stale = webhookHeaders(SECRET, 'msg_stale_1', body, Math.floor(Date.now() / 1000) - 600);
    assert.equal((await fetch(`${receiver.url}/replay`, { method: 'POST', headers: { 'content-type': 'application/json', ...stale }, body })).status, 400);
    assert.deepEqual(receiver.refused, ['stale_timestamp']);
  });

  test('a redirect, then a receiver down for a while: the delivery arrives later; every attempt is on control-events', { timeout: 120_000 }, async () => {
    receiver.up = false;
    receiver.redirectNext = true;
    const before = receiver.attempts;
    const r = await post({ input: 'while down', webhookUrl: `${receiver.url}/hook` });
    const attempts = () => log.of('agentplane.webhook.delivery.attempted', (e) => e.data.sessionId === r.json.sessionId);
    await eventually(() => attempts().length >= 3, { timeoutMs: 30_000, message: `failed attempts\n${stack.logs()}` });
    receiver.up = true;
    await eventually(() => receiver.processed.find((p) => p.payload.data.sessionId === r.json.sessionId), { timeoutMs: 30_000, message: 'delivered later' });
    await eventually(() => attempts().some((e) => e.data.status === 'delivered'), { timeoutMs: 10_000 });
    const seen = attempts().map((e) => [e.data.attempt, e.data.status, e.data.httpStatus]);
    assert.deepEqual(seen.slice(0, 2), [[1, 'retrying', 302], [2, 'retrying', 503]], '3xx and 5xx are failures');
    assert.deepEqual(seen[seen.length - 1]!.slice(1), ['delivered', 204]);
    assert.deepEqual(seen.map((s) => s[0]), seen.map((_, i) => i + 1), 'attempts numbered in order');
    assert.ok(receiver.attempts - before >= seen.length);
    assert.equal(new Set(attempts().map((e) => e.data.webhookId)).size, 1, 'one webhook-id across retries');
  });
});
