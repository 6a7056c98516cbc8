import type { AgentplaneEvent } from '@agentplane/contracts';

/** Session states, ranked: a terminal state outranks `running`, whatever order events arrive in. */
export const SESSION_STATUS_RANK = { unknown: 0, running: 1, completed: 2, failed: 2, cancelled: 2, rejected: 2 } as const;
export type SessionStatus = keyof typeof SESSION_STATUS_RANK;

interface Base {
  readonly id: string;
  readonly type: string;
  readonly tenantId: string;
  readonly sessionId: string;
  /** Event time, whole ms (Postgres keeps µs; both paths go through ms so they agree). */
  readonly timeMs: number;
}

/** The fields of one event that projections need, normalised; one fact per event. */
export type Fact =
  | (Base & {
      readonly kind: 'step';
      readonly step: number;
      readonly model: string;
      readonly promptTokens: number;
      readonly completionTokens: number;
      readonly latencyMs: number;
      readonly pass: boolean;
      /** planner.step.failed: tokens were spent, nothing usable came back. */
      readonly failed: boolean;
      readonly plannerCostUsd?: string | undefined;
    })
  | (Base & {
      readonly kind: 'tool';
      readonly tool: string;
      readonly ok: boolean;
      readonly attempts: number;
      readonly latencyMs: number;
      readonly costUsd: string;
    })
  | (Base & { readonly kind: 'tool-rejected'; readonly tool: string; readonly reason: string })
  | (Base & { readonly kind: 'session'; readonly status: SessionStatus; readonly code?: string | undefined; readonly budgetUsd?: string | undefined })
  | (Base & { readonly kind: 'fallback' });

/** Facts with money attached become ledger entries (deduped by event id in the ledger itself). */
export function isLedgerFact(f: Fact): f is Extract<Fact, { kind: 'step' | 'tool' }> {
  return f.kind === 'step' || f.kind === 'tool';
}

/** Event types the projections read; everything else (requested, admitted, deferred, control) is ignored. */
export const PROJECTED_TYPES = [
  'agentplane.planner.step.completed',
  'agentplane.planner.step.failed',
  'agentplane.planner.fallback.used',
  'agentplane.tool.call.succeeded',
  'agentplane.tool.call.failed',
  'agentplane.tool.call.rejected',
  'agentplane.session.started',
  'agentplane.session.completed',
  'agentplane.session.failed',
  'agentplane.session.cancelled',
  'agentplane.session.rejected',
] as const;

export function timeMsOf(time: string): number {
  const ms = Date.parse(time);
  if (!Number.isFinite(ms)) throw new RangeError(`bad event time ${time}`);
  return ms;
}

/** Event → fact, or null for types no projection reads. Input is an already validated event. */
export function factOf(e: AgentplaneEvent): Fact | null {
  // Plain literals (no spreads): this runs once per event in a rebuild of millions.
  const id = e.id;
  const type = e.type;
  switch (e.type) {
    case 'agentplane.planner.step.completed':
    case 'agentplane.planner.step.failed': {
      const d = e.data;
      return {
        kind: 'step', id, type, timeMs: timeMsOf(e.time), tenantId: d.tenantId, sessionId: d.sessionId, step: d.step, model: d.model,
        promptTokens: d.promptTokens, completionTokens: d.completionTokens, latencyMs: d.latencyMs,
        pass: e.type === 'agentplane.planner.step.completed' ? e.data.pass : false,
        failed: e.type === 'agentplane.planner.step.failed', plannerCostUsd: d.costUsd,
      };
    }
    case 'agentplane.planner.fallback.used':
      return { kind: 'fallback', id, type, timeMs: timeMsOf(e.time), tenantId: e.data.tenantId, sessionId: e.data.sessionId };
    case 'agentplane.tool.call.succeeded':
    case 'agentplane.tool.call.failed': {
      const d = e.data;
      return {
        kind: 'tool', id, type, timeMs: timeMsOf(e.time), tenantId: d.tenantId, sessionId: d.sessionId, tool: d.tool,
        ok: e.type === 'agentplane.tool.call.succeeded', attempts: d.attempts, latencyMs: d.latencyMs, costUsd: d.costUsd,
      };
    }
    case 'agentplane.tool.call.rejected':
      return { kind: 'tool-rejected', id, type, timeMs: timeMsOf(e.time), tenantId: e.data.tenantId, sessionId: e.data.sessionId, tool: e.data.tool, reason: e.data.reason };
    case 'agentplane.session.started':
      return { kind: 'session', id, type, timeMs: timeMsOf(e.time), tenantId: e.data.tenantId, sessionId: e.data.sessionId, status: 'running', budgetUsd: e.data.budgetUsd };
    case 'agentplane.session.completed':
    case 'agentplane.session.cancelled':
    case 'agentplane.session.rejected':
      return {
        kind: 'session', id, type, timeMs: timeMsOf(e.time), tenantId: e.data.tenantId, sessionId: e.data.sessionId,
        status: e.type === 'agentplane.session.completed' ? 'completed' : e.type === 'agentplane.session.cancelled' ? 'cancelled' : 'rejected',
      };
    case 'agentplane.session.failed':
      return { kind: 'session', id, type, timeMs: timeMsOf(e.time), tenantId: e.data.tenantId, sessionId: e.data.sessionId, status: 'failed', code: e.data.code };
    default:
      return null;
  }
}

let monthCacheKey = -1;
let monthCacheVal = '';
export function monthOf(timeMs: number): string {
  // Events come in time order mostly: remember the last day's month.
  const day = Math.floor(timeMs / 86_400_000);
  if (day !== monthCacheKey) {
    monthCacheKey = day;
    monthCacheVal = new Date(timeMs).toISOString().slice(0, 7);
  }
  return monthCacheVal;
}

/** Signals are kept per minute; the API rolls minutes up to hours or days. */
export function minuteOf(timeMs: number): number {
  return Math.floor(timeMs / 60_000) * 60_000;
}
