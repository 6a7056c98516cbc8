import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Lane, type RunResult } from './lane';

interface Rec {
  offset: string;
  key: string;
}

/** A lane whose records finish when the test says so. */
function harness(limit: number, keyed = true) {
  const gates = new Map<string, (r: RunResult) => void>();
  const started: string[] = [];
  const handled: string[] = [];
  const failed: string[] = [];
  const lane = new Lane<Rec>({
    limit,
    keyOf: (r, offset) => (keyed ? r.key : `#${offset}`),
    run: (r) =>
      new Promise<RunResult>((resolve) => {
        started.push(r.offset);
        gates.set(r.offset, resolve);
      }),
    onHandled: (r) => handled.push(r.offset),
    onFailed: (r) => failed.push(r.offset),
  });
  const finish = async (offset: string, result: RunResult = 'done') => {
    const gate = gates.get(offset);
    assert.ok(gate, `record ${offset} has not started`);
    gates.delete(offset);
    gate(result);
    await new Promise((r) => setImmediate(r));
  };
  const settle = () => new Promise((r) => setImmediate(r));
  return { lane, started, handled, failed, finish, settle };
}

const recs = (...pairs: Array<[number, string]>): Rec[] => pairs.map(([o, key]) => ({ offset: String(o), key }));

describe('Lane (records between fetch and commit)', () => {
  test('given records of two keys, when a later key finishes first, then the watermark waits for the earlier record', async () => {
    const h = harness(8);
    h.lane.accept(recs([0, 'a'], [1, 'b']));
    await h.settle();
    assert.deepEqual(h.started, ['0', '1']);
    await h.finish('1');
    assert.deepEqual(h.handled, []);
    assert.equal(h.lane.buffered, 2);
    await h.finish('0');
    assert.deepEqual(h.handled, ['1'], 'one report for the contiguous run 0..1');
    assert.equal(h.lane.buffered, 0);
  });

  test('given two records of one key, the second starts only after the first finished', async () => {
    const h = harness(8);
    h.lane.accept(recs([0, 'a'], [1, 'a'], [2, 'b']));
    await h.settle();
    assert.deepEqual(h.started, ['0', '2']);
    await h.finish('0');
    await h.settle();
    assert.deepEqual(h.started, ['0', '2', '1']);
  });

  test('given a limit of 2, a third record starts when one of the first two finished', async () => {
    const h = harness(2, false);
    h.lane.accept(recs([0, 'x'], [1, 'x'], [2, 'x']));
    await h.settle();
    assert.deepEqual(h.started, ['0', '1']);
    await h.finish('1');
    await h.settle();
    assert.deepEqual(h.started, ['0', '1', '2']);
  });

  test('given a record whose retries ran out, it and everything after it is dropped and reported once', async () => {
    const h = harness(8);
    h.lane.accept(recs([0, 'a'], [1, 'b'], [2, 'a'], [3, 'c']));
    await h.settle();
    assert.deepEqual(h.started, ['0', '1', '3']);
    await h.finish('1', 'redeliver');
    assert.deepEqual(h.failed, ['1']);
    assert.equal(h.lane.buffered, 1, 'only record 0 remains');
    await h.finish('3'); // already running; its result is not reported
    await h.finish('0');
    await h.settle();
    assert.deepEqual(h.started, ['0', '1', '3'], 'record 2 (after the failure) never ran');
    assert.deepEqual(h.handled, ['0']);
    // the refetch from the failed record is accepted again
    h.lane.accept(recs([1, 'b'], [2, 'a'], [3, 'c']));
    await h.settle();
    assert.deepEqual(h.started.slice(3), ['1', '2', '3']);
  });

  test('given a batch repeated by a late fetch, records already accepted are not taken twice', async () => {
    const h = harness(8, false);
    h.lane.accept(recs([0, 'x'], [1, 'x']));
    h.lane.accept(recs([1, 'x'], [2, 'x']));
    await h.settle();
    assert.deepEqual(h.started, ['0', '1', '2']);
  });

  test('given a rebalance (cancel all), running records finish unreported and the lane takes any offset next', async () => {
    const h = harness(8);
    h.lane.accept(recs([5, 'a'], [6, 'a']));
    await h.settle();
    h.lane.cancelFrom();
    assert.equal(h.lane.buffered, 0);
    h.lane.accept(recs([3, 'a']));
    await h.settle();
    assert.deepEqual(h.started, ['5'], 'same key waits for the running record of the old generation');
    await h.finish('5');
    await h.settle();
    assert.deepEqual(h.started, ['5', '3']);
    await h.finish('3');
    assert.deepEqual(h.handled, ['3']);
  });

  test('given stop, waiting records never start and stop resolves when the running ones finished', async () => {
    const h = harness(1, false);
    h.lane.accept(recs([0, 'x'], [1, 'x']));
    await h.settle();
    let stopped = false;
    const stopping = h.lane.stop().then(() => (stopped = true));
    await h.settle();
    assert.equal(stopped, false);
    await h.finish('0');
    await stopping;
    assert.deepEqual(h.started, ['0']);
    assert.deepEqual(h.handled, ['0']);
  });
});
