import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateSynthetic } from '@derrd/core';

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
