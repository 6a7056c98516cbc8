// `npm run bench`: every workload under bench/, each printing a table and writing JSON to
// bench/results/. Provisions the local broker and Postgres like `npm test` and stops what it
// started. Runs under Node 24 (scripts/with-node24.sh).
//   npm run bench                 all workloads, short modes
//   npm run bench -- w1 w2        only workloads whose file name contains a word
//   BENCH_FULL=1 npm run bench    full sizes (1M events for W5/W6, longer W4, 500 sessions for W3)
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');
const CLI = path.join(ROOT, 'dist', 'apps', 'cli', 'src', 'main.js');
const FULL = process.env.BENCH_FULL === '1';
const SMOKE = !FULL && process.env.BENCH_SMOKE === '1';
const SMOKE_DIR = path.join('bench', 'results', 'smoke');
const out = (name) => ['--out', path.join(SMOKE_DIR, `${name}.json`)];

// Smoke arguments: enough work for each workload to run every phase once; figures mean nothing.
const SMOKE_ARGS = {
  'w1-hop': ['--messages', '300', '--rates', '500', '--warmup', '50'],
  'w-roundtrip': ['--count', '20', '--gaps', '0,20'],
  'w2-session': ['--sessions', '20', '--warmup', '5', '--seconds', '3', '--concurrency', '20'],
  'w-restate': ['--sessions', '20', '--warmup', '5', '--seconds', '3', '--ramp', '1', '--concurrency', '20'],
  'w5-replay': ['--events', '4000', '--runs', '1', '--timelines', '50'],
  'w6-rebuild': ['--events', '4000'],
  'w-batching': ['--sessions', '8', '--steps', '2', '--sizes', '4'],
  'w3-scale': ['--instances', '1', '--seconds', '3', '--warmup', '1', '--concurrency', '8'],
  'w3-load': ['--concurrency', '10', '--seconds', '4', '--warmup', '2', '--planner-latency', '100', '--tool-latency', '50'],
  'w-seed-claims': ['--concurrency', '10', '--seconds', '4', '--warmup', '2'],
  'w7-recovery': ['--concurrency', '10', '--warmup', '3', '--steady', '3', '--hold', '3', '--services', 'planner', '--max-wait', '30', '--planner-latency', '100', '--tool-latency', '50', '--session-timeout-ms', '6000'],
};

// name → arguments (short mode first: what CI and a quick look use; full mode for BENCHMARKS.md),
// then Node flags if any
const WORKLOADS = [
  ['w1-hop', [], []],
  // One statement and one publish on their own, back to back and with idle gaps (what W2's
  // hops are made of).
  ['w-roundtrip', [], []],
  ['w2-session', ['--sessions', '200', '--seconds', '15', '--concurrency', '200'], ['--sessions', '1000', '--seconds', '60', '--concurrency', '200']],
  // The same session on Restate (its server from node_modules, started by the bench itself; no broker).
  ['w-restate', ['--sessions', '200', '--seconds', '15', '--concurrency', '200'], ['--sessions', '1000', '--seconds', '60', '--concurrency', '200']],
  // The fold of every session keeps 25k states alive while it makes a new one per event; with
  // V8's default young generation the 1M-event fold took 4.3 s of Node CPU, with a larger one
  // 2.7 s (233k vs 372k events/s; BENCHMARKS.md, W5).
  ['w5-replay', [], ['--events', '1000000'], ['--max-semi-space-size=64']],
  ['w6-rebuild', [], ['--events', '1000000']],
  ['w-batching', [], []],
  ['w3-scale', ['--seconds', '15'], ['--seconds', '60']],
  // W3 as specified: 1.0 s model, 0.5 s tools; 100 sessions for 20 s in CI, 500 for 60 s in full
  // (`node dist/bench/w3-load.js --concurrency 500 --soak` is the 15-minute soak, run by hand).
  ['w3-load', ['--concurrency', '100', '--seconds', '20', '--out', 'bench/results/w3-load-short.json'], ['--concurrency', '500', '--seconds', '60', '--warmup', '60']],
  // The seed's claims: direct-call vs agentplane, the seed's latency budgets.
  ['w-seed-claims', ['--concurrency', '100', '--seconds', '20', '--out', 'bench/results/w-seed-claims-short.json'], ['--concurrency', '500', '--seconds', '60', '--warmup', '60']],
  // W7: kill -9 and restart of each service under steady W3-like load.
  ['w7-recovery', ['--concurrency', '100'], ['--concurrency', '500', '--warmup', '60', '--steady', '30']],
];

function main() {
  const filters = process.argv.slice(2);
  const chosen = WORKLOADS.filter(([name]) => fs.existsSync(path.join(ROOT, 'dist', 'bench', `${name}.js`)))
    .filter(([name]) => filters.length === 0 || filters.some((f) => name.includes(f)));
  if (chosen.length === 0) {
    process.stderr.write(`bench: no workload matches ${filters.join(' ')}\n`);
    return 1;
  }
  const up = spawnSync(process.execPath, [CLI, 'infra', 'up', '--json'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  if (up.status !== 0) return 1;
  const started = JSON.parse(up.stdout.toString());
  const env = JSON.parse(fs.readFileSync(path.join(process.env.AGENTPLANE_HOME || path.join(ROOT, '.agentplane'), 'env.json'), 'utf8'));
  let failed = 0;
  try {
    for (const [name, shortArgs, fullArgs, nodeFlags = []] of chosen) {
      process.stdout.write(`\n=== ${name} ${FULL ? '(full)' : SMOKE ? '(smoke)' : '(short)'} ===\n`);
      const args = FULL ? fullArgs : SMOKE ? [...(SMOKE_ARGS[name] ?? shortArgs), ...out(name)] : shortArgs;
      if (SMOKE) fs.mkdirSync(path.join(ROOT, SMOKE_DIR), { recursive: true });
      const r = spawnSync(process.execPath, ['--enable-source-maps', ...nodeFlags, path.join(ROOT, 'dist', 'bench', `${name}.js`), ...args], {
        cwd: ROOT,
        stdio: 'inherit',
        env: { ...process.env, KAFKA_BROKERS: env.KAFKA_BROKERS, DATABASE_URL: env.DATABASE_URL },
      });
      if (r.status !== 0) {
        failed++;
        process.stderr.write(`bench: ${name} exited with ${r.status}\n`);
      }
    }
  } finally {
    if (started.startedKafka || started.startedPostgres) {
      const only = started.startedKafka && started.startedPostgres ? [] : ['--only', started.startedKafka ? 'kafka' : 'postgres'];
      spawnSync(process.execPath, [CLI, 'infra', 'down', ...only], { cwd: ROOT, stdio: 'inherit' });
    }
  }
  return failed ? 1 : 0;
}

process.exit(main());
