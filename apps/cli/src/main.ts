import { Command, Option } from 'commander';
import {
  describeTopics,
  infraDown,
  infraStatus,
  infraUp,
  InfraError,
  readInfraEnv,
  redact,
  stderrProgress,
  tailTopics,
  TOPIC_KINDS,
  topicName,
} from '@agentplane/infra';
import { infraOptions, loadConfig } from './config';
import { formatEvent } from './format';
import { appDown, appStatus, appUp } from './stack';
import { registerSessionCommands } from './sessions';
import { registerAuditCommands } from './audit';

// kafkajs 2.2.4 schedules a negative timeout on Node 24: harmless, but it prints a warning
// on every run. Hide only that one.
process.removeAllListeners('warning');
process.on('warning', (w) => {
  if (w.name !== 'TimeoutNegativeWarning') process.stderr.write(`(node) ${w.name}: ${w.message}\n`);
});

const progress = stderrProgress();
const say = (line: string) => process.stderr.write(`${line}\n`);

function portOption() {
  return new Option('--port <port>', 'Kafka listener port (default $KAFKA_PORT or 9092)').argParser((v) => {
    const n = Number.parseInt(v, 10);
    if (!Number.isFinite(n) || n <= 0 || n > 65535) throw new Error(`invalid port: ${v}`);
    return n;
  });
}

const program = new Command();
program.name('agentplane').description('Control plane for fleets of tool-using AI agents').showHelpAfterError();

const infra = program.command('infra').description('Local Kafka (KRaft, from Maven Central) and PostgreSQL');

infra
  .command('up')
  .description('Start Kafka and Postgres (or use reachable ones) and create the topics')
  .addOption(portOption())
  .option('--json', 'print what was started and the effective URLs as JSON')
  .option('--secure', 'SASL/SCRAM with one principal per service and ACLs; credentials in .agentplane/secure.env')
  .action(async (opts: { port?: number; json?: boolean; secure?: boolean }) => {
    const cfg = loadConfig({ port: opts.port });
    const r = await infraUp(infraOptions(cfg, { progress, log: say, secure: opts.secure === true }));
    if (r.env.kafka.secure) say(`Per-service Kafka credentials: ${r.env.kafka.credentialsFile} (set -a; . that file; set +a before \`agentplane up\`)`);
    if (r.createdTopics.length) say(`Created topics: ${r.createdTopics.join(', ')}`);
    if (opts.json) {
      process.stdout.write(JSON.stringify(r, null, 2) + '\n');
      return;
    }
    say(`Infrastructure up (${cfg.layout.envFile}):`);
    process.stdout.write(`KAFKA_BROKERS=${r.env.KAFKA_BROKERS}\nDATABASE_URL=${r.env.DATABASE_URL}\n`);
  });

infra
  .command('down')
  .description('Stop the local Kafka broker and the local Postgres started by agentplane')
  .addOption(new Option('--only <what>', 'stop just one of them').choices(['kafka', 'postgres']))
  .action(async (opts: { only?: 'kafka' | 'postgres' }) => {
    const cfg = loadConfig();
    const r = await infraDown({ layout: cfg.layout, progress, only: opts.only });
    say(`Kafka: ${r.kafka}; local Postgres: ${r.postgres}`);
  });

infra
  .command('status')
  .description('Report Kafka, topics and Postgres; exit 1 when not all up')
  .addOption(portOption())
  .option('--json', 'machine-readable output')
  .action(async (opts: { port?: number; json?: boolean }) => {
    const cfg = loadConfig({ port: opts.port });
    const s = await infraStatus(infraOptions(cfg));
    if (opts.json) {
      process.stdout.write(JSON.stringify(s, null, 2) + '\n');
    } else {
      const mark = (ok: boolean) => (ok ? 'up  ' : 'DOWN');
      const k = s.kafka;
      process.stdout.write(
        `${mark(k.reachable)} kafka     ${k.brokers}${k.managed ? ` (local, pid ${k.pid})` : k.reachable ? ' (external)' : ''}\n`,
      );
      for (const t of s.topics) process.stdout.write(`${mark(t.present)} topic     ${t.topic}${t.present ? ` (${t.partitions} partitions)` : ''}\n`);
      process.stdout.write(`${mark(s.postgres.reachable)} postgres  ${redact(s.postgres.url)}${s.postgres.managed ? ' (local)' : ''}\n`);
    }
    process.exitCode = s.up ? 0 : 1;
  });

program
  .command('topics')
  .description('List topics with partition counts and retention')
  .option('--json', 'machine-readable output')
  .action(async (opts: { json?: boolean }) => {
    const cfg = loadConfig();
    const brokers = readInfraEnv(cfg.layout.envFile)?.KAFKA_BROKERS ?? cfg.externalKafkaBrokers ?? `127.0.0.1:${cfg.kafkaPort}`;
    const topics = await describeTopics(brokers.split(','), { configNames: ['retention.ms', 'cleanup.policy'] });
    if (opts.json) {
      process.stdout.write(JSON.stringify(topics, null, 2) + '\n');
      return;
    }
    const w = Math.max(5, ...topics.map((t) => t.topic.length));
    process.stdout.write(`${'TOPIC'.padEnd(w)}  PARTITIONS  RETENTION\n`);
    for (const t of topics) {
      const ms = t.configs['retention.ms'];
      const ret = ms === undefined ? '?' : ms === '-1' ? 'forever' : `${Math.round(Number(ms) / 3_600_000)}h`;
      process.stdout.write(`${t.topic.padEnd(w)}  ${String(t.partitions).padStart(10)}  ${ret}\n`);
    }
  });

program
  .command('up')
  .description('Infrastructure plus all six services in the background; returns once every service is ready')
  .option('--no-demo', 'do not start the demo workload')
  .option('--json', 'print what was started and the effective URLs as JSON')
  .action(async (opts: { demo: boolean; json?: boolean }) => {
    const cfg = loadConfig();
    const r = await appUp(cfg, { demo: opts.demo, progress, say });
    if (opts.json) process.stdout.write(JSON.stringify(r, null, 2) + '\n');
  });

program
  .command('down')
  .description('Stop the services, then the local infrastructure')
  .option('--keep-infra', 'stop only the services')
  .action(async (opts: { keepInfra?: boolean }) => {
    const cfg = loadConfig();
    await appDown(cfg, { keepInfra: opts.keepInfra === true, progress, say });
  });

program
  .command('status')
  .description('Infrastructure and service status; exit 1 when anything is down')
  .option('--json', 'machine-readable output')
  .action(async (opts: { json?: boolean }) => {
    const cfg = loadConfig();
    process.exitCode = (await appStatus(cfg, { json: opts.json === true })) ? 0 : 1;
  });

program
  .command('tail')
  .description('Print session events, control events and dead letters from the start of the log, then follow')
  .option('--session <id>', 'only events whose subject is this session id')
  .option('--type <type>', 'only events whose type contains this text (e.g. tool.call)')
  .option('--json', 'one JSON object per line (the event as stored)')
  .option('--no-follow', 'stop at the end of the log instead of waiting for more')
  .action(async (opts: { session?: string; type?: string; json?: boolean; follow: boolean }) => {
    const cfg = loadConfig();
    const env = readInfraEnv(cfg.layout.envFile);
    const brokers = env?.KAFKA_BROKERS ?? cfg.externalKafkaBrokers ?? `127.0.0.1:${cfg.kafkaPort}`;
    const prefix = env?.AGENTPLANE_TOPIC_PREFIX ?? cfg.topicPrefix;
    const topics = TOPIC_KINDS.filter((k) => k !== 'session-requests').map((k) => topicName(prefix, k));
    const ac = new AbortController();
    process.once('SIGINT', () => ac.abort());
    process.once('SIGTERM', () => ac.abort());
    await tailTopics({
      brokers: brokers.split(','),
      topics,
      follow: opts.follow,
      signal: ac.signal,
      filter: (e) => (!opts.session || e.subject === opts.session) && (!opts.type || e.type.includes(opts.type)),
      onEvent: (e) => process.stdout.write(formatEvent(e, opts.json === true) + '\n'),
    });
  });

registerAuditCommands(program);

registerSessionCommands(program);

(require('./cost') as typeof import('./cost')).registerCostCommands(program); // projections rebuild|checksum, cost whatif
(require('./tools') as typeof import('./tools')).registerToolsCommands(program); // tools import (MCP)

program.parseAsync(process.argv).catch((e: unknown) => {
  if (e instanceof InfraError) say(`agentplane: ${e.message}`);
  else say(`agentplane: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
  process.exit(1);
});
