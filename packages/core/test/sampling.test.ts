import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng, generateSynthetic, isTrainPositive, prepareFromInteractions, sampleCandidates, sampleTriples, trainPairs, uniqueInt32 } from '@derrd/core';

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

/** Pearson's χ² of observed counts against expected counts. */
function chiSquare(observed: ArrayLike<number>, expected: ArrayLike<number>): number {
  let x = 0;
  for (let k = 0; k < observed.length; k++) x += (observed[k] - expected[k]) ** 2 / expected[k];
  return x;
}

/** χ² critical value at p = 0.001 for `df` degrees of freedom (Wilson–Hilferty; within 1% above df 3). */
function chiSquareCritical(df: number): number {
  const a = 2 / (9 * df);
  return df * (1 - a + 3.0902 * Math.sqrt(a)) ** 3;
}

// A user with positives {0, 3, 7} among 12 items, repeated: negatives and candidates must be uniform over the other 9.
const NUM_ITEMS = 12;
const POSITIVES = [0, 3, 7];
const ELIGIBLE = [...Array(NUM_ITEMS).keys()].filter((i) => !POSITIVES.includes(i));

test('negative sampling fits the uniform distribution over the user\'s non-positives (χ², seeded)', () => {
  const users = 400;
  const indptr = Int32Array.from({ length: users + 1 }, (_v, u) => u * POSITIVES.length);
  const items = Int32Array.from({ length: users * POSITIVES.length }, (_v, k) => POSITIVES[k % POSITIVES.length]);
  const t = sampleTriples({ trainIndptr: indptr, trainItems: items, numItems: NUM_ITEMS }, new Rng(11), 3);
  const counts = new Array(NUM_ITEMS).fill(0);
  for (const j of t.neg) counts[j]++;
  for (const p of POSITIVES) assert.equal(counts[p], 0);
  const observed = ELIGIBLE.map((i) => counts[i]);
  const expected = ELIGIBLE.map(() => t.neg.length / ELIGIBLE.length);
  const x2 = chiSquare(observed, expected);
  assert.ok(x2 < chiSquareCritical(ELIGIBLE.length - 1), `χ² ${x2.toFixed(1)} over ${ELIGIBLE.length - 1} df: ${observed.join(' ')}`);
  // and the test has power: a sampler that never draws the last item is rejected
  const skewed = observed.map((c, k) => (k === observed.length - 1 ? 0 : c + observed[observed.length - 1] / (observed.length - 1)));
  assert.ok(chiSquare(skewed, expected) > chiSquareCritical(ELIGIBLE.length - 1));
});

test('evaluation candidates: uniform without replacement over never-interacted items, dense and sparse paths (χ², seeded)', () => {
  const users = 1500;
  const interacted = Array.from({ length: users }, () => POSITIVES);
  // 3 of 9 eligible: rejection sampling; 6 of 9 (more than half): partial Fisher–Yates
  for (const numCandidates of [3, 6]) {
    const out = sampleCandidates(NUM_ITEMS, interacted, (u) => u % 5 !== 4, numCandidates, new Rng(5));
    const counts = new Array(NUM_ITEMS).fill(0);
    let rows = 0;
    for (let u = 0; u < users; u++) {
      const row = Array.from(out.subarray(u * numCandidates, (u + 1) * numCandidates));
      if (u % 5 === 4) {
        assert.ok(row.every((i) => i === -1), `user ${u} without held-out items gets no candidates`);
        continue;
      }
      rows++;
      assert.equal(new Set(row).size, numCandidates, `user ${u}: candidates are distinct`);
      for (const i of row) {
        assert.ok(!POSITIVES.includes(i) && i >= 0 && i < NUM_ITEMS, `user ${u}: candidate ${i} was interacted with`);
        counts[i]++;
      }
    }
    const observed = ELIGIBLE.map((i) => counts[i]);
    const expected = ELIGIBLE.map(() => (rows * numCandidates) / ELIGIBLE.length);
    const x2 = chiSquare(observed, expected);
    assert.ok(x2 < chiSquareCritical(ELIGIBLE.length - 1), `${numCandidates} candidates: χ² ${x2.toFixed(1)}: ${observed.join(' ')}`);
  }
  assert.throws(() => sampleCandidates(NUM_ITEMS, [POSITIVES], () => true, 10, new Rng(1)), /only 9 items never interacted with, fewer than the 10/);
});

test('random leave-one-out split: the (validation, test) positions are uniform over the n(n − 1) ordered pairs (χ², seeded)', () => {
  const n = 4;
  const users = 2400;
  const raw = { source: 'mem', users: [] as string[], items: [] as string[], lines: [] as number[] };
  for (let u = 0; u < users; u++) for (let k = 0; k < n; k++) { raw.users.push(`u${u}`); raw.items.push(`i${k}`); raw.lines.push(raw.lines.length + 1); }
  const ds = prepareFromInteractions(raw, { kind: 'synthetic', path: null, sha256: null }, { numCandidates: 0, seed: 3 });
  const counts = new Array(n * n).fill(0);
  for (let u = 0; u < users; u++) {
    // appearance order makes dense item k the k-th interaction of every user
    const v = ds.validItem[u];
    const t = ds.testItem[u];
    assert.notEqual(v, t);
    const train = Array.from(ds.trainItems.subarray(ds.trainIndptr[u], ds.trainIndptr[u + 1])).sort();
    assert.deepEqual(train, [0, 1, 2, 3].filter((i) => i !== v && i !== t));
    counts[v * n + t]++;
  }
  const pairs = counts.filter((_c, k) => Math.floor(k / n) !== k % n);
  const x2 = chiSquare(pairs, pairs.map(() => users / (n * (n - 1))));
  assert.ok(x2 < chiSquareCritical(n * (n - 1) - 1), `χ² ${x2.toFixed(1)}: ${pairs.join(' ')}`);
});

test('uniqueInt32: distinct values in first-appearance order', () => {
  assert.deepEqual(Array.from(uniqueInt32(Int32Array.from([4, 1, 4, 0, 1, 7]), 8)), [4, 1, 0, 7]);
  assert.deepEqual(Array.from(uniqueInt32(new Int32Array(), 3)), []);
});
