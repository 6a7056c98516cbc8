import { ApiProperty, ApiPropertyOptional, OmitType } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsIn, IsInt, IsOptional, IsString, Length, Matches, Max, Min, ValidateIf } from 'class-validator';
import { ID_PATTERN, SessionRequestedData, contractDefinitions, type JsonSchema } from '@agentplane/contracts';
import { SESSION_STATUSES, type SessionStatus } from './session-view';

/**
 * Body of POST /v1/sessions: the contract's `session.requested` data minus `tenantId` (the API
 * key says who is asking), with `sessionId` optional. The validation rules are inherited from
 * the contract class, so the HTTP edge and the Kafka edge accept exactly the same requests.
 */
export class CreateSessionBody extends OmitType(SessionRequestedData, ['tenantId', 'sessionId'] as const) {
  // Same rule as the contract's sessionId, but optional: the gateway mints a UUIDv7 otherwise.
  // Absent is fine, null is not (as in the contract's Optional()).
  @ValidateIf((_o: unknown, v: unknown) => v !== undefined)
  @IsString()
  @Matches(ID_PATTERN, { message: '$property must be 1-128 characters of letters, digits, ".", "_", ":" or "-", starting with a letter or digit' })
  readonly sessionId?: string;
}

const FIELD_DOCS: Record<string, { description: string; example?: unknown }> = {
  sessionId: { description: 'Your own session id (letters, digits, `._:-`); a UUIDv7 is minted when absent.', example: 'trip-2026-0042' },
  input: { description: 'The task, in natural language.', example: 'What does Kafka log compaction keep? Answer in two sentences.' },
  tools: { description: 'Allowed subset of the registered tools (default: all).', example: ['search', 'summarize'] },
  workflow: {
    description:
      'Declared tool steps for the deterministic planner. The calls of one step run in parallel; later arguments may reference earlier results as "${callId.result.path}".',
    example: {
      steps: [
        { calls: [{ id: 's', tool: 'search', args: { query: 'kafka log compaction', limit: 1 } }] },
        { calls: [{ id: 'sum', tool: 'summarize', args: { text: '${s.result.results.0.snippet}', maxWords: 40 } }] },
      ],
    },
  },
  budgetUsd: { description: 'Hard budget of this session, exact decimal string in USD.', example: '0.50' },
  deadlineMs: { description: 'Deadline of the session, ms from its start.', example: 30000 },
  webhookUrl: { description: 'Where the completion is delivered (signed, retried).', example: 'https://example.com/hooks/agentplane' },
  metadata: { description: 'Up to 64 string values, carried on the session.', example: { team: 'travel' } },
  planner: { description: '`workflow` runs the declared workflow; `llm` asks the configured model. Default: llm when one is configured and no workflow is given.' },
  model: { description: 'Model name for the llm planner.' },
};

/** A contract definition with its $refs inlined: OpenAPI has no `#/definitions`. */
function inline(schema: JsonSchema, defs: Record<string, JsonSchema>): JsonSchema {
  const walk = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(walk);
    if (v && typeof v === 'object') {
      const o = v as Record<string, unknown>;
      if (typeof o.$ref === 'string') return walk(defs[o.$ref.replace('#/definitions/', '')]);
      return Object.fromEntries(Object.entries(o).map(([k, x]) => [k, walk(x)]));
    }
    return v;
  };
  return walk(schema) as JsonSchema;
}

// OpenAPI for the body comes from the contract's JSON Schema too, so the docs cannot drift
// from the validation (there is no swagger CLI plugin under SWC to read the decorators).
(() => {
  const defs = contractDefinitions();
  const req = defs.SessionRequestedData as { properties: Record<string, JsonSchema>; required: string[] };
  for (const [name, schema] of Object.entries(req.properties)) {
    if (name === 'tenantId') continue;
    const required = name !== 'sessionId' && req.required.includes(name);
    const { type, ...rest } = inline(schema, defs) as { type?: string } & Record<string, unknown>;
    const doc = { ...rest, ...(type ? { type } : {}), ...FIELD_DOCS[name], required };
    ApiProperty(doc as never)(CreateSessionBody.prototype, name);
  }
})();

/** Query of GET /v1/sessions. */
export class ListSessionsQuery {
  @ApiPropertyOptional({ description: 'How many of the most recent sessions (1-200).', default: 20, minimum: 1, maximum: 200 })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(200)
  readonly limit?: number;

  @ApiPropertyOptional({ enum: SESSION_STATUSES, description: 'Only sessions in this status.' })
  @IsOptional()
  @IsIn(SESSION_STATUSES)
  readonly status?: SessionStatus;
}

export class CancelSessionQuery {
  @ApiPropertyOptional({ description: 'Why (recorded on session.cancel-requested).', maxLength: 1000 })
  @IsOptional()
  @IsString()
  @Length(0, 1000)
  readonly reason?: string;
}

export class ErrorBody {
  @ApiProperty({ example: 400 }) readonly statusCode: number;
  @ApiProperty({ example: 'Bad Request' }) readonly error: string;
  @ApiProperty({ type: [String], example: ['input must be longer than or equal to 1 characters'] }) readonly message: string[] | string;
  @ApiPropertyOptional({ type: [String], description: 'Fields that failed validation (400 only).', example: ['input'] })
  readonly fields?: string[];
}
