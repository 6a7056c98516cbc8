import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BaseRpcExceptionFilter } from '@nestjs/microservices';
import { lastValueFrom } from 'rxjs';
import { KafkaJSConnectionError, KafkaJSNonRetriableError, KafkaJSNumberOfRetriesExceeded, KafkaJSProtocolError } from 'kafkajs';
import {
  AgentplaneError,
  buildDeadLetterEvent,
  DEAD_LETTERED_TYPE,
  DecodeError,
  describeError,
  eventHeaders,
  HandlerError,
  isRetriable,
  parseBrokers,
  toError,
  TransientError,
  uuidv7,
} from '@agentplane/messaging';

describe('errors', () => {
  it('classifies agentplane errors', () => {
    assert.equal(isRetriable(new TransientError('db down')), true);
    assert.equal(isRetriable(new HandlerError('bad state')), false);
    assert.equal(isRetriable(new HandlerError('maybe later', { retriable: true })), true);
    assert.equal(isRetriable(new DecodeError('garbage')), false);
    const e = new TransientError('x', { code: 'TOOL_TIMEOUT' });
    assert.ok(e instanceof AgentplaneError && e instanceof Error);
    assert.equal(e.code, 'TOOL_TIMEOUT');
    assert.equal(e.name, 'TransientError');
    assert.deepEqual(describeError(new DecodeError('nope')), { name: 'DecodeError', code: 'DECODE_FAILED', message: 'nope', retriable: false });
  });

  it('recognises kafkajs, socket, PostgreSQL and timeout errors', () => {
    // kafkajs errors carry their own flag (duck-typed: only libs/messaging imports kafkajs).
    assert.equal(isRetriable(Object.assign(new Error('conn'), { name: 'KafkaJSConnectionError', retriable: true })), true);
    assert.equal(isRetriable(Object.assign(new Error('x'), { name: 'KafkaJSNonRetriableError', retriable: false })), false);
    assert.equal(isRetriable(Object.assign(new Error('x'), { name: 'KafkaJSProtocolError' })), false);
    assert.equal(isRetriable(Object.assign(new Error('refused'), { code: 'ECONNREFUSED' })), true);
    assert.equal(isRetriable(Object.assign(new Error('deadlock'), { code: '40P01' })), true);
    assert.equal(isRetriable(Object.assign(new Error('conn lost'), { code: '08006' })), true);
    assert.equal(isRetriable(Object.assign(new Error('unique'), { code: '23505' })), false);
    assert.equal(isRetriable(Object.assign(new Error('t'), { name: 'TimeoutError' })), true);
    assert.equal(isRetriable(new Error('wrapped', { cause: Object.assign(new Error('r'), { code: 'ECONNRESET' }) })), true);
    assert.equal(isRetriable(new Error('plain')), false);
    assert.equal(isRetriable('string'), false);
    assert.equal(isRetriable(null), false);
  });

  it('judges kafkajs wrappers by what they gave up on (a broker restart is not final)', () => {
    // The real classes, shaped as kafkajs' retrier builds them when the broker is down.
    const refused = new KafkaJSConnectionError('Connection error: connect ECONNREFUSED 127.0.0.1:9092');
    assert.equal(isRetriable(Object.assign(new KafkaJSNonRetriableError(refused), { cause: refused })), true);
    assert.equal(isRetriable(new KafkaJSNumberOfRetriesExceeded(refused, { retryCount: 5, retryTime: 100, cause: refused } as never)), true);
    assert.equal(isRetriable(new KafkaJSNonRetriableError('Invalid topic')), false);
    const tooLarge = new KafkaJSProtocolError({ message: 'message too large', type: 'MESSAGE_TOO_LARGE', code: 10, retriable: false } as never);
    assert.equal(isRetriable(Object.assign(new KafkaJSNonRetriableError(tooLarge), { cause: tooLarge })), false);
  });

  it('reaches the transport intact through Nest\'s default RPC exception filter', async () => {
    const err = new TransientError('db down');
    const out$ = new BaseRpcExceptionFilter().catch(err, {} as never);
    await assert.rejects(lastValueFrom(out$), (e) => e === err);
    // Nest's replacement for foreign errors becomes a non-retriable HandlerError.
    const mapped = toError({ status: 'error', message: 'Internal server error' });
    assert.ok(mapped instanceof HandlerError);
    assert.equal(isRetriable(mapped), false);
  });
});

describe('wire helpers', () => {
  it('uuidv7 is RFC 9562 version 7 and time-ordered', () => {
    const a = uuidv7(1000);
    const b = uuidv7(2000);
    assert.match(a, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.ok(a < b);
  });

  it('derives headers from the event', () => {
    assert.deepEqual(eventHeaders({ id: 'i', type: 't', traceparent: 'tp' }), {
      'content-type': 'application/cloudevents+json; charset=utf-8', ce_type: 't', ce_id: 'i', traceparent: 'tp',
    });
  });

  it('builds the dead-letter event with the original bytes base64-encoded', () => {
    const now = new Date('2026-01-02T03:04:05.000Z');
    const dl = buildDeadLetterEvent({
      topic: 'agentplane.session-events', partition: 3, offset: '42', key: Buffer.from('s1'), value: null,
      headers: { ce_type: Buffer.from('x'), multi: ['a', Buffer.from('b')], gone: undefined },
      reason: 'why', consumerGroup: 'agentplane-audit', source: 'agentplane/audit', now,
      event: { id: 'e1', type: 'x', tenantid: 'acme' },
    });
    assert.equal(dl.type, DEAD_LETTERED_TYPE);
    assert.equal(dl.subject, 'agentplane.session-events/3/42');
    assert.equal(dl.tenantid, 'acme');
    assert.equal(dl.causationid, 'e1');
    assert.deepEqual(dl.data, {
      sourceTopic: 'agentplane.session-events', partition: 3, offset: '42', key: Buffer.from('s1').toString('base64'), value: null,
      headers: { ce_type: Buffer.from('x').toString('base64'), multi: ['YQ==', 'Yg=='] },
      reason: 'why', consumerGroup: 'agentplane-audit', deadLetteredAt: now.toISOString(),
    });
  });

  it('parses broker lists', () => {
    assert.deepEqual(parseBrokers(' a:1, b:2 ,'), ['a:1', 'b:2']);
    assert.throws(() => parseBrokers(''), /no brokers/);
  });
});
