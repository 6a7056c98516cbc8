// `agentplane up|down|status`: infrastructure plus the six services as background processes.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  infraDown,
  infraStatus,
  infraUp,
  InfraUpResult,
  livePid,
  Progress,
  redact,
  ServiceStatus,
  servicesStatus,
  startServices,
  stopServices,
  terminate,
} from '@agentplane/infra';
import { CliConfig, infraOptions } from './config';

const DEMO = path.join('dist', 'scripts', 'src', 'demo.js');

function demoFiles(cfg: CliConfig) {
  return { pid: path.join(cfg.layout.runDir, 'demo.pid'), log: path.join(cfg.layout.runDir, 'demo.log') };
}

export async function appUp(
  cfg: CliConfig,
  o: { demo: boolean; progress: Progress; say: (l: string) => void },
): Promise<{ infra: InfraUpResult; services: ServiceStatus[] }> {
  const infra = await infraUp(infraOptions(cfg, { progress: o.progress, log: o.say }));
  const env = {
    ...process.env,
    KAFKA_BROKERS: infra.env.KAFKA_BROKERS,
    DATABASE_URL: infra.env.DATABASE_URL,
    AGENTPLANE_TOPIC_PREFIX: infra.env.AGENTPLANE_TOPIC_PREFIX,
  };
  const services = await o.progress('Starting services (gateway planner rate-limiter executor cost-accounting audit)', () =>
    startServices({ root: cfg.layout.root, runDir: cfg.layout.runDir, env }),
  );
  for (const s of services) o.say(`  ${s.name.padEnd(16)} http://127.0.0.1:${s.port}  (pid ${s.pid}, log ${path.relative(process.cwd(), s.log)})`);
  const demo = path.join(cfg.layout.root, DEMO);
  if (o.demo && fs.existsSync(demo)) {
    const f = demoFiles(cfg);
    if (!livePid(f.pid, demo)) {
      const out = fs.openSync(f.log, 'a');
      const child = spawn(process.execPath, ['--enable-source-maps', demo], { cwd: cfg.layout.root, detached: true, stdio: ['ignore', out, out], env });
      fs.closeSync(out);
      child.unref();
      fs.writeFileSync(f.pid, `${child.pid}\n`);
      o.say(`  demo workload running (log ${path.relative(process.cwd(), f.log)})`);
    }
  }
  o.say('Watch the log with: npx agentplane tail');
  return { infra, services };
}

export async function appDown(cfg: CliConfig, o: { keepInfra: boolean; progress: Progress; say: (l: string) => void }): Promise<void> {
  const f = demoFiles(cfg);
  const demo = livePid(f.pid, DEMO);
  if (demo) await terminate(demo, 5_000);
  fs.rmSync(f.pid, { force: true });
  const r = await o.progress('Stopping services', () => stopServices({ root: cfg.layout.root, runDir: cfg.layout.runDir }));
  o.say(Object.entries(r).map(([k, v]) => `${k}: ${v}`).join(', '));
  if (!o.keepInfra) {
    const i = await infraDown({ layout: cfg.layout, progress: o.progress });
    o.say(`Kafka: ${i.kafka}; local Postgres: ${i.postgres}`);
  }
}

export async function appStatus(cfg: CliConfig, o: { json: boolean }): Promise<boolean> {
  const [infra, services] = await Promise.all([
    infraStatus(infraOptions(cfg)),
    servicesStatus({ root: cfg.layout.root, runDir: cfg.layout.runDir }),
  ]);
  const up = infra.up && services.every((s) => s.ready);
  if (o.json) {
    process.stdout.write(JSON.stringify({ up, infra, services }, null, 2) + '\n');
    return up;
  }
  const mark = (ok: boolean) => (ok ? 'up  ' : 'DOWN');
  process.stdout.write(`${mark(infra.kafka.reachable)} kafka            ${infra.kafka.brokers}\n`);
  const missing = infra.topics.filter((t) => !t.present);
  process.stdout.write(`${mark(missing.length === 0)} topics           ${missing.length ? `missing: ${missing.map((t) => t.topic).join(', ')}` : `${infra.topics.length} present`}\n`);
  process.stdout.write(`${mark(infra.postgres.reachable)} postgres         ${redact(infra.postgres.url)}\n`);
  for (const s of services) {
    process.stdout.write(`${mark(s.ready)} ${s.name.padEnd(16)} :${s.port}${s.pid ? ` pid ${s.pid}` : ''}\n`);
  }
  return up;
}
