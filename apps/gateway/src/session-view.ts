import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';

export const SESSION_STATUSES = ['requested', 'running', 'completed', 'rejected', 'failed', 'cancelled'] as const;
export type SessionStatus = (typeof SESSION_STATUSES)[number];
export const TERMINAL_STATUSES: ReadonlySet<SessionStatus> = new Set(['completed', 'rejected', 'failed', 'cancelled']);

export function isTerminalStatus(s: string): boolean {
  return TERMINAL_STATUSES.has(s as SessionStatus);
}

export const TOOL_CALL_STATUSES = ['requested', 'admitted', 'deferred', 'rejected', 'succeeded', 'failed'] as const;

/** One planner step as projected from planner.step.completed / planner.step.failed. */
export class StepView {
  @ApiProperty({ example: 1 }) step: number;
  @ApiProperty({ enum: ['planning', 'completed', 'failed'] }) status: 'planning' | 'completed' | 'failed';
  @ApiPropertyOptional({ description: 'Output parsed and every call named a known tool with valid arguments.' }) pass?: boolean;
  @ApiPropertyOptional({ example: 'workflow' }) provider?: string;
  @ApiPropertyOptional({ example: 'workflow' }) model?: string;
  @ApiPropertyOptional({ enum: ['tool_calls', 'final'] }) outcome?: string;
  @ApiProperty() promptTokens: number;
  @ApiProperty() completionTokens: number;
  @ApiPropertyOptional({ description: 'ms' }) latencyMs?: number;
  @ApiPropertyOptional() batchSize?: number;
  @ApiPropertyOptional({ type: [String] }) errors?: string[];
  @ApiPropertyOptional() reason?: string;
  @ApiPropertyOptional({ enum: ['cached_plan', 'workflow'], description: 'Set when the deterministic fallback planned this step.' }) fallback?: string;
  @ApiProperty({ description: 'Planner attempts recorded for this step.' }) attempts: number;
  @ApiProperty({ description: 'Inference cost, exact decimal USD.', example: '0.000125' }) costUsd: string;
}

/** One tool call as projected from tool.call.* events. */
export class ToolCallView {
  @ApiProperty({ example: 's' }) callId: string;
  @ApiPropertyOptional({ example: 1 }) step?: number;
  @ApiProperty({ example: 'search' }) tool: string;
  @ApiProperty({ enum: TOOL_CALL_STATUSES }) status: string;
  @ApiPropertyOptional() essential?: boolean;
  @ApiProperty() attempts: number;
  @ApiPropertyOptional({ description: 'ms, as measured by the executor' }) latencyMs?: number;
  @ApiPropertyOptional({ description: 'ms spent queued in the rate limiter' }) queuedMs?: number;
  @ApiProperty({ example: '0.002' }) costUsd: string;
  @ApiPropertyOptional({ description: 'Failure code or rejection reason.', example: 'timeout' }) code?: string;
  @ApiPropertyOptional({ description: 'Error message, rejection detail or deferral reason.' }) error?: string;
  @ApiPropertyOptional() requestedAt?: string;
  @ApiPropertyOptional() endedAt?: string;
}

export class SessionSummary {
  @ApiProperty({ example: '01968f0e-7c2a-7d4e-9b1f-3a5c7e9d1b2f' }) sessionId: string;
  @ApiProperty({ example: 'acme' }) tenantId: string;
  @ApiProperty({ enum: SESSION_STATUSES }) status: SessionStatus;
  @ApiPropertyOptional() input?: string;
  @ApiProperty({ description: 'Cost so far (the final total once completed), exact decimal USD.', example: '0.0065' }) costUsd: string;
  @ApiProperty() stepCount: number;
  @ApiProperty() toolCallCount: number;
  @ApiProperty() createdAt: string;
  @ApiPropertyOptional() endedAt?: string;
}

export class SessionView extends SessionSummary {
  @ApiPropertyOptional({ enum: ['workflow', 'llm'] }) mode?: string;
  @ApiPropertyOptional() model?: string;
  @ApiPropertyOptional({ description: 'The answer, once completed.' }) answer?: string;
  @ApiPropertyOptional({ type: [String], description: 'Why the session was rejected.' }) errors?: string[];
  @ApiPropertyOptional({ description: 'Why the session failed or was cancelled.' }) reason?: string;
  @ApiPropertyOptional({ example: 'deadline_exceeded' }) failureCode?: string;
  @ApiProperty({ description: 'Inference spend so far, exact decimal USD.' }) inferenceCostUsd: string;
  @ApiProperty({ description: 'Tool spend so far, exact decimal USD.' }) toolCostUsd: string;
  @ApiProperty({ type: [StepView] }) steps: StepView[];
  @ApiProperty({ type: [ToolCallView] }) toolCalls: ToolCallView[];
  @ApiPropertyOptional() requestedAt?: string;
  @ApiPropertyOptional() startedAt?: string;
  @ApiPropertyOptional() deadlineAt?: string;
  @ApiPropertyOptional() cancelRequestedAt?: string;
  @ApiProperty() updatedAt: string;
}

export class SessionList {
  @ApiProperty({ type: [SessionSummary] }) sessions: SessionSummary[];
}

export class CancelAccepted {
  @ApiProperty() sessionId: string;
  @ApiProperty({ enum: SESSION_STATUSES, description: 'Status when the cancel was requested; the planner decides.' }) status: SessionStatus;
  @ApiProperty({ example: true }) cancelRequested: true;
}
