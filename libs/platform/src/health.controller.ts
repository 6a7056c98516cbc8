import { Controller, Get, HttpCode, Res } from '@nestjs/common';
import { ApiOkResponse, ApiServiceUnavailableResponse, ApiTags } from '@nestjs/swagger';
import { ReadinessRegistry, type ReadinessReport } from './readiness';

@ApiTags('operations')
@Controller('health')
export class HealthController {
  constructor(private readonly readiness: ReadinessRegistry) {}

  /** The process answers: restart it only when this fails. */
  @Get('live')
  @HttpCode(200)
  @ApiOkResponse({ description: 'The process is up' })
  live(): { ok: true } {
    return { ok: true };
  }

  /** Database reachable, migrations applied, Kafka consumer/producer alive: send it work. */
  @Get('ready')
  @ApiOkResponse({ description: 'Every readiness check passed' })
  @ApiServiceUnavailableResponse({ description: 'At least one check failed; `checks` says which' })
  async ready(@Res({ passthrough: true }) res: { status(code: number): unknown }): Promise<ReadinessReport> {
    const report = await this.readiness.check();
    res.status(report.ok ? 200 : 503);
    return report;
  }
}
