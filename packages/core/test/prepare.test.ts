import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  dedupe, filterMinInteractions, prepareFromInteractions, prepareFromSplit, generateSynthetic, trainItemsOf, isTrainPositive,
  type RawInteractions, InputError,
} from '@derrd/core';

const source = { kind: 'delimited' as const, path: null, sha256: null };

function raw(pairs: [string, string, number?][]): RawInteractions {
  return {
    source: 'fixture',
    users: pairs.map((p) => p[0]),
    items: pairs.map((p) => p[1]),
    timestamps: pairs.every((p) => p[2] !== undefined) ? pairs.map((p) => p[2]!) : undefined,
    lines: pairs.map((_p, k) => k + 1),
  };
}

test('duplicates are removed (first kept) and counted', () => {
  const d = dedupe(raw([['a', 'x'], ['a', 'y'], ['a', 'x'], ['b', 'x'], ['a', 'x']]));
  assert.equal(d.duplicates, 2);
  assert.deepEqual(d.items, ['x', 'y', 'x']);
});

test('min-interaction filters iterate to a fixed point', () => {
  // item q has 2 interactions (a, c); dropping user c (1 interaction left after filtering item r) drops q below 2,
  // which then drops user a below 2: one pass would keep a and q.
  const rows = dedupe(raw([['a', 'p'], ['a', 'q'], ['b', 'p'], ['b', 's'], ['c', 'q'], ['d', 'p'], ['d', 's'], ['c', 'r']]));
  const once = filterMinInteractions(rows, 2, 2);
  const users = new Set(once.rows.users);
  const items = new Set(once.rows.items);
  assert.deepEqual([...users].sort(), ['b', 'd']);
  assert.deepEqual([...items].sort(), ['p', 's']);
  for (const u of users) assert.ok(once.rows.users.filter((x) => x === u).length >= 2);
  for (const i of items) assert.ok(once.rows.items.filter((x) => x === i).length >= 2);
});

test('a filter that removes every user is an error', () => {
  assert.throws(() => prepareFromInteractions(raw([['a', 'x'], ['b', 'y']]), source, { minUserInteractions: 5, numCandidates: 1 }), (e: Error) => e instanceof InputError && /removes every user/.test(e.message));
});

test('random leave-one-out: per user one valid and one test item, distinct, not in train; seeded', () => {
  const synth = generateSynthetic({ numUsers: 200, numItems: 400, seed: 3 });
  const a = prepareFromInteractions(synth, source, { seed: 1, numCandidates: 50 });
  const b = prepareFromInteractions(synth, source, { seed: 1, numCandidates: 50 });
  const c = prepareFromInteractions(synth, source, { seed: 2, numCandidates: 50 });
  assert.deepEqual(a.testItem, b.testItem);
  assert.deepEqual(a.candidates, b.candidates);
  assert.equal(a.manifest.hash, b.manifest.hash);
  assert.notDeepEqual(a.testItem, c.testItem);
  let total = 0;
  for (let u = 0; u < a.numUsers; u++) {
    assert.notEqual(a.validItem[u], a.testItem[u]);
    assert.ok(!isTrainPositive(a, u, a.validItem[u]));
    assert.ok(!isTrainPositive(a, u, a.testItem[u]));
    total += trainItemsOf(a, u).length + 2;
  }
  assert.equal(total, synth.users.length);
  assert.equal(a.manifest.counts.interactions, synth.users.length);
});

test('users with fewer than 3 interactions are kept for training, skipped by the split and counted', () => {
  const ds = prepareFromInteractions(raw([['a', 'x'], ['a', 'y'], ['a', 'z'], ['b', 'x'], ['b', 'y'], ['c', 'z']]), source, { numCandidates: 0 });
  assert.equal(ds.manifest.counts.usersTooSmallToSplit, 2);
  assert.equal(ds.manifest.counts.evalUsers, 1);
  assert.equal(ds.validItem[1], -1);
  assert.equal(ds.testItem[1], -1);
  assert.equal(ds.testItem[2], -1);
  assert.deepEqual(Array.from(trainItemsOf(ds, 1), (i) => ds.itemIds.rawId(i)).sort(), ['x', 'y']);
  assert.deepEqual(Array.from(trainItemsOf(ds, 2), (i) => ds.itemIds.rawId(i)), ['z']);
});

test('leave-last-out holds out the latest two interactions by timestamp', () => {
  const ds = prepareFromInteractions(raw([['a', 'x', 5], ['a', 'y', 1], ['a', 'z', 9], ['a', 'w', 3]]), source, { split: 'last-loo', numCandidates: 0 });
  const item = (i: number) => ds.itemIds.rawId(i);
  assert.equal(item(ds.testItem[0]), 'z');
  assert.equal(item(ds.validItem[0]), 'x');
  // a second user whose held-out items are not the first dense ids, with equal timestamps kept in input order
  const two = prepareFromInteractions(raw([['a', 'x', 1], ['a', 'y', 2], ['a', 'z', 3], ['b', 'x', 7], ['b', 'y', 4], ['b', 'w', 7], ['b', 'z', 7]]), source, { split: 'last-loo', numCandidates: 0 });
  const rawOf = (i: number) => two.itemIds.rawId(i);
  assert.deepEqual([rawOf(two.validItem[1]), rawOf(two.testItem[1])], ['w', 'z']);
  assert.deepEqual(Array.from(trainItemsOf(two, 1), rawOf).sort(), ['x', 'y']);
  assert.throws(() => prepareFromInteractions(raw([['a', 'x'], ['a', 'y'], ['a', 'z']]), source, { split: 'last-loo' }), /needs a timestamp/);
});

test('candidates: distinct, never interacted with (train, valid, test), fixed by the seed', () => {
  const synth = generateSynthetic({ numUsers: 100, numItems: 1200, seed: 9 });
  const ds = prepareFromInteractions(synth, source, { seed: 4, numCandidates: 499 });
  for (let u = 0; u < ds.numUsers; u++) {
    const row = ds.candidates.subarray(u * 499, (u + 1) * 499);
    assert.equal(new Set(row).size, 499);
    for (const i of row) {
      assert.ok(i >= 0 && i < ds.numItems);
      assert.ok(!isTrainPositive(ds, u, i));
      assert.notEqual(i, ds.testItem[u]);
      assert.notEqual(i, ds.validItem[u]);
    }
  }
  assert.throws(() => prepareFromInteractions(synth, source, { numCandidates: 1190 }), /has only \d+ items never interacted with/);
});

test('imported split keeps integer ids unchanged and rejects two held-out items per user', () => {
  const mk = (pairs: [string, string][], name: string): RawInteractions => ({ ...raw(pairs), source: name });
  const split = {
    train: mk([['1', '3'], ['1', '0'], ['0', '2'], ['0', '4']], 'train'),
    valid: mk([['0', '1'], ['1', '4']], 'valid'),
    test: mk([['0', '0'], ['1', '2']], 'test'),
  };
  const ds = prepareFromSplit(split, source, { numCandidates: 1 });
  assert.deepEqual(ds.userIds.rawIds(), ['0', '1']);
  assert.deepEqual(ds.itemIds.rawIds(), ['0', '1', '2', '3', '4']);
  assert.deepEqual([...trainItemsOf(ds, 1)], [0, 3]);
  assert.equal(ds.testItem[0], 0);
  assert.equal(ds.manifest.settings.idOrder, 'numeric');
  const bad = { ...split, valid: mk([['0', '1'], ['0', '3']], 'valid') };
  assert.throws(() => prepareFromSplit(bad, source, { numCandidates: 1 }), /valid:2: user "0" has more than one validation item/);
});
