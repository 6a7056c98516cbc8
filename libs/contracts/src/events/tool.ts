import { IsBoolean, IsIn, IsInt, IsNumber, IsString, Length, Min } from 'class-validator';
import { IsDecimalString, IsId, IsJsonObject, IsName, IsPresent, Optional } from '../validation';

export class ToolCallRequestedData {
  @IsId() readonly tenantId: string;
  @IsId() readonly sessionId: string;
  @IsInt() @Min(1) readonly step: number;
  @IsName() readonly callId: string;
  @IsName() readonly tool: string;
  @IsJsonObject() readonly args: Readonly<Record<string, unknown>>;
  @IsName(256) readonly idempotencyKey: string;
  /** Essential calls go on when the tenant's budget guardrail has tripped. */
  @IsBoolean() readonly essential: boolean;
}

/**
 * Carries the whole call (step, args, idempotency key, essential) so the executor acts on
 * this event alone, with no state shared with the rate limiter.
 */
export class ToolCallAdmittedData {
  @IsId() readonly tenantId: string;
  @IsId() readonly sessionId: string;
  @IsInt() @Min(1) readonly step: number;
  @IsName() readonly callId: string;
  @IsName() readonly tool: string;
  @IsJsonObject() readonly args: Readonly<Record<string, unknown>>;
  @IsName(256) readonly idempotencyKey: string;
  @IsBoolean() readonly essential: boolean;
  @IsNumber() @Min(0) readonly queuedMs: number;
}

export class ToolCallDeferredData {
  @IsId() readonly tenantId: string;
  @IsId() readonly sessionId: string;
  @IsName() readonly callId: string;
  @IsName() readonly tool: string;
  @IsString() @Length(1, 1000) readonly reason: string;
  @IsInt() @Min(0) readonly retryAfterMs: number;
}

export const TOOL_REJECT_REASONS = ['rate_limited', 'budget_exceeded', 'invalid_args', 'unknown_tool', 'circuit_open'] as const;
export type ToolRejectReason = (typeof TOOL_REJECT_REASONS)[number];

export class ToolCallRejectedData {
  @IsId() readonly tenantId: string;
  @IsId() readonly sessionId: string;
  @IsName() readonly callId: string;
  @IsName() readonly tool: string;
  @IsIn(TOOL_REJECT_REASONS) readonly reason: ToolRejectReason;
  @Optional() @IsString() @Length(0, 2000) readonly detail?: string;
}

export class ToolCallSucceededData {
  @IsId() readonly tenantId: string;
  @IsId() readonly sessionId: string;
  @IsName() readonly callId: string;
  @IsName() readonly tool: string;
  /** Any JSON value (null included), already validated against the tool's result schema. */
  @IsPresent() readonly result: unknown;
  @IsInt() @Min(1) readonly attempts: number;
  @IsNumber() @Min(0) readonly latencyMs: number;
  @IsDecimalString() readonly costUsd: string;
}

export const TOOL_FAILURE_CODES = ['timeout', 'unknown', 'http_error', 'invalid_result', 'invalid_args', 'network', 'blocked', 'circuit_open'] as const;
export type ToolFailureCode = (typeof TOOL_FAILURE_CODES)[number];

export class ToolCallFailedData {
  @IsId() readonly tenantId: string;
  @IsId() readonly sessionId: string;
  @IsName() readonly callId: string;
  @IsName() readonly tool: string;
  @IsString() @Length(1, 2000) readonly error: string;
  @IsIn(TOOL_FAILURE_CODES) readonly code: ToolFailureCode;
  @IsInt() @Min(0) readonly attempts: number;
  @IsNumber() @Min(0) readonly latencyMs: number;
  @IsDecimalString() readonly costUsd: string;
}
