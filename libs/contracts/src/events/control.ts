import { IsIn, IsInt, IsNumber, Matches, Max, Min } from 'class-validator';
import { IsDecimalString, IsId, IsName } from '../validation';

export const MONTH_PATTERN = /^\d{4}-(0[1-9]|1[0-2])$/;

/** Shared by guardrail tripped / cleared; subject = tenantId. */
export class BudgetGuardrailData {
  @IsId() readonly tenantId: string;
  @Matches(MONTH_PATTERN, { message: '$property must be a month like 2026-01' }) readonly month: string;
  @IsDecimalString() readonly spendUsd: string;
  @IsDecimalString() readonly forecastUsd: string;
  /** forecast × (1 + guardrail %), the spend above which non-essential tools are paused. */
  @IsDecimalString() readonly thresholdUsd: string;
}
export class BudgetGuardrailTrippedData extends BudgetGuardrailData {}
export class BudgetGuardrailClearedData extends BudgetGuardrailData {}

export const PLANNER_MODES = ['normal', 'fallback'] as const;
export type PlannerMode = (typeof PLANNER_MODES)[number];

export class PlannerModeChangedData {
  @IsId() readonly tenantId: string;
  @IsIn(PLANNER_MODES) readonly mode: PlannerMode;
  /** Rolling pass rate in [0, 1] that caused the change. */
  @IsNumber() @Min(0) @Max(1) readonly passRate: number;
  /** Number of planner steps in the rolling window. */
  @IsInt() @Min(1) readonly window: number;
}

export const CIRCUIT_STATES = ['open', 'half_open', 'closed'] as const;
export type CircuitState = (typeof CIRCUIT_STATES)[number];

/** subject = tool; not tenant-scoped. */
export class ToolCircuitChangedData {
  @IsName() readonly tool: string;
  @IsIn(CIRCUIT_STATES) readonly state: CircuitState;
}
