import { Module, type DynamicModule } from '@nestjs/common';
import type { ServiceConfig } from '@agentplane/config';
import { PlatformModule } from '@agentplane/platform';
import { AnalystController } from './analyst.controller';
import { ApiAuth } from './auth';
import { CostConfig } from './cost-config';
import { DashboardController } from './dashboard.controller';
import { GuardrailService } from './guardrail.service';
import { LedgerHandlers, LedgerService } from './ledger.service';
import { MIGRATIONS } from './migrations';
import { OpsMetrics } from './ops-metrics';

/** Cost projections and guardrails: consumes every event; analyst API and dashboard on :8081. */
@Module({})
export class AppModule {
  static register(config: ServiceConfig): DynamicModule {
    return {
      module: AppModule,
      imports: [PlatformModule.forService(config, { migrations: MIGRATIONS })],
      controllers: [LedgerHandlers, AnalystController, DashboardController],
      providers: [CostConfig, OpsMetrics, GuardrailService, LedgerService, ApiAuth],
    };
  }
}
