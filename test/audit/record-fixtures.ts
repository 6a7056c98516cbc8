// Records the replay-guard fixtures (test/fixtures/sessions/*.json): real event types made by
// the session decider and makeEvent, with the final state the decider folded at recording time.
// Run by hand only when adding a scenario: `node dist/test/audit/record-fixtures.js`. Never
// re-record an existing file to make replay-guard pass: a changed final state is the regression.
import { existsSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { deterministicEventId, makeEvent, type SessionEvent, type ToolCallFailed, type ToolCallRejected, type ToolCallSucceeded } from '@agentplane/contracts';
import { fold, handle, initialState, type PlannerStepResult, type SessionCommand, type SessionState } from '@agentplane/session';
import { synthesizeSession } from '@agentplane/audit';

const DIR = resolve(__dirname, '../../../test/fixtures/sessions');

class Recorder {
  events: SessionEvent[] = [];
  state: SessionState = initialState();
  private t: number;
  constructor(
    readonly sessionId: string,
    start = '2026-01-20T10:00:00.000Z',
  ) {
    this.t = Date.parse(start);
  }
  now(ms = 100): string {
    return new Date((this.t += ms)).toISOString();
  }
  cmd(c: SessionCommand): this {
    const r = handle(this.state, c);
    if (c.type === 'RecordToolOutcome') this.events.push(c.event as SessionEvent);
    this.events.push(...r.events);
    this.state = r.state;
    return this;
  }
  step(result: Partial<PlannerStepResult> & { outcome?: unknown }, extra: { fallback?: 'cached_plan' | 'workflow' } = {}): this {
    const base = { kind: 'completed', provider: 'openai', model: 'gpt-4o-mini', promptTokens: 300, completionTokens: 30, latencyMs: 250, batchSize: 4, queueWaitMs: 3, pass: true, costUsd: '0.00006' };
    return this.cmd({ type: 'RecordPlannerStep', meta: { now: this.now() }, sessionId: this.sessionId, result: { ...base, ...result } as PlannerStepResult, ...extra });
  }
  admitted(callId: string, tool: string, step: number): this {
    this.events.push(
      makeEvent('agentplane.tool.call.admitted', { tenantId: 'acme', sessionId: this.sessionId, step, callId, tool, args: {}, idempotencyKey: `${this.sessionId}:${callId}`, essential: false, queuedMs: 4 }, {
        source: 'rate-limiter', time: this.now(5), id: deterministicEventId('fixture', this.sessionId, callId, 'admitted'),
      }) as SessionEvent,
    );
    return this;
  }
  outcome(e: ToolCallSucceeded | ToolCallFailed | ToolCallRejected): this {
    return this.cmd({ type: 'RecordToolOutcome', meta: { now: e.time }, event: e });
  }
  succeeded(callId: string, tool: string, costUsd = '0.001'): this {
    return this.outcome(makeEvent('agentplane.tool.call.succeeded', { tenantId: 'acme', sessionId: this.sessionId, callId, tool, result: { ok: callId }, attempts: 1, latencyMs: 210, costUsd }, {
      source: 'executor', time: this.now(), id: deterministicEventId('fixture', this.sessionId, callId, 'succeeded'),
    }) as ToolCallSucceeded);
  }
  start(request: Record<string, unknown>, more: Record<string, unknown> = {}): this {
    return this.cmd({ type: 'StartSession', meta: { now: this.now() }, request: { tenantId: 'acme', sessionId: this.sessionId, input: 'Summarise the Kafka docs on compaction.', ...request } as never, maxSteps: 8, defaultDeadlineMs: 120_000, ...more });
  }
}

const calls = (...c: Array<[string, string]>) => ({ kind: 'tool_calls' as const, calls: c.map(([callId, tool]) => ({ callId, tool, args: { q: callId } })) });
const final = (answer: string) => ({ kind: 'final' as const, answer });

const scenarios: Array<{ name: string; description: string; build: () => { events: SessionEvent[] } }> = [
  { name: 'llm-completed-40', description: 'LLM session, 3 steps of 3 calls plus deferrals, final answer (40 events)', build: () => synthesizeSession({ sessionId: 'fx-llm-40', events: 40 }) },
  {
    name: 'workflow-tool-failed',
    description: 'declared workflow; the first tool fails, so the session fails with tool_failed',
    build: () =>
      new Recorder('fx-wf-fail')
        .start({ planner: 'workflow', tools: ['search', 'summarize'], workflow: { steps: [{ calls: [{ id: 's', tool: 'search', args: { query: 'kafka' } }] }, { calls: [{ id: 'sum', tool: 'summarize', args: { text: '${s.result}' } }] }] } })
        .step({ provider: 'workflow', model: 'workflow', promptTokens: 0, completionTokens: 0, costUsd: undefined, outcome: calls(['s', 'search']) })
        .admitted('s', 'search', 1)
        .outcome(makeEvent('agentplane.tool.call.failed', { tenantId: 'acme', sessionId: 'fx-wf-fail', callId: 's', tool: 'search', error: 'HTTP 503', code: 'http_error', attempts: 3, latencyMs: 900, costUsd: '0.002' }, { source: 'executor', time: '2026-01-20T10:00:05.000Z', id: deterministicEventId('fixture', 'fx-wf-fail', 's', 'failed') }) as ToolCallFailed),
  },
  { name: 'rejected-unknown-tool', description: 'request names a tool the registry does not know: rejected', build: () => new Recorder('fx-rejected').start({ tools: ['teleport'] }, { unknownTools: ['teleport'] }) },
  {
    name: 'cancelled-late-outcome',
    description: 'two parallel calls; cancelled after the first result; the second result arrives late and changes nothing',
    build: () => {
      const r = new Recorder('fx-cancel').start({}).step({ outcome: calls(['a', 'search'], ['b', 'fetch']) }).admitted('a', 'search', 1).admitted('b', 'fetch', 1).succeeded('a', 'search');
      r.cmd({ type: 'CancelSession', meta: { now: r.now() }, sessionId: 'fx-cancel', reason: 'user closed the tab' });
      return r.succeeded('b', 'fetch');
    },
  },
  {
    name: 'budget-exceeded',
    description: 'session budget 0.0015 USD; the tool call costs 0.002: failed with budget_exceeded',
    build: () => new Recorder('fx-budget').start({ budgetUsd: '0.0015' }).step({ outcome: calls(['a', 'search']) }).admitted('a', 'search', 1).succeeded('a', 'search', '0.002'),
  },
  {
    name: 'deadline-exceeded',
    description: 'deadline 1 s; the planner sweep times the session out',
    build: () => {
      const r = new Recorder('fx-deadline').start({ deadlineMs: 1000 }).step({ outcome: calls(['a', 'search']) });
      return r.cmd({ type: 'TimeoutSession', meta: { now: r.now(2000) }, sessionId: 'fx-deadline' });
    },
  },
  {
    name: 'fallback-planner-failed',
    description: 'fallback plans step 1; step 2 fails non-retriably: failed with planner_failed',
    build: () =>
      new Recorder('fx-fallback')
        .start({})
        .step({ provider: 'fallback', model: 'cached-plan', outcome: calls(['a', 'search']), costUsd: undefined }, { fallback: 'cached_plan' })
        .admitted('a', 'search', 1)
        .succeeded('a', 'search')
        .step({ kind: 'failed', reason: 'provider returned 400', errors: ['bad request'], retriable: false } as never),
  },
  {
    name: 'rate-limited-then-answer',
    description: 'LLM session: the call is rejected (rate_limited), the planner answers anyway: completed',
    build: () =>
      new Recorder('fx-ratelimited')
        .start({})
        .step({ outcome: calls(['a', 'search']) })
        .outcome(makeEvent('agentplane.tool.call.rejected', { tenantId: 'acme', sessionId: 'fx-ratelimited', callId: 'a', tool: 'search', reason: 'rate_limited', detail: 'search: 10/s' }, { source: 'rate-limiter', time: '2026-01-20T10:00:01.000Z', id: deterministicEventId('fixture', 'fx-ratelimited', 'a', 'rejected') }) as ToolCallRejected)
        .step({ outcome: final('Compaction keeps the latest value per key.'), costUsd: '0.00008' }),
  },
];

for (const s of scenarios) {
  const file = resolve(DIR, `${s.name}.json`);
  if (existsSync(file) && !process.argv.includes('--force')) {
    process.stdout.write(`kept ${file}\n`);
    continue;
  }
  const { events } = s.build();
  const fixture = { name: s.name, description: s.description, recordedAt: new Date().toISOString(), events, final: fold(events) };
  writeFileSync(file, JSON.stringify(fixture, null, 2) + '\n');
  process.stdout.write(`recorded ${file}: ${events.length} events → ${fixture.final.status}\n`);
}
