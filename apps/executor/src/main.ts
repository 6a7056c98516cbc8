import 'reflect-metadata';
import { loadConfigOrExit } from '@agentplane/config';
import type { TopicKind } from '@agentplane/infra';
import { bootstrapService } from '@agentplane/platform';
import { AppModule } from './app.module';

/** Topics executor consumes (DESIGN.md, services table). */
export const TOPICS: readonly TopicKind[] = ['session-events'];

const config = loadConfigOrExit('executor');
// Tool calls are independent of each other: a slow tool must not hold up the partition.
void bootstrapService({ config, module: AppModule.register(config), transport: { topics: TOPICS, ordering: 'none', maxInFlightPerPartition: 64 } });
