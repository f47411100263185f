import { test } from 'node:test';
import assert from 'node:assert/strict';
import { curveEpochs, curveTable, parseCurveQuantity, type EpochRecord } from '../src/index.js';

const record = (epoch: number, hr5: number, terms?: Record<string, number>): EpochRecord => ({
  epoch, loss: 100 - epoch, terms, valid: { 'HR@5': hr5 }, test: { 'HR@5': hr5 / 2 }, trainSeconds: 1, evalSeconds: 0.1,
});

// run a: epochs 0..24 with a DE term; run b: epochs 0..7 without one (a shorter, plain run)
const a = Array.from({ length: 25 }, (_v, e) => record(e, e / 100, { base: 50, de: 1000 - e }));
const b = Array.from({ length: 8 }, (_v, e) => record(e, e / 50));

test('curve epochs: every n-th from 0 plus each run\'s last, or the given list, only epochs some run reached', () => {
  assert.deepEqual(curveEpochs([a, b], { every: 10 }), [0, 7, 10, 20, 24]);
  assert.deepEqual(curveEpochs([a, b], { every: 1 }).length, 25);
  assert.deepEqual(curveEpochs([a, b], { epochs: [30, 5, 5, 0] }), [0, 5]);
  assert.deepEqual(curveEpochs([[], []], { every: 10 }), []);
  assert.throws(() => curveEpochs([a], { every: 0 }), /positive integer/);
});

test('curve table: metric of a split, total loss and one term, with null where a run stopped or lacks the term', () => {
  const epochs = [0, 7, 20];
  assert.deepEqual(curveTable([a, b], parseCurveQuantity('HR@5', 'valid'), epochs).map((r) => r.values), [[0, 0], [0.07, 0.14], [0.2, null]]);
  assert.deepEqual(curveTable([a, b], parseCurveQuantity('HR@5', 'test'), [7]).map((r) => r.values), [[0.035, 0.07]]);
  assert.deepEqual(curveTable([a, b], parseCurveQuantity('loss', 'valid'), [7]).map((r) => r.values), [[93, 93]]);
  assert.deepEqual(curveTable([a, b], parseCurveQuantity('loss:de', 'valid'), [0, 7]).map((r) => r.values), [[1000, null], [993, null]]);
});

test('curve quantity: bad names are refused with the expected forms', () => {
  for (const bad of ['AUC', 'HR@7', 'loss:', 'loss:1x', 'hr@5']) assert.throws(() => parseCurveQuantity(bad, 'valid'), /unknown quantity/);
  assert.deepEqual(parseCurveQuantity('NDCG@10', 'test'), { kind: 'metric', metric: 'NDCG@10', split: 'test' });
  assert.deepEqual(parseCurveQuantity('loss:rrd', 'valid'), { kind: 'loss', term: 'rrd' });
});
