import { test } from 'node:test';
import assert from 'node:assert/strict';
import { meanAndSd, metricOfRank, pairedTest, twoSidedNormalP } from '../src/index.js';

test('paired test on hand-computed ranks: HR@5 and NDCG@5', () => {
  // A hits users 0 and 2 at @5; B hits everyone. d = [0, 1, 0, 1]: mean 0.5, sample sd √(1/3), se √(1/3)/2, z = √3
  const a = [1, 6, 2, 10];
  const b = [3, 1, 1, 1];
  const hr = pairedTest(a, b, 'HR@5');
  assert.equal(hr.meanA, 0.5);
  assert.equal(hr.meanB, 1);
  assert.equal(hr.diff, 0.5);
  assert.ok(Math.abs(hr.stdErr - Math.sqrt(1 / 3) / 2) < 1e-12);
  assert.ok(Math.abs(hr.z - Math.sqrt(3)) < 1e-12);
  assert.ok(Math.abs(hr.pValue - 0.083265) < 1e-5, `p = ${hr.pValue}`);
  assert.deepEqual([hr.better, hr.worse], [2, 0]);
  // NDCG@5 per user: A [1, 0, 1/log2(3), 0], B [1/log2(4), 1, 1, 1]
  const nd = pairedTest(a, b, 'NDCG@5');
  const expectedA = (1 + 1 / Math.log2(3)) / 4;
  const expectedB = (0.5 + 3) / 4;
  assert.ok(Math.abs(nd.meanA - expectedA) < 1e-12);
  assert.ok(Math.abs(nd.meanB - expectedB) < 1e-12);
  assert.deepEqual([nd.better, nd.worse], [3, 1]);
});

test('identical ranks give p = 1; the normal tail matches known values', () => {
  const r = pairedTest([1, 2, 30], [1, 2, 30], 'MRR@10');
  assert.equal(r.diff, 0);
  assert.equal(r.pValue, 1);
  assert.ok(Math.abs(twoSidedNormalP(1.959964) - 0.05) < 1e-6);
  assert.ok(Math.abs(twoSidedNormalP(-2.575829) - 0.01) < 1e-6);
  assert.ok(Math.abs(twoSidedNormalP(0) - 1) < 1e-6);
});

test('bad input: unknown metric, different user counts', () => {
  assert.throws(() => metricOfRank('AUC'), /unknown metric "AUC"/);
  assert.throws(() => metricOfRank('HR@0'), /unknown metric/);
  assert.throws(() => pairedTest([1, 2], [1], 'HR@5'), /same users: 2 vs 1/);
});

test('meanAndSd: hand-computed mean and sample sd; sd undefined for one value', () => {
  // [1, 2, 4]: mean 7/3, squared deviations 16/9 + 1/9 + 25/9 = 42/9, / (n − 1) = 7/3
  const { mean, sd } = meanAndSd([1, 2, 4]);
  assert.ok(Math.abs(mean - 7 / 3) < 1e-12 && Math.abs(sd - Math.sqrt(7 / 3)) < 1e-12, `${mean} ${sd}`);
  assert.ok(Number.isNaN(meanAndSd([0.5]).sd));
  assert.equal(meanAndSd([0.5]).mean, 0.5);
});
