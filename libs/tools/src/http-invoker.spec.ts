import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { after, before, beforeEach, describe, it } from 'node:test';
import { startToolServer, type ToolServer } from '../../../test/fixtures/tool-server';
import { invokeHttpTool, invokeHttpToolWithRetries, shouldRetry } from './http-invoker';
import type { HttpMethod, ToolDefinition } from './registry';

function toolAt(base: string, path: string, overrides: Partial<ToolDefinition> & { method?: HttpMethod } = {}): ToolDefinition {
  const url = new URL(path, base);
  const { method, ...rest } = overrides;
  return {
    name: path.split('/').pop()!.split('?')[0],
    version: '1',
    description: 'test tool',
    args: { type: 'object' },
    result: {},
    endpoint: { kind: 'http', method: method ?? 'POST', url: url.toString() },
    timeoutMs: 1000,
    retries: 2,
    idempotent: true,
    essential: true,
    costUsd: '0',
    rateLimit: { rps: 100, burst: 100, maxConcurrent: 10 },
    allowedHosts: [url.host],
    ...rest,
  };
}

/** A port nothing listens on: bind, read the port, close. */
async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

async function eventually(check: () => boolean, ms = 2000): Promise<void> {
  const until = Date.now() + ms;
  while (!check()) {
    if (Date.now() > until) assert.fail('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

const noSleep = async () => undefined;

describe('invokeHttpTool against the loopback tool server', () => {
  let server: ToolServer;
  before(async () => {
    server = await startToolServer();
  });
  after(() => server.close());
  beforeEach(() => server.reset());

  it('given a GET tool, when invoked, then args go in the query, the key in Idempotency-Key, and the JSON body comes back', async () => {
    const tool = toolAt(server.url, '/tools/search', { method: 'GET' });
    const out = await invokeHttpTool(tool, { query: 'kafka partitions', limit: 1 }, { idempotencyKey: 's1:c1' });
    assert.equal(out.kind, 'ok');
    if (out.kind !== 'ok') return;
    assert.equal(out.status, 200);
    assert.equal((out.body as { results: { id: string }[] }).results[0].id, 'doc-kafka');
    assert.deepEqual(server.stats().byKey['s1:c1'], { requests: 1, executions: 1, replays: 0, aborted: 0 });
  });

  it('given a POST tool, when invoked, then the JSON body is sent', async () => {
    const out = await invokeHttpTool(toolAt(server.url, '/tools/echo'), { a: [1, { b: true }] }, { idempotencyKey: 'k' });
    assert.deepEqual(out.kind === 'ok' && out.body, { args: { a: [1, { b: true }] } });
  });

  it('given a tool slower than its timeout, when invoked, then the request is really aborted and the outcome is unknown (sent)', async () => {
    server.fault('echo', { hang: true });
    const tool = toolAt(server.url, '/tools/echo', { timeoutMs: 150 });
    const out = await invokeHttpTool(tool, { x: 1 }, { idempotencyKey: 'slow-1' });
    assert.equal(out.kind, 'timeout');
    assert.equal(out.kind === 'timeout' && out.sent, true);
    assert.ok(out.latencyMs >= 145 && out.latencyMs < 1000, `latency ${out.latencyMs}`);
    // The server sees the client's socket close: the abort is real, not a forgotten promise.
    await eventually(() => server.stats().aborted === 1);
    assert.equal(server.stats().inFlight, 0);
    assert.equal(server.stats().executions, 1);
  });

  it('given a caller signal that aborts, then the outcome is cancelled and the socket closes', async () => {
    server.fault('echo', { hang: true });
    const ctl = new AbortController();
    setTimeout(() => ctl.abort(), 50);
    const out = await invokeHttpTool(toolAt(server.url, '/tools/echo'), {}, { idempotencyKey: 'c', signal: ctl.signal });
    assert.deepEqual([out.kind, out.kind === 'cancelled' && out.sent], ['cancelled', true]);
    await eventually(() => server.stats().aborted === 1);
  });

  it('given 503 with Retry-After, 429, 404 and 400, then each is classified with its retriability', async () => {
    const tool = toolAt(server.url, '/tools/echo');
    server.fault('echo', { status: 503, retryAfter: '2', times: 1 });
    const unavailable = await invokeHttpTool(tool, {}, { idempotencyKey: 'a' });
    assert.deepEqual(
      unavailable.kind === 'http_error' && [unavailable.status, unavailable.retriable, unavailable.retryAfterMs],
      [503, true, 2000],
    );
    server.fault('echo', { status: 429, times: 1 });
    const limited = await invokeHttpTool(tool, {}, { idempotencyKey: 'b' });
    assert.deepEqual(limited.kind === 'http_error' && [limited.status, limited.retriable], [429, true]);
    const notFound = await invokeHttpTool(toolAt(server.url, '/tools/fetch_doc'), { id: 'nope' }, { idempotencyKey: 'c' });
    assert.deepEqual(notFound.kind === 'http_error' && [notFound.status, notFound.retriable, notFound.body], [404, false, { error: 'no document nope' }]);
  });

  it('given a redirect, then it is not followed but returned as an error with its location', async () => {
    const tool = toolAt(server.url, '/tools/redirect', { method: 'GET' });
    const out = await invokeHttpTool(tool, { to: 'http://169.254.169.254/latest/meta-data' }, { idempotencyKey: 'r' });
    assert.deepEqual(out.kind === 'http_error' && [out.status, out.retriable, out.location], [302, false, 'http://169.254.169.254/latest/meta-data']);
  });

  it('given a closed port, then the outcome is a network error that was never sent (safe to retry even if not idempotent)', async () => {
    const port = await closedPort();
    const tool = toolAt(`http://127.0.0.1:${port}`, '/tools/send_email', { idempotent: false });
    const out = await invokeHttpTool(tool, {}, { idempotencyKey: 'n' });
    assert.equal(out.kind, 'network');
    if (out.kind !== 'network') return;
    assert.deepEqual([out.sent, out.retriable, out.code], [false, true, 'ECONNREFUSED']);
  });

  it('given a URL whose host is not allowlisted, then nothing is sent', async () => {
    const tool = { ...toolAt(server.url, '/tools/echo'), allowedHosts: ['example.com'] };
    const out = await invokeHttpTool(tool, {}, { idempotencyKey: 'x' });
    assert.deepEqual(out.kind === 'network' && [out.code, out.sent, out.retriable], ['EHOSTNOTALLOWED', false, false]);
    assert.equal(server.stats().requests, 0);
  });

  it('given transient 503s on an idempotent tool, when invoked with retries, then it succeeds with one execution', async () => {
    server.fault('echo', { status: 503, times: 2 });
    const r = await invokeHttpToolWithRetries(toolAt(server.url, '/tools/echo'), { v: 1 }, { idempotencyKey: 'k1', sleep: noSleep });
    assert.equal(r.outcome.kind, 'ok');
    assert.equal(r.attempts, 3);
    assert.deepEqual(server.stats().byKey['k1'], { requests: 3, executions: 1, replays: 0, aborted: 0 });
  });

  it('given a timeout after the effect on an idempotent tool, when retried with the same key, then the stored result is replayed (one effect)', async () => {
    server.fault('echo', { latencyMs: 400, times: 1 });
    const r = await invokeHttpToolWithRetries(toolAt(server.url, '/tools/echo', { timeoutMs: 150 }), { v: 2 }, { idempotencyKey: 'k2', sleep: noSleep });
    assert.deepEqual(r.outcome.kind === 'ok' && r.outcome.body, { args: { v: 2 } });
    assert.equal(r.attempts, 2);
    const s = server.stats().byKey['k2'];
    assert.deepEqual([s.executions, s.replays, s.aborted], [1, 1, 1]);
  });

  it('given a non-idempotent tool, then a 500 or a timeout after send is not retried but a 429 is', async () => {
    const email = toolAt(server.url, '/tools/send_email', { idempotent: false, timeoutMs: 150 });
    const args = { to: 'a@example.com', subject: 's', body: 'b' };
    server.fault('send_email', { status: 500, afterExecute: true, times: 1 });
    const failed = await invokeHttpToolWithRetries(email, args, { idempotencyKey: 'e1', sleep: noSleep });
    assert.deepEqual([failed.outcome.kind, failed.attempts], ['http_error', 1]);

    server.fault('send_email', { hang: true, times: 1 });
    const unknown = await invokeHttpToolWithRetries(email, args, { idempotencyKey: 'e2', sleep: noSleep });
    assert.deepEqual([unknown.outcome.kind, unknown.attempts], ['timeout', 1]);

    server.fault('send_email', { status: 429, retryAfter: '0', times: 1 });
    const limited = await invokeHttpToolWithRetries(email, args, { idempotencyKey: 'e3', sleep: noSleep });
    assert.deepEqual([limited.outcome.kind, limited.attempts], ['ok', 2]);
    assert.equal(server.stats().emailsSent, 3);
  });

  it('shouldRetry follows the outcome and the tool', () => {
    const idem = { idempotent: true };
    const once = { idempotent: false };
    assert.equal(shouldRetry({ kind: 'timeout', sent: true, latencyMs: 1 }, idem), true);
    assert.equal(shouldRetry({ kind: 'timeout', sent: true, latencyMs: 1 }, once), false);
    assert.equal(shouldRetry({ kind: 'timeout', sent: false, latencyMs: 1 }, once), true);
    assert.equal(shouldRetry({ kind: 'http_error', status: 502, retriable: true, latencyMs: 1 }, once), false);
    assert.equal(shouldRetry({ kind: 'http_error', status: 400, retriable: false, latencyMs: 1 }, idem), false);
    assert.equal(shouldRetry({ kind: 'ok', status: 200, body: null, latencyMs: 1 }, idem), false);
  });
});
