import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createToolRegistry, type ToolDefinition } from '@agentplane/tools';
import { readMcpLog, startMcpHttpServer, type McpHttpFixture } from '../../../test/fixtures/mcp-server';
import { runCall, type RunDeps } from './call-runner';
import { McpClients } from './mcp-invoker';

const FIXTURE = resolve(__dirname, '../../../test/fixtures/mcp-server.js');
const dir = mkdtempSync(join(tmpdir(), 'agentplane-mcp-'));
const log = join(dir, 'calls.jsonl');
const clients = new McpClients();
let http: McpHttpFixture;

function tool(name: string, endpoint: Record<string, unknown>, over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name,
    version: '1.0.0',
    description: name,
    args: { type: 'object' },
    result: { type: 'object' },
    endpoint,
    timeoutMs: 2000,
    retries: 2,
    idempotent: false,
    essential: true,
    costUsd: '0.001',
    rateLimit: { rps: 1000, burst: 1000, maxConcurrent: 100 },
    ...over,
  };
}

const stdio = (t: string) => ({ kind: 'mcp', transport: 'stdio', command: process.execPath, args: [FIXTURE, '--log', log], tool: t });
let deps: RunDeps;
let get: (name: string) => ToolDefinition;

before(async () => {
  http = await startMcpHttpServer();
  const registry = createToolRegistry({
    version: 1,
    tools: [
      tool('count', stdio('count'), { result: { type: 'object', required: ['count'], properties: { count: { type: 'integer' } } } }),
      tool('slow', stdio('slow'), { timeoutMs: 300 }),
      tool('fail', stdio('fail')),
      tool('missing', { kind: 'mcp', transport: 'stdio', command: process.execPath, args: [FIXTURE], env: { SECRET: 'env:AGENTPLANE_TEST_UNSET_VAR' }, tool: 'count' }, { retries: 0 }),
      tool('remote', { kind: 'mcp', transport: 'http', url: http.url, tool: 'count' }, { allowedHosts: [`127.0.0.1:${http.port}`] }),
      tool('remote_by_name', { kind: 'mcp', transport: 'http', url: `http://localhost:${http.port}/mcp`, tool: 'count' }, { allowedHosts: [`localhost:${http.port}`] }),
    ],
  });
  get = (n) => registry.get(n)!;
  deps = { registry, pace: async () => undefined, invokeOther: (t, a, o) => clients.invoke(t, a, o), baseBackoffMs: 5 };
});

after(async () => {
  await clients.onApplicationShutdown();
  await http.close();
  rmSync(dir, { recursive: true, force: true });
});

const run = (name: string, args: unknown, key: string) => runCall(get(name), args, key, new AbortController().signal, deps);

describe('MCP invoker', () => {
  it('calls a stdio tool through one shared server process; the idempotency key travels in _meta', async () => {
    const a = await run('count', { text: 'a' }, 'k-a');
    assert.equal(a.kind, 'succeeded', JSON.stringify(a));
    const [b, c] = await Promise.all([run('count', { text: 'b' }, 'k-b'), run('count', { text: 'a' }, 'k-a')]);
    assert.equal(b.kind === 'succeeded' && (b.result as { count: number }).count, 2, 'the same server process: its counter went on');
    assert.deepEqual(c.kind === 'succeeded' && c.result, a.kind === 'succeeded' && a.result, 'the repeated key got the stored result');
    const s = readMcpLog(log);
    const k = s.byKey['k-a']!;
    assert.deepEqual({ requests: k.requests, executions: k.executions }, { requests: 2, executions: 1 });
  });

  it('a call that outlives its timeout is aborted: outcome unknown, not retried (not idempotent), one effect', async () => {
    const t0 = Date.now();
    const o = await run('slow', { ms: 3000 }, 'k-slow');
    assert.equal(o.kind, 'failed');
    assert.equal(o.kind === 'failed' && o.code, 'unknown', JSON.stringify(o));
    assert.equal(o.attempts, 1);
    assert.ok(Date.now() - t0 < 2000, 'the timeout ended it, not the tool');
    assert.equal(readMcpLog(log).byKey['k-slow']?.executions, 1);
  });

  it('a tool error (isError) is a failure naming the tool, never retried', async () => {
    const o = await run('fail', { message: 'nope' }, 'k-fail');
    assert.equal(o.kind === 'failed' && o.code, 'http_error', JSON.stringify(o));
    assert.match(o.kind === 'failed' ? o.error : '', /MCP tool fail reported an error: nope/);
    assert.equal(o.attempts, 1);
  });

  it('arguments and results are held to the registry contract', async () => {
    const bad = await run('slow', 'not an object', 'k-bad');
    assert.equal(bad.kind === 'failed' && bad.code, 'invalid_args');
  });

  it('a missing env:NAME secret fails the call with the reason, without starting the server', async () => {
    const o = await run('missing', {}, 'k-missing');
    assert.equal(o.kind === 'failed' && o.code, 'network', JSON.stringify(o));
    assert.match(o.kind === 'failed' ? o.error : '', /AGENTPLANE_TEST_UNSET_VAR/);
  });

  it('streamable HTTP: an allowlisted server answers; the same tool with a foreign allowlist is blocked by the sandbox', async () => {
    const ok = await run('remote', { text: 'h' }, 'k-http');
    assert.equal(ok.kind, 'succeeded', JSON.stringify(ok));
    assert.equal(http.stats().byKey['k-http']?.executions, 1);
    const byName = await run('remote_by_name', { text: 'h' }, 'k-http-2');
    assert.equal(byName.kind, 'succeeded', JSON.stringify(byName));
    const foreign = { ...get('remote'), allowedHosts: ['api.example.com'] } as ToolDefinition;
    const blocked = await runCall(foreign, {}, 'k-blocked', new AbortController().signal, deps);
    assert.equal(blocked.kind === 'failed' && blocked.code, 'blocked', JSON.stringify(blocked));
    assert.match(blocked.kind === 'failed' ? blocked.error : '', /127\.0\.0\.1.*(blocked|not allowlisted|allowedHosts)/);
    assert.equal(http.stats().byKey['k-blocked'], undefined, 'nothing reached the server');
  });
});
