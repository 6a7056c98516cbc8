/**
 * The LLM path end to end: the planner talks to a fake OpenAI-compatible server (real Chat
 * Completions wire format on loopback), tools run through the rate limiter and executor, all
 * as separate processes on the real broker and database.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { decode, type AgentplaneEvent } from '@agentplane/contracts';
import { startFakeOpenAI, type FakeOpenAI, type FakeReply, type RecordedRequest } from '../fixtures/fake-openai.server';
import { startToolServer, type ToolServer } from '../fixtures/tool-server';
import { eventually, readTopic, testKafka } from '../support';
import { startStack, type Stack } from '../support/stack';

const ACME = 'ap_demo_acme_3f9c2b7e1d4a';
const search = (query: unknown, id = 'call_s') => ({ toolCalls: [{ id, name: 'search', arguments: { query } }] });

/** Per task, the replies in order; the task is the session's input, so sessions can run at once. */
const SCRIPTS: Record<string, FakeReply[]> = {
  happy: [search('kafka'), { final: 'Kafka is a log.' }],
  unknown: [{ toolCalls: [{ id: 'call_x', name: 'no_such_tool', arguments: {} }] }, search('kafka'), { final: 'recovered' }],
  invalid: [search(42), search('kafka', 'call_t'), { final: 'fixed args' }],
  throttled: [{ status: 429, retryAfter: '0' }, search('kafka'), { final: 'after 429' }],
  broken: [{ status: 500 }, { status: 503 }, { final: 'after 5xx' }],
  hopeless: Array.from({ length: 10 }, (_, i) => ({ toolCalls: [{ id: `call_h${i}`, name: 'no_such_tool', arguments: {} }] })),
};

let ai: FakeOpenAI;
let tools: ToolServer;
let stack: Stack;
const served = new Map<string, number>();

function taskOf(req: RecordedRequest): string {
  const msgs = (req.body.messages ?? []) as Array<{ role: string; content?: unknown }>;
  const user = msgs.find((m) => m.role === 'user');
  return typeof user?.content === 'string' ? user.content : JSON.stringify(user?.content);
}

before(async () => {
  ai = await startFakeOpenAI({
    port: 0,
    handler: (req) => {
      const task = taskOf(req);
      const n = served.get(task) ?? 0;
      served.set(task, n + 1);
      const script = SCRIPTS[task];
      return script?.[Math.min(n, script.length - 1)] ?? { final: `no script for ${task}` };
    },
  });
  tools = await startToolServer({ port: 0 });
  stack = await startStack({
    toolsUrl: tools.url,
    env: { PLANNER_BASE_URL: ai.url, PLANNER_MODEL: 'gpt-4o-mini', PLANNER_MAX_STEPS: '4', PLANNER_MAX_RETRIES: '3' },
  });
});

after(async () => {
  await stack?.stop();
  await tools?.close();
  await ai?.close();
});

async function run(task: string): Promise<{ id: string; view: any }> {
  const r = await fetch(`${stack.url('gateway')}/v1/sessions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ACME}`, 'content-type': 'application/json', prefer: 'wait=1' },
    body: JSON.stringify({ input: task }),
  });
  assert.ok(r.status === 200 || r.status === 202, `POST ${task}: ${r.status}`);
  const id = ((await r.json()) as { sessionId: string }).sessionId;
  const view = await eventually(async () => {
    const g = await fetch(`${stack.url('gateway')}/v1/sessions/${id}`, { headers: { authorization: `Bearer ${ACME}` } });
    const v = g.status === 200 ? ((await g.json()) as { status: string }) : undefined;
    return v && !['requested', 'running'].includes(v.status) ? v : undefined;
  }, { timeoutMs: 60_000, message: `${task} ended\n${stack.logs()}` });
  return { id, view };
}

async function eventsOf(id: string): Promise<AgentplaneEvent[]> {
  return readTopic(testKafka('llm-reader'), stack.topic('session-events'), (records) => {
    const evs = records.map((r) => decode(r.value)).filter((d) => d.ok && d.event.subject === id).map((d) => (d as { event: AgentplaneEvent }).event);
    return evs.some((e) => ['agentplane.session.completed', 'agentplane.session.failed'].includes(e.type)) ? evs : undefined;
  });
}

const steps = (evs: AgentplaneEvent[]) => evs.filter((e) => e.type === 'agentplane.planner.step.completed') as AgentplaneEvent<'agentplane.planner.step.completed'>[];

describe('LLM planner path', () => {
  test('tool calls then a final answer', { timeout: 90_000 }, async () => {
    const { id, view } = await run('happy');
    assert.equal(view.status, 'completed');
    assert.equal(view.answer, 'Kafka is a log.');
    const evs = await eventsOf(id);
    const s = steps(evs);
    assert.deepEqual(s.map((e) => e.data.pass), [true, true]);
    assert.equal(s[0].data.provider, 'openai-compatible');
    assert.ok(evs.some((e) => e.type === 'agentplane.tool.call.succeeded'));
    // The second request carried the tool's result back to the model.
    const second = ai.requests.filter((r) => taskOf(r) === 'happy')[1];
    assert.ok((second.body.messages as Array<{ role: string }>).some((m) => m.role === 'tool'));
    assert.deepEqual(second.wireErrors, []);
  });

  test('an unknown tool name is a step that does not pass; the planner tries again', { timeout: 90_000 }, async () => {
    const { id, view } = await run('unknown');
    assert.equal(view.status, 'completed');
    const s = steps(await eventsOf(id));
    assert.equal(s[0].data.pass, false);
    assert.ok(s[0].data.errors?.some((m) => m.includes('no_such_tool')), JSON.stringify(s[0].data.errors));
    assert.deepEqual(s.slice(1).map((e) => e.data.pass), [true, true]);
  });

  test('invalid arguments are a step that does not pass, naming the field', { timeout: 90_000 }, async () => {
    const { id, view } = await run('invalid');
    assert.equal(view.status, 'completed');
    const s = steps(await eventsOf(id));
    assert.equal(s[0].data.pass, false);
    assert.ok(s[0].data.errors?.some((m) => m.includes('/query')), JSON.stringify(s[0].data.errors));
  });

  test('429 and 5xx from the provider are retried with backoff', { timeout: 90_000 }, async () => {
    const [throttled, broken] = await Promise.all([run('throttled'), run('broken')]);
    assert.equal(throttled.view.status, 'completed');
    assert.equal(broken.view.status, 'completed');
    assert.equal(broken.view.answer, 'after 5xx');
    assert.equal(served.get('broken'), 3, 'two failures, then the answer');
  });

  test('a planner that never produces a usable plan fails the session when its steps run out', { timeout: 90_000 }, async () => {
    const { view } = await run('hopeless');
    assert.equal(view.status, 'failed');
    assert.match(JSON.stringify(view), /max_steps_exceeded/);
  });
});
