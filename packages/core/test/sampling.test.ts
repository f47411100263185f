import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng, generateSynthetic, isTrainPositive, prepareFromInteractions, sampleTriples, trainPairs } from '@derrd/core';

const ds = prepareFromInteractions(generateSynthetic({ numUsers: 50, numItems: 200, seed: 8 }), { kind: 'synthetic', path: null, sha256: null }, { numCandidates: 20 });

test('training triples: every positive once per negative, negatives never training positives, shuffled, seeded', () => {
  for (const negatives of [1, 3]) {
    const t = sampleTriples(ds, new Rng(4), negatives);
    assert.equal(t.users.length, ds.trainItems.length * negatives);
    const count = new Map<string, number>();
    for (let k = 0; k < t.users.length; k++) {
      assert.ok(isTrainPositive(ds, t.users[k], t.pos[k]));
      assert.ok(!isTrainPositive(ds, t.users[k], t.neg[k]));
      const key = `${t.users[k]}:${t.pos[k]}`;
      count.set(key, (count.get(key) ?? 0) + 1);
    }
    const pairs = trainPairs(ds);
    assert.equal(count.size, pairs.users.length);
    assert.ok([...count.values()].every((c) => c === negatives));
    assert.deepEqual(sampleTriples(ds, new Rng(4), negatives).neg, t.neg);
  }
  const a = sampleTriples(ds, new Rng(4));
  assert.notDeepEqual(Array.from(a.users.slice(0, 50)), Array.from(trainPairs(ds).users.slice(0, 50)));
  assert.throws(() => sampleTriples(ds, new Rng(4), 0), /negatives must be a positive integer/);
});
