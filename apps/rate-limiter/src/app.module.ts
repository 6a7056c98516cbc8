import { join } from 'node:path';
import { Module, type DynamicModule } from '@nestjs/common';
import type { ServiceConfig } from '@agentplane/config';
import { PlatformModule } from '@agentplane/platform';
import { loadToolRegistry } from '@agentplane/tools';
import { AdmissionController } from './admission.controller';
import { AdmissionService } from './admission.service';
import { MIGRATIONS } from './migrations';
import { TOOL_REGISTRY } from './tokens';

/** Admits, defers or rejects tool calls: consumes session and control events. */
@Module({})
export class AppModule {
  static register(config: ServiceConfig): DynamicModule {
    return {
      module: AppModule,
      imports: [PlatformModule.forService(config, { migrations: MIGRATIONS })],
      controllers: [AdmissionController],
      providers: [
        // Loaded at boot: a bad tools.yaml stops the service with errors naming file, tool, field.
        { provide: TOOL_REGISTRY, useFactory: () => loadToolRegistry(join(config.configDir, 'tools.yaml')) },
        AdmissionService,
      ],
    };
  }
}
