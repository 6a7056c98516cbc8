import { Module, type DynamicModule } from '@nestjs/common';
import { loadAuditSettings, type ServiceConfig } from '@agentplane/config';
import { PlatformModule } from '@agentplane/platform';
import { AuditController } from './audit.controller';
import { Checkpointer } from './checkpointer';
import { IngestController } from './ingest.controller';
import { MIGRATIONS } from './migrations';
import { storeProvider } from './store.provider';
import { AUDIT_SETTINGS } from './tokens';

/** Append-only, hash-chained event store: consumes every event, emits nothing. */
@Module({})
export class AppModule {
  static register(config: ServiceConfig, settings = loadAuditSettings()): DynamicModule {
    return {
      module: AppModule,
      imports: [PlatformModule.forService(config, { migrations: MIGRATIONS })],
      controllers: [IngestController, AuditController],
      providers: [{ provide: AUDIT_SETTINGS, useValue: settings }, storeProvider, Checkpointer],
    };
  }
}
