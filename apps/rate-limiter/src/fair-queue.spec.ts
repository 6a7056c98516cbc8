import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fullBucket, msUntilToken, planAdmissions, refill, type PlanInput, type QueuedCall } from './fair-queue';

const T0 = 1_700_000_000_000;
const call = (tenantId: string, n: number): QueuedCall => ({ tenantId, sessionId: `${tenantId}-s${n}`, callId: `c${n}` });
const many = (tenantId: string, count: number) => Array.from({ length: count }, (_, i) => call(tenantId, i));

function input(over: Partial<PlanInput<QueuedCall>>): PlanInput<QueuedCall> {
  return {
    queued: [],
    inFlight: 0,
    maxConcurrent: 100,
    tool: fullBucket({ rps: 100, burst: 100 }, T0),
    toolLimit: { rps: 100, burst: 100 },
    tenants: new Map(),
    tenantLimit: { rps: 100, burst: 100 },
    lastTenant: null,
    nowMs: T0,
    ...over,
  };
}

describe('token buckets', () => {
  it('refill adds rps × elapsed up to the burst and never goes back in time', () => {
    const limit = { rps: 10, burst: 5 };
    assert.deepEqual(refill({ tokens: 0, updatedMs: T0 }, limit, T0 + 250), { tokens: 2.5, updatedMs: T0 + 250 });
    assert.deepEqual(refill({ tokens: 4, updatedMs: T0 }, limit, T0 + 10_000), { tokens: 5, updatedMs: T0 + 10_000 });
    // Another instance's clock reading may be older: no negative refill, no time travel.
    assert.deepEqual(refill({ tokens: 1, updatedMs: T0 }, limit, T0 - 500), { tokens: 1, updatedMs: T0 });
  });

  it('msUntilToken: 0 with a whole token, else the time the missing fraction takes', () => {
    assert.equal(msUntilToken({ tokens: 1, updatedMs: T0 }, { rps: 10, burst: 1 }), 0);
    assert.equal(msUntilToken({ tokens: 0.5, updatedMs: T0 }, { rps: 10, burst: 1 }), 50);
    assert.equal(msUntilToken({ tokens: 0, updatedMs: T0 }, { rps: 3, burst: 1 }), 334);
  });
});

describe('planAdmissions', () => {
  it('serves tenants round-robin: a tenant with many queued calls gets one slot per round', () => {
    const queued = [...many('big', 10), call('small', 0), call('tiny', 0)];
    const p = planAdmissions(input({ queued, maxConcurrent: 4 }));
    assert.deepEqual(p.admit.map((c) => c.tenantId), ['big', 'small', 'tiny', 'big']);
    assert.equal(p.lastTenant, 'big');
    assert.deepEqual(p.blocked, { reason: 'tool concurrency cap 4 reached' });
  });

  it('the next round starts after the tenant served last', () => {
    const queued = [...many('a', 3), ...many('b', 3), ...many('c', 3)];
    const p = planAdmissions(input({ queued, maxConcurrent: 2, lastTenant: 'a' }));
    assert.deepEqual(p.admit.map((c) => c.tenantId), ['b', 'c']);
    const q = planAdmissions(input({ queued, maxConcurrent: 2, lastTenant: 'c' }));
    assert.deepEqual(q.admit.map((c) => c.tenantId), ['a', 'b'], 'wraps around');
  });

  it('keeps each tenant\'s calls in their queue order', () => {
    const p = planAdmissions(input({ queued: many('a', 3) }));
    assert.deepEqual(p.admit.map((c) => c.callId), ['c0', 'c1', 'c2']);
    assert.equal(p.blocked, undefined);
  });

  it('never exceeds the concurrency cap, counting calls already in flight', () => {
    const p = planAdmissions(input({ queued: many('a', 10), inFlight: 7, maxConcurrent: 8 }));
    assert.equal(p.admit.length, 1);
    const none = planAdmissions(input({ queued: many('a', 2), inFlight: 8, maxConcurrent: 8 }));
    assert.equal(none.admit.length, 0);
    assert.match(none.blocked!.reason, /concurrency cap 8/);
    assert.equal(none.blocked!.retryAfterMs, undefined, 'a freed slot, not time, unblocks it');
  });

  it('takes one tool token per admission and says when the next token comes', () => {
    const toolLimit = { rps: 10, burst: 3 };
    const p = planAdmissions(input({ queued: many('a', 5), tool: fullBucket(toolLimit, T0), toolLimit }));
    assert.equal(p.admit.length, 3);
    assert.equal(p.tool.tokens, 0);
    assert.deepEqual(p.blocked, { reason: 'tool rate limit 10/s reached', retryAfterMs: 100 });
    // 250 ms later the bucket holds 2.5 tokens: two more calls.
    const later = planAdmissions(input({ queued: many('a', 2).concat(call('a', 9)), tool: p.tool, toolLimit, nowMs: T0 + 250 }));
    assert.equal(later.admit.length, 2);
    assert.equal(later.tool.tokens, 0.5);
  });

  it('a tenant out of tokens waits while others still get the tool', () => {
    const tenantLimit = { rps: 2, burst: 1 };
    const tenants = new Map([['greedy', { tokens: 0, updatedMs: T0 }]]);
    const p = planAdmissions(input({ queued: [...many('greedy', 5), ...many('calm', 2)], tenants, tenantLimit }));
    assert.deepEqual(p.admit.map((c) => c.tenantId), ['calm']);
    assert.deepEqual(p.blocked, { reason: 'tenant rate limit 2/s reached', retryAfterMs: 500 });
    assert.equal(p.tenants.get('calm')!.tokens, 0);
  });

  it('an unknown tenant starts with a full bucket; an empty queue admits nothing and is not blocked', () => {
    const p = planAdmissions(input({ queued: many('new', 2), tenantLimit: { rps: 1, burst: 2 } }));
    assert.equal(p.admit.length, 2);
    const empty = planAdmissions(input({}));
    assert.deepEqual(empty.admit, []);
    assert.equal(empty.blocked, undefined);
    assert.equal(empty.lastTenant, null);
  });

  it('under any load, admissions respect both the concurrency cap and the tool bucket', () => {
    let seed = 7;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    for (let round = 0; round < 200; round++) {
      const tenants = ['a', 'b', 'c', 'd'].slice(0, 1 + Math.floor(rnd() * 4));
      const queued = tenants.flatMap((t) => many(t, Math.floor(rnd() * 20)));
      const maxConcurrent = 1 + Math.floor(rnd() * 10);
      const inFlight = Math.floor(rnd() * maxConcurrent);
      const tokens = rnd() * 8;
      const p = planAdmissions(input({ queued, maxConcurrent, inFlight, tool: { tokens, updatedMs: T0 }, toolLimit: { rps: 5, burst: 8 } }));
      assert.ok(p.admit.length + inFlight <= maxConcurrent, `round ${round}`);
      assert.ok(p.admit.length <= Math.floor(tokens), `round ${round}`);
      assert.ok(p.tool.tokens >= 0, `round ${round}`);
      // Fairness: no tenant gets two more admissions than another that still had calls queued.
      const counts = new Map(tenants.map((t) => [t, p.admit.filter((c) => c.tenantId === t).length]));
      const hungry = tenants.filter((t) => queued.filter((c) => c.tenantId === t).length > counts.get(t)!);
      for (const h of hungry) for (const t of tenants) assert.ok(counts.get(t)! <= counts.get(h)! + 1, `round ${round}: ${JSON.stringify([...counts])}`);
    }
  });
});
