import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { invokeHttpTool, type ToolRegistry } from '@agentplane/tools';
import { startFakeOpenAI, type FakeOpenAI } from '../../../test/fixtures/fake-openai.server';
import { startToolServer, type ToolServer } from '../../../test/fixtures/tool-server';
import { OpenAICompatibleProvider, type OpenAICompatibleOptions } from './openai-provider';
import { demoRegistryAt } from './test-support';
import { PlannerError, type PlanHistoryEntry, type PlanRequest } from './types';
import { validatePlan } from './validate-plan';

describe('OpenAICompatibleProvider against the fake Chat Completions server', () => {
  let ai: FakeOpenAI;
  let tools: ToolServer;
  let registry: ToolRegistry;
  const slept: number[] = [];

  before(async () => {
    ai = await startFakeOpenAI({ apiKey: 'sk-test' });
    tools = await startToolServer();
    registry = demoRegistryAt(tools.url);
  });
  after(async () => {
    await ai.close();
    await tools.close();
  });
  beforeEach(() => {
    ai.reset();
    ai.setHandler(undefined);
    tools.reset();
    slept.length = 0;
  });

  const provider = (over: Partial<OpenAICompatibleOptions> = {}) =>
    new OpenAICompatibleProvider({
      baseUrl: ai.url,
      apiKey: 'sk-test',
      model: 'gpt-4o-mini',
      timeoutMs: 2000,
      maxRetries: 2,
      sleep: async (ms) => void slept.push(ms),
      random: () => 1,
      retryBaseMs: 100,
      ...over,
    });

  const request = (history: PlanHistoryEntry[] = [], allowed?: string[]): PlanRequest => ({
    sessionId: 'sess-1',
    tenantId: 'acme',
    step: history.length + 1,
    input: 'What are idempotency keys?',
    model: '',
    tools: registry.toOpenAIFunctions(allowed),
    history,
  });

  it('given the model asks for parallel tool calls, then they are parsed with tokens and pass validation; the request is real wire format', async () => {
    ai.enqueue({
      toolCalls: [
        { id: 'call_a', name: 'search', arguments: { query: 'idempotency' } },
        { id: 'call_b', name: 'fetch_doc', arguments: { id: 'doc-kafka' } },
      ],
      usage: { prompt_tokens: 321, completion_tokens: 45 },
    });
    const plan = await provider().plan(request());
    assert.equal(plan.kind, 'tool_calls');
    assert.deepEqual(plan.kind === 'tool_calls' && plan.calls.map(({ callId, tool, args }) => ({ callId, tool, args })), [
      { callId: 'call_a', tool: 'search', args: { query: 'idempotency' } },
      { callId: 'call_b', tool: 'fetch_doc', args: { id: 'doc-kafka' } },
    ]);
    assert.deepEqual([plan.promptTokens, plan.completionTokens, plan.model, plan.attempts, plan.finishReason], [321, 45, 'gpt-4o-mini', 1, 'tool_calls']);
    assert.ok(plan.latencyMs >= 0);
    assert.deepEqual(validatePlan(plan, registry), { pass: true, errors: [], issues: [] });

    const sent = ai.requests[0];
    assert.equal(sent.path, '/v1/chat/completions');
    assert.equal(sent.headers.authorization, 'Bearer sk-test');
    assert.deepEqual(sent.wireErrors, []);
    assert.equal(sent.body.model, 'gpt-4o-mini');
    assert.equal(sent.body.tool_choice, 'auto');
    assert.deepEqual((sent.body.tools as { function: { name: string } }[]).map((t) => t.function.name), ['search', 'fetch_doc', 'summarize', 'send_email']);
    assert.deepEqual((sent.body.messages as { role: string }[]).map((m) => m.role), ['system', 'user']);
  });

  it('given history with results and an error, then it is replayed as assistant tool_calls + tool messages and a final answer comes back', async () => {
    ai.enqueue({ final: 'Idempotency keys name one logical operation.' });
    const history: PlanHistoryEntry[] = [
      { callId: 'call_a', tool: 'search', args: { query: 'idempotency' }, step: 1, result: { results: [] } },
      { callId: 'call_b', tool: 'fetch_doc', args: { id: 'x' }, step: 1, error: { code: 'http_error', message: '404 no document x' } },
      { callId: 'call_c', tool: 'summarize', args: { text: 'abc' }, step: 2, result: { summary: 'abc', words: 1 } },
    ];
    const plan = await provider().plan(request(history));
    assert.deepEqual(plan.kind === 'final' && plan.answer, 'Idempotency keys name one logical operation.');
    assert.equal(validatePlan(plan, registry).pass, true);
    const sent = ai.requests[0];
    // The fake refuses (400) what OpenAI would refuse; none here.
    assert.deepEqual(sent.wireErrors, []);
    const messages = sent.body.messages as { role: string; tool_call_id?: string; content?: string | null; tool_calls?: { id: string; function: { arguments: string } }[] }[];
    assert.deepEqual(messages.map((m) => m.role), ['system', 'user', 'assistant', 'tool', 'tool', 'assistant', 'tool']);
    assert.deepEqual(messages[2].tool_calls!.map((t) => t.id), ['call_a', 'call_b']);
    assert.equal(messages[2].tool_calls![0].function.arguments, '{"query":"idempotency"}');
    assert.deepEqual(JSON.parse(messages[4].content!), { error: { code: 'http_error', message: '404 no document x' } });
    assert.equal(messages[6].tool_call_id, 'call_c');
  });

  it('given an unknown tool name, invalid arguments or unparsable arguments, then the plan parses but validatePlan fails naming each', async () => {
    ai.enqueue({
      toolCalls: [
        { id: 'c1', name: 'launch_missiles', arguments: {} },
        { id: 'c2', name: 'search', arguments: { query: 7, extra: 1 } },
        { id: 'c3', name: 'fetch_doc', arguments: '{"id": "doc-kafka"' },
      ],
    });
    const plan = await provider().plan(request());
    assert.equal(plan.kind, 'tool_calls');
    if (plan.kind !== 'tool_calls') return;
    assert.equal(plan.calls[2].args, undefined);
    assert.equal(plan.calls[2].rawArgs, '{"id": "doc-kafka"');
    const v = validatePlan(plan, registry);
    assert.equal(v.pass, false);
    assert.deepEqual(v.issues.map((i) => [i.code, i.callId]), [
      ['unknown_tool', 'c1'],
      ['invalid_args', 'c2'],
      ['invalid_args', 'c2'],
      ['unparsable', 'c3'],
    ]);
    assert.deepEqual(v.errors.slice(0, 3), [
      'call "c1" (launch_missiles): unknown tool "launch_missiles"',
      'call "c2" (search): args /extra is not allowed (additional property) (schema #/additionalProperties)',
      'call "c2" (search): args /query must be string (schema #/properties/query/type)',
    ]);
    assert.match(v.errors[3], /^call "c3" \(fetch_doc\): arguments are not valid JSON: /);
  });

  it('given a tool outside the session subset, then validatePlan fails with not_allowed', async () => {
    ai.enqueue({ toolCalls: [{ id: 'c1', name: 'send_email', arguments: { to: 'a@example.com', subject: 's', body: 'b' } }] });
    const plan = await provider().plan(request([], ['search']));
    assert.deepEqual(validatePlan(plan, registry, ['search']).issues.map((i) => i.code), ['not_allowed']);
  });

  it('given 429 with Retry-After, then it waits as told and the retry succeeds', async () => {
    ai.enqueue({ status: 429, retryAfter: 1 }, { final: 'done' });
    const plan = await provider().plan(request());
    assert.deepEqual([plan.kind, plan.attempts], ['final', 2]);
    assert.deepEqual(slept, [1000]);
    assert.equal(ai.requests.length, 2);
  });

  it('given 500 twice, then it is retried with exponential backoff and succeeds', async () => {
    ai.enqueue({ status: 500 }, { status: 503 }, { final: 'done' });
    const plan = await provider().plan(request());
    assert.deepEqual([plan.kind, plan.attempts], ['final', 3]);
    assert.deepEqual(slept, [100, 200]);
  });

  it('given 500 on every attempt, then a retriable PlannerError reports the status and attempts', async () => {
    ai.enqueue({ status: 500 }, { status: 500 }, { status: 500 }, { final: 'too late' });
    await assert.rejects(provider().plan(request()), (e: PlannerError) => {
      assert.ok(e instanceof PlannerError);
      assert.deepEqual([e.code, e.status, e.retriable, e.attempts], ['http_error', 500, true, 3]);
      assert.match(e.message, /answered 500: The server had an error/);
      return true;
    });
  });

  it('given a 400 or a wrong key, then it fails at once without retrying', async () => {
    await assert.rejects(provider({ apiKey: 'sk-wrong' }).plan(request()), (e: PlannerError) => {
      assert.deepEqual([e.code, e.status, e.retriable, e.attempts], ['http_error', 401, false, 1]);
      assert.match(e.message, /Incorrect API key/);
      return true;
    });
    assert.equal(ai.requests.length, 1);
  });

  it('given a reply slower than the timeout, then the attempt is aborted and retried', async () => {
    ai.enqueue({ final: 'slow', latencyMs: 500 }, { final: 'fast' });
    const plan = await provider({ timeoutMs: 150 }).plan(request());
    assert.deepEqual([plan.kind === 'final' && plan.answer, plan.attempts], ['fast', 2]);
  });

  it('given a response without choices or content, then the plan is invalid (a failed step, not a crash)', async () => {
    ai.enqueue({ raw: { id: 'x', object: 'chat.completion', choices: [{ index: 0, message: { role: 'assistant', content: null }, finish_reason: 'length' }] } });
    const plan = await provider().plan(request());
    assert.deepEqual(plan.kind === 'invalid' && plan.errors, ['response has neither tool_calls nor content (finish_reason "length")']);
    assert.equal(validatePlan(plan, registry).pass, false);
  });

  it('given no tools offered, then tools and tool_choice are left out of the request', async () => {
    ai.enqueue({ final: 'plain' });
    await provider().plan({ ...request(), tools: [] });
    assert.equal('tools' in ai.requests[0].body, false);
    assert.equal('tool_choice' in ai.requests[0].body, false);
  });

  it('given the built-in fake agent, when the loop runs with real tool calls, then the session ends with a final answer', async () => {
    const p = provider();
    const history: PlanHistoryEntry[] = [];
    let answer: string | undefined;
    for (let step = 1; step <= 5 && answer === undefined; step++) {
      const req = { ...request(history, ['search']), step };
      const plan = await p.plan(req);
      assert.equal(validatePlan(plan, registry, ['search']).pass, true);
      if (plan.kind === 'final') answer = plan.answer;
      else if (plan.kind === 'tool_calls') {
        for (const c of plan.calls) {
          const out = await invokeHttpTool(registry.get(c.tool)!, c.args, { idempotencyKey: `sess-1:${c.callId}` });
          assert.equal(out.kind, 'ok');
          history.push({ callId: c.callId, tool: c.tool, args: c.args, step, result: out.kind === 'ok' ? out.body : undefined });
        }
      }
    }
    assert.match(answer ?? '', /^Answer from 1 tool result\(s\): \{"results":/);
    assert.equal(tools.stats().byPath['/tools/search'].executions, 1);
    assert.ok(ai.requests.every((r) => r.wireErrors.length === 0));
  });
});
