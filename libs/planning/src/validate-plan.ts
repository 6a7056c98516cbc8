import type { ToolRegistry } from '@agentplane/tools';
import type { PlanOutcome } from './types';

export type PlanIssueCode = 'unparsable' | 'unknown_tool' | 'not_allowed' | 'invalid_args' | 'duplicate_call_id' | 'empty';

export interface PlanIssue {
  readonly code: PlanIssueCode;
  readonly message: string;
  readonly callId?: string;
  readonly tool?: string;
}

export interface PlanValidation {
  readonly pass: boolean;
  readonly errors: string[];
  /** The same problems, typed, for events (e.g. tool.call.rejected reasons). */
  readonly issues: PlanIssue[];
}

/**
 * Planner pass: the output parsed, and every tool call names a known (and, when a subset is
 * given, allowed) tool whose arguments validate against its contract. A final answer passes
 * when it is non-empty.
 */
export function validatePlan(
  result: PlanOutcome,
  registry: Pick<ToolRegistry, 'has' | 'validateArgs'>,
  allowedTools?: readonly string[],
): PlanValidation {
  const issues: PlanIssue[] = [];
  if (result.kind === 'invalid') {
    for (const e of result.errors) issues.push({ code: 'unparsable', message: e });
  } else if (result.kind === 'final') {
    if (typeof result.answer !== 'string' || result.answer.trim() === '') issues.push({ code: 'empty', message: 'final answer is empty' });
  } else {
    if (result.calls.length === 0) issues.push({ code: 'empty', message: 'no tool calls' });
    const allowed = allowedTools ? new Set(allowedTools) : undefined;
    const ids = new Set<string>();
    for (const c of result.calls) {
      const who = `call "${c.callId}" (${c.tool || 'no tool name'})`;
      const add = (code: PlanIssueCode, message: string) => issues.push({ code, message: `${who}: ${message}`, callId: c.callId, tool: c.tool });
      if (ids.has(c.callId)) add('duplicate_call_id', 'call id is used twice in one step');
      ids.add(c.callId);
      if (c.parseError) {
        add('unparsable', c.parseError);
        continue;
      }
      if (!registry.has(c.tool)) {
        add('unknown_tool', `unknown tool "${c.tool}"`);
        continue;
      }
      if (allowed && !allowed.has(c.tool)) {
        add('not_allowed', `tool "${c.tool}" is not allowed for this session`);
        continue;
      }
      const v = registry.validateArgs(c.tool, c.args);
      if (!v.ok) for (const e of v.errors) add('invalid_args', `args ${e}`);
    }
  }
  return { pass: issues.length === 0, errors: issues.map((i) => i.message), issues };
}
