// `npm start`: local Kafka + Postgres, all six services, where to look, the demo when there is
// one; stays in the foreground until Ctrl-C, then stops what it started. Runs under Node 24
// (scripts/with-node24.sh has installed deps and compiled dist/).
'use strict';
const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');
const CLI = path.join(ROOT, 'dist', 'apps', 'cli', 'src', 'main.js');
const DEMO = path.join(ROOT, 'dist', 'scripts', 'src', 'demo.js');
const infra = require(path.join(ROOT, 'dist', 'libs', 'infra', 'src'));

function cli(args, stdio = 'inherit') {
  return spawnSync(process.execPath, ['--enable-source-maps', CLI, ...args], { cwd: ROOT, stdio });
}

function say(msg) {
  process.stdout.write(`${msg}\n`);
}

async function main() {
  // Remember what ran before, so Ctrl-C stops only what this command started.
  const layout = infra.infraLayout(ROOT, process.env.AGENTPLANE_HOME || undefined);
  const runDir = layout.runDir;
  const before = await infra.servicesStatus({ root: ROOT, runDir });
  const servicesWereUp = before.every((s) => s.pid !== undefined);
  const kafkaWasRunning = infra.kafkaPid(layout) !== undefined;
  const pgWasRunning = infra.hasLocalPostgres(layout);
  let started = { startedKafka: false, startedPostgres: false };

  let stopping = false;
  let demo;
  const stop = async (code) => {
    if (stopping) return;
    stopping = true;
    process.stderr.write('\nstopping ...\n');
    if (demo && demo.exitCode === null) demo.kill('SIGTERM');
    if (!servicesWereUp) cli(['down', '--keep-infra']);
    if (started.startedKafka || started.startedPostgres) {
      const only = started.startedKafka && started.startedPostgres ? [] : ['--only', started.startedKafka ? 'kafka' : 'postgres'];
      cli(['infra', 'down', ...only]);
    }
    process.exit(code);
  };
  process.on('SIGINT', () => stop(0));
  process.on('SIGTERM', () => stop(0));

  const up = cli(['up', '--no-demo', '--json'], ['ignore', 'pipe', 'inherit']);
  if (up.status !== 0) {
    // Take down whatever came up before the failure and was not running before.
    started = {
      startedKafka: !kafkaWasRunning && infra.kafkaPid(layout) !== undefined,
      startedPostgres: !pgWasRunning && infra.hasLocalPostgres(layout),
    };
    await stop(1);
    return 1;
  }
  started = JSON.parse(up.stdout.toString()).infra;
  const env = JSON.parse(fs.readFileSync(layout.envFile, 'utf8'));
  say('');
  say('agentplane is running:');
  say('  gateway          http://127.0.0.1:8080/v1/sessions   (OpenAPI: /docs)');
  say('  analyst API      http://127.0.0.1:8081               (dashboard, cost projections)');
  say('  audit API        http://127.0.0.1:8082');
  say('  health, metrics  http://127.0.0.1:<8080-8085>/health/ready, /metrics');
  say(`  Kafka            ${env.KAFKA_BROKERS}`);
  say(`  Postgres         ${infra.redact(env.DATABASE_URL)}`);
  say(`  logs             ${path.relative(process.cwd(), runDir)}/<service>.log`);
  say('  watch the log    npx agentplane tail');
  say('');

  if (fs.existsSync(DEMO)) {
    demo = spawn(process.execPath, ['--enable-source-maps', DEMO], {
      cwd: ROOT,
      stdio: 'inherit',
      env: { ...process.env, KAFKA_BROKERS: env.KAFKA_BROKERS, DATABASE_URL: env.DATABASE_URL },
    });
    // The demo prints its summary and keeps the demo tools serving until Ctrl-C.
    demo.on('close', (code) => {
      if (!stopping && code !== 0) process.stderr.write(`warning: the demo exited with code ${code}\n`);
    });
  } else {
    say('Press Ctrl-C to stop.');
  }
  // Stay in the foreground; say so when a service dies rather than failing silently.
  const reported = new Set();
  setInterval(async () => {
    if (stopping) return;
    for (const s of await infra.servicesStatus({ root: ROOT, runDir })) {
      if (!s.pid && !reported.has(s.name)) {
        reported.add(s.name);
        process.stderr.write(`warning: ${s.name} exited; see ${s.log}\n`);
      }
    }
  }, 5000);
  return undefined;
}

main().then(
  (code) => {
    if (code !== undefined) process.exit(code);
  },
  (e) => {
    process.stderr.write(`start: ${e && e.stack ? e.stack : e}\n`);
    process.exit(1);
  },
);
