import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { invokeHttpTool } from '@agentplane/tools';
import { startToolServer, type ToolServer } from '../../../test/fixtures/tool-server';
import { demoRegistryAt } from './test-support';
import { PlannerError, type PlanHistoryEntry, type PlanRequest, type Workflow } from './types';
import { validatePlan } from './validate-plan';
import { resolveArgs, validateWorkflow, WorkflowError, WorkflowPlanner } from './workflow-planner';

const researchWorkflow: Workflow = {
  steps: [
    { calls: [{ id: 's1', tool: 'search', args: { query: 'idempotency keys retries', limit: 2 } }] },
    {
      calls: [
        { id: 'd1', tool: 'fetch_doc', args: { id: '${s1.result.results.0.id}' } },
        { id: 'd2', tool: 'fetch_doc', args: { id: '${s1.result.results[1].id}' } },
      ],
    },
    { calls: [{ id: 'sum', tool: 'summarize', args: { text: '${d1.result.text} ${d2.result.text}', maxWords: 30 } }] },
  ],
};

function request(workflow: Workflow | undefined, history: PlanHistoryEntry[], step = history.length + 1): PlanRequest {
  return { sessionId: 'sess-1', tenantId: 'acme', step, input: 'research', model: 'workflow', tools: [], history, workflow };
}

const entry = (callId: string, result: unknown, tool = 't'): PlanHistoryEntry => ({ callId, tool, args: {}, result });

describe('WorkflowPlanner', () => {
  let server: ToolServer;
  before(async () => {
    server = await startToolServer();
  });
  after(() => server.close());

  it('given a 3-step workflow, when driven against the demo tools, then it runs step by step with resolved references and answers with the summary', async () => {
    const registry = demoRegistryAt(server.url);
    const planner = new WorkflowPlanner();
    const history: PlanHistoryEntry[] = [];
    const stepsSeen: string[][] = [];
    for (let step = 1; step <= 10; step++) {
      const plan = await planner.plan(request(researchWorkflow, history, step));
      assert.deepEqual([plan.promptTokens, plan.completionTokens, plan.model], [0, 0, 'workflow']);
      assert.equal(validatePlan(plan, registry).pass, true);
      if (plan.kind === 'final') {
        assert.match(plan.answer, /^An idempotency key names one logical operation\./);
        break;
      }
      assert.equal(plan.kind, 'tool_calls');
      if (plan.kind !== 'tool_calls') return;
      stepsSeen.push(plan.calls.map((c) => c.callId));
      // Calls of one step run in parallel.
      const outcomes = await Promise.all(
        plan.calls.map((c) => invokeHttpTool(registry.get(c.tool)!, c.args, { idempotencyKey: `sess-1:${c.callId}` })),
      );
      plan.calls.forEach((c, i) => {
        const o = outcomes[i];
        assert.equal(o.kind, 'ok', JSON.stringify(o));
        if (o.kind === 'ok') history.push({ callId: c.callId, tool: c.tool, args: c.args, step, result: o.body });
      });
    }
    assert.deepEqual(stepsSeen, [['s1'], ['d1', 'd2'], ['sum']]);
    const found = (history[0].result as { results: { id: string }[] }).results.map((r) => r.id);
    assert.equal(found[0], 'doc-idempotency');
    assert.deepEqual(
      history.filter((h) => h.tool === 'fetch_doc').map((h) => h.args),
      found.map((id) => ({ id })),
    );
    assert.equal(server.stats().executions, 4);
  });

  it('given a step partly done, when planned again, then only the missing calls are returned', async () => {
    const plan = await new WorkflowPlanner().plan(
      request(researchWorkflow, [entry('s1', { results: [{ id: 'a' }, { id: 'b' }] }), entry('d1', { text: 'x' })]),
    );
    assert.deepEqual(plan.kind === 'tool_calls' && plan.calls, [{ callId: 'd2', tool: 'fetch_doc', args: { id: 'b' } }]);
  });

  it('resolveArgs: a whole-string reference keeps the JSON type, an embedded one is stringified, $${} is literal', () => {
    const results = new Map([['a', entry('a', { n: 3, obj: { k: [1, 2] }, s: 'hi' })]]);
    assert.deepEqual(
      resolveArgs(
        { n: '${a.result.n}', o: '${a.result.obj}', all: '${a.result}', t: 'n=${a.result.n} o=${a.result.obj} s=${a.result.s}', lit: 'cost $${a.result.n}', deep: ['${a.result.obj.k[1]}'] },
        results,
        'args',
      ),
      { n: 3, o: { k: [1, 2] }, all: { n: 3, obj: { k: [1, 2] }, s: 'hi' }, t: 'n=3 o={"k":[1,2]} s=hi', lit: 'cost ${a.result.n}', deep: [2] },
    );
  });

  it('given a reference to an unknown call or a missing path, then the error says which call, which argument and what is missing', () => {
    const results = new Map([['s1', entry('s1', { results: [{ id: 'a' }] })]]);
    assert.throws(
      () => resolveArgs({ id: '${s9.result.id}' }, results, 'workflow step 2 call "d1" args'),
      (e: WorkflowError) => e instanceof PlannerError && e.code === 'invalid_workflow' && e.message === 'workflow step 2 call "d1" args.id: reference ${s9.result.id} names unknown call "s9"',
    );
    assert.throws(
      () => resolveArgs({ id: '${s1.result.results.3.id}' }, results, 'args'),
      { message: 'args.id: reference ${s1.result.results.3.id}: path "results.3" not found in the result of call "s1"' },
    );
    assert.throws(() => resolveArgs({ id: '${s1.results}' }, results, 'args'), { message: 'args.id: reference ${s1.results} must look like ${<callId>.result.<path>}' });
    const failed = new Map([['s1', { callId: 's1', tool: 'search', args: {}, error: { code: 'timeout', message: 'timed out' } }]]);
    assert.throws(() => resolveArgs({ q: '${s1.result}' }, failed, 'args'), /needs the result of call "s1", which failed: timed out/);
  });

  it('given a referenced path missing at run time, when planned, then plan() rejects with the clear error', async () => {
    await assert.rejects(new WorkflowPlanner().plan(request(researchWorkflow, [entry('s1', { results: [] })])), {
      name: 'WorkflowError',
      message: 'workflow step 2 call "d1" args.id: reference ${s1.result.results.0.id}: path "results.0" not found in the result of call "s1"',
    });
  });

  it('validateWorkflow lists every static problem', () => {
    const registry = demoRegistryAt(server.url);
    const errors = validateWorkflow(
      {
        steps: [
          { calls: [{ id: 'a', tool: 'search', args: { query: '${b.result.x}' } }, { id: 'b', tool: 'launch_missiles', args: {} }] },
          { calls: [{ id: 'a', tool: 'send_email', args: { to: '${zz.result}' } }] },
          { calls: [] },
        ],
      },
      { knownTools: registry, allowedTools: ['search', 'fetch_doc'] },
    );
    assert.deepEqual(errors, [
      'workflow.steps[0].calls[0] (call "a"): reference ${b.result.x} must name a call of an earlier step',
      'workflow.steps[0].calls[1] (call "b"): unknown tool "launch_missiles"',
      'workflow.steps[1].calls[0] (call "a"): id "a" is used more than once',
      'workflow.steps[1].calls[0] (call "a"): tool "send_email" is not allowed for this session',
      'workflow.steps[1].calls[0] (call "a"): reference ${zz.result} names unknown call "zz"',
      'workflow.steps[2].calls must be a non-empty array',
    ]);
    assert.deepEqual(validateWorkflow(researchWorkflow, { knownTools: registry }), []);
    assert.deepEqual(validateWorkflow({}), ['workflow.steps must be an array']);
  });

  it('given results without a summary, then the final answer is the last step results as JSON by call id', async () => {
    const wf: Workflow = { steps: [{ calls: [{ id: 'x', tool: 'search', args: { query: 'q' } }, { id: 'y', tool: 'fetch_doc', args: { id: 'd' } }] }] };
    const plan = await new WorkflowPlanner().plan(
      request(wf, [entry('x', { results: [] }), { callId: 'y', tool: 'fetch_doc', args: {}, error: { code: 'http_error', message: '404' } }]),
    );
    assert.deepEqual(plan.kind === 'final' && JSON.parse(plan.answer), { x: { results: [] }, y: { error: { code: 'http_error', message: '404' } } });
  });

  it('given no workflow, then plan() rejects with no_workflow', async () => {
    await assert.rejects(new WorkflowPlanner().plan(request(undefined, [])), (e: PlannerError) => e.code === 'no_workflow' && !e.retriable);
  });
});
