import {
  BadRequestException,
  Body,
  Controller,
  Delete,
  Get,
  Headers,
  HttpCode,
  NotFoundException,
  Param,
  Post,
  Query,
  Req,
  Res,
  UseGuards,
  ValidationPipe,
  type PipeTransform,
  type ValidationError,
} from '@nestjs/common';
import {
  ApiAcceptedResponse,
  ApiBearerAuth,
  ApiBody,
  ApiConflictResponse,
  ApiHeader,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiParam,
  ApiResponse,
  ApiTags,
  ApiUnauthorizedResponse,
} from '@nestjs/swagger';
import { ID_PATTERN } from '@agentplane/contracts';
import type { Tenant } from '@agentplane/tools';
import { CurrentTenant, TenantAuthGuard } from './auth';
import { CancelSessionQuery, CreateSessionBody, ErrorBody, ListSessionsQuery } from './dto';
import { SessionStore } from './session-store';
import { CancelAccepted, SessionList, SessionView, isTerminalStatus } from './session-view';
import { SessionsService } from './sessions.service';
import { PlannerLatency } from './planner-latency';
import { checkWebhookUrl } from './webhook-dispatcher';

interface HttpResponse {
  status(code: number): unknown;
  setHeader(name: string, value: string): unknown;
}

/** One entry per invalid field, with the path of nested ones (`workflow.steps.0.calls.0.tool`). */
export function describeValidationErrors(errors: ValidationError[], parent = ''): { field: string; messages: string[] }[] {
  const out: { field: string; messages: string[] }[] = [];
  for (const e of errors) {
    const field = parent ? `${parent}.${e.property}` : e.property;
    if (e.constraints) {
      const messages = Object.values(e.constraints).map((m) =>
        m.startsWith(`${e.property} `) ? `${field}${m.slice(e.property.length)}` : m.includes(e.property) ? m : `${field}: ${m}`,
      );
      out.push({ field, messages });
    }
    if (e.children?.length) out.push(...describeValidationErrors(e.children, field));
  }
  return out;
}

const validation = (whitelist: boolean) =>
  new ValidationPipe({
    whitelist,
    forbidNonWhitelisted: whitelist,
    transform: true,
    exceptionFactory: (errors) => {
      const list = describeValidationErrors(errors);
      return new BadRequestException({
        statusCode: 400,
        error: 'Bad Request',
        message: list.flatMap((e) => e.messages),
        fields: [...new Set(list.map((e) => e.field))],
      });
    },
  });

/** A JSON array or scalar body would slip past class validation; the body must be an object. */
const JsonObjectBody: PipeTransform = {
  transform(value: unknown) {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      throw new BadRequestException({ statusCode: 400, error: 'Bad Request', message: ['body must be a JSON object'], fields: [] });
    }
    return value;
  },
};

const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;
const NOT_FOUND = (id: string) => new NotFoundException({ statusCode: 404, error: 'Not Found', message: `no session ${id}` });

@ApiTags('sessions')
@ApiBearerAuth()
@ApiUnauthorizedResponse({ description: 'Missing or unknown API key.', type: ErrorBody })
@UseGuards(TenantAuthGuard)
@Controller('v1/sessions')
export class SessionsController {
  constructor(
    private readonly sessions: SessionsService,
    private readonly store: SessionStore,
    private readonly latency: PlannerLatency,
  ) {}

  @Post()
  @ApiOperation({
    summary: 'Start an agent session',
    description:
      'Publishes `session.requested` and waits for the outcome up to the wait budget (GATEWAY_WAIT_MS, default 1.5 s, or `Prefer: wait=N` seconds). ' +
      'Terminal in time → 200 with the session; otherwise 202 with `Location` and the session so far. A refused request publishes nothing.',
  })
  @ApiBody({ type: CreateSessionBody })
  @ApiHeader({ name: 'Idempotency-Key', required: false, description: 'Same key and body → same session and answer, published once; same key, other body → 422.' })
  @ApiHeader({ name: 'Prefer', required: false, description: '`wait=N` (seconds) overrides the wait budget, up to GATEWAY_MAX_WAIT_MS; `respond-async` answers 202 at once.' })
  @ApiOkResponse({ description: 'The session ended within the wait budget.', type: SessionView })
  @ApiAcceptedResponse({ description: 'Still running; poll the `Location`.', type: SessionView })
  @ApiResponse({ status: 400, description: 'Invalid body; `fields` names the offending fields.', type: ErrorBody })
  @ApiConflictResponse({ description: 'The given sessionId is already in use.', type: ErrorBody })
  @ApiResponse({ status: 422, description: 'Idempotency-Key reused with a different body.', type: ErrorBody })
  async create(
    @CurrentTenant() tenant: Tenant,
    @Body(JsonObjectBody, validation(true)) _body: CreateSessionBody,
    @Req() req: { body: Record<string, unknown> },
    @Res({ passthrough: true }) res: HttpResponse,
    @Headers('idempotency-key') idempotencyKey?: string,
    @Headers('prefer') prefer?: string,
  ): Promise<SessionView> {
    if (idempotencyKey !== undefined && !IDEMPOTENCY_KEY.test(idempotencyKey)) {
      throw new BadRequestException({
        statusCode: 400,
        error: 'Bad Request',
        message: ['Idempotency-Key must be 1-255 visible ASCII characters'],
        fields: ['Idempotency-Key'],
      });
    }
    const webhookUrl = req.body.webhookUrl;
    const blocked = typeof webhookUrl === 'string' ? checkWebhookUrl(webhookUrl, this.sessions.settings.webhooks.allowedHosts) : undefined;
    if (blocked) {
      throw new BadRequestException({ statusCode: 400, error: 'Bad Request', message: [`webhookUrl ${blocked}`], fields: ['webhookUrl'] });
    }
    let { waitMs, applied } = waitBudget(prefer, this.sessions.settings.waitMs, this.sessions.settings.maxWaitMs);
    // The planner is slow right now (p95 from the log): waiting would only hold the connection.
    // An explicit `Prefer: wait=N` is the client's choice and is kept.
    const slowP95 = applied?.startsWith('wait=') ? undefined : this.latency.overThreshold();
    if (slowP95 !== undefined) {
      waitMs = 0;
      res.setHeader('Agentplane-Async-Reason', `planner-p95=${Math.round(slowP95)}ms`);
    }
    // req.body is the JSON as sent, already validated (unknown fields refused): it is what gets
    // published and hashed for idempotency, free of class-transformer artefacts.
    const { sessionId, replayed } = await this.sessions.submit(tenant, req.body, idempotencyKey);
    const view = await this.sessions.awaitOutcome(tenant.id, sessionId, waitMs);
    if (applied) res.setHeader('Preference-Applied', applied);
    if (replayed) res.setHeader('Idempotent-Replayed', 'true');
    res.setHeader('Location', `/v1/sessions/${encodeURIComponent(sessionId)}`);
    res.status(isTerminalStatus(view.status) ? 200 : 202);
    return view;
  }

  @Get()
  @ApiOperation({ summary: "The tenant's most recent sessions", description: 'Newest first; `status` filters.' })
  @ApiOkResponse({ type: SessionList })
  @ApiResponse({ status: 400, type: ErrorBody })
  async list(@CurrentTenant() tenant: Tenant, @Query(validation(false)) q: ListSessionsQuery): Promise<SessionList> {
    return { sessions: await this.store.list(tenant.id, q.limit ?? 20, q.status) };
  }

  @Get(':id')
  @ApiOperation({ summary: 'One session: status, steps, tool calls, answer, cost so far' })
  @ApiParam({ name: 'id', description: 'Session id' })
  @ApiOkResponse({ type: SessionView })
  @ApiNotFoundResponse({ description: "Unknown, or another tenant's.", type: ErrorBody })
  async get(@CurrentTenant() tenant: Tenant, @Param('id') id: string): Promise<SessionView> {
    const view = ID_PATTERN.test(id) ? await this.store.view(tenant.id, id) : undefined;
    if (!view) throw NOT_FOUND(id);
    return view;
  }

  @Delete(':id')
  @HttpCode(202)
  @ApiOperation({ summary: 'Cancel a session', description: 'Publishes `session.cancel-requested`; the session ends as `cancelled` once the planner acts on it.' })
  @ApiParam({ name: 'id', description: 'Session id' })
  @ApiAcceptedResponse({ type: CancelAccepted })
  @ApiNotFoundResponse({ description: "Unknown, or another tenant's.", type: ErrorBody })
  @ApiConflictResponse({ description: 'The session already ended.', type: ErrorBody })
  async cancel(
    @CurrentTenant() tenant: Tenant,
    @Param('id') id: string,
    @Query(validation(false)) q: CancelSessionQuery,
    @Res({ passthrough: true }) res: HttpResponse,
  ): Promise<CancelAccepted> {
    if (!ID_PATTERN.test(id)) throw NOT_FOUND(id);
    const status = await this.sessions.cancel(tenant, id, q.reason);
    res.setHeader('Location', `/v1/sessions/${encodeURIComponent(id)}`);
    return { sessionId: id, status, cancelRequested: true };
  }
}

/** RFC 7240 `Prefer`: `wait=N` seconds (capped) or `respond-async` (answer at once). */
export function waitBudget(prefer: string | undefined, dflt: number, max: number): { waitMs: number; applied?: string } {
  if (!prefer) return { waitMs: dflt };
  const prefs = prefer.split(',').map((p) => p.trim().toLowerCase());
  if (prefs.includes('respond-async')) return { waitMs: 0, applied: 'respond-async' };
  for (const p of prefs) {
    const m = /^wait\s*=\s*"?(\d{1,6})"?$/.exec(p);
    if (m) {
      const waitMs = Math.min(Number(m[1]) * 1000, max);
      return { waitMs, applied: `wait=${Math.floor(waitMs / 1000)}` };
    }
  }
  return { waitMs: dflt };
}
