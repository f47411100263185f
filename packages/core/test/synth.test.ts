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
  const perItem = new Map<string, number>();
  for (const i of a.items) perItem.set(i, (perItem.get(i) ?? 0) + 1);
  const counts = [...perItem.values()].sort((x, y) => y - x);
  const top10pct = counts.slice(0, 80).reduce((s, x) => s + x, 0);
  // uniform popularity would give the top 10% of items about 10-15% of interactions
  assert.ok(top10pct / a.items.length > 0.3, `top 10% share ${top10pct / a.items.length}`);
  assert.equal(new Set(a.users.map((u, k) => u + ' ' + a.items[k])).size, a.users.length);
});
