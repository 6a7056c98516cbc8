import { join } from 'node:path';
import { Module, type DynamicModule } from '@nestjs/common';
import type { ServiceConfig } from '@agentplane/config';
import { PlatformModule } from '@agentplane/platform';
import { loadToolRegistry } from '@agentplane/tools';
import { ExecutorController } from './executor.controller';
import { ExecutorService } from './executor.service';
import { IdempotencyStore } from './idempotency.store';
import { McpClients } from './mcp-invoker';
import { MIGRATIONS } from './migrations';
import { TOOL_REGISTRY } from './tokens';

/** Runs admitted tool calls under their contracts: consumes session events. */
@Module({})
export class AppModule {
  static register(config: ServiceConfig): DynamicModule {
    return {
      module: AppModule,
      imports: [PlatformModule.forService(config, { migrations: MIGRATIONS })],
      controllers: [ExecutorController],
      providers: [
        { provide: TOOL_REGISTRY, useFactory: () => loadToolRegistry(join(config.configDir, 'tools.yaml')) },
        IdempotencyStore,
        McpClients,
        ExecutorService,
      ],
    };
  }
}
