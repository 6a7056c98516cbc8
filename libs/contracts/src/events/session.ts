import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  IsArray,
  IsIn,
  IsInt,
  IsString,
  Length,
  Max,
  Min,
  ValidateNested,
} from 'class-validator';
import {
  IsDecimalString,
  IsHttpUrl,
  IsId,
  IsName,
  IsRfc3339,
  IsStringRecord,
  Optional,
} from '../validation';
import { PLANNER_KINDS, PlannerKind, WorkflowSpec } from './requests';

/**
 * The planner accepted the request. It repeats what the request asked for (input, tools,
 * workflow, budget, webhook, metadata) so the session-events log alone is enough to replay
 * or audit a session: session.requested lives on another topic.
 */
export class SessionStartedData {
  @IsId() readonly tenantId: string;
  @IsId() readonly sessionId: string;
  @IsIn(PLANNER_KINDS) readonly mode: PlannerKind;
  @Optional() @IsName() readonly model?: string;
  @IsInt() @Min(1) @Max(1000) readonly maxSteps: number;
  @IsRfc3339() readonly deadlineAt: string;
  @IsString() @Length(1, 20000) readonly input: string;
  @Optional() @IsArray() @ArrayMaxSize(256) @IsString({ each: true }) @Length(1, 128, { each: true })
  readonly tools?: readonly string[];
  @Optional() @ValidateNested() @Type(() => WorkflowSpec) readonly workflow?: WorkflowSpec;
  @Optional() @IsDecimalString() readonly budgetUsd?: string;
  @Optional() @IsHttpUrl() readonly webhookUrl?: string;
  @Optional() @IsStringRecord(64) readonly metadata?: Readonly<Record<string, string>>;
}

export class SessionRejectedData {
  @IsId() readonly tenantId: string;
  @IsId() readonly sessionId: string;
  @IsArray() @ArrayMaxSize(100) @IsString({ each: true }) readonly errors: readonly string[];
}

export class SessionCompletedData {
  @IsId() readonly tenantId: string;
  @IsId() readonly sessionId: string;
  @IsString() @Length(0, 100000) readonly answer: string;
  @IsInt() @Min(0) readonly steps: number;
  @IsInt() @Min(0) readonly toolCalls: number;
  @IsDecimalString() readonly costUsd: string;
}

/** Well-known failure codes; `code` stays an open string so new ones need no schema change. */
export const SESSION_FAILURE_CODES = [
  'deadline_exceeded',
  'max_steps_exceeded',
  'planner_failed',
  'tool_failed',
  'budget_exceeded',
  'internal',
] as const;
export type SessionFailureCode = (typeof SESSION_FAILURE_CODES)[number];

export class SessionFailedData {
  @IsId() readonly tenantId: string;
  @IsId() readonly sessionId: string;
  @IsString() @Length(1, 2000) readonly reason: string;
  @IsName(64) readonly code: string;
}

export class SessionCancelledData {
  @IsId() readonly tenantId: string;
  @IsId() readonly sessionId: string;
  @Optional() @IsString() @Length(0, 1000) readonly reason?: string;
}
