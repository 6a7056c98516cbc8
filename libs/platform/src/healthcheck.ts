/**
 * Container HEALTHCHECK: `node dist/libs/platform/src/healthcheck.js <service>` exits 0 when the
 * service in this container answers 200 on /health/ready. The port comes from the same config
 * the service uses (PORT or the service default), so images need no per-service command.
 */
import { isServiceName, loadConfig } from '@agentplane/config';

async function main(): Promise<number> {
  const svc = process.argv[2] ?? '';
  if (!isServiceName(svc)) {
    process.stderr.write(`healthcheck: unknown service "${svc}"\n`);
    return 2;
  }
  const { port } = loadConfig(svc);
  const res = await fetch(`http://127.0.0.1:${port}/health/ready`, { signal: AbortSignal.timeout(2_500) });
  if (!res.ok) process.stderr.write(`${res.status} ${await res.text()}\n`);
  return res.ok ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err: Error) => {
    process.stderr.write(`healthcheck: ${err.message}\n`);
    process.exit(1);
  },
);
