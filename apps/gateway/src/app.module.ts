import { Module, type DynamicModule } from '@nestjs/common';
import { loadGatewaySettings, type GatewaySettings, type ServiceConfig } from '@agentplane/config';
import { PlatformModule } from '@agentplane/platform';
import { TenantAuthGuard, TenantDirectory } from './auth';
import { MIGRATIONS } from './migrations';
import { ProjectionHandlers } from './projection.controller';
import { SessionStore } from './session-store';
import { GATEWAY_SETTINGS, SessionsService } from './sessions.service';
import { SessionsController } from './sessions.controller';
import { Waiters } from './waiters';
import { PlannerLatency } from './planner-latency';
import { WebhookDispatcher } from './webhook-dispatcher';

/** HTTP ingress: publishes session requests; consumes session events to answer sync waits and GETs. */
@Module({})
export class AppModule {
  static register(config: ServiceConfig, settings: GatewaySettings = loadGatewaySettings({})): DynamicModule {
    return {
      module: AppModule,
      imports: [PlatformModule.forService(config, { migrations: MIGRATIONS })],
      controllers: [SessionsController, ProjectionHandlers],
      providers: [
        { provide: GATEWAY_SETTINGS, useValue: settings },
        TenantDirectory,
        TenantAuthGuard,
        SessionStore,
        SessionsService,
        Waiters,
        PlannerLatency,
        WebhookDispatcher,
      ],
    };
  }
}
