import { isEventType, topicKindOf, type AgentplaneEvent, type SessionEvent } from '@agentplane/contracts';
import { evolve, initialState, type SessionState } from '@agentplane/session';

/** One line of a session's timeline, with the folded status and cost after that event. */
export interface TimelineEntry {
  readonly position: number;
  readonly time: string;
  readonly type: string;
  readonly eventId: string;
  readonly summary: string;
  readonly status: SessionState['status'];
  /** Running cost after the event, as the session decider folds it ("" when not started). */
  readonly costUsd: string;
  /** Chain hash when read from the store (hex). */
  readonly hash?: string;
}

export interface Replay {
  readonly sessionId: string;
  /** Events folded (≤ the stream's length when --at N). */
  readonly at: number;
  readonly total: number;
  readonly timeline: TimelineEntry[];
  readonly state: SessionState;
}

export function isSessionEvent(e: { type: string }): e is SessionEvent {
  return isEventType(e.type) && topicKindOf(e.type) === 'session-events';
}

const costOf = (s: SessionState): string => ('costUsd' in s ? s.costUsd : '');

/**
 * Folds a session's events (in stream order) through the pure session decider: the state after
 * event `at` (default: all). Pure: no planner, no tool, no clock — only the recorded facts.
 */
export function replaySession(
  sessionId: string,
  events: ReadonlyArray<{ event: AgentplaneEvent; position?: number; hash?: string }>,
  opts: { at?: number; timeline?: boolean } = {},
): Replay {
  const at = Math.min(opts.at ?? events.length, events.length);
  let state: SessionState = initialState();
  const timeline: TimelineEntry[] = [];
  for (let i = 0; i < at; i++) {
    const { event, position, hash } = events[i];
    if (isSessionEvent(event)) state = evolve(state, event);
    if (opts.timeline !== false) {
      timeline.push({
        position: position ?? i + 1,
        time: event.time,
        type: event.type,
        eventId: event.id,
        summary: summarize(event),
        status: state.status,
        costUsd: costOf(state),
        ...(hash !== undefined ? { hash } : {}),
      });
    }
  }
  return { sessionId, at, total: events.length, timeline, state };
}

/** Folds every session in a stream of events (any order across sessions, stream order within one). */
export class SessionFolder {
  readonly states = new Map<string, SessionState>();
  /** Events folded (session events only). */
  events = 0;

  /** Takes a whole event or its folded fields ({type, time, data}). */
  apply(e: SessionEvent | { type: string; time: string; data: unknown }): void {
    // A session's stream also holds its session-requests events (session.requested,
    // cancel-requested), which the decider does not fold (the planner never sees them as facts):
    // given one, evolve would return the event itself as the state.
    if (!isSessionEvent(e)) return;
    const id = e.data.sessionId;
    this.states.set(id, evolve(this.states.get(id) ?? initialState(), e));
    this.events++;
  }
}

const clip = (s: string, n = 60): string => (s.length > n ? `${s.slice(0, n - 1)}…` : s);
const args = (a: unknown): string => clip(JSON.stringify(a), 40);

/** One human line per event type. */
export function summarize(e: AgentplaneEvent): string {
  switch (e.type) {
    case 'agentplane.session.requested':
      return clip(`tenant ${e.data.tenantId}: ${e.data.input}`);
    case 'agentplane.session.cancel-requested':
      return `cancel requested${e.data.reason ? `: ${e.data.reason}` : ''}`;
    case 'agentplane.session.started':
      return clip(`${e.data.mode}${e.data.model ? ` ${e.data.model}` : ''}, ≤${e.data.maxSteps} steps${e.data.budgetUsd ? `, budget $${e.data.budgetUsd}` : ''}: ${e.data.input}`);
    case 'agentplane.session.rejected':
      return clip(`rejected: ${e.data.errors.join('; ')}`);
    case 'agentplane.session.completed':
      return clip(`${e.data.steps} steps, ${e.data.toolCalls} tool calls, $${e.data.costUsd}: ${e.data.answer}`);
    case 'agentplane.session.failed':
      return clip(`${e.data.code}: ${e.data.reason}`);
    case 'agentplane.session.cancelled':
      return `cancelled${e.data.reason ? `: ${e.data.reason}` : ''}`;
    case 'agentplane.planner.step.completed': {
      const o = e.data.outcome;
      const what = o.kind === 'final' ? `final answer` : `calls ${o.calls.map((c) => c.tool).join(', ')}`;
      return clip(`step ${e.data.step} ${e.data.model}: ${what}${e.data.pass ? '' : ' (no pass)'}, ${e.data.promptTokens}+${e.data.completionTokens} tok${e.data.costUsd ? `, $${e.data.costUsd}` : ''}`);
    }
    case 'agentplane.planner.step.failed':
      return clip(`step ${e.data.step} failed: ${e.data.reason}`);
    case 'agentplane.planner.fallback.used':
      return `step ${e.data.step} planned by fallback (${e.data.source})`;
    case 'agentplane.tool.call.requested':
      return clip(`${e.data.callId} ${e.data.tool}(${args(e.data.args)})${e.data.essential ? ' essential' : ''}`);
    case 'agentplane.tool.call.admitted':
      return `${e.data.callId} ${e.data.tool} admitted after ${e.data.queuedMs} ms`;
    case 'agentplane.tool.call.deferred':
      return clip(`${e.data.callId} ${e.data.tool} deferred ${e.data.retryAfterMs} ms: ${e.data.reason}`);
    case 'agentplane.tool.call.rejected':
      return clip(`${e.data.callId} ${e.data.tool} rejected: ${e.data.reason}`);
    case 'agentplane.tool.call.succeeded':
      return `${e.data.callId} ${e.data.tool} ok in ${e.data.latencyMs} ms (${e.data.attempts} att.), $${e.data.costUsd}`;
    case 'agentplane.tool.call.failed':
      return clip(`${e.data.callId} ${e.data.tool} ${e.data.code} after ${e.data.attempts} att., $${e.data.costUsd}: ${e.data.error}`);
    case 'agentplane.budget.guardrail.tripped':
    case 'agentplane.budget.guardrail.cleared':
      return `${e.data.month} spend $${e.data.spendUsd} / threshold $${e.data.thresholdUsd}`;
    case 'agentplane.planner.mode.changed':
      return `mode ${e.data.mode} (pass rate ${e.data.passRate})`;
    case 'agentplane.tool.circuit.changed':
      return `${e.data.tool} circuit ${e.data.state}`;
    case 'agentplane.message.dead-lettered':
      return clip(`${e.subject}: ${e.data.reason}`);
    default:
      return '';
  }
}

const short = (type: string): string => type.replace(/^agentplane\./, '');

/** The readable table `agentplane audit replay` prints. */
export function formatTimeline(r: Replay): string {
  const rows = r.timeline.map((t) => [String(t.position), t.time, short(t.type), t.status, t.costUsd, t.summary]);
  const head = ['#', 'TIME', 'EVENT', 'STATUS', 'COST $', 'DETAIL'];
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((x) => x[i].length)));
  const line = (x: string[]): string => x.map((c, i) => (i === x.length - 1 ? c : i === 0 ? c.padStart(w[i]) : c.padEnd(w[i]))).join('  ');
  const s = r.state;
  const tail =
    s.status === 'none'
      ? 'no session state (no session.started/rejected folded)'
      : `state after ${r.at} of ${r.total} events: ${s.status}` +
        ('costUsd' in s ? `, cost $${s.costUsd}` : '') +
        ('steps' in s ? `, ${s.steps} steps` : 'step' in s ? `, step ${s.step}` : '') +
        ('toolCalls' in s ? `, ${s.toolCalls} tool calls` : '') +
        (s.status === 'completed' ? `\nanswer: ${s.answer}` : s.status === 'failed' ? `\nreason: ${s.code}: ${s.reason}` : '');
  return [line(head), ...rows.map(line), '', `session ${r.sessionId}: ${tail}`].join('\n');
}
