import 'reflect-metadata';
import { loadConfigOrExit } from '@agentplane/config';
import type { TopicKind } from '@agentplane/infra';
import { bootstrapService } from '@agentplane/platform';
import { AppModule } from './app.module';

/** Topics rate-limiter consumes (DESIGN.md, services table). */
export const TOPICS: readonly TopicKind[] = ['session-events', 'control-events'];

const config = loadConfigOrExit('rate-limiter');
// Sessions keep their order; other sessions' events run at once, so a tool's admissions
// gather into one transaction (see AdmissionService.submit).
void bootstrapService({ config, module: AppModule.register(config), transport: { topics: TOPICS, ordering: 'key', maxInFlightPerPartition: 64 } });
