import { createHash } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import type { Workflow } from '@agentplane/planning';

/** A plan that completed a session: its tool steps (calls run in parallel within a step) and answer. */
export interface CachedPlan {
  readonly steps: ReadonlyArray<{ readonly calls: ReadonlyArray<{ readonly tool: string; readonly args: Readonly<Record<string, unknown>> }> }>;
  readonly answer: string;
}

export interface PlanCacheEntry {
  readonly taskKey: string;
  readonly tenantId: string;
  /** The normalised task, for people reading the table. */
  readonly template: string;
  readonly plan: CachedPlan;
  readonly sessionId: string;
}

export interface PlanCacheReader {
  get(taskKey: string): Promise<CachedPlan | undefined>;
}

/**
 * The task template: case, spacing, quotes and trailing punctuation do not make a new task, and
 * numbers (ids, counts, dates) are placeholders, so "Find doc 42" and "find doc 7." share a plan.
 */
export function normaliseTask(input: string): string {
  return input
    .normalize('NFKC')
    .toLowerCase()
    .replace(/[\u2018\u2019\u201c\u201d"'`]/g, '')
    .replace(/\d+(?:[.,]\d+)*/g, '#')
    .replace(/\s+/g, ' ')
    .replace(/[\s.!?;:,]+$/, '')
    .trim();
}

/** Tenant, normalised task and the session's tool subset: a plan is reused only where it is valid. */
export function taskKey(tenantId: string, input: string, tools: readonly string[] | undefined): string {
  const subset = tools ? [...tools].sort().join(',') : '*';
  return 'sha256:' + createHash('sha256').update(`${tenantId}\n${subset}\n${normaliseTask(input)}`).digest('hex');
}

/** A cached plan as a workflow the WorkflowPlanner can run; call ids are fresh (`fb<step>-<n>`). */
export function cachedWorkflow(plan: CachedPlan): Workflow | undefined {
  if (plan.steps.length === 0) return undefined;
  return {
    steps: plan.steps.map((st, i) => ({
      calls: st.calls.map((c, j) => ({ id: `fb${i + 1}-${j + 1}`, tool: c.tool, args: escapeRefs(c.args) as Record<string, unknown> })),
    })),
  };
}

/** Literal `${` in cached arguments must not be read as a workflow reference. */
function escapeRefs(v: unknown): unknown {
  if (typeof v === 'string') return v.replace(/\$\{/g, () => '$${');
  if (Array.isArray(v)) return v.map(escapeRefs);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, escapeRefs(x)]));
  return v;
}

/** Task keys whose last written plan this process remembers (oldest forgotten first). */
const WRITTEN_MEMORY = 10_000;

/** plan_cache in the planner's schema; the latest successful plan of a task wins. */
@Injectable()
export class PlanCacheStore implements PlanCacheReader {
  /** Task key → the plan (JSON) this process last wrote for it. */
  private readonly written = new Map<string, string>();

  constructor(private readonly ds: DataSource) {}

  async get(key: string): Promise<CachedPlan | undefined> {
    const rows: Array<{ plan: CachedPlan }> = await this.ds.query(
      `UPDATE plan_cache SET hits = hits + 1, used_at = now() WHERE task_key = $1 RETURNING plan`,
      [key],
    );
    const r = Array.isArray(rows[0]) ? (rows[0] as Array<{ plan: CachedPlan }>)[0] : rows[0];
    return r?.plan;
  }

  /**
   * Writes the plan unless this process already wrote the same plan for the task: sessions of
   * one task mostly repeat its plan, and rewriting the one row of a popular task queued every
   * completion on its lock (W3 at 500 in flight: 2.1 ms per write, the largest statement time).
   */
  async put(e: PlanCacheEntry): Promise<void> {
    const plan = JSON.stringify(e.plan);
    if (this.written.get(e.taskKey) === plan) return;
    await this.ds.query(
      `INSERT INTO plan_cache (task_key, tenant_id, template, plan, session_id) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (task_key) DO UPDATE SET plan = EXCLUDED.plan, session_id = EXCLUDED.session_id, updated_at = now()`,
      [e.taskKey, e.tenantId, e.template, plan, e.sessionId],
    );
    this.written.delete(e.taskKey);
    this.written.set(e.taskKey, plan);
    if (this.written.size > WRITTEN_MEMORY) this.written.delete(this.written.keys().next().value!);
  }
}
