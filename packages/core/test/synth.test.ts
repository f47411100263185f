import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GroupSampler, Rng, generateSynthetic } from '@derrd/core';

test('synthetic data is seeded, has power-law popularity and at least the minimum activity', () => {
  const a = generateSynthetic({ numUsers: 300, numItems: 800, seed: 1 });
  const b = generateSynthetic({ numUsers: 300, numItems: 800, seed: 1 });
  const c = generateSynthetic({ numUsers: 300, numItems: 800, seed: 2 });
  assert.deepEqual(a.items, b.items);
  assert.notDeepEqual(a.items, c.items);
  const perUser = new Map<string, number>();
  for (const u of a.users) perUser.set(u, (perUser.get(u) ?? 0) + 1);
  assert.equal(perUser.size, 300);
  for (const n of perUser.values()) assert.ok(n >= 5);
  const topShare = (raw: { items: string[] }) => {
    const per = new Map<string, number>();
    for (const i of raw.items) per.set(i, (per.get(i) ?? 0) + 1);
    const counts = [...per.values()].sort((x, y) => y - x);
    return counts.slice(0, 80).reduce((s, x) => s + x, 0) / raw.items.length;
  };
  // the Zipf exponent drives the skew: the top 10% of items hold far more interactions at exponent 1.2 than at 0
  const skewed = topShare(generateSynthetic({ numUsers: 300, numItems: 800, seed: 1, popularityExponent: 1.2, affinity: 4 }));
  const flat = topShare(generateSynthetic({ numUsers: 300, numItems: 800, seed: 1, popularityExponent: 0, affinity: 4 }));
  assert.ok(skewed > 0.3 && skewed > flat + 0.1, `top 10% share ${skewed} (exponent 1.2) vs ${flat} (exponent 0)`);
  assert.equal(new Set(a.users.map((u, k) => u + ' ' + a.items[k])).size, a.users.length);
});

/** Inclusion probabilities of successive sampling of n items ∝ w without replacement, by enumerating draw orders. */
function inclusion(w: number[], n: number): number[] {
  const p = new Array(w.length).fill(0);
  const walk = (taken: number[], prob: number) => {
    if (taken.length === n) {
      for (const i of taken) p[i] += prob;
      return;
    }
    const free = w.reduce((s, x, i) => (taken.includes(i) ? s : s + x), 0);
    for (let i = 0; i < w.length; i++) if (!taken.includes(i)) walk([...taken, i], (prob * w[i]) / free);
  };
  walk([], 1);
  return p;
}

test('the group sampler draws without replacement exactly ∝ group weight × item weight', () => {
  // groups {0, 1, 2} and {3, 4}; the second case makes the light group hold the last draws (rejections, table
  // rebuilds and scans of a mostly taken group)
  const start = Int32Array.from([0, 3, 5]);
  const items = Int32Array.from([0, 1, 2, 3, 4]);
  const itemWeight = Float64Array.from([5, 1, 0.5, 2, 0.01]);
  for (const [groupWeight, n] of [[[1, 3], 3], [[1, 1e-4], 4]] as [number[], number][]) {
    const sampler = new GroupSampler(start, items, itemWeight);
    const rng = new Rng(5);
    const trials = 60_000;
    const count = new Array(5).fill(0);
    for (let t = 0; t < trials; t++) {
      const drawn = sampler.draw(rng, Float64Array.from(groupWeight), n);
      assert.equal(new Set(drawn).size, n);
      for (const i of drawn) count[i]++;
    }
    const expected = inclusion([0, 1, 2, 3, 4].map((i) => itemWeight[i] * groupWeight[i < 3 ? 0 : 1]), n);
    for (let i = 0; i < 5; i++) {
      const sd = Math.sqrt((expected[i] * (1 - expected[i])) / trials);
      assert.ok(Math.abs(count[i] / trials - expected[i]) <= 5 * sd + 1e-9, `item ${i}: ${count[i] / trials} vs ${expected[i]} (weights ${groupWeight}, n ${n})`);
    }
  }
  // a group of weight 0 is only drawn when nothing else is left, then uniformly
  const sampler = new GroupSampler(start, items, itemWeight);
  const rng = new Rng(6);
  let three = 0;
  for (let t = 0; t < 4000; t++) {
    const drawn = sampler.draw(rng, Float64Array.from([1, 0]), 4);
    assert.deepEqual(drawn.slice(0, 3).sort(), [0, 1, 2]);
    if (drawn[3] === 3) three++;
  }
  assert.ok(Math.abs(three / 4000 - 0.5) < 0.05, `${three}`);
});

test('clusters beyond the item count give every item its own factor; timestamps follow the draw order', () => {
  const a = generateSynthetic({ numUsers: 50, numItems: 200, clusters: 10_000, seed: 3 });
  assert.equal(a.settings.clusters, 10_000);
  // timestamps are the draw order over all users
  assert.deepEqual(a.timestamps, a.timestamps.map((_t, k) => k));
  const big = generateSynthetic({ numUsers: 20, numItems: 200_000, seed: 3, meanInteractions: 10 });
  assert.ok(big.users.length >= 20 * 5 && new Set(big.items).size > 100);
});
