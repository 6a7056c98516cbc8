import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { signWebhook, verifyWebhook, webhookHeaders, WebhookReplayGuard, WebhookVerificationError } from './index';

// The Standard Webhooks reference test vector.
const REF = {
  secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
  id: 'msg_p5jXN8AQM9LWM0D4loKWxJek',
  ts: 1614265330,
  body: '{"test": 2432232314}',
  sig: 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
};

const code = (c: string) => (e: unknown) => e instanceof WebhookVerificationError && e.code === c;

describe('webhooks', () => {
  test('signs the Standard Webhooks reference vector', () => {
    assert.equal(signWebhook(REF.secret, REF.id, REF.ts, REF.body), REF.sig);
  });

  test('verifies a fresh signed body and returns the payload', () => {
    const h = webhookHeaders('s3cret', 'msg_1', '{"a":1}', 1000);
    const v = verifyWebhook('s3cret', h, '{"a":1}', { nowSec: 1010 });
    assert.deepEqual(v, { id: 'msg_1', timestamp: 1000, payload: { a: 1 } });
    assert.equal(verifyWebhook(REF.secret, { 'Webhook-Id': REF.id, 'webhook-timestamp': String(REF.ts), 'webhook-signature': `v1,bogus ${REF.sig}` }, REF.body, { nowSec: REF.ts }).id, REF.id);
  });

  test('refuses a stale or future timestamp, a wrong secret, a changed body and missing headers', () => {
    const h = webhookHeaders('s3cret', 'msg_1', '{"a":1}', 1000);
    assert.throws(() => verifyWebhook('s3cret', h, '{"a":1}', { nowSec: 1000 + 301 }), code('stale_timestamp'));
    assert.throws(() => verifyWebhook('s3cret', h, '{"a":1}', { nowSec: 1000 - 301 }), code('future_timestamp'));
    assert.throws(() => verifyWebhook('s3cret', h, '{"a":1}', { nowSec: 1100, toleranceSec: 60 }), code('stale_timestamp'));
    assert.throws(() => verifyWebhook('other', h, '{"a":1}', { nowSec: 1000 }), code('bad_signature'));
    assert.throws(() => verifyWebhook('s3cret', h, '{"a":2}', { nowSec: 1000 }), code('bad_signature'));
    assert.throws(() => verifyWebhook('s3cret', { ...h, 'webhook-timestamp': '1001' }, '{"a":1}', { nowSec: 1000 }), code('bad_signature'));
    assert.throws(() => verifyWebhook('s3cret', { 'webhook-id': 'x' }, '{}'), code('missing_headers'));
  });

  test('the replay guard lets an id through once', () => {
    const g = new WebhookReplayGuard(300);
    assert.equal(g.firstTime('msg_1', 1000), true);
    assert.equal(g.firstTime('msg_1', 1001), false);
    assert.equal(g.firstTime('msg_2', 1001), true);
    assert.equal(g.firstTime('msg_1', 1000 + 601), true, 'forgotten after twice the tolerance');
  });
});
