import { JSONSchema } from 'class-validator-jsonschema';
import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  IsArray,
  IsBoolean,
  IsIn,
  IsInt,
  IsNumber,
  IsString,
  Length,
  Min,
  ValidateIf,
  ValidateNested,
} from 'class-validator';
import { IsDecimalString, IsId, IsJsonObject, IsName, Optional } from '../validation';

export class PlannedToolCall {
  @IsName() readonly callId: string;
  @IsName() readonly tool: string;
  @IsJsonObject() readonly args: Readonly<Record<string, unknown>>;
}

export type PlannerOutcome =
  | { readonly kind: 'tool_calls'; readonly calls: readonly PlannedToolCall[] }
  | { readonly kind: 'final'; readonly answer: string };

/**
 * Validation shape of PlannerOutcome. class-validator has no unions, so `kind` switches the
 * other rules on (ValidateIf) and the class-level JSONSchema states the same as a oneOf.
 */
@JSONSchema({
  oneOf: [
    { properties: { kind: { enum: ['tool_calls'] } }, required: ['calls'] },
    { properties: { kind: { enum: ['final'] } }, required: ['answer'] },
  ],
})
export class PlannerOutcomeDecl {
  @IsIn(['tool_calls', 'final']) readonly kind: 'tool_calls' | 'final';

  @ValidateIf((o: PlannerOutcomeDecl) => o.kind === 'tool_calls')
  @IsArray()
  @ArrayMaxSize(64)
  @ValidateNested({ each: true })
  @Type(() => PlannedToolCall)
  readonly calls?: readonly PlannedToolCall[];

  @ValidateIf((o: PlannerOutcomeDecl) => o.kind === 'final')
  @IsString()
  @Length(0, 100000)
  readonly answer?: string;
}

export class PlannerStepCompletedData {
  @IsId() readonly tenantId: string;
  @IsId() readonly sessionId: string;
  @IsInt() @Min(1) readonly step: number;
  @IsName() readonly provider: string;
  @IsName() readonly model: string;
  @IsInt() @Min(0) readonly promptTokens: number;
  @IsInt() @Min(0) readonly completionTokens: number;
  @IsNumber() @Min(0) readonly latencyMs: number;
  @IsInt() @Min(1) readonly batchSize: number;
  @IsNumber() @Min(0) readonly queueWaitMs: number;
  /** Output parsed and every call names a known tool with valid arguments. */
  @IsBoolean() readonly pass: boolean;
  /** Why the step did not pass (unknown tool, invalid arguments), when pass is false. */
  @Optional() @IsArray() @ArrayMaxSize(100) @IsString({ each: true }) readonly errors?: readonly string[];
  @ValidateNested() @Type(() => PlannerOutcomeDecl) readonly outcome: PlannerOutcome;
  /** Inference cost of this step when the planner knows the price; cost-accounting may reprice. */
  @Optional() @IsDecimalString() readonly costUsd?: string;
}

export class PlannerStepFailedData {
  @IsId() readonly tenantId: string;
  @IsId() readonly sessionId: string;
  @IsInt() @Min(1) readonly step: number;
  @IsName() readonly provider: string;
  @IsName() readonly model: string;
  @IsString() @Length(1, 2000) readonly reason: string;
  @IsArray() @ArrayMaxSize(100) @IsString({ each: true }) readonly errors: readonly string[];
  @IsInt() @Min(0) readonly promptTokens: number;
  @IsInt() @Min(0) readonly completionTokens: number;
  @IsNumber() @Min(0) readonly latencyMs: number;
  @IsBoolean() readonly retriable: boolean;
  @Optional() @IsDecimalString() readonly costUsd?: string;
}

export const FALLBACK_SOURCES = ['cached_plan', 'workflow'] as const;
export type FallbackSource = (typeof FALLBACK_SOURCES)[number];

export class PlannerFallbackUsedData {
  @IsId() readonly tenantId: string;
  @IsId() readonly sessionId: string;
  @IsInt() @Min(1) readonly step: number;
  @IsIn(FALLBACK_SOURCES) readonly source: FallbackSource;
}
