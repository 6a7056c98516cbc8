/**
 * Every service shell as its own OS process against the real Postgres and Kafka: boots on an
 * empty schema (migrations run), becomes ready (DB, migrations, producer, consumer group),
 * serves Prometheus text, and stops cleanly on SIGTERM with exit code 0.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Client } from 'pg';
import { SERVICE_NAMES } from '@agentplane/config';
import { topicSpecs } from '@agentplane/infra';
import { TestAdmin, waitForKafka } from '../support';
import { DATABASE_URL, exitWithin, freePort, startService, suffix, waitFor, type ServiceProcess } from './helpers';

const READY_DEADLINE_MS = 90_000;
const EXIT_DEADLINE_MS = 20_000;
const run = suffix();
const schemas: string[] = [];
const running: ServiceProcess[] = [];
let pg: Client;

// Topics of its own: services start at the earliest offset, and must not replay (or add to)
// whatever a developer's `npm start` left on the default topics.
const prefix = `t-shells-${run}`;
const admin = new TestAdmin();

before(async () => {
  await waitForKafka();
  await admin.createTopics(topicSpecs(prefix).map((t) => t.topic), 2);
  pg = new Client({ connectionString: DATABASE_URL });
  await pg.connect();
});

after(async () => {
  for (const p of running) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
  for (const s of schemas) await pg.query(`DROP SCHEMA IF EXISTS "${s}" CASCADE`);
  await pg.end();
  await admin.close();
});

describe('service shells', { concurrency: SERVICE_NAMES.length }, () => {
  for (const svc of SERVICE_NAMES) {
    test(`${svc}: boots on an empty schema, ready, /metrics, clean SIGTERM`, { timeout: READY_DEADLINE_MS + 60_000 }, async () => {
      const schema = `t_${svc.replace(/-/g, '_')}_${run}`;
      schemas.push(schema);
      const port = await freePort();
      const proc = startService(svc, {
        PORT: String(port),
        HOST: '127.0.0.1',
        DB_SCHEMA: schema,
        DATABASE_URL,
        // A group of its own: never steal partitions from (or commit offsets for) real services.
        KAFKA_GROUP_ID: `agentplane-test-${svc}-${run}`,
        AGENTPLANE_TOPIC_PREFIX: prefix,
        LOG_LEVEL: 'warn',
      });
      running.push(proc);
      const base = `http://127.0.0.1:${port}`;
      const fail = (msg: string) => `${msg}\n--- ${svc} output ---\n${proc.output().slice(-4000)}`;

      const ready = await waitFor(
        `${svc} /health/ready`,
        async () => {
          if (proc.child.exitCode !== null) throw new Error(fail(`exited early with ${proc.child.exitCode}`));
          const res = await fetch(`${base}/health/ready`);
          return res.status === 200 ? ((await res.json()) as { ok: boolean; checks: Record<string, { ok: boolean }> }) : undefined;
        },
        READY_DEADLINE_MS,
      ).catch((err: Error) => assert.fail(fail(err.message)));
      assert.equal(ready.ok, true);
      for (const check of ['database', 'migrations', 'kafka-producer', 'kafka-consumer']) {
        assert.equal(ready.checks[check]?.ok, true, `check ${check}: ${JSON.stringify(ready.checks)}`);
      }

      const live = await fetch(`${base}/health/live`);
      assert.equal(live.status, 200);

      const metrics = await fetch(`${base}/metrics`);
      assert.equal(metrics.status, 200);
      assert.match(metrics.headers.get('content-type') ?? '', /^text\/plain/);
      const text = await metrics.text();
      assert.match(text, /^# HELP /m);
      assert.match(text, new RegExp(`process_cpu_user_seconds_total\\{service="${svc}"\\}`));
      assert.match(text, /# TYPE messages_handled_total counter/);
      // The readiness probes above went through the HTTP middleware.
      assert.match(text, /http_request_duration_seconds_count\{[^}]*route="\/health\/ready"/);

      const docs = await fetch(`${base}/docs/json`);
      assert.equal(docs.status, 200);
      const openapi = (await docs.json()) as { paths: Record<string, unknown> };
      assert.ok(openapi.paths['/health/ready'], 'OpenAPI lists /health/ready');

      const applied = await pg.query<{ name: string }>(`SELECT name FROM "${schema}".migrations ORDER BY id`);
      // Services add their own migrations after the shared first one.
      assert.equal(applied.rows[0]?.name, 'Init1764028800000');
      const table = await pg.query<{ t: string | null }>(`SELECT to_regclass($1)::text AS t`, [`"${schema}".processed_events`]);
      assert.ok(table.rows[0]?.t, 'processed_events created in the service schema');

      proc.child.kill('SIGTERM');
      const exit = await exitWithin(proc, EXIT_DEADLINE_MS).catch((err: Error) => assert.fail(fail(err.message)));
      assert.deepEqual(exit, { code: 0, signal: null }, fail('unclean exit'));
      assert.doesNotMatch(proc.output(), /"level":"(error|fatal)"(?![^\n]*kafkajs)/, fail('error logged'));
    });
  }
});

test('bad configuration: one error listing every bad variable, exit 1', { timeout: 30_000 }, async () => {
  const proc = startService('audit', { PORT: 'eighty', LOG_LEVEL: 'loud', DB_SCHEMA: 'Not-Valid' });
  running.push(proc);
  const exit = await exitWithin(proc, 20_000);
  assert.equal(exit.code, 1);
  const out = proc.output();
  for (const name of ['PORT', 'LOG_LEVEL', 'DB_SCHEMA']) assert.match(out, new RegExp(`${name}:`), out);
  assert.equal(out.trim().split('\n').length, 1, `one error line:\n${out}`);
});
