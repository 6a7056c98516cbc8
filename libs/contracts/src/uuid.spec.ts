import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { UUID_RE, deterministicEventId, uuidv7, uuidv7Time } from './uuid';

describe('uuidv7', () => {
  it('given a time when an id is made then it is a v7 UUID carrying that millisecond', () => {
    const id = uuidv7(1767225600123);
    assert.match(id, UUID_RE);
    assert.equal(id[14], '7');
    assert.match(id[19], /[89ab]/);
    assert.ok((uuidv7Time(id) as number) >= 1767225600123);
  });

  it('given many ids in the same millisecond then they sort in creation order and are unique', () => {
    const ids = Array.from({ length: 5000 }, () => uuidv7());
    assert.deepEqual([...ids].sort(), ids);
    assert.equal(new Set(ids).size, ids.length);
  });

  it('given the clock steps back then ids still increase', () => {
    const a = uuidv7(Date.now() + 60_000);
    const b = uuidv7(Date.now());
    assert.ok(b > a);
  });
});

describe('deterministicEventId', () => {
  it('given the same namespace and parts then the same v8 UUID comes out', () => {
    const a = deterministicEventId('planner', 'sess-1', 3);
    assert.equal(a, deterministicEventId('planner', 'sess-1', '3'));
    assert.match(a, UUID_RE);
    assert.equal(a[14], '8');
    assert.match(a[19], /[89ab]/);
  });

  it('given parts that concatenate alike then the ids differ', () => {
    assert.notEqual(deterministicEventId('n', 'ab', 'c'), deterministicEventId('n', 'a', 'bc'));
    assert.notEqual(deterministicEventId('n1', 'x'), deterministicEventId('n2', 'x'));
  });
});
