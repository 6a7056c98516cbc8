import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { normaliseTask, cachedWorkflow } from './plan-cache';
import { QualityMonitor } from './quality';

describe('quality monitor', () => {
  const m = () => new QualityMonitor({ window: 10, minSamples: 5, fallbackBelow: 0.7, recoverAt: 0.85 });

  test('given fewer samples than the minimum, then nothing changes; below 70% → fallback, once', () => {
    const q = m();
    for (let i = 0; i < 4; i++) assert.equal(q.observe('acme', 'v1', false), undefined);
    const ch = q.observe('acme', 'v1', false);
    assert.deepEqual(ch, { tenantId: 'acme', mode: 'fallback', passRate: 0, window: 5 });
    q.setMode('acme', 'fallback', 1);
    assert.equal(q.observe('acme', 'v1', false), undefined, 'already in fallback');
    assert.equal(q.mode('globex'), 'normal', 'per tenant');
  });

  test('given fallback, then it returns to normal only at ≥ 85% over the window (hysteresis)', () => {
    const q = m();
    q.setMode('acme', 'fallback', 1);
    for (let i = 0; i < 3; i++) q.observe('acme', 'v1', false);
    const changes = [];
    for (let i = 0; i < 10; i++) changes.push(q.observe('acme', 'v1', true));
    // window of 10: 3 bad + 7 good = 70%, 2 + 8 = 80%, 1 + 9 = 90% → normal on the 9th good one
    assert.equal(changes.findIndex((c) => c !== undefined), 8);
    assert.deepEqual(changes[8], { tenantId: 'acme', mode: 'normal', passRate: 0.9, window: 10 });
  });

  test('given rates per planner version, then a new version starts its own window', () => {
    const q = m();
    for (let i = 0; i < 4; i++) q.observe('acme', 'v1', false);
    assert.equal(q.observe('acme', 'v2', false), undefined);
    assert.deepEqual(q.rate('acme', 'v1'), { passRate: 0, samples: 4 });
  });

  test('an older mode fact does not override a newer one', () => {
    const q = m();
    assert.equal(q.setMode('acme', 'fallback', 200), true);
    assert.equal(q.setMode('acme', 'normal', 100), false);
    assert.equal(q.mode('acme'), 'fallback');
  });

  test('task templates and cached plans as workflows', () => {
    assert.equal(normaliseTask('  Summarise “Doc 42”   for ME!! '), 'summarise doc # for me');
    assert.equal(cachedWorkflow({ steps: [], answer: 'a' }), undefined);
    assert.deepEqual(cachedWorkflow({ steps: [{ calls: [{ tool: 't', args: { q: 'cost ${x}' } }] }], answer: 'a' }), {
      steps: [{ calls: [{ id: 'fb1-1', tool: 't', args: { q: 'cost $${x}' } }] }],
    });
  });
});
