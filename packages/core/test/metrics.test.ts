import { test } from 'node:test';
import assert from 'node:assert/strict';
import { round4, metricsFromRanks, rankOf, evaluateSampled, evaluateFull, ModelSelector, generateSynthetic, prepareFromInteractions, type Dataset } from '@derrd/core';

const close = (a: number, b: number, tol = 1e-12) => assert.ok(Math.abs(a - b) <= tol, `${a} != ${b}`);

test('held-out item at rank 3 of 500: HR@5 = 1, NDCG@5 = 0.5, MRR@5 = 1/3', () => {
  const m = metricsFromRanks([3]);
  assert.equal(m['HR@5'], 1);
  close(m['NDCG@5'], 0.5);
  close(m['MRR@5'], 1 / 3);
});

test('at rank 6 every @5 metric is 0 while @10 counts it', () => {
  const m = metricsFromRanks([6]);
  assert.equal(m['HR@5'], 0);
  assert.equal(m['NDCG@5'], 0);
  assert.equal(m['MRR@5'], 0);
  assert.equal(m['HR@10'], 1);
  close(m['NDCG@10'], Math.log(2) / Math.log(7));
  close(m['MRR@10'], 1 / 6);
});

test('averages over users; rank 1 gives NDCG 1; ranks past 20 give 0 everywhere', () => {
  const m = metricsFromRanks([1, 2, 25, 11]);
  close(m['HR@5'], 0.5);
  close(m['NDCG@5'], (1 + Math.log(2) / Math.log(3)) / 4);
  close(m['MRR@20'], (1 + 1 / 2 + 1 / 11) / 4);
  close(m['HR@20'], 0.75);
  assert.equal(metricsFromRanks([1], [5], true)['Recall@5'], 1);
});

test('rank ties go to the lower item id; NaN target never hits', () => {
  const scores = [0.5, 0.9, 0.5, 0.5];
  const items = [7, 1, 3, 9];
  // target item 7 score 0.5; others: 0.9 (higher), item 3 tie lower id (ahead), item 9 tie higher id (behind)
  assert.equal(rankOf(0.5, 7, scores, items, 1, 4), 3);
  assert.equal(rankOf(NaN, 7, scores, items, 1, 4), 4);
});

function tiny(): Dataset {
  return prepareFromInteractions(generateSynthetic({ numUsers: 30, numItems: 120, seed: 2 }), { kind: 'synthetic', path: null, sha256: null }, { numCandidates: 20 });
}

test('sampled protocol: each held-out item ranked against its candidates without the other held-out item', async () => {
  const ds = tiny();
  // score = 1 for the test item, 0.5 for the valid item, 0.9 for every candidate: test rank 1, valid rank 21
  const result = await evaluateSampled(ds, (users, items) => Float32Array.from(items, (item, k) => {
    const u = users[Math.floor(k / (ds.numCandidates + 2))];
    return item === ds.testItem[u] ? 1 : item === ds.validItem[u] ? 0.5 : 0.9;
  }), { batchUsers: 7 });
  assert.equal(result.users, 30);
  assert.equal(result.test['HR@5'], 1);
  assert.equal(result.test['NDCG@5'], 1);
  assert.equal(result.valid['HR@20'], 0);
});

test('sampled protocol with scores by hand: held-out item beaten by exactly 2 candidates is rank 3', async () => {
  const ds = tiny();
  const result = await evaluateSampled(ds, (users, items, width) => {
    const out = new Float32Array(items.length);
    for (let b = 0; b < users.length; b++) {
      out[b * width] = 0.5; // test
      out[b * width + 1] = 0.5; // valid
      out[b * width + 2] = 0.9; // two candidates above
      out[b * width + 3] = 0.8;
    }
    return out;
  });
  close(result.test['NDCG@5'], 0.5);
  close(result.test['MRR@5'], 1 / 3);
  close(result.valid['MRR@5'], 1 / 3);
});

test('full protocol masks training items and the other held-out item', async () => {
  const ds = tiny();
  // training items score highest, then the valid item, then the test item, then the rest: after masking, test is rank 1
  const result = await evaluateFull(ds, (users) => {
    const out = new Float32Array(users.length * ds.numItems);
    for (let b = 0; b < users.length; b++) {
      const u = users[b];
      for (let k = ds.trainIndptr[u]; k < ds.trainIndptr[u + 1]; k++) out[b * ds.numItems + ds.trainItems[k]] = 10;
      out[b * ds.numItems + ds.validItem[u]] = 5;
      out[b * ds.numItems + ds.testItem[u]] = 4;
    }
    return out;
  });
  assert.equal(result.test['HR@5'], 1);
  assert.equal(result.test['Recall@5'], 1);
  assert.equal(result.valid['HR@5'], 1);
});

test('model selection: per cutoff, the test metrics of the epoch with the best validation HR@N', () => {
  const sel = new ModelSelector([5, 10]);
  const r = (v5: number, v10: number, t: number) => ({ valid: { 'HR@5': v5, 'HR@10': v10 }, test: { 'HR@5': t, 'NDCG@5': t / 2, 'HR@10': t + 0.1, 'NDCG@10': t } });
  assert.equal(sel.update(0, r(0.3, 0.5, 0.30)), true);
  assert.equal(sel.update(1, r(0.4, 0.45, 0.35)), true); // best @5
  assert.equal(sel.update(2, r(0.35, 0.6, 0.33)), true); // best @10
  assert.equal(sel.update(3, r(0.1, 0.1, 0.9)), false);
  const test = sel.selected('test');
  close(test['HR@5'], 0.35);
  close(test['NDCG@5'], 0.175);
  close(test['HR@10'], 0.43);
  assert.deepEqual(sel.bestEpochs(), { '@5': 1, '@10': 2 });
  assert.equal(sel.lastImprovedEpoch(), 2);
  assert.deepEqual(ModelSelector.fromJSON(JSON.parse(JSON.stringify(sel.toJSON()))).selected(), test);
});

/** Per user: training items 10, the two held-out items at `valid`/`test`, four unseen items 3.5, the rest 0. */
function fullScores(ds: Dataset, valid: number, test: number): (users: Int32Array) => Float32Array {
  return (users) => {
    const I = ds.numItems;
    const out = new Float32Array(users.length * I);
    for (let b = 0; b < users.length; b++) {
      const u = users[b];
      const row = out.subarray(b * I, (b + 1) * I);
      const seen = new Set([ds.validItem[u], ds.testItem[u], ...ds.trainItems.subarray(ds.trainIndptr[u], ds.trainIndptr[u + 1])]);
      let placed = 0;
      for (let i = 0; i < I && placed < 4; i++) if (!seen.has(i)) { row[i] = 3.5; placed++; }
      for (const i of ds.trainItems.subarray(ds.trainIndptr[u], ds.trainIndptr[u + 1])) row[i] = 10;
      row[ds.validItem[u]] = valid;
      row[ds.testItem[u]] = test;
    }
    return out;
  };
}

test('full protocol: the other held-out item scored above the target is masked (rank 5, not 6), both ways', async () => {
  const ds = tiny();
  // valid 4 and the four unseen items (3.5) are above test 3: the test item is rank 5 with valid masked, 6 without
  const a = await evaluateFull(ds, fullScores(ds, 4, 3));
  assert.deepEqual([...new Set(a.ranks.test)], [5]);
  assert.equal(a.test['HR@5'], 1);
  assert.equal(a.test['Recall@5'], 1);
  close(a.test['NDCG@5'], Math.LN2 / Math.log(6));
  close(a.test['MRR@5'], 1 / 5);
  // the valid item (4) is above the unseen items: rank 1 with the test item masked
  assert.deepEqual([...new Set(a.ranks.valid)], [1]);
  // mirrored: test 4 above valid 3, so the valid item is rank 5 only with the test item masked
  const b = await evaluateFull(ds, fullScores(ds, 3, 4));
  assert.deepEqual([...new Set(b.ranks.valid)], [5]);
  assert.equal(b.valid['HR@5'], 1);
  assert.equal(b.valid['Recall@5'], 1);
  assert.deepEqual([...new Set(b.ranks.test)], [1]);
});

test('NaN scores never help: a NaN candidate ranks ahead of the target (sampled and full), a NaN target is last', async () => {
  // rankOf: target 0.5 among [NaN, 0.1, NaN]: two NaN competitors ahead, rank 3
  assert.equal(rankOf(0.5, 4, [NaN, 0.1, NaN], [1, 2, 3], 0, 3), 3);
  const ds = tiny();
  const width = ds.numCandidates + 2;
  // held-out items 1, candidates 0 except three NaN ones: both held-out items are rank 4 of 21
  const sampled = await evaluateSampled(ds, (users, items) => Float32Array.from(items, (_item, k) => {
    const slot = k % width;
    return slot < 2 ? 1 : slot < 5 ? NaN : 0;
  }));
  assert.deepEqual([...new Set(sampled.ranks.test)], [4]);
  assert.deepEqual([...new Set(sampled.ranks.valid)], [4]);
  close(sampled.test['MRR@5'], 1 / 4);
  // NaN targets: rank past every candidate, no hit at any cutoff
  const nanTarget = await evaluateSampled(ds, (_users, items) => Float32Array.from(items, (_item, k) => (k % width < 2 ? NaN : 0)));
  assert.deepEqual([...new Set(nanTarget.ranks.test)], [width - 1]);
  assert.equal(nanTarget.test['HR@20'], 0);
  // full ranking: the test item 1, two unseen items NaN, everything else 0; training NaNs are masked
  const full = await evaluateFull(ds, (users) => {
    const I = ds.numItems;
    const out = new Float32Array(users.length * I);
    for (let b = 0; b < users.length; b++) {
      const u = users[b];
      const row = out.subarray(b * I, (b + 1) * I);
      const seen = new Set([ds.validItem[u], ds.testItem[u], ...ds.trainItems.subarray(ds.trainIndptr[u], ds.trainIndptr[u + 1])]);
      let placed = 0;
      for (let i = 0; i < I && placed < 2; i++) if (!seen.has(i)) { row[i] = NaN; placed++; }
      for (const i of ds.trainItems.subarray(ds.trainIndptr[u], ds.trainIndptr[u + 1])) row[i] = NaN;
      row[ds.testItem[u]] = 1;
      row[ds.validItem[u]] = 2;
    }
    return out;
  });
  assert.deepEqual([...new Set(full.ranks.test)], [3]);
  assert.deepEqual([...new Set(full.ranks.valid)], [3]);
  const fullNan = await evaluateFull(ds, (users) => new Float32Array(users.length * ds.numItems).fill(NaN));
  assert.deepEqual([...new Set(fullNan.ranks.test)], [ds.numItems]);
});

test('edge values: no users gives zeros (not NaN), Recall only for full ranking, rank 0 or below is never a hit, round4', async () => {
  assert.deepEqual(metricsFromRanks([], [5]), { 'HR@5': 0, 'MRR@5': 0, 'NDCG@5': 0 });
  assert.deepEqual(metricsFromRanks([], [5], true), { 'HR@5': 0, 'MRR@5': 0, 'NDCG@5': 0, 'Recall@5': 0 });
  assert.deepEqual(Object.keys(metricsFromRanks([2])).sort(), ['HR@10', 'HR@20', 'HR@5', 'MRR@10', 'MRR@20', 'MRR@5', 'NDCG@10', 'NDCG@20', 'NDCG@5']);
  assert.deepEqual(metricsFromRanks([0, -1, 5, 6], [5]), { 'HR@5': 0.25, 'MRR@5': 0.05, 'NDCG@5': (Math.LN2 / Math.log(6)) / 4 });
  assert.equal(round4(0.123456), 0.1235);
  assert.equal(round4(-0.00004), -0);
  const ds = tiny();
  const sampled = await evaluateSampled(ds, (_u, items) => new Float32Array(items.length), { cutoffs: [10] });
  assert.deepEqual(Object.keys(sampled.test).sort(), ['HR@10', 'MRR@10', 'NDCG@10']);
  assert.equal(sampled.protocol, 'sampled');
  const full = await evaluateFull(ds, (users) => new Float32Array(users.length * ds.numItems), { cutoffs: [10], batchUsers: 4 });
  assert.deepEqual(Object.keys(full.test).sort(), ['HR@10', 'MRR@10', 'NDCG@10', 'Recall@10']);
  assert.equal(full.protocol, 'full');
  await assert.rejects(evaluateSampled(ds, () => new Float32Array(3)), /score function returned 3 scores for \d+ items/);
  await assert.rejects(evaluateFull(ds, () => new Float32Array(3)), /scoreAll returned 3 scores, expected \d+/);
});

test('model selection before any epoch and on validation metrics; ties do not improve', () => {
  const sel = new ModelSelector([5]);
  assert.equal(sel.bestValidHr(5), -Infinity);
  assert.equal(sel.lastImprovedEpoch(), -1);
  assert.deepEqual(sel.selected(), {});
  assert.deepEqual(sel.bestEpochs(), {});
  assert.equal(sel.update(0, { valid: { 'HR@5': 0, 'NDCG@5': 0 }, test: { 'HR@5': 0.1, 'NDCG@5': 0.05 } }), true, 'the first epoch improves on nothing, even at HR 0');
  assert.equal(sel.update(1, { valid: { 'HR@5': 0, 'NDCG@5': 0.3 }, test: { 'HR@5': 0.9, 'NDCG@5': 0.9 } }), false, 'a tie is not an improvement');
  assert.equal(sel.update(2, { valid: { 'HR@5': 0.5, 'NDCG@5': 0.2, 'HR@10': 0.7 }, test: { 'HR@5': 0.4, 'NDCG@5': 0.3, 'HR@10': 0.6 } }), true);
  assert.deepEqual(sel.selected('valid'), { 'HR@5': 0.5, 'NDCG@5': 0.2 });
  assert.deepEqual(sel.selected('test'), { 'HR@5': 0.4, 'NDCG@5': 0.3 });
  assert.equal(sel.bestValidHr(5), 0.5);
  assert.equal(sel.lastImprovedEpoch(), 2);
});

test('protocol layout and ties: the score function sees [test, valid, candidates] per user; full-ranking ties go to the lower item id', async () => {
  const ds = tiny();
  const width = ds.numCandidates + 2;
  // test 1, valid 0.5, candidates in slots 2–4 at 0.7, the rest 0: test rank 1, valid rank 4, in every batch
  const seen: number[] = [];
  const r = await evaluateSampled(ds, (users, items, w) => {
    assert.equal(w, width);
    for (let b = 0; b < users.length; b++) {
      const u = users[b];
      seen.push(u);
      assert.equal(items[b * w], ds.testItem[u]);
      assert.equal(items[b * w + 1], ds.validItem[u]);
      assert.deepEqual(Array.from(items.subarray(b * w + 2, (b + 1) * w)), Array.from(ds.candidates.subarray(u * ds.numCandidates, (u + 1) * ds.numCandidates)));
    }
    return Float32Array.from(items, (_i, k) => [1, 0.5, 0.7, 0.7, 0.7][k % w] ?? 0);
  }, { batchUsers: 7 });
  assert.deepEqual(seen, Array.from({ length: r.users }, (_v, k) => k));
  assert.deepEqual([...new Set(r.ranks.test)], [1]);
  assert.deepEqual([...new Set(r.ranks.valid)], [4]);
  // full ranking with every score equal: the target's rank is 1 + the unmasked items with a lower id
  const full = await evaluateFull(ds, (users) => new Float32Array(users.length * ds.numItems).fill(1), { batchUsers: 7 });
  for (let u = 0; u < r.users; u++) {
    const masked = new Set([...ds.trainItems.subarray(ds.trainIndptr[u], ds.trainIndptr[u + 1]), ds.validItem[u]]);
    let lower = 0;
    for (let i = 0; i < ds.testItem[u]; i++) if (!masked.has(i)) lower++;
    assert.equal(full.ranks.test[u], 1 + lower, `user ${u}`);
  }
  // rankOf ties: a lower id ahead, a higher id behind (asymmetric: one of each would hide a reversed rule)
  assert.equal(rankOf(0.5, 5, [0.5, 0.5, 0.5], [1, 2, 9], 0, 3), 3);
  assert.equal(rankOf(0.5, 5, [0.5, 0.5, 0.5], [1, 8, 9], 0, 3), 2);
});
