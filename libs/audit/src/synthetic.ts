import { deterministicEventId, makeEvent, type SessionEvent, type ToolCallSucceeded } from '@agentplane/contracts';
import { fold, handle, initialState, type SessionCommand, type SessionState } from '@agentplane/session';

/**
 * A recorded-looking session built through the real decider (what the planner would emit) plus
 * the rate limiter's and executor's events made with makeEvent: for benchmarks, the 1,000-event
 * replay test and demo data. Deterministic for the same options (ids are name-based).
 */
export interface SyntheticSessionOptions {
  sessionId: string;
  tenantId?: string;
  /** Exact number of events (≥ 3 + 1 + 3 × callsPerStep). */
  events: number;
  /** Tool calls per planner step (default 3). */
  callsPerStep?: number;
  /** RFC 3339 start; each event is 10 ms after the previous. */
  start?: string;
}

export function synthesizeSession(o: SyntheticSessionOptions): { events: SessionEvent[]; state: SessionState } {
  const k = o.callsPerStep ?? 3;
  const tenantId = o.tenantId ?? 'acme';
  const sessionId = o.sessionId;
  let t = Date.parse(o.start ?? '2026-01-15T09:00:00.000Z');
  const now = (): string => new Date((t += 10)).toISOString();
  const out: SessionEvent[] = [];
  let state = initialState();
  const run = (c: SessionCommand): void => {
    const r = handle(state, c);
    state = r.state;
    out.push(...r.events);
  };
  const body = o.events - 3; // minus started, the final step.completed and session.completed
  const perStep = 1 + 3 * k; // step.completed + (requested, admitted, succeeded) per call
  if (body < perStep) throw new RangeError(`a synthetic session with ${k} calls per step needs at least ${perStep + 3} events`);
  const steps = Math.floor(body / perStep);
  let pad = body - steps * perStep; // tool.call.deferred events (the decider ignores them)
  const tools = ['search', 'fetch', 'summarize'];

  run({
    type: 'StartSession',
    meta: { now: now() },
    request: { tenantId, sessionId, input: `synthetic session with ${o.events} events` },
    mode: 'llm',
    model: 'gpt-4o-mini',
    maxSteps: Math.min(1000, steps + 1),
    defaultDeadlineMs: 86_400_000,
  });
  for (let step = 1; step <= steps; step++) {
    const calls = Array.from({ length: k }, (_, i) => ({ callId: `s${step}-c${i}`, tool: tools[i % tools.length], args: { q: `step ${step} call ${i}` } }));
    run({
      type: 'RecordPlannerStep',
      meta: { now: now() },
      sessionId,
      result: {
        kind: 'completed', provider: 'openai', model: 'gpt-4o-mini', promptTokens: 400 + step, completionTokens: 40,
        latencyMs: 300, batchSize: 4, queueWaitMs: 2, pass: true, outcome: { kind: 'tool_calls', calls }, costUsd: '0.000084',
      },
    });
    for (const c of calls) {
      const opts = (what: string, source = 'executor') => ({ source, time: now(), id: deterministicEventId('agentplane.synthetic', sessionId, c.callId, what) });
      for (let d = 0; pad > 0; d++, pad--) {
        out.push(makeEvent('agentplane.tool.call.deferred', { tenantId, sessionId, callId: c.callId, tool: c.tool, reason: 'rate limited', retryAfterMs: 50 }, opts(`deferred-${d}`, 'rate-limiter')) as SessionEvent);
      }
      out.push(makeEvent('agentplane.tool.call.admitted', { tenantId, sessionId, step, callId: c.callId, tool: c.tool, args: c.args, idempotencyKey: `${sessionId}:${c.callId}`, essential: false, queuedMs: 3 }, opts('admitted', 'rate-limiter')) as SessionEvent);
      const ok = makeEvent('agentplane.tool.call.succeeded', { tenantId, sessionId, callId: c.callId, tool: c.tool, result: { ok: true, n: step }, attempts: 1, latencyMs: 180, costUsd: '0.0005' }, opts('succeeded')) as ToolCallSucceeded;
      out.push(ok as SessionEvent);
      run({ type: 'RecordToolOutcome', meta: { now: ok.time }, event: ok });
    }
  }
  run({
    type: 'RecordPlannerStep',
    meta: { now: now() },
    sessionId,
    result: {
      kind: 'completed', provider: 'openai', model: 'gpt-4o-mini', promptTokens: 900, completionTokens: 60,
      latencyMs: 320, batchSize: 4, queueWaitMs: 1, pass: true, outcome: { kind: 'final', answer: `done after ${o.events} events` }, costUsd: '0.00012',
    },
  });
  if (out.length !== o.events) throw new Error(`synthetic session has ${out.length} events, wanted ${o.events}`);
  return { events: out, state: fold(out) };
}
