import 'reflect-metadata';
import { loadConfigOrExit } from '@agentplane/config';
import type { TopicKind } from '@agentplane/infra';
import { bootstrapService } from '@agentplane/platform';
import { AppModule } from './app.module';

/** Topics planner consumes (DESIGN.md, services table). */
// control-events: planner.mode.changed, so every instance follows each tenant's mode.
export const TOPICS: readonly TopicKind[] = ['session-requests', 'session-events', 'control-events'];

const config = loadConfigOrExit('planner');
// One session's facts stay in order; sessions sharing a partition are planned at once. Its
// requests and its events (two topics, same partition count and key) go to one instance, so
// two instances never decide for the same session at once outside a rebalance.
void bootstrapService({ config, module: AppModule.register(config), transport: { topics: TOPICS, ordering: 'key', assignment: 'co-partitioned' } });
