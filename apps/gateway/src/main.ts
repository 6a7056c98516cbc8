import 'reflect-metadata';
import { ConfigError, loadConfigOrExit, loadGatewaySettings } from '@agentplane/config';
import type { TopicKind } from '@agentplane/infra';
import { bootstrapService } from '@agentplane/platform';
import { AppModule } from './app.module';

/** Topics gateway consumes (DESIGN.md, services table). */
export const TOPICS: readonly TopicKind[] = ['session-events'];

const config = loadConfigOrExit('gateway');
let settings;
try {
  settings = loadGatewaySettings();
} catch (err) {
  if (!(err instanceof ConfigError)) throw err;
  process.stderr.write(JSON.stringify({ level: 'fatal', service: 'gateway', msg: err.message, problems: err.problems, time: Date.now() }) + '\n');
  process.exit(1);
}
void bootstrapService({
  config,
  module: AppModule.register(config, settings),
  // The projection is the log folded: a new consumer group (fresh schema) reads it from the start.
  transport: { topics: TOPICS, fromBeginning: true, ordering: 'key' },
  swagger: {
    title: 'agentplane gateway',
    description: 'Start agent sessions over HTTP, wait for or poll their outcome, cancel them. Authenticate with a tenant API key: `Authorization: Bearer <key>`.',
    bearerAuth: true,
  },
});
