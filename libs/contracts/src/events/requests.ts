import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  ArrayMinSize,
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
  IsJsonObject,
  IsName,
  IsStringRecord,
  Optional,
} from '../validation';

export const PLANNER_KINDS = ['workflow', 'llm'] as const;
export type PlannerKind = (typeof PLANNER_KINDS)[number];

/** One call of a declared workflow step. Later args may reference earlier results as "${callId.result.path}". */
export class WorkflowCallSpec {
  @IsName() readonly id: string;
  @IsName() readonly tool: string;
  @IsJsonObject() readonly args: Readonly<Record<string, unknown>>;
}

/** The calls of one step run in parallel. */
export class WorkflowStepSpec {
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(32)
  @ValidateNested({ each: true })
  @Type(() => WorkflowCallSpec)
  readonly calls: readonly WorkflowCallSpec[];
}

export class WorkflowSpec {
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(64)
  @ValidateNested({ each: true })
  @Type(() => WorkflowStepSpec)
  readonly steps: readonly WorkflowStepSpec[];
}

/** A producer asks for an agent session (topic session-requests, key = sessionId). */
export class SessionRequestedData {
  @IsId() readonly tenantId: string;
  @IsId() readonly sessionId: string;
  @IsString() @Length(1, 20000) readonly input: string;

  @Optional() @IsArray() @ArrayMaxSize(256) @IsString({ each: true }) @Length(1, 128, { each: true })
  readonly tools?: readonly string[];

  @Optional() @ValidateNested() @Type(() => WorkflowSpec)
  readonly workflow?: WorkflowSpec;

  @Optional() @IsDecimalString() readonly budgetUsd?: string;
  @Optional() @IsInt() @Min(1) @Max(3_600_000) readonly deadlineMs?: number;
  @Optional() @IsHttpUrl() readonly webhookUrl?: string;
  @Optional() @IsStringRecord(64) readonly metadata?: Readonly<Record<string, string>>;
  @Optional() @IsIn(PLANNER_KINDS) readonly planner?: PlannerKind;
  @Optional() @IsName() readonly model?: string;
}

/** A producer asks to stop a running session. */
export class SessionCancelRequestedData {
  @IsId() readonly tenantId: string;
  @IsId() readonly sessionId: string;
  @Optional() @IsString() @Length(0, 1000) readonly reason?: string;
}
