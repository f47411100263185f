import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatPValue, meanAndSd, metricOfRank, pairedTest, twoSidedNormalP } from '../src/index.js';

test('paired test on hand-computed ranks: McNemar for HR@5, the paired t for NDCG@5', () => {
  // A hits users 0 and 2 at @5; B hits everyone: b = 2 users hit by B only, c = 0 by A only.
  // McNemar: z = (b − c)/√(b + c) = √2 (χ² = 2), p = 0.157299; the paired t on d = [0, 1, 0, 1] would give √3 instead.
  const a = [1, 6, 2, 10];
  const b = [3, 1, 1, 1];
  const hr = pairedTest(a, b, 'HR@5');
  assert.equal(hr.test, 'mcnemar');
  assert.equal(hr.meanA, 0.5);
  assert.equal(hr.meanB, 1);
  assert.equal(hr.diff, 0.5);
  assert.ok(Math.abs(hr.stdErr - Math.sqrt(2) / 4) < 1e-12, `se = ${hr.stdErr}`);
  assert.ok(Math.abs(hr.z - Math.SQRT2) < 1e-12, `z = ${hr.z}`);
  assert.ok(Math.abs(hr.pValue - 0.157299) < 1e-5, `p = ${hr.pValue}`);
  assert.deepEqual([hr.better, hr.worse], [2, 0]);
  // discordant pairs both ways: b = 1, c = 2, z = −1/√3
  const mixed = pairedTest([1, 1, 1, 9], [9, 9, 1, 1], 'HR@5');
  assert.deepEqual([mixed.better, mixed.worse], [1, 2]);
  assert.ok(Math.abs(mixed.z + 1 / Math.sqrt(3)) < 1e-12, `z = ${mixed.z}`);
  // NDCG@5 per user: A [1, 0, 1/log2(3), 0], B [1/log2(4), 1, 1, 1]; d = [−0.5, 1, 1 − 1/log2(3), 1]:
  // mean 0.467268, sample sd/√4 = 0.355065, z = 1.316004, p = 0.188173
  const nd = pairedTest(a, b, 'NDCG@5');
  assert.equal(nd.test, 'paired-t');
  const expectedA = (1 + 1 / Math.log2(3)) / 4;
  const expectedB = (0.5 + 3) / 4;
  assert.ok(Math.abs(nd.meanA - expectedA) < 1e-12);
  assert.ok(Math.abs(nd.meanB - expectedB) < 1e-12);
  assert.ok(Math.abs(nd.diff - 0.4672675616) < 1e-9);
  assert.ok(Math.abs(nd.stdErr - 0.3550653637) < 1e-9, `se = ${nd.stdErr}`);
  assert.ok(Math.abs(nd.z - 1.3160043455) < 1e-9, `z = ${nd.z}`);
  assert.ok(Math.abs(nd.pValue - 0.188173) < 1e-5, `p = ${nd.pValue}`);
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

test('paired test edge cases: no users, one user, MRR uses the paired t; p-value formatting', () => {
  const empty = pairedTest([], [], 'HR@5');
  assert.deepEqual([empty.meanA, empty.meanB, empty.diff, empty.stdErr, empty.z, empty.pValue], [0, 0, 0, 0, 0, 1]);
  const one = pairedTest([9], [1], 'NDCG@5');
  assert.deepEqual([one.diff, one.stdErr, one.pValue], [1, 0, 1]);
  const mrr = pairedTest([1, 2, 4], [2, 2, 1], 'MRR@5');
  assert.equal(mrr.test, 'paired-t');
  // d = [−0.5, 0, 0.75]: mean 1/12, sample variance (0.25 + 0 + 0.5625 − 3/144)/2, se √(var/3)
  const mean = 1 / 12, variance = ((-0.5 - mean) ** 2 + mean ** 2 + (0.75 - mean) ** 2) / 2;
  assert.ok(Math.abs(mrr.stdErr - Math.sqrt(variance / 3)) < 1e-12);
  assert.deepEqual([mrr.better, mrr.worse], [1, 1]);
  assert.ok(Math.abs(pairedTest([6, 6, 6, 1, 1], [1, 1, 1, 1, 6], 'HR@5').z - 2 / 2) < 1e-12, 'b 3, c 1: z = 2/√4');
  assert.equal(formatPValue(0.5), '0.5000');
  assert.equal(formatPValue(0.00005), '< 1e-4');
  assert.equal(formatPValue(0.0001), '0.0001');
  assert.equal(formatPValue(0.12345, 2), '0.12');
  assert.equal(metricOfRank('NDCG@10')(3), 0.5);
  assert.equal(metricOfRank('MRR@2')(3), 0);
  assert.throws(() => metricOfRank('xHR@5'), /unknown metric/);
  assert.throws(() => metricOfRank('HR@5x'), /unknown metric/);
});
