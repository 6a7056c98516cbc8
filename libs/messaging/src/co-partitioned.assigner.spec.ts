import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assignCoPartitioned } from './co-partitioned.assigner';

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

test('given five members and two 12-partition topics, each member gets the same partition numbers of both, every partition once', () => {
  const a = assignCoPartitioned(['m3', 'm1', 'm5', 'm2', 'm4'], new Map([['requests', range(12)], ['events', range(12)], ['control', range(3)]]));
  assert.deepEqual([...a.keys()], ['m1', 'm2', 'm3', 'm4', 'm5']);
  for (const [, topics] of a) assert.deepEqual(topics.requests, topics.events);
  for (const topic of ['requests', 'events', 'control']) {
    const all = [...a.values()].flatMap((t) => t[topic] ?? []).sort((x, y) => x - y);
    assert.deepEqual(all, range(topic === 'control' ? 3 : 12), topic);
  }
  assert.deepEqual(a.get('m1'), { requests: [0, 5, 10], events: [0, 5, 10], control: [0] });
  assert.deepEqual(a.get('m5'), { requests: [4, 9], events: [4, 9] });
});

test('given more members than partitions, the extra members get nothing; given none, nothing is assigned', () => {
  const a = assignCoPartitioned(['a', 'b', 'c'], new Map([['t', [1, 0]]]));
  assert.deepEqual(Object.fromEntries(a), { a: { t: [0] }, b: { t: [1] }, c: {} });
  assert.equal(assignCoPartitioned([], new Map([['t', [0]]])).size, 0);
});
