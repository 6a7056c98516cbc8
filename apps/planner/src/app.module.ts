import { join } from 'node:path';
import { Module, type DynamicModule } from '@nestjs/common';
import { loadPlannerSettings, type ServiceConfig } from '@agentplane/config';
import { PlatformModule } from '@agentplane/platform';
import { MicroBatcher, OpenAICompatibleProvider, WorkflowPlanner } from '@agentplane/planning';
import { loadPrices, loadTenants, loadToolRegistry } from '@agentplane/tools';
import { MIGRATIONS } from './migrations';
import { ModeService } from './mode.service';
import { PlanCacheStore } from './plan-cache';
import { PlannerEngine } from './planner.engine';
import { PlannerHandlers } from './planner.handlers';
import { PlannerService } from './planner.service';
import { QualityMonitor } from './quality';
import { SessionStore } from './session.store';
import { PLANNER_ENGINE, PLANNER_SETTINGS, QUALITY_MONITOR } from './tokens';

/** Session lifecycle and inference: consumes requests, session events and planner mode changes. */
@Module({})
export class AppModule {
  static register(config: ServiceConfig): DynamicModule {
    // Config files are read and validated once, at boot: a bad file stops the service here.
    const settings = loadPlannerSettings();
    const registry = loadToolRegistry(join(config.configDir, 'tools.yaml'));
    const tenants = loadTenants(join(config.configDir, 'tenants.yaml'));
    const prices = loadPrices(join(config.configDir, 'prices.yaml'));
    // Every LLM call of every session goes through one batcher: concurrent sessions share batches.
    const llm = settings.llm
      ? new MicroBatcher(
          new OpenAICompatibleProvider({
            baseUrl: settings.llm.baseUrl,
            ...(settings.llm.apiKey ? { apiKey: settings.llm.apiKey } : {}),
            model: settings.llm.model,
            timeoutMs: settings.llm.timeoutMs,
            maxRetries: settings.llm.maxRetries,
          }),
          { maxBatchSize: settings.batch.maxSize, maxWaitMs: settings.batch.maxWaitMs, concurrency: settings.batch.concurrency },
        )
      : undefined;
    return {
      module: AppModule,
      imports: [PlatformModule.forService(config, { migrations: MIGRATIONS })],
      controllers: [PlannerHandlers],
      providers: [
        SessionStore,
        PlanCacheStore,
        ModeService,
        PlannerService,
        { provide: QUALITY_MONITOR, useValue: new QualityMonitor(settings.quality) },
        {
          provide: PLANNER_ENGINE,
          inject: [PlanCacheStore, ModeService],
          useFactory: (cache: PlanCacheStore, modes: ModeService) =>
            new PlannerEngine({
              registry,
              tenants,
              prices,
              workflow: new WorkflowPlanner(),
              ...(llm ? { llm, llmModel: settings.llm!.model } : {}),
              maxSteps: settings.maxSteps,
              defaultDeadlineMs: settings.defaultDeadlineMs,
              now: () => new Date(),
              fallback: {
                mode: (tenantId) => modes.mode(tenantId),
                cache,
                shadowRate: settings.quality.shadowRate,
                onShadow: (tenantId, model, pass) => modes.observe(tenantId, model, pass),
              },
            }),
        },
        { provide: PLANNER_SETTINGS, useValue: settings },
      ],
    };
  }
}
