import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, DEFAULT_PORTS, SERVICE_NAMES, loadConfig, redacted, redactUrl } from './config';

test('defaults for every service', () => {
  for (const svc of SERVICE_NAMES) {
    const c = loadConfig(svc, {});
    assert.equal(c.service, svc);
    assert.equal(c.port, DEFAULT_PORTS[svc]);
    assert.deepEqual(c.kafka.brokers, ['127.0.0.1:9092']);
    assert.equal(c.kafka.clientId, `agentplane-${svc}`);
    assert.equal(c.kafka.groupId, `agentplane-${svc}`);
    assert.equal(c.topicPrefix, 'agentplane');
    assert.equal(c.databaseUrl, 'postgres://postgres@127.0.0.1:5432/postgres');
    assert.equal(c.dbSchema, svc.replace(/-/g, '_'));
    assert.equal(c.dbSynchronousCommit, 'on');
    assert.equal(c.configDir, 'config/');
    assert.equal(c.logLevel, 'info');
    assert.equal(c.otlpEndpoint, undefined);
    assert.equal(c.kafka.sasl, undefined);
  }
  assert.deepEqual(
    SERVICE_NAMES.map((s) => DEFAULT_PORTS[s]),
    [8080, 8083, 8084, 8085, 8081, 8082],
  );
});

test('environment overrides', () => {
  const c = loadConfig('cost-accounting', {
    PORT: '9000',
    KAFKA_BROKERS: 'a:1, b:2',
    KAFKA_SASL_MECHANISM: 'SCRAM-SHA-512',
    KAFKA_SASL_USERNAME: 'u',
    KAFKA_SASL_PASSWORD: 'p w',
    AGENTPLANE_TOPIC_PREFIX: 'test.x',
    DATABASE_URL: 'postgresql://u:pw@db:5432/app',
    DB_SCHEMA: 't_123',
    DB_SYNCHRONOUS_COMMIT: 'off',
    AGENTPLANE_CONFIG: '/etc/agentplane',
    LOG_LEVEL: 'DEBUG',
    OTEL_EXPORTER_OTLP_ENDPOINT: 'http://otel:4318',
  });
  assert.equal(c.port, 9000);
  assert.deepEqual(c.kafka.brokers, ['a:1', 'b:2']);
  assert.deepEqual(c.kafka.sasl, { mechanism: 'scram-sha-512', username: 'u', password: 'p w' });
  assert.equal(c.topicPrefix, 'test.x');
  assert.equal(c.dbSchema, 't_123');
  assert.equal(c.dbSynchronousCommit, 'off');
  assert.equal(c.configDir, '/etc/agentplane');
  assert.equal(c.logLevel, 'debug');
  assert.equal(c.otlpEndpoint, 'http://otel:4318');
});

test('config is deeply frozen', () => {
  const c = loadConfig('gateway', {});
  assert.ok(Object.isFrozen(c));
  assert.ok(Object.isFrozen(c.kafka));
  assert.ok(Object.isFrozen(c.kafka.brokers));
  assert.throws(() => {
    (c as { port: number }).port = 1;
  });
});

test('every bad variable is reported in one error', () => {
  const err = (() => {
    try {
      loadConfig('planner', {
        PORT: 'eighty',
        KAFKA_BROKERS: 'nohostport',
        KAFKA_SASL_MECHANISM: 'gssapi',
        DATABASE_URL: 'mysql://x@y/z',
        DB_SCHEMA: 'Bad-Schema',
        DB_SYNCHRONOUS_COMMIT: 'sometimes',
        LOG_LEVEL: 'loud',
        OTEL_EXPORTER_OTLP_ENDPOINT: 'nope',
        SHUTDOWN_TIMEOUT_MS: '5',
      });
    } catch (e) {
      return e;
    }
    return undefined;
  })();
  assert.ok(err instanceof ConfigError);
  const names = err.problems.map((p) => p.split(':')[0]);
  for (const n of [
    'PORT',
    'KAFKA_BROKERS',
    'KAFKA_SASL_MECHANISM',
    'KAFKA_SASL_USERNAME',
    'KAFKA_SASL_PASSWORD',
    'DATABASE_URL',
    'DB_SCHEMA',
    'DB_SYNCHRONOUS_COMMIT',
    'LOG_LEVEL',
    'OTEL_EXPORTER_OTLP_ENDPOINT',
    'SHUTDOWN_TIMEOUT_MS',
  ]) {
    assert.ok(names.includes(n), `expected a problem for ${n}: ${err.message}`);
  }
});

test('redacted() hides secrets', () => {
  const c = loadConfig('audit', {
    DATABASE_URL: 'postgres://app:s3cret@db/app',
    KAFKA_SASL_MECHANISM: 'plain',
    KAFKA_SASL_USERNAME: 'u',
    KAFKA_SASL_PASSWORD: 'hunter2',
  });
  const text = JSON.stringify(redacted(c));
  assert.ok(!text.includes('s3cret'));
  assert.ok(!text.includes('hunter2'));
  assert.ok(text.includes('postgres://app:***@db/app'));
  assert.equal(redactUrl('see postgres://a:b@h/d and amqp://x:y@z'), 'see postgres://a:***@h/d and amqp://x:***@z');
  assert.equal(redactUrl('postgres://a@h/d'), 'postgres://a@h/d');
});
