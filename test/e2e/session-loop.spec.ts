/**
 * The product's main job, end to end on the real broker and database with every service of
 * the loop as its own OS process: 100 concurrent sessions of 3 tool calls (the second step
 * runs 2 calls in parallel), most over HTTP and some produced with kcat; each session's log is
 * exactly the expected sequence; fast sessions answer 200, slow ones 202 and then GET.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decode, makeEvent, uuidv7, type AgentplaneEvent } from '@agentplane/contracts';
import { startToolServer, type ToolServer } from '../fixtures/tool-server';
import { KAFKA_BROKERS, eventually, readTopic, testKafka } from '../support';
import { startStack, type Stack } from '../support/stack';

const ACME = 'ap_demo_acme_3f9c2b7e1d4a';
const SLOW_MS = 2500;

const SLOW_TOOL = `
  - name: slow_echo
    version: "1.0.0"
    description: Echo that answers slowly (test only).
    args: { type: object, properties: { text: { type: string } }, required: [text] }
    result: { type: object }
    endpoint: { kind: http, method: POST, url: "TOOLS_URL/tools/echo" }
    timeoutMs: 10000
    retries: 0
    idempotent: true
    essential: false
    costUsd: "0.002"
    rateLimit: { rps: 500, burst: 500, maxConcurrent: 200 }
    allowedHosts: ["TOOLS_HOST"]`;

function workflow(slow: boolean) {
  return {
    steps: [
      { calls: [{ id: 'find', tool: 'search', args: { query: 'kafka' } }] },
      {
        calls: [
          { id: 'doc', tool: 'fetch_doc', args: { id: '${find.result.results.0.id}' } },
          slow ? { id: 'echo', tool: 'slow_echo', args: { text: 'slow' } } : { id: 'sum', tool: 'summarize', args: { text: 'Kafka keeps an ordered log of events per partition.' } },
        ],
      },
    ],
  };
}

let tools: ToolServer;
let stack: Stack;

before(async () => {
  tools = await startToolServer({ port: 0 });
  tools.fault('/tools/echo', { latencyMs: SLOW_MS });
  stack = await startStack({ toolsUrl: tools.url, extraToolsYaml: SLOW_TOOL, env: { PLANNER_DEFAULT_DEADLINE_MS: '120000' } });
});

after(async () => {
  await stack?.stop();
  await tools?.close();
});

async function post(body: unknown, wait: number): Promise<{ status: number; body: any; location: string | null }> {
  const r = await fetch(`${stack.url('gateway')}/v1/sessions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ACME}`, 'content-type': 'application/json', prefer: `wait=${wait}` },
    body: JSON.stringify(body),
  });
  return { status: r.status, body: await r.json(), location: r.headers.get('location') };
}

async function get(id: string): Promise<any> {
  const r = await fetch(`${stack.url('gateway')}/v1/sessions/${id}`, { headers: { authorization: `Bearer ${ACME}` } });
  return r.status === 200 ? r.json() : undefined;
}

type Ev = AgentplaneEvent;

/**
 * The session's facts in log order, checked against the loop's contract. A call the rate
 * limiter had to hold back may show `deferred` before its `admitted` (under load the
 * summarize tool's concurrency cap is reached); nothing else may vary.
 */
function checkSequence(id: string, all: Ev[], second: [string, string]): void {
  const callOf = (e: Ev) => (e.data as { callId?: string }).callId;
  const deferred = all.filter((e) => e.type === 'agentplane.tool.call.deferred');
  for (const d of deferred) {
    const at = all.indexOf(d);
    const admitted = all.findIndex((e) => e.type === 'agentplane.tool.call.admitted' && callOf(e) === callOf(d));
    assert.ok(admitted > at, `${id}: deferred call ${callOf(d)} is admitted later`);
  }
  const evs = all.filter((e) => e.type !== 'agentplane.tool.call.deferred');
  const t = evs.map((e) => e.type.replace('agentplane.', ''));
  const head = ['session.started', 'planner.step.completed', 'tool.call.requested', 'tool.call.admitted', 'tool.call.succeeded', 'planner.step.completed', 'tool.call.requested', 'tool.call.requested'];
  const tail = ['planner.step.completed', 'session.completed'];
  assert.deepEqual(t.slice(0, head.length), head, `${id}: ${t.join(' > ')}`);
  assert.deepEqual(t.slice(-tail.length), tail, `${id}: ${t.join(' > ')}`);
  const middle = evs.slice(head.length, -tail.length);
  assert.equal(middle.length, 4, `${id}: two admitted + two succeeded in the parallel step: ${t.join(' > ')}`);
  for (const callId of second) {
    const admitted = middle.findIndex((e) => e.type === 'agentplane.tool.call.admitted' && callOf(e) === callId);
    const succeeded = middle.findIndex((e) => e.type === 'agentplane.tool.call.succeeded' && callOf(e) === callId);
    assert.ok(admitted >= 0 && succeeded > admitted, `${id}: ${callId} admitted before it succeeded: ${t.join(' > ')}`);
  }
  assert.equal(new Set(all.map((e) => e.id)).size, all.length, `${id}: no event twice`);
}

describe('session loop', () => {
  test('100 concurrent sessions (HTTP and kcat) all complete with exactly the expected log', { timeout: 240_000 }, async () => {
    // 20 produced by kcat, a non-JavaScript client, in the documented wire format.
    const kcatIds = Array.from({ length: 20 }, () => uuidv7());
    const lines = kcatIds.map((sessionId) => {
      const e = makeEvent('agentplane.session.requested', { tenantId: 'acme', sessionId, input: 'kcat session', workflow: workflow(false) } as never, { source: 'kcat' });
      return `${sessionId}\t${JSON.stringify(e)}`;
    });
    const file = join(tmpdir(), `kcat-${stack.prefix}.txt`);
    writeFileSync(file, lines.join('\n') + '\n');
    execFileSync('kcat', ['-P', '-b', KAFKA_BROKERS, '-X', 'partitioner=murmur2_random', '-t', stack.topic('session-requests'), '-K', '\t', '-l', file]);

    // 80 over HTTP: 60 fast (long wait budget → 200), 20 with a slow tool (short budget → 202).
    const http = await Promise.all([
      ...Array.from({ length: 60 }, () => post({ input: 'fast session', workflow: workflow(false) }, 30).then((r) => ({ ...r, slow: false }))),
      ...Array.from({ length: 20 }, () => post({ input: 'slow session', workflow: workflow(true) }, 1).then((r) => ({ ...r, slow: true }))),
    ]);
    for (const r of http) {
      if (r.slow) {
        assert.equal(r.status, 202, JSON.stringify(r.body));
        assert.equal(r.location, `/v1/sessions/${r.body.sessionId}`);
      } else {
        assert.equal(r.status, 200, JSON.stringify(r.body));
        assert.equal(r.body.status, 'completed');
        assert.ok(typeof r.body.answer === 'string' && r.body.answer.length > 0);
      }
    }
    const all = [...http.map((r) => ({ id: r.body.sessionId as string, slow: r.slow })), ...kcatIds.map((id) => ({ id, slow: false }))];
    assert.equal(new Set(all.map((s) => s.id)).size, 100);

    // Slow and kcat sessions: GET until the projection shows the outcome.
    for (const s of all) {
      const view = await eventually(async () => {
        const v = await get(s.id);
        return v && v.status !== 'requested' && v.status !== 'running' ? v : undefined;
      }, { timeoutMs: 90_000, message: `session ${s.id} ended\n${stack.logs()}` });
      assert.equal(view.status, 'completed', JSON.stringify(view));
      assert.equal(view.toolCallCount ?? view.toolCalls?.length, 3);
    }

    // The log: exactly the expected sequence per session, in order.
    const ids = new Set(all.map((s) => s.id));
    const bySession = await readTopic(testKafka('e2e-reader'), stack.topic('session-events'), (records) => {
      const m = new Map<string, Ev[]>();
      for (const r of records) {
        const d = decode(r.value);
        if (!d.ok) continue;
        const sid = d.event.subject!;
        if (!ids.has(sid)) continue;
        (m.get(sid) ?? m.set(sid, []).get(sid)!).push(d.event as Ev);
      }
      const done = [...m.values()].filter((es) => es.some((e) => e.type === 'agentplane.session.completed')).length;
      return done === ids.size ? m : undefined;
    }, 60_000);
    for (const s of all) checkSequence(s.id, bySession.get(s.id)!, s.slow ? ['doc', 'echo'] : ['doc', 'sum']);

    // Each tool call had exactly one effect at the tool server.
    const st = tools.stats();
    assert.equal(st.executions, 300, JSON.stringify(st));
  });

  test('a workflow naming an unknown tool is rejected with the reason', { timeout: 60_000 }, async () => {
    const r = await post({ input: 'bad', workflow: { steps: [{ calls: [{ id: 'x', tool: 'launch_missiles', args: {} }] }] } }, 10);
    assert.ok(r.status === 200 || r.status === 202, JSON.stringify(r.body));
    const view = await eventually(async () => {
      const v = await get(r.body.sessionId);
      return v?.status === 'rejected' ? v : undefined;
    }, { timeoutMs: 30_000, message: 'session rejected' });
    assert.ok(JSON.stringify(view).includes('launch_missiles'), JSON.stringify(view));
  });
});
