import { performance } from 'node:perf_hooks';
import {
  PlannerError,
  type PlanHistoryEntry,
  type PlannedCall,
  type PlannerProvider,
  type PlanRequest,
  type PlanResult,
  type Workflow,
  type WorkflowCall,
} from './types';

/** A workflow that cannot run: bad declaration, or a reference that does not resolve. */
export class WorkflowError extends PlannerError {
  constructor(message: string) {
    super('invalid_workflow', message, false);
    this.name = 'WorkflowError';
  }
}

const CALL_ID = /^[A-Za-z0-9_-]{1,64}$/;
/** `${id.result.path}`; `$${...}` is a literal `${...}`. */
const REF = /\$?\$\{([^}]*)\}/g;
const WHOLE_REF = /^\$\{([^}]*)\}$/;

export interface Reference {
  readonly callId: string;
  /** Path inside the result; [] = the whole result. */
  readonly path: readonly string[];
}

/** Parses the inside of `${...}`: `<callId>.result` followed by `.key`, `.0` or `[0]` segments. */
export function parseReference(expr: string): Reference | string {
  const m = /^([A-Za-z0-9_-]+)\.result((?:\.[^.[\]]+|\[\d+\])*)$/.exec(expr.trim());
  if (!m) return `reference \${${expr}} must look like \${<callId>.result.<path>}`;
  const path = [...m[2].matchAll(/\.([^.[\]]+)|\[(\d+)\]/g)].map((s) => s[1] ?? s[2]);
  return { callId: m[1], path };
}

/** Every `${...}` reference in a value (deep), in order; literal `$${...}` excluded. */
function collectRefs(value: unknown, out: string[] = []): string[] {
  if (typeof value === 'string') {
    for (const m of value.matchAll(REF)) if (!m[0].startsWith('$$')) out.push(m[1]);
  } else if (Array.isArray(value)) {
    for (const v of value) collectRefs(v, out);
  } else if (value && typeof value === 'object') {
    for (const v of Object.values(value)) collectRefs(v, out);
  }
  return out;
}

function lookup(result: unknown, path: readonly string[]): { found: true; value: unknown } | { found: false; at: string } {
  let cur: unknown = result;
  for (let i = 0; i < path.length; i++) {
    const seg = path[i];
    if (Array.isArray(cur) && /^\d+$/.test(seg) && Number(seg) < cur.length) cur = cur[Number(seg)];
    else if (cur && typeof cur === 'object' && !Array.isArray(cur) && Object.prototype.hasOwnProperty.call(cur, seg)) {
      cur = (cur as Record<string, unknown>)[seg];
    } else return { found: false, at: path.slice(0, i + 1).join('.') };
  }
  return { found: true, value: cur };
}

/**
 * Replaces references in `args` with values from earlier results. A string that is exactly one
 * reference becomes the referenced JSON value; a reference inside a longer string is
 * stringified into it (strings as-is, other values as JSON). `where` prefixes error messages.
 */
export function resolveArgs(args: unknown, results: ReadonlyMap<string, PlanHistoryEntry>, where: string): unknown {
  const resolveOne = (expr: string, where: string): unknown => {
    const ref = parseReference(expr);
    if (typeof ref === 'string') throw new WorkflowError(`${where}: ${ref}`);
    const entry = results.get(ref.callId);
    if (!entry) throw new WorkflowError(`${where}: reference \${${expr}} names unknown call "${ref.callId}"`);
    if (entry.error) {
      throw new WorkflowError(`${where}: reference \${${expr}} needs the result of call "${ref.callId}", which failed: ${entry.error.message}`);
    }
    const hit = lookup(entry.result, ref.path);
    if (!hit.found) throw new WorkflowError(`${where}: reference \${${expr}}: path "${hit.at}" not found in the result of call "${ref.callId}"`);
    return hit.value;
  };
  const walk = (v: unknown, path: string): unknown => {
    if (typeof v === 'string') {
      const whole = WHOLE_REF.exec(v);
      if (whole) return resolveOne(whole[1], path);
      return v.replace(REF, (match, expr: string) => {
        if (match.startsWith('$$')) return match.slice(1);
        const value = resolveOne(expr, path);
        return typeof value === 'string' ? value : JSON.stringify(value);
      });
    }
    if (Array.isArray(v)) return v.map((x, i) => walk(x, `${path}[${i}]`));
    if (v && typeof v === 'object') {
      return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x, `${path}.${k}`)]));
    }
    return v;
  };
  return walk(args, where);
}

export interface ValidateWorkflowOptions {
  /** Tool names the registry knows; omitted = not checked. */
  readonly knownTools?: { has(name: string): boolean };
  /** The session's allowed subset; omitted = every known tool. */
  readonly allowedTools?: readonly string[];
}

/**
 * Static checks of a declared workflow, all problems at once: shape, unique call ids, known
 * and allowed tools, and references only to calls of earlier steps.
 */
export function validateWorkflow(workflow: unknown, opts: ValidateWorkflowOptions = {}): string[] {
  const errors: string[] = [];
  const wf = workflow as Workflow;
  if (!wf || typeof wf !== 'object' || !Array.isArray(wf.steps)) return ['workflow.steps must be an array'];
  if (wf.steps.length === 0) errors.push('workflow.steps must not be empty');
  const allowed = opts.allowedTools ? new Set(opts.allowedTools) : undefined;
  const earlier = new Set<string>();
  const all = new Set<string>();
  // Every declared id, so a reference forward can be told apart from one to nothing.
  const declared = new Set(
    wf.steps.flatMap((st) => (Array.isArray(st?.calls) ? (st.calls as readonly WorkflowCall[]).map((c) => c?.id).filter((id) => typeof id === 'string') : [])),
  );
  wf.steps.forEach((step, s) => {
    const at = `workflow.steps[${s}]`;
    if (!step || !Array.isArray(step.calls) || step.calls.length === 0) {
      errors.push(`${at}.calls must be a non-empty array`);
      return;
    }
    const thisStep: string[] = [];
    (step.calls as readonly WorkflowCall[]).forEach((call, c) => {
      const where = `${at}.calls[${c}]`;
      if (!call || typeof call !== 'object') return void errors.push(`${where} must be an object`);
      const label = typeof call.id === 'string' ? `${where} (call "${call.id}")` : where;
      if (typeof call.id !== 'string' || !CALL_ID.test(call.id)) errors.push(`${where}.id must be 1-64 letters, digits, "_" or "-"`);
      else if (all.has(call.id)) errors.push(`${label}: id "${call.id}" is used more than once`);
      else {
        all.add(call.id);
        thisStep.push(call.id);
      }
      if (typeof call.tool !== 'string' || call.tool === '') errors.push(`${label}.tool must be a non-empty string`);
      else if (opts.knownTools && !opts.knownTools.has(call.tool)) errors.push(`${label}: unknown tool "${call.tool}"`);
      else if (allowed && !allowed.has(call.tool)) errors.push(`${label}: tool "${call.tool}" is not allowed for this session`);
      if (!call.args || typeof call.args !== 'object' || Array.isArray(call.args)) errors.push(`${label}.args must be an object`);
      for (const expr of collectRefs(call.args)) {
        const ref = parseReference(expr);
        if (typeof ref === 'string') errors.push(`${label}: ${ref}`);
        else if (!earlier.has(ref.callId)) {
          errors.push(
            declared.has(ref.callId)
              ? `${label}: reference \${${expr}} must name a call of an earlier step`
              : `${label}: reference \${${expr}} names unknown call "${ref.callId}"`,
          );
        }
      }
    });
    for (const id of thisStep) earlier.add(id);
  });
  return errors;
}

/** Index of the first step with a call that has not ended yet; steps.length when all have. */
export function nextWorkflowStep(workflow: Workflow, history: readonly PlanHistoryEntry[]): number {
  const ended = new Set(history.map((h) => h.callId));
  const i = workflow.steps.findIndex((s) => s.calls.some((c) => !ended.has(c.id)));
  return i === -1 ? workflow.steps.length : i;
}

/** The last step's summaries when its results carry a string `summary`, else its results as JSON by call id. */
export function workflowAnswer(workflow: Workflow, results: ReadonlyMap<string, PlanHistoryEntry>): string {
  const last = workflow.steps[workflow.steps.length - 1];
  const entries = last.calls.map((c) => [c.id, results.get(c.id)] as const);
  const summaries = entries
    .map(([, e]) => (e?.result as { summary?: unknown } | undefined)?.summary)
    .filter((s): s is string => typeof s === 'string');
  if (summaries.length > 0) return summaries.join('\n\n');
  return JSON.stringify(Object.fromEntries(entries.map(([id, e]) => [id, e?.error ? { error: e.error } : (e?.result ?? null)])));
}

/**
 * Deterministic planner: runs the session's declared workflow step by step, resolving
 * references from the results so far; after the last step, answers from its results.
 */
export class WorkflowPlanner implements PlannerProvider {
  readonly name = 'workflow';

  constructor(private readonly opts: { readonly model?: string } = {}) {}

  async plan(req: PlanRequest): Promise<PlanResult> {
    const started = performance.now();
    const base = { model: this.opts.model ?? 'workflow', promptTokens: 0, completionTokens: 0, attempts: 0 };
    const wf = req.workflow;
    if (!wf) throw new PlannerError('no_workflow', `session ${req.sessionId} declares no workflow`, false);
    const problems = validateWorkflow(wf);
    if (problems.length > 0) throw new WorkflowError(problems.join('; '));
    const results = new Map(req.history.map((h) => [h.callId, h]));
    const n = nextWorkflowStep(wf, req.history);
    if (n >= wf.steps.length) {
      return { kind: 'final', answer: workflowAnswer(wf, results), ...base, latencyMs: Math.round(performance.now() - started) };
    }
    const calls: PlannedCall[] = wf.steps[n].calls
      .filter((c) => !results.has(c.id))
      .map((c) => ({ callId: c.id, tool: c.tool, args: resolveArgs(c.args, results, `workflow step ${n + 1} call "${c.id}" args`) }));
    return { kind: 'tool_calls', calls, ...base, latencyMs: Math.round(performance.now() - started) };
  }
}
