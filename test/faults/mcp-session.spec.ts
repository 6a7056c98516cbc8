/**
 * An MCP tool used by real sessions: the loop's services as processes, a tool served by the
 * stdio MCP fixture that the executor spawns. Sessions submitted through the gateway complete,
 * the second step uses the MCP result (typed), and each call has exactly one effect at the
 * fixture (its JSON-lines log is the witness, since the executor owns the server process).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { readMcpLog } from '../fixtures/mcp-server';
import { startToolServer, type ToolServer } from '../fixtures/tool-server';
import { eventually } from '../support';
import { startStack, type Stack } from '../support/stack';

const ACME = 'ap_demo_acme_3f9c2b7e1d4a';
const FIXTURE = resolve(__dirname, '../fixtures/mcp-server.js');
const dir = mkdtempSync(join(tmpdir(), 'agentplane-mcp-e2e-'));
const LOG = join(dir, 'calls.jsonl');

// No allowedHosts: a stdio server connects nowhere; the executor starts it.
const MCP_TOOL = `
  - name: mcp_count
    version: "1.0.0"
    description: Counting tool served by an MCP server over stdio (test fixture).
    args: { type: object, properties: { text: { type: string }, n: { type: integer } }, additionalProperties: false }
    result: { type: object, required: [count, args], properties: { count: { type: integer }, args: { type: object } } }
    endpoint: { kind: mcp, transport: stdio, command: ${JSON.stringify(process.execPath)}, args: [${JSON.stringify(FIXTURE)}, "--log", ${JSON.stringify(LOG)}], tool: count }
    timeoutMs: 5000
    retries: 2
    idempotent: true
    essential: true
    costUsd: "0.001"
    rateLimit: { rps: 500, burst: 500, maxConcurrent: 50 }`;

let tools: ToolServer;
let stack: Stack;

before(async () => {
  tools = await startToolServer({ port: 0 });
  stack = await startStack({ toolsUrl: tools.url, extraToolsYaml: MCP_TOOL, env: { PLANNER_DEFAULT_DEADLINE_MS: '60000' } });
});

after(async () => {
  await stack?.stop();
  await tools?.close();
  rmSync(dir, { recursive: true, force: true });
});

async function get(id: string): Promise<any> {
  const r = await fetch(`${stack.url('gateway')}/v1/sessions/${id}`, { headers: { authorization: `Bearer ${ACME}` } });
  return r.status === 200 ? r.json() : undefined;
}

test('sessions whose workflow calls an MCP tool (stdio) complete; one effect per call', { timeout: 90_000 }, async () => {
  const workflow = {
    steps: [
      { calls: [{ id: 'first', tool: 'mcp_count', args: { text: 'first' } }] },
      {
        calls: [
          // A whole-string reference keeps the JSON type: n is the integer the MCP tool returned.
          { id: 'second', tool: 'mcp_count', args: { text: 'second', n: '${first.result.count}' } },
          { id: 'find', tool: 'search', args: { query: 'kafka' } },
        ],
      },
    ],
  };
  const N = 5;
  const posted = await Promise.all(
    Array.from({ length: N }, async () => {
      const r = await fetch(`${stack.url('gateway')}/v1/sessions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${ACME}`, 'content-type': 'application/json', prefer: 'wait=30' },
        body: JSON.stringify({ input: 'count with MCP', workflow }),
      });
      return { status: r.status, body: (await r.json()) as any };
    }),
  );
  for (const p of posted) assert.ok(p.status === 200 || p.status === 202, JSON.stringify(p.body));
  for (const p of posted) {
    const view = await eventually(async () => {
      const v = await get(p.body.sessionId);
      return v && v.status !== 'requested' && v.status !== 'running' ? v : undefined;
    }, { timeoutMs: 45_000, message: `session ${p.body.sessionId} ended\n${stack.logs()}` });
    assert.equal(view.status, 'completed', `${JSON.stringify(view)}\n${stack.logs()}`);
    assert.equal(view.toolCallCount ?? view.toolCalls?.length, 3, JSON.stringify(view));
  }
  const s = readMcpLog(LOG);
  assert.equal(s.executions, 2 * N, JSON.stringify(s));
  const keys = Object.entries(s.byKey);
  assert.equal(keys.length, 2 * N);
  for (const [key, k] of keys) assert.equal(k.executions, 1, `${key}: ${JSON.stringify(k)}`);
  // The second call received the first one's integer result (a typed reference through the planner).
  for (const p of posted) {
    const first = s.byKey[`${p.body.sessionId}:first`];
    const second = s.byKey[`${p.body.sessionId}:second`];
    assert.ok(first && second, `keys of ${p.body.sessionId}: ${Object.keys(s.byKey).join(', ')}`);
    const n = (second.args as { n?: unknown }).n;
    assert.equal(typeof n, 'number', JSON.stringify(second));
  }
});
