import { test } from 'node:test';
import assert from 'node:assert/strict';
import { metricsFromRanks, rankOf, evaluateSampled, evaluateFull, ModelSelector, generateSynthetic, prepareFromInteractions, type Dataset } from '@derrd/core';

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
