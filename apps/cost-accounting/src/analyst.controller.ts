import { Controller, Get, NotFoundException, Param, Query, Req, Res } from '@nestjs/common';
import { ApiHeader, ApiOkResponse, ApiOperation, ApiProduces, ApiQuery, ApiTags } from '@nestjs/swagger';
import type { Request, Response } from './http-types';
import { currentMonth, guardrailThresholdUnits, decimalFromUnits, projectionChecksum, toCsv } from '@agentplane/ledger';
import { ApiAuth } from './auth';
import { CostConfig } from './cost-config';
import { GuardrailService } from './guardrail.service';
import { BUCKETS, parseLimit, parseMonth, parseTime, Queries, type Bucket } from './queries';

const DAY = 86_400_000;

/** JSON by default; CSV with `?format=csv` or `Accept: text/csv`. */
function send(req: Request, res: Response, name: string, rows: ReadonlyArray<Record<string, unknown>>, body?: unknown): void {
  const csv = req.query.format === 'csv' || (req.query.format === undefined && /\btext\/csv\b/.test(req.headers.accept ?? ''));
  if (csv) {
    res.setHeader('content-type', 'text/csv; charset=utf-8');
    res.setHeader('content-disposition', `attachment; filename="${name}.csv"`);
    res.send(toCsv(rows));
    return;
  }
  res.json(body ?? { items: rows });
}

const auth = ApiHeader({ name: 'Authorization', description: 'Bearer <API key> (tenant key: own tenant only; analyst key: all). X-API-Key also accepted.', required: true });
const format = ApiQuery({ name: 'format', required: false, enum: ['json', 'csv'], description: 'csv exports the rows' });

/** Analyst API over the cost projections (:8081, OpenAPI at /docs). */
@ApiTags('cost')
@Controller('v1')
export class AnalystController {
  private readonly q: Queries;

  constructor(
    private readonly auth: ApiAuth,
    private readonly cfg: CostConfig,
    private readonly guardrail: GuardrailService,
  ) {
    this.q = new Queries(cfg.pool);
  }

  @Get('sessions')
  @auth
  @format
  @ApiOperation({ summary: 'Sessions with their cost, outcome and steps (most recent first)' })
  @ApiQuery({ name: 'tenant', required: false })
  @ApiQuery({ name: 'from', required: false, description: 'RFC 3339; default 30 days ago' })
  @ApiQuery({ name: 'to', required: false, description: 'RFC 3339, exclusive; default now + 1 day' })
  @ApiQuery({ name: 'status', required: false })
  @ApiQuery({ name: 'limit', required: false })
  async sessions(@Req() req: Request, @Res() res: Response, @Query() query: Record<string, string>): Promise<void> {
    const tenantId = this.auth.scope(this.auth.principal(req), query.tenant);
    const now = Date.now();
    const rows = await this.q.sessions({
      ...(tenantId ? { tenantId } : {}),
      from: parseTime('from', query.from, new Date(now - 30 * DAY)),
      to: parseTime('to', query.to, new Date(now + DAY)),
      ...(query.status ? { status: query.status } : {}),
      limit: parseLimit(query.limit, 100),
    });
    send(req, res, 'sessions', rows);
  }

  @Get('sessions/:sessionId')
  @auth
  @format
  @ApiOperation({ summary: 'One session: inference and tool cost, budget, outcome, and its ledger entries (CSV: the entries)' })
  @ApiOkResponse({ description: 'the session' })
  async session(@Req() req: Request, @Res() res: Response, @Param('sessionId') id: string): Promise<void> {
    const p = this.auth.principal(req);
    const s = await this.q.session(id);
    // Another tenant's session answers exactly like a missing one.
    if (!s || (p.kind === 'tenant' && s.tenantId !== p.tenantId)) throw new NotFoundException("no such session");
    send(req, res, `session-${id}`, s.entries.map((e) => ({ sessionId: id, tenantId: s.tenantId, ...e })), s);
  }

  @Get('tenants')
  @auth
  @format
  @ApiOperation({ summary: 'Tenants: month-to-date spend against forecast, guardrail threshold and state' })
  @ApiQuery({ name: 'month', required: false, description: 'YYYY-MM; default the current month' })
  async tenants(@Req() req: Request, @Res() res: Response, @Query() query: Record<string, string>): Promise<void> {
    const tenantId = this.auth.scope(this.auth.principal(req), undefined);
    const month = parseMonth('month', query.month) ?? currentMonth();
    const spend = new Map((await this.q.tenantMonths({ ...(tenantId ? { tenantId } : {}), from: month, to: month })).map((m) => [m.tenantId, m]));
    const states = new Map((await this.guardrail.states(tenantId)).filter((s) => s.month === month).map((s) => [s.tenantId, s]));
    const rows = this.cfg.tenants.tenants
      .filter((t) => !tenantId || t.id === tenantId)
      .map((t) => {
        const m = spend.get(t.id);
        return {
          tenantId: t.id, name: t.name, month,
          inferenceUsd: m?.inferenceUsd ?? '0', toolUsd: m?.toolUsd ?? '0', totalUsd: m?.totalUsd ?? '0',
          forecastUsd: decimalFromUnits(guardrailThresholdUnits(t.monthlyForecastUsd, 0)),
          guardrailPct: t.guardrailPct,
          thresholdUsd: decimalFromUnits(guardrailThresholdUnits(t.monthlyForecastUsd, t.guardrailPct)),
          guardrailTripped: states.get(t.id)?.tripped ?? false,
        };
      });
    send(req, res, `tenants-${month}`, rows);
  }

  @Get('tenants/:tenantId/months')
  @auth
  @format
  @ApiOperation({ summary: "A tenant's spend by month, inference and tool apart, with session counts" })
  @ApiQuery({ name: 'from', required: false, description: 'YYYY-MM' })
  @ApiQuery({ name: 'to', required: false, description: 'YYYY-MM (inclusive)' })
  async tenantMonths(@Req() req: Request, @Res() res: Response, @Param('tenantId') tenant: string, @Query() query: Record<string, string>): Promise<void> {
    const tenantId = this.auth.scope(this.auth.principal(req), tenant)!;
    const from = parseMonth('from', query.from);
    const to = parseMonth('to', query.to);
    const rows = await this.q.tenantMonths({ tenantId, ...(from ? { from } : {}), ...(to ? { to } : {}) });
    const t = this.cfg.tenants.byId.get(tenantId);
    if (!t && rows.length === 0) throw new NotFoundException(`no tenant ${tenantId}`);
    send(req, res, `tenant-${tenantId}-months`, rows, {
      tenantId,
      forecastUsd: t ? decimalFromUnits(guardrailThresholdUnits(t.monthlyForecastUsd, 0)) : null,
      thresholdUsd: t ? decimalFromUnits(guardrailThresholdUnits(t.monthlyForecastUsd, t.guardrailPct)) : null,
      guardrail: await this.guardrail.states(tenantId),
      items: rows,
    });
  }

  @Get('tools')
  @auth
  @format
  @ApiOperation({ summary: 'Per tool: calls, success rate, rejections, retries, cost, mean latency' })
  @ApiQuery({ name: 'tenant', required: false })
  @ApiQuery({ name: 'from', required: false, description: 'YYYY-MM' })
  @ApiQuery({ name: 'to', required: false, description: 'YYYY-MM (inclusive)' })
  async tools(@Req() req: Request, @Res() res: Response, @Query() query: Record<string, string>): Promise<void> {
    const tenantId = this.auth.scope(this.auth.principal(req), query.tenant);
    const from = parseMonth('from', query.from);
    const to = parseMonth('to', query.to);
    send(req, res, 'tools', await this.q.tools({ ...(tenantId ? { tenantId } : {}), ...(from ? { from } : {}), ...(to ? { to } : {}) }));
  }

  @Get('models')
  @auth
  @format
  @ApiOperation({ summary: 'Per model: steps, pass rate, tokens, cost, mean latency' })
  @ApiQuery({ name: 'tenant', required: false })
  @ApiQuery({ name: 'from', required: false, description: 'YYYY-MM' })
  @ApiQuery({ name: 'to', required: false, description: 'YYYY-MM (inclusive)' })
  async models(@Req() req: Request, @Res() res: Response, @Query() query: Record<string, string>): Promise<void> {
    const tenantId = this.auth.scope(this.auth.principal(req), query.tenant);
    const from = parseMonth('from', query.from);
    const to = parseMonth('to', query.to);
    send(req, res, 'models', await this.q.models({ ...(tenantId ? { tenantId } : {}), ...(from ? { from } : {}), ...(to ? { to } : {}) }));
  }

  @Get('metrics')
  @auth
  @format
  @ApiOperation({ summary: 'Spend and operational signals per time bucket: tool success, planner pass rate, retries, session success, latency percentiles' })
  @ApiQuery({ name: 'tenant', required: false })
  @ApiQuery({ name: 'from', required: false, description: 'RFC 3339; default 24 h ago' })
  @ApiQuery({ name: 'to', required: false, description: 'RFC 3339, exclusive; default now + 1 min' })
  @ApiQuery({ name: 'bucket', required: false, enum: BUCKETS })
  async metrics(@Req() req: Request, @Res() res: Response, @Query() query: Record<string, string>): Promise<void> {
    const tenantId = this.auth.scope(this.auth.principal(req), query.tenant);
    const bucket = (query.bucket ?? 'hour') as Bucket;
    if (!BUCKETS.includes(bucket)) throw new NotFoundException(`bucket must be one of ${BUCKETS.join(', ')}`);
    const now = Date.now();
    const rows = await this.q.metrics({
      ...(tenantId ? { tenantId } : {}),
      from: parseTime('from', query.from, new Date(now - DAY)),
      to: parseTime('to', query.to, new Date(now + 60_000)),
      bucket,
    });
    send(req, res, `metrics-${bucket}`, rows);
  }

  @Get('ledger')
  @auth
  @format
  @ApiOperation({ summary: 'Raw ledger entries (one per costed event, with its price version)' })
  @ApiQuery({ name: 'tenant', required: false })
  @ApiQuery({ name: 'session', required: false })
  @ApiQuery({ name: 'from', required: false })
  @ApiQuery({ name: 'to', required: false })
  @ApiQuery({ name: 'limit', required: false })
  async ledger(@Req() req: Request, @Res() res: Response, @Query() query: Record<string, string>): Promise<void> {
    const tenantId = this.auth.scope(this.auth.principal(req), query.tenant);
    const now = Date.now();
    const rows = await this.q.ledger({
      ...(tenantId ? { tenantId } : {}),
      ...(query.session ? { sessionId: query.session } : {}),
      from: parseTime('from', query.from, new Date(0)),
      to: parseTime('to', query.to, new Date(now + DAY)),
      limit: parseLimit(query.limit, 1000, 100000),
    });
    send(req, res, 'ledger', rows);
  }

  @Get('projections/checksum')
  @auth
  @ApiOperation({ summary: 'Digest over every projection row (analyst key): equal after a rebuild' })
  async checksum(@Req() req: Request): Promise<unknown> {
    this.auth.requireAnalyst(this.auth.principal(req));
    return projectionChecksum(this.cfg.pool);
  }

  @Get('guardrails')
  @auth
  @format
  @ApiOperation({ summary: 'Guardrail state per tenant and month' })
  @ApiQuery({ name: 'tenant', required: false })
  async guardrails(@Req() req: Request, @Res() res: Response, @Query() query: Record<string, string>): Promise<void> {
    const tenantId = this.auth.scope(this.auth.principal(req), query.tenant);
    send(req, res, 'guardrails', (await this.guardrail.states(tenantId)) as unknown as Record<string, unknown>[]);
  }
}
