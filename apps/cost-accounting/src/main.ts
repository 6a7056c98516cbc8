import 'reflect-metadata';
import { loadConfigOrExit } from '@agentplane/config';
import type { TopicKind } from '@agentplane/infra';
import { bootstrapService } from '@agentplane/platform';
import { AppModule } from './app.module';

/** Topics cost-accounting consumes (DESIGN.md, services table). */
export const TOPICS: readonly TopicKind[] = ['session-events', 'control-events'];

const config = loadConfigOrExit('cost-accounting');
void bootstrapService({
  config,
  module: AppModule.register(config),
  transport: { topics: TOPICS },
  swagger: { title: 'agentplane cost accounting', description: 'Analyst API over the cost ledger and projections; dashboard at /dashboard.' },
});
