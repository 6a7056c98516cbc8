import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { context, trace } from '@opentelemetry/api';
import pino from 'pino';
import { loadConfig } from '@agentplane/config';
import { pinoOptions } from './logging';
import { installTracePropagation } from './tracing';

function capture(): { logger: pino.Logger; lines: () => Array<Record<string, unknown>> } {
  const out: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      out.push(chunk.toString());
      cb();
    },
  });
  const logger = pino(pinoOptions(loadConfig('gateway', { LOG_LEVEL: 'debug' })), stream);
  return { logger, lines: () => out.join('').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>) };
}

test('JSON lines with service, ISO time and a level label', () => {
  const { logger, lines } = capture();
  logger.info('hello');
  const [l] = lines();
  assert.equal(l!.service, 'gateway');
  assert.equal(l!.level, 'info');
  assert.match(String(l!.time), /^\d{4}-\d\d-\d\dT/);
});

test('secrets are redacted; URL passwords masked, hosts kept', () => {
  const { logger, lines } = capture();
  logger.info(
    {
      authorization: 'Bearer a',
      headers: { authorization: 'Bearer b' },
      req: { headers: { authorization: 'Bearer c', 'x-api-key': 'k1' } },
      tenant: { apiKey: 'k2', password: 'p', secret: 's', name: 'acme' },
      databaseUrl: 'postgres://app:pw1@db:5432/app',
      config: { databaseUrl: 'postgres://app:pw2@db/app' },
    },
    'connect to postgres://app:pw3@db/app failed',
  );
  const text = JSON.stringify(lines()[0]);
  for (const secret of ['Bearer a', 'Bearer b', 'Bearer c', 'k1', 'k2', '"p"', '"s"', 'pw1', 'pw2', 'pw3']) {
    assert.ok(!text.includes(secret), `${secret} leaked: ${text}`);
  }
  assert.ok(text.includes('acme'));
  assert.ok(text.includes('postgres://app:***@db:5432/app'));
  assert.ok(text.includes('connect to postgres://app:***@db/app failed'));
});

test('trace and span ids of the active context are logged', () => {
  installTracePropagation();
  const { logger, lines } = capture();
  const sc = { traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7', traceFlags: 1 };
  context.with(trace.setSpanContext(context.active(), sc), () => logger.info('inside'));
  logger.info('outside');
  const [inside, outside] = lines();
  assert.equal(inside!.trace_id, sc.traceId);
  assert.equal(inside!.span_id, sc.spanId);
  assert.equal(outside!.trace_id, undefined);
});
