import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { plainToInstance } from 'class-transformer';
import { validateSync } from 'class-validator';
import {
  AgentplaneEvent,
  EVENT_TYPES,
  EVENT_TYPE_NAMES,
  SAMPLE_DATA,
  EventType,
  decode,
  encode,
  makeEvent,
  topicKindOf,
  validateEvent,
  warmUpDecoder,
  causedBy,
  uuidv7,
} from './index';

const TIME = '2026-01-31T12:00:00.000Z';
const ID = '01947c5e-7a00-7000-8000-000000000001';

function sample<T extends EventType>(type: T, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return { ...(makeEvent(type, SAMPLE_DATA[type], { source: 'test', id: ID, time: TIME }) as object), ...overrides };
}
function bytes(o: unknown): Buffer {
  return Buffer.from(JSON.stringify(o));
}
function reasonOf(value: Buffer | null, headers?: Record<string, string>): string {
  const r = decode(value, headers);
  assert.equal(r.ok, false, 'expected a refusal');
  return (r as { reason: string }).reason;
}
function withData<T extends EventType>(type: T, patch: Record<string, unknown>): Record<string, unknown> {
  const e = sample(type);
  return { ...e, data: { ...(e.data as object), ...patch } };
}

describe('decode', () => {
  for (const type of EVENT_TYPE_NAMES) {
    it(`given a valid ${type} when decoded then it is accepted unchanged`, () => {
      const event = makeEvent(type, SAMPLE_DATA[type] as never, { source: 'agentplane/test', id: ID, time: TIME });
      const r = decode(encode(event));
      assert.equal(r.ok, true, r.ok ? '' : r.reason);
      assert.deepEqual(r.ok && r.event, JSON.parse(JSON.stringify(event)));
    });
  }

  it('given garbage bytes when decoded then the reason says the value is not JSON', () => {
    assert.match(reasonOf(Buffer.from([0xde, 0xad, 0xbe, 0xef])), /^value is not valid JSON/);
  });

  it('given a null value (tombstone) when decoded then it is refused', () => {
    assert.match(reasonOf(null), /no value/);
  });

  it('given JSON that is not an object when decoded then it is refused', () => {
    assert.match(reasonOf(bytes([1, 2])), /not a JSON object/);
  });

  it('given an unknown type when decoded then the reason names the type', () => {
    assert.equal(reasonOf(bytes(sample('agentplane.session.requested', { type: 'agentplane.session.exploded' }))), 'unknown event type "agentplane.session.exploded"');
  });

  it('given invalid data when decoded then the reason names the type and the field', () => {
    assert.equal(
      reasonOf(bytes(withData('agentplane.session.requested', { input: 42 }))),
      'invalid data for agentplane.session.requested: input must be a string',
    );
  });

  for (const field of ['specversion', 'id', 'source', 'type', 'subject', 'time', 'data']) {
    it(`given an envelope without ${field} when decoded then the reason names ${field}`, () => {
      const e = sample('agentplane.session.requested');
      delete e[field];
      const reason = reasonOf(bytes(e));
      assert.match(reason, new RegExp(`^invalid envelope: ${field} is missing$`));
    });
  }

  it('given a wrong specversion when decoded then it is refused', () => {
    assert.equal(reasonOf(bytes(sample('agentplane.session.cancelled', { specversion: '0.3' }))), 'invalid envelope: specversion must be "1.0"');
  });

  it('given an id that is not a UUID when decoded then it is refused', () => {
    assert.equal(reasonOf(bytes(sample('agentplane.session.cancelled', { id: 'abc' }))), 'invalid envelope: id must be a UUID');
  });

  it('given a time without a zone when decoded then it is refused', () => {
    assert.match(reasonOf(bytes(sample('agentplane.session.cancelled', { time: '2026-01-31T12:00:00' }))), /^invalid envelope: time must be an RFC 3339 timestamp/);
  });

  it('given unknown extension attributes when decoded then they are accepted (CloudEvents allows extensions)', () => {
    assert.equal(decode(bytes(sample('agentplane.session.cancelled', { myext: 'x' }))).ok, true);
  });

  it('given an unknown data property when decoded then it is refused by name', () => {
    assert.equal(
      reasonOf(bytes(withData('agentplane.session.requested', { budget_usd: '1' }))),
      'invalid data for agentplane.session.requested: unknown property "budget_usd"',
    );
  });

  it('given a missing data field when decoded then it is named as missing', () => {
    const e = sample('agentplane.tool.call.succeeded');
    const { result: _drop, ...data } = e.data as Record<string, unknown>;
    assert.equal(reasonOf(bytes({ ...e, data })), 'invalid data for agentplane.tool.call.succeeded: result is missing');
  });

  it('given a dead letter of a tombstone with repeated headers and a handler error when decoded then it is accepted', () => {
    const r = decode(bytes(withData('agentplane.message.dead-lettered', { value: null, key: null, headers: { h: ['YQ==', 'Yg=='] }, error: { name: 'Error', message: 'boom' } })));
    assert.equal(r.ok, true, r.ok ? '' : r.reason);
  });

  it('given a null tool result when decoded then it is accepted (any JSON value)', () => {
    assert.equal(decode(bytes(withData('agentplane.tool.call.succeeded', { result: null }))).ok, true);
  });

  it('given null for an optional field when decoded then it is refused (absent, not null)', () => {
    assert.match(reasonOf(bytes(withData('agentplane.session.requested', { budgetUsd: null }))), /budgetUsd/);
  });

  it('given an invalid nested workflow call when decoded then the reason gives its path', () => {
    const workflow = { steps: [{ calls: [{ id: 'a', tool: 7, args: {} }] }] };
    assert.equal(
      reasonOf(bytes(withData('agentplane.session.requested', { workflow }))),
      'invalid data for agentplane.session.requested: workflow.steps[0].calls[0].tool must be a string',
    );
  });

  it('given an empty workflow when decoded then it is refused', () => {
    assert.match(reasonOf(bytes(withData('agentplane.session.requested', { workflow: { steps: [] } }))), /workflow\.steps/);
  });

  it('given input longer than 20000 characters when decoded then it is refused', () => {
    assert.match(reasonOf(bytes(withData('agentplane.session.requested', { input: 'x'.repeat(20001) }))), /input must be shorter/);
  });

  it('given deadlineMs out of range or fractional when decoded then it is refused', () => {
    assert.match(reasonOf(bytes(withData('agentplane.session.requested', { deadlineMs: 0 }))), /deadlineMs/);
    assert.match(reasonOf(bytes(withData('agentplane.session.requested', { deadlineMs: 3_600_001 }))), /deadlineMs/);
    assert.match(reasonOf(bytes(withData('agentplane.session.requested', { deadlineMs: 1.5 }))), /deadlineMs must be an integer/);
  });

  it('given a malformed decimal budget when decoded then it is refused', () => {
    for (const budgetUsd of ['1e3', '-1', '01', '1.', '0.1234567891', 1]) {
      assert.match(reasonOf(bytes(withData('agentplane.session.requested', { budgetUsd }))), /budgetUsd must be a non-negative decimal string/, String(budgetUsd));
    }
  });

  it('given a non-http webhook when decoded then it is refused', () => {
    assert.match(reasonOf(bytes(withData('agentplane.session.requested', { webhookUrl: 'ftp://x.y/z' }))), /webhookUrl must be an absolute http\(s\) URL/);
    assert.equal(decode(bytes(withData('agentplane.session.requested', { webhookUrl: 'http://localhost:9000/hook' }))).ok, true);
  });

  it('given non-string metadata values when decoded then it is refused', () => {
    assert.match(reasonOf(bytes(withData('agentplane.session.requested', { metadata: { a: 1 } }))), /metadata must be an object/);
  });

  it('given an unknown planner kind when decoded then it is refused', () => {
    assert.match(reasonOf(bytes(withData('agentplane.session.requested', { planner: 'magic' }))), /planner must be one of/);
  });

  it('given a final outcome without an answer when decoded then it is refused', () => {
    assert.equal(
      reasonOf(bytes(withData('agentplane.planner.step.completed', { outcome: { kind: 'final' } }))),
      'invalid data for agentplane.planner.step.completed: outcome.answer is missing',
    );
  });

  it('given a final outcome when decoded then it is accepted', () => {
    assert.equal(decode(bytes(withData('agentplane.planner.step.completed', { outcome: { kind: 'final', answer: 'ok' } }))).ok, true);
  });

  it('given a tool rejection reason outside the list when decoded then it is refused', () => {
    assert.match(reasonOf(bytes(withData('agentplane.tool.call.rejected', { reason: 'because' }))), /reason must be one of the following values/);
  });

  it('given a subject different from the session id when decoded then it is refused', () => {
    assert.equal(
      reasonOf(bytes(sample('agentplane.session.completed', { subject: 'other' }))),
      'invalid envelope: subject "other" must equal data.sessionId ("sess-7f3a")',
    );
  });

  it('given a tenantid extension that contradicts data.tenantId when decoded then it is refused', () => {
    assert.match(reasonOf(bytes(sample('agentplane.session.completed', { tenantid: 'globex' }))), /tenantid "globex" differs from data.tenantId "acme"/);
  });

  it('given a control event when decoded then its subject is the tenant', () => {
    const r = decode(encode(makeEvent('agentplane.planner.mode.changed', SAMPLE_DATA['agentplane.planner.mode.changed'], { source: 'cost-accounting' })));
    assert.equal(r.ok && r.event.subject, 'acme');
  });

  it('given a binary-mode message (ce_ headers, data as value) when decoded then it is accepted', () => {
    const headers = {
      ce_specversion: '1.0',
      ce_id: uuidv7(),
      ce_source: 'java-producer',
      ce_type: 'agentplane.session.requested',
      ce_subject: 'sess-7f3a',
      ce_time: TIME,
      'content-type': 'application/json',
    };
    const r = decode(bytes(SAMPLE_DATA['agentplane.session.requested']), headers);
    assert.equal(r.ok, true, r.ok ? '' : r.reason);
    assert.equal(r.ok && r.event.type, 'agentplane.session.requested');
    assert.equal(r.ok && r.event.source, 'java-producer');
  });

  it('given a binary-mode message without ce_type when decoded then the reason names type', () => {
    assert.equal(reasonOf(bytes({}), { ce_specversion: '1.0' }), 'invalid envelope: type is missing');
  });

  it('given header values as Buffers (kafkajs) when decoded then they are read as UTF-8', () => {
    const r = decode(encode(makeEvent('agentplane.session.cancelled', SAMPLE_DATA['agentplane.session.cancelled'], { source: 'planner' })), {
      'content-type': Buffer.from('application/cloudevents+json') as unknown as string,
    });
    assert.equal(r.ok, true);
  });

  it('given a warmed-up decoder when decoding a typical event then it takes well under 1 ms', () => {
    warmUpDecoder();
    const buf = encode(makeEvent('agentplane.session.requested', SAMPLE_DATA['agentplane.session.requested'], { source: 'gateway' }));
    const n = 2000;
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) decode(buf);
    const perOpUs = Number(process.hrtime.bigint() - t0) / n / 1000;
    assert.ok(perOpUs < 200, `decode took ${perOpUs.toFixed(1)} µs per event`);
  });
});

describe('decode agrees with the class-validator declaration', () => {
  // The Ajv fast path is compiled from schemas generated from the classes; these samples pin that both say the same.
  const cases: Array<[EventType, Record<string, unknown>]> = [
    ['agentplane.session.requested', { input: '' }],
    ['agentplane.session.requested', { tools: ['a', 3] }],
    ['agentplane.session.requested', { tenantId: 'has space' }],
    ['agentplane.session.requested', { workflow: { steps: [{ calls: [] }] } }],
    ['agentplane.session.requested', { workflow: { steps: [{ calls: [{ id: 'a', tool: 't', args: [] }] }] } }],
    ['agentplane.session.requested', { metadata: [] }],
    ['agentplane.session.started', { maxSteps: 0 }],
    ['agentplane.session.started', { deadlineAt: 'tomorrow' }],
    ['agentplane.session.completed', { steps: -1 }],
    ['agentplane.session.completed', { costUsd: 0.1 }],
    ['agentplane.planner.step.completed', { pass: 'yes' }],
    ['agentplane.planner.step.completed', { outcome: { kind: 'tool_calls', calls: [{ callId: 'c', tool: 't', args: 1 }] } }],
    ['agentplane.planner.fallback.used', { source: 'oracle' }],
    ['agentplane.tool.call.requested', { essential: 1 }],
    ['agentplane.tool.call.failed', { code: 'teapot' }],
    ['agentplane.tool.call.succeeded', { attempts: 0 }],
    ['agentplane.budget.guardrail.tripped', { month: '2026-13' }],
    ['agentplane.planner.mode.changed', { passRate: 1.5 }],
    ['agentplane.tool.circuit.changed', { state: 'ajar' }],
    ['agentplane.message.dead-lettered', { offset: 12 }],
    ['agentplane.message.dead-lettered', { headers: { a: 1 } }],
    ['agentplane.message.dead-lettered', { error: { message: 'x' } }],
    ['agentplane.message.dead-lettered', { value: 5 }],
  ];
  for (const type of EVENT_TYPE_NAMES) cases.push([type, {}]);
  for (const [type, patch] of cases) {
    it(`given ${type} with ${JSON.stringify(patch)} then Ajv and class-validator agree`, () => {
      const data = { ...(SAMPLE_DATA[type] as object), ...patch };
      const ajvOk = decode(bytes(withData(type, patch))).ok;
      const cvOk = validateSync(plainToInstance(EVENT_TYPES[type].dataClass as new () => object, data), { whitelist: true, forbidNonWhitelisted: true }).length === 0;
      assert.equal(ajvOk, cvOk);
      assert.equal(ajvOk, Object.keys(patch).length === 0);
    });
  }
});

describe('makeEvent', () => {
  it('given data with a session when made then subject, tenantid, dataschema and source are filled in', () => {
    const e = makeEvent('agentplane.session.cancelled', { tenantId: 'acme', sessionId: 's1' }, { source: 'planner', id: ID, time: new Date(TIME) });
    assert.deepEqual(e, {
      specversion: '1.0',
      id: ID,
      source: 'agentplane/planner',
      type: 'agentplane.session.cancelled',
      subject: 's1',
      time: TIME,
      datacontenttype: 'application/json',
      dataschema: 'https://agentplane.dev/schemas/events/agentplane.session.cancelled.json',
      tenantid: 'acme',
      data: { tenantId: 'acme', sessionId: 's1' },
    });
  });

  it('given no id and time when made then a UUIDv7 and the current time are used', () => {
    const e = makeEvent('agentplane.tool.circuit.changed', { tool: 'weather', state: 'open' }, { source: 'agentplane/executor' });
    assert.match(e.id, /^[0-9a-f]{8}-[0-9a-f]{4}-7/);
    assert.ok(Math.abs(Date.parse(e.time) - Date.now()) < 5000);
    assert.equal(e.subject, 'weather');
    assert.equal('tenantid' in e, false);
  });

  it('given a cause when made with causedBy then causation and trace are carried', () => {
    const cause = makeEvent('agentplane.session.cancelled', { tenantId: 'a', sessionId: 's' }, { source: 'x', traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' });
    const e = makeEvent('agentplane.session.cancelled', { tenantId: 'a', sessionId: 's' }, { source: 'x', ...causedBy(cause) });
    assert.equal(e.causationid, cause.id);
    assert.equal(e.traceparent, cause.traceparent);
    assert.equal(validateEvent(e).ok, true);
  });

  it('given a typed union when switching on type then data narrows (compile-time check)', () => {
    const e = makeEvent('agentplane.session.completed', SAMPLE_DATA['agentplane.session.completed'], { source: 'planner' }) as AgentplaneEvent;
    switch (e.type) {
      case 'agentplane.session.completed':
        assert.equal(e.data.answer, SAMPLE_DATA['agentplane.session.completed'].answer);
        break;
      default:
        assert.fail('narrowing');
    }
  });
});

describe('topicKindOf', () => {
  it('given each type then requests, facts, control and dead letters go to their topics', () => {
    assert.equal(topicKindOf('agentplane.session.requested'), 'session-requests');
    assert.equal(topicKindOf('agentplane.session.cancel-requested'), 'session-requests');
    assert.equal(topicKindOf('agentplane.tool.call.succeeded'), 'session-events');
    assert.equal(topicKindOf('agentplane.budget.guardrail.tripped'), 'control-events');
    assert.equal(topicKindOf('agentplane.tool.circuit.changed'), 'control-events');
    assert.equal(topicKindOf('agentplane.message.dead-lettered'), 'dead-letters');
  });

  it('given every type name then it follows agentplane.<noun>.<past-tense verb>', () => {
    for (const t of EVENT_TYPE_NAMES) assert.match(t, /^agentplane\.[a-z.-]+\.[a-z-]+ed$/);
  });
});
