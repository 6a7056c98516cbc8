import { decimalToUnits } from '@agentplane/contracts';
import { SESSION_STATUS_RANK, isLedgerFact, minuteOf, monthOf, type Fact } from './facts';
import type { PriceBook } from './price-book';
import { copyLine } from './copy-text';

/*
 * Every projection is declared once here as a table spec: its columns and how two
 * contributions to the same row merge. Merges are commutative and associative (sums, max,
 * min, a ranked pick), so the result does not depend on the order events arrive in: the live
 * path (SQL upserts generated from the spec) and the rebuild (the in-memory accumulator below,
 * then COPY) compute the same rows by construction, and any partition interleaving agrees.
 */

export type ColumnType = 'text' | 'int' | 'bigint' | 'money' | 'time' | 'float' | 'bool' | 'uuid';
/** key: part of the primary key; ranked: taken with the row whose rank tuple is greatest. */
export type Merge = 'key' | 'sum' | 'max' | 'min' | 'ranked' | 'insert';

export interface ColumnSpec {
  readonly name: string;
  readonly type: ColumnType;
  readonly merge: Merge;
  readonly nullable?: boolean;
}

export interface TableSpec {
  readonly name: string;
  readonly columns: readonly ColumnSpec[];
  /** Columns compared (in order) to pick the `ranked` ones. */
  readonly rankBy?: readonly string[];
}

/** In-memory value: money as bigint nano-USD, time as ms, counts as numbers. */
export type Value = string | number | bigint | boolean | null;
export type Row = Record<string, Value>;

const c = (name: string, type: ColumnType, merge: Merge, nullable = false): ColumnSpec => ({ name, type, merge, nullable });

/** One row per costed event: the ledger. Unique by source event id; never merged. */
export const LEDGER: TableSpec = {
  name: 'ledger_entries',
  columns: [
    c('event_id', 'uuid', 'key'),
    c('kind', 'text', 'insert'), // inference | tool
    c('source_type', 'text', 'insert'),
    c('tenant_id', 'text', 'insert'),
    c('session_id', 'text', 'insert'),
    c('month', 'text', 'insert'),
    c('occurred_at', 'time', 'insert'),
    c('model', 'text', 'insert', true),
    c('tool', 'text', 'insert', true),
    c('prompt_tokens', 'int', 'insert'),
    c('completion_tokens', 'int', 'insert'),
    c('amount_usd', 'money', 'insert'),
    c('price_version', 'text', 'insert'),
    c('ok', 'bool', 'insert'),
    c('pass', 'bool', 'insert', true),
    c('attempts', 'int', 'insert'),
    c('latency_ms', 'float', 'insert'),
  ],
};

export const SESSIONS: TableSpec = {
  name: 'session_costs',
  rankBy: ['status_rank', 'status', 'failure_code'],
  columns: [
    c('session_id', 'text', 'key'),
    c('tenant_id', 'text', 'max'),
    c('inference_usd', 'money', 'sum'),
    c('tool_usd', 'money', 'sum'),
    c('planner_steps', 'int', 'sum'),
    c('max_step', 'int', 'max'),
    c('tool_calls', 'int', 'sum'),
    c('tool_failures', 'int', 'sum'),
    c('tool_rejections', 'int', 'sum'),
    c('status_rank', 'int', 'max'),
    c('status', 'text', 'ranked'),
    c('failure_code', 'text', 'ranked', true),
    c('budget_usd', 'money', 'max', true),
    c('started_at', 'time', 'min', true),
    c('ended_at', 'time', 'max', true),
    c('last_event_at', 'time', 'max'),
  ],
};

export const TENANT_MONTHS: TableSpec = {
  name: 'tenant_months',
  columns: [
    c('tenant_id', 'text', 'key'),
    c('month', 'text', 'key'),
    c('inference_usd', 'money', 'sum'),
    c('tool_usd', 'money', 'sum'),
    c('planner_steps', 'int', 'sum'),
    c('tool_calls', 'int', 'sum'),
    c('sessions_started', 'int', 'sum'),
    c('sessions_completed', 'int', 'sum'),
    c('sessions_failed', 'int', 'sum'),
    c('sessions_cancelled', 'int', 'sum'),
    c('sessions_rejected', 'int', 'sum'),
  ],
};

export const TOOL_MONTHS: TableSpec = {
  name: 'tool_months',
  columns: [
    c('tenant_id', 'text', 'key'),
    c('month', 'text', 'key'),
    c('tool', 'text', 'key'),
    c('calls', 'int', 'sum'),
    c('succeeded', 'int', 'sum'),
    c('failed', 'int', 'sum'),
    c('rejected', 'int', 'sum'),
    c('rejected_budget', 'int', 'sum'),
    c('attempts', 'bigint', 'sum'),
    c('retries', 'bigint', 'sum'),
    c('cost_usd', 'money', 'sum'),
    c('latency_us', 'bigint', 'sum'),
  ],
};

export const MODEL_MONTHS: TableSpec = {
  name: 'model_months',
  columns: [
    c('tenant_id', 'text', 'key'),
    c('month', 'text', 'key'),
    c('model', 'text', 'key'),
    c('steps', 'int', 'sum'),
    c('failed_steps', 'int', 'sum'),
    c('passed_steps', 'int', 'sum'),
    c('prompt_tokens', 'bigint', 'sum'),
    c('completion_tokens', 'bigint', 'sum'),
    c('cost_usd', 'money', 'sum'),
    c('latency_us', 'bigint', 'sum'),
  ],
};

/** Operational signals and spend per tenant and minute. */
export const SIGNALS: TableSpec = {
  name: 'signal_minutes',
  columns: [
    c('tenant_id', 'text', 'key'),
    c('bucket', 'time', 'key'),
    c('inference_usd', 'money', 'sum'),
    c('tool_usd', 'money', 'sum'),
    c('tool_calls', 'int', 'sum'),
    c('tool_succeeded', 'int', 'sum'),
    c('tool_failed', 'int', 'sum'),
    c('tool_rejected', 'int', 'sum'),
    c('tool_retries', 'int', 'sum'),
    c('planner_steps', 'int', 'sum'),
    c('planner_passed', 'int', 'sum'),
    c('planner_failed', 'int', 'sum'),
    c('fallbacks', 'int', 'sum'),
    c('sessions_ended', 'int', 'sum'),
    c('sessions_completed', 'int', 'sum'),
  ],
};

/** Aggregates, in a fixed order (upserts, truncation, checksums all follow it). */
export const AGGREGATES: readonly TableSpec[] = [SESSIONS, TENANT_MONTHS, TOOL_MONTHS, MODEL_MONTHS, SIGNALS];
export const PROJECTION_TABLES: readonly TableSpec[] = [LEDGER, ...AGGREGATES];

export function keyColumns(t: TableSpec): string[] {
  return t.columns.filter((col) => col.merge === 'key').map((col) => col.name);
}

function zero(col: ColumnSpec): Value {
  if (col.nullable) return null;
  if (col.type === 'money') return 0n;
  if (col.type === 'text') return '';
  if (col.type === 'int' || col.type === 'bigint') return 0;
  return null;
}

/** A row of `t` with every non-key column at its neutral value, then `values` over it. */
const templates = new Map<TableSpec, Row>();
export function rowOf(t: TableSpec, values: Row, more?: Row): Row {
  let tpl = templates.get(t);
  if (!tpl) {
    tpl = {};
    for (const col of t.columns) tpl[col.name] = zero(col);
    templates.set(t, tpl);
  }
  // The template fixes the key order (and so the object shape); values override it.
  return more ? Object.assign({}, tpl, values, more) : Object.assign({}, tpl, values);
}

export interface Contribution {
  /** The ledger entry, for costed facts. */
  readonly ledger?: Row;
  /** One partial row per aggregate it touches (at most one per table); `rowOf` completes it. */
  readonly rows: ReadonlyArray<readonly [TableSpec, Row]>;
}

/** What one fact adds to every projection: the single definition both paths use. */
export function contribution(f: Fact, prices: PriceBook): Contribution {
  const month = monthOf(f.timeMs);
  const bucket = minuteOf(f.timeMs);
  const rows: Array<readonly [TableSpec, Row]> = [];
  // Partial rows: only the columns a fact touches (the rest stay neutral); rowOf completes them.
  const session = (v: Row) => rows.push([SESSIONS, Object.assign({ session_id: f.sessionId, tenant_id: f.tenantId, last_event_at: f.timeMs }, v)]);
  const tenant = (v: Row) => rows.push([TENANT_MONTHS, Object.assign({ tenant_id: f.tenantId, month }, v)]);
  const signal = (v: Row) => rows.push([SIGNALS, Object.assign({ tenant_id: f.tenantId, bucket }, v)]);
  let ledger: Row | undefined;

  switch (f.kind) {
    case 'step': {
      const p = prices.price(f.model, f.promptTokens, f.completionTokens, f.timeMs, f.plannerCostUsd);
      const latencyUs = Math.round(f.latencyMs * 1000);
      ledger = rowOf(LEDGER, {
        event_id: f.id, kind: 'inference', source_type: f.type, tenant_id: f.tenantId, session_id: f.sessionId, month,
        occurred_at: f.timeMs, model: f.model, tool: null, prompt_tokens: f.promptTokens, completion_tokens: f.completionTokens,
        amount_usd: p.units, price_version: p.priceVersion, ok: !f.failed, pass: f.pass, attempts: 1, latency_ms: f.latencyMs,
      });
      session({ inference_usd: p.units, planner_steps: 1, max_step: f.step });
      tenant({ inference_usd: p.units, planner_steps: 1 });
      rows.push([MODEL_MONTHS, ({
        tenant_id: f.tenantId, month, model: f.model, steps: 1, failed_steps: f.failed ? 1 : 0, passed_steps: f.pass ? 1 : 0,
        prompt_tokens: f.promptTokens, completion_tokens: f.completionTokens, cost_usd: p.units, latency_us: latencyUs,
      })]);
      signal({ inference_usd: p.units, planner_steps: 1, planner_passed: f.pass ? 1 : 0, planner_failed: f.failed ? 1 : 0 });
      break;
    }
    case 'tool': {
      const units = decimalToUnits(f.costUsd);
      const retries = Math.max(0, f.attempts - 1);
      ledger = rowOf(LEDGER, {
        event_id: f.id, kind: 'tool', source_type: f.type, tenant_id: f.tenantId, session_id: f.sessionId, month,
        occurred_at: f.timeMs, model: null, tool: f.tool, prompt_tokens: 0, completion_tokens: 0,
        amount_usd: units, price_version: 'executor', ok: f.ok, pass: null, attempts: f.attempts, latency_ms: f.latencyMs,
      });
      session({ tool_usd: units, tool_calls: 1, tool_failures: f.ok ? 0 : 1 });
      tenant({ tool_usd: units, tool_calls: 1 });
      rows.push([TOOL_MONTHS, ({
        tenant_id: f.tenantId, month, tool: f.tool, calls: 1, succeeded: f.ok ? 1 : 0, failed: f.ok ? 0 : 1,
        attempts: f.attempts, retries, cost_usd: units, latency_us: Math.round(f.latencyMs * 1000),
      })]);
      signal({ tool_usd: units, tool_calls: 1, tool_succeeded: f.ok ? 1 : 0, tool_failed: f.ok ? 0 : 1, tool_retries: retries });
      break;
    }
    case 'tool-rejected':
      session({ tool_rejections: 1 });
      rows.push([TOOL_MONTHS, ({
        tenant_id: f.tenantId, month, tool: f.tool, rejected: 1, rejected_budget: f.reason === 'budget_exceeded' ? 1 : 0,
      })]);
      signal({ tool_rejected: 1 });
      break;
    case 'fallback':
      session({});
      signal({ fallbacks: 1 });
      break;
    case 'session': {
      const terminal = f.status !== 'running';
      session({
        status_rank: SESSION_STATUS_RANK[f.status], status: f.status, failure_code: f.code ?? null,
        budget_usd: f.budgetUsd !== undefined ? decimalToUnits(f.budgetUsd) : null,
        started_at: terminal ? null : f.timeMs, ended_at: terminal ? f.timeMs : null,
      });
      tenant({
        sessions_started: f.status === 'running' ? 1 : 0, sessions_completed: f.status === 'completed' ? 1 : 0,
        sessions_failed: f.status === 'failed' ? 1 : 0, sessions_cancelled: f.status === 'cancelled' ? 1 : 0,
        sessions_rejected: f.status === 'rejected' ? 1 : 0,
      });
      if (terminal) signal({ sessions_ended: 1, sessions_completed: f.status === 'completed' ? 1 : 0 });
      break;
    }
  }
  return ledger && isLedgerFact(f) ? { ledger, rows } : { rows };
}

// ---- merging (in memory; the SQL twin is in sql.ts) --------------------------------------

function cmp(a: Value, b: Value): number {
  if (a === b) return 0;
  if (a === null) return -1;
  if (b === null) return 1;
  if (typeof a === 'string' && typeof b === 'string') return a < b ? -1 : 1; // code-unit order = COLLATE "C" for ASCII
  return (a as number) < (b as number) ? -1 : 1;
}

function rankTuple(t: TableSpec, r: Row): Value[] {
  return (t.rankBy ?? []).map((n) => (r[n] === null ? '' : r[n]));
}

/** Folds `add` into `into` (mutates it) with the column merges. */
export function mergeRow(t: TableSpec, into: Row, add: Row): void {
  let addWins = false;
  if (t.rankBy) {
    const a = rankTuple(t, add);
    const b = rankTuple(t, into);
    for (let i = 0; i < a.length; i++) {
      const d = cmp(a[i], b[i]);
      if (d !== 0) {
        addWins = d > 0;
        break;
      }
    }
  }
  for (const col of t.columns) {
    const n = col.name;
    const x = into[n];
    const y = add[n];
    switch (col.merge) {
      case 'sum':
        into[n] = col.type === 'money' ? (x as bigint) + (y as bigint) : (x as number) + (y as number);
        break;
      case 'max':
        into[n] = x === null ? y : y === null ? x : cmp(y, x) > 0 ? y : x;
        break;
      case 'min':
        into[n] = x === null ? y : y === null ? x : cmp(y, x) < 0 ? y : x;
        break;
      case 'ranked':
        if (addWins) into[n] = y;
        break;
      default:
        break;
    }
  }
}

const columnMaps = new Map<TableSpec, Map<string, ColumnSpec>>();

/** mergeRow for a partial row: only its columns, which is what dominates a rebuild's fold. */
export function mergePartial(t: TableSpec, into: Row, add: Row): void {
  let cols = columnMaps.get(t);
  if (!cols) columnMaps.set(t, (cols = new Map(t.columns.map((col) => [col.name, col]))));
  for (const n in add) {
    const col = cols.get(n)!;
    const x = into[n];
    const y = add[n];
    switch (col.merge) {
      case 'sum':
        into[n] = col.type === 'money' ? (x as bigint) + (y as bigint) : (x as number) + (y as number);
        break;
      case 'max':
        if (y !== null && (x === null || cmp(y, x) > 0)) into[n] = y;
        break;
      case 'min':
        if (y !== null && (x === null || cmp(y, x) < 0)) into[n] = y;
        break;
      default:
        break; // keys; ranked columns never come without their rank (handled by mergeRow)
    }
  }
}

export function rowKey(t: TableSpec, r: Row): string {
  let k = '';
  for (const col of t.columns) if (col.merge === 'key') k += `${String(r[col.name])}\u0000`;
  return k;
}

/**
 * The projections held in memory: what a rebuild and a what-if compute before writing.
 * Deduplicates by event id like the live path (ledger primary key, processed_events).
 */
export class MemoryProjection {
  /** Ledger entries as COPY lines: one string each instead of a 17-field object keeps GC cheap at millions. */
  readonly ledger: string[] = [];
  readonly tables = new Map<string, Map<string, Row>>();
  /** Ids of projected events without a ledger entry (they go to processed_events). */
  readonly otherIds: string[] = [];
  private readonly seen = new Set<string>();
  duplicates = 0;

  constructor(private readonly prices: PriceBook) {
    for (const t of AGGREGATES) this.tables.set(t.name, new Map());
  }

  /** Returns false for an event id already applied. */
  apply(f: Fact): boolean {
    if (this.seen.has(f.id)) {
      this.duplicates++;
      return false;
    }
    this.seen.add(f.id);
    const ctb = contribution(f, this.prices);
    if (ctb.ledger) this.ledger.push(copyLine(LEDGER, ctb.ledger));
    else this.otherIds.push(f.id);
    for (const [t, row] of ctb.rows) this.add(t, row);
    return true;
  }

  add(t: TableSpec, row: Row): void {
    const m = this.tables.get(t.name)!;
    const k = rowKey(t, row);
    const cur = m.get(k);
    if (!cur) m.set(k, rowOf(t, row));
    else if (t.rankBy && t.rankBy[0] in row) mergeRow(t, cur, rowOf(t, row)); // ranked columns compare whole tuples
    else mergePartial(t, cur, row);
  }

  /** Aggregate rows (the ledger is in `ledger`, as COPY lines). */
  rows(t: TableSpec): Row[] {
    return [...this.tables.get(t.name)!.values()];
  }

  get applied(): number {
    return this.seen.size;
  }
}
