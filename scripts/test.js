// `npm test`: every test, provisioning what it needs. Runs under Node 24 (scripts/with-node24.sh
// has already installed deps and compiled dist/).
//   npm test                      all unit (libs|apps/**/src/*.spec.ts) and integration (test/**) tests
//   npm test -- infra messaging   only spec files whose path contains one of the words
//   npm test -- test/infra/infra.spec.ts --test-name-pattern=topics   (--flags go to node --test)
'use strict';
const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');
const CLI = path.join(ROOT, 'dist', 'apps', 'cli', 'src', 'main.js');
const ENV_FILE = path.join(process.env.AGENTPLANE_HOME || path.join(ROOT, '.agentplane'), 'env.json');
// One test may wait on Kafka rebalances; none should take this long.
const TEST_TIMEOUT_MS = Number(process.env.AGENTPLANE_TEST_TIMEOUT_MS || 300000);

function log(msg) {
  process.stderr.write(`test: ${msg}\n`);
}

function cli(args, opts = {}) {
  return spawnSync(process.execPath, ['--enable-source-maps', CLI, ...args], { cwd: ROOT, stdio: 'inherit', ...opts });
}

function has(cmd) {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

/** kcat is the non-JavaScript client of the wire-format tests; a missing one is reported by them. */
function ensureKcat() {
  if (has('kcat')) return;
  if (process.getuid && process.getuid() !== 0) {
    log('kcat not installed (not root, so not installing it): tests that need kcat will fail');
    return;
  }
  log('installing kcat (apt-get install -y kcat) ...');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  let r = spawnSync('apt-get', ['install', '-y', '-qq', 'kcat'], { stdio: ['ignore', 'ignore', 'inherit'], env });
  if (r.status !== 0) {
    spawnSync('apt-get', ['update', '-qq'], { stdio: ['ignore', 'ignore', 'inherit'], env });
    r = spawnSync('apt-get', ['install', '-y', '-qq', 'kcat'], { stdio: ['ignore', 'ignore', 'inherit'], env });
  }
  if (r.status !== 0 || !has('kcat')) log('could not install kcat: tests that need it will fail');
}

function findSpecs(dir, out = []) {
  let entries;
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return out;
  }
  for (const e of entries) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) {
      if (e.name !== 'node_modules') findSpecs(p, out);
    } else if (e.name.endsWith('.spec.js')) out.push(p);
  }
  return out;
}

/** A filter matches a spec when its source path (test/x/y.spec.ts) or dist path contains it. */
function selectSpecs(filters) {
  const all = ['apps', 'libs', 'test']
    .flatMap((d) => findSpecs(path.join(ROOT, 'dist', d)))
    .sort();
  if (filters.length === 0) return all;
  return all.filter((f) => {
    const dist = path.relative(ROOT, f);
    const src = path.relative(path.join(ROOT, 'dist'), f).replace(/\.js$/, '.ts');
    return filters.some((w) => {
      const n = w.replace(/^\.\//, '');
      return src.includes(n) || dist.includes(n) || src.includes(n.replace(/\.js$/, '.ts'));
    });
  });
}

function readEnv() {
  try {
    return JSON.parse(fs.readFileSync(ENV_FILE, 'utf8'));
  } catch {
    return undefined;
  }
}

async function main() {
  const args = process.argv.slice(2);
  const nodeFlags = args.filter((a) => a.startsWith('--'));
  const filters = args.filter((a) => !a.startsWith('--'));

  const guards = spawnSync('sh', [path.join(ROOT, 'scripts', 'guards.sh')], { cwd: ROOT, stdio: 'inherit' });
  if (guards.status !== 0) return guards.status || 1;

  const specs = selectSpecs(filters);
  if (specs.length === 0) {
    log(filters.length ? `no spec file matches ${filters.join(' ')}` : 'no spec files found under dist/');
    return 1;
  }

  // `infra up` is idempotent: it reuses what runs and reports what it had to start, which is
  // what this run takes down again at the end.
  log('provisioning infrastructure (agentplane infra up)');
  const up = cli(['infra', 'up', '--json'], { stdio: ['ignore', 'pipe', 'inherit'] });
  if (up.status !== 0) {
    log('infra up failed');
    return 1;
  }
  const started = JSON.parse(up.stdout.toString());
  const env = readEnv();
  if (!env) {
    log(`no ${ENV_FILE} after infra up`);
    return 1;
  }
  ensureKcat();

  const childEnv = {
    ...process.env,
    KAFKA_BROKERS: env.KAFKA_BROKERS,
    DATABASE_URL: env.DATABASE_URL,
    AGENTPLANE_TOPIC_PREFIX: env.AGENTPLANE_TOPIC_PREFIX,
  };
  log(`KAFKA_BROKERS=${env.KAFKA_BROKERS} DATABASE_URL=${env.DATABASE_URL}; ${specs.length} spec file(s)`);

  const child = spawn(
    process.execPath,
    [
      '--test',
      '--test-concurrency=1',
      '--enable-source-maps',
      `--test-timeout=${TEST_TIMEOUT_MS}`,
      ...nodeFlags,
      ...specs.map((f) => path.relative(ROOT, f)),
    ],
    { cwd: ROOT, stdio: 'inherit', env: childEnv },
  );
  const forward = (sig) => child.kill(sig);
  process.on('SIGINT', forward);
  process.on('SIGTERM', forward);
  const code = await new Promise((resolve) => child.on('close', (c, sig) => resolve(c ?? (sig ? 1 : 0))));
  process.off('SIGINT', forward);
  process.off('SIGTERM', forward);

  if (started.startedKafka || started.startedPostgres) {
    const only = started.startedKafka && started.startedPostgres ? [] : ['--only', started.startedKafka ? 'kafka' : 'postgres'];
    log(`taking down what this run started (agentplane infra down ${only.join(' ')})`);
    cli(['infra', 'down', ...only], { stdio: ['ignore', 'ignore', 'inherit'] });
  }
  return code;
}

main().then(
  (code) => process.exit(code),
  (e) => {
    process.stderr.write(`test: ${e && e.stack ? e.stack : e}\n`);
    process.exit(1);
  },
);
