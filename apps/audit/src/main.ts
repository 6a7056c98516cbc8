import 'reflect-metadata';
import { loadAuditSettings, loadConfigOrExit, ConfigError } from '@agentplane/config';
import type { TopicKind } from '@agentplane/infra';
import { bootstrapService } from '@agentplane/platform';
import { AppModule } from './app.module';

/** Topics audit consumes (DESIGN.md, services table): every fact, and what could not be accepted. */
export const TOPICS: readonly TopicKind[] = ['session-events', 'control-events', 'dead-letters'];

const config = loadConfigOrExit('audit');
let settings;
try {
  settings = loadAuditSettings();
} catch (err) {
  if (!(err instanceof ConfigError)) throw err;
  process.stderr.write(JSON.stringify({ level: 'fatal', service: 'audit', msg: err.message, problems: err.problems, time: Date.now() }) + '\n');
  process.exit(1);
}
void bootstrapService({
  config,
  module: AppModule.register(config, settings),
  // A new audit group starts at the beginning of the log: the store must hold every event.
  transport: { topics: TOPICS, fromBeginning: true },
  swagger: { title: 'agentplane audit', description: 'Tamper-evident event store: replay, time travel, verification, signed checkpoints and Merkle proofs (docs/audit.md).' },
});
