/**
 * The shared conformance suite every base model passes: a model file supplies a factory and calls
 * `modelConformance('name', factory)` (see models.test.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sampleTriples, Rng } from '@derrd/core';
import { AdamL2, initBackend, tf, type RecModel } from '@derrd/train';
import { int1d, maxAbsDiff, tinyDataset } from './helpers.js';

export type ModelFactory = (config: { numUsers: number; numItems: number; dim: number }, seed: number) => RecModel;

export function modelConformance(name: string, factory: ModelFactory): void {
  const config = { numUsers: 7, numItems: 11, dim: 4 };

  test(`${name}: variables, parameter count and representations are consistent`, async () => {
    await initBackend('wasm');
    const m = factory(config, 0);
    assert.equal(m.parameterCount(), Object.values(m.variables).reduce((s, v) => s + v.size, 0));
    const reps = m.representations();
    assert.ok(reps.some((r) => r.side === 'user') && reps.some((r) => r.side === 'item'));
    for (const r of reps) assert.equal(r.table.shape[0], r.side === 'user' ? config.numUsers : config.numItems);
    m.dispose();
  });

  test(`${name}: scorePairs, scoreUserItems and the scorer agree`, async () => {
    await initBackend('wasm');
    const m = factory(config, 3);
    const users = [0, 3, 6];
    const items = [[1, 2, 10], [0, 5, 7], [9, 9, 4]];
    const viaUserItems = tf.tidy(() => m.scoreUserItems(int1d(users), tf.tensor2d(items, undefined, 'int32')).dataSync());
    const viaPairs = tf.tidy(() => m.scorePairs(int1d(users.flatMap((u) => [u, u, u])), int1d(items.flat())).dataSync());
    assert.ok(maxAbsDiff(viaUserItems, viaPairs) < 1e-6);
    const scorer = m.createScorer();
    const viaScorer = scorer.scoreItems(Int32Array.from(users), Int32Array.from(items.flat()), 3);
    assert.ok(maxAbsDiff(viaScorer, viaPairs) < 1e-5, `scorer differs by ${maxAbsDiff(viaScorer, viaPairs)}`);
    const all = scorer.scoreAll(Int32Array.from(users));
    assert.equal(all.length, users.length * config.numItems);
    const picked = items.flatMap((row, b) => row.map((i) => all[b * config.numItems + i]));
    assert.ok(maxAbsDiff(picked, viaPairs) < 1e-5);
    scorer.dispose();
    m.dispose();
  });

  test(`${name}: scoreUserItems has the gradients of scorePairs (what RRD, RD and CD differentiate)`, async () => {
    await initBackend('wasm');
    const m = factory(config, 4);
    const users = [0, 3, 6, 3];
    const items = [[1, 2, 10], [0, 5, 7], [9, 9, 4], [1, 8, 3]];
    const weights = tf.tensor1d([0.3, -1.2, 0.7, 2.0, 0.1, -0.4, 1.5, -0.9, 0.25, 0.6, -2.1, 1.1]);
    const vars = Object.values(m.variables);
    const viaUserItems = tf.variableGrads(() => tf.sum(tf.mul(tf.reshape(m.scoreUserItems(int1d(users), tf.tensor2d(items, undefined, 'int32')), [-1]), weights)), vars);
    const viaPairs = tf.variableGrads(() => tf.sum(tf.mul(m.scorePairs(int1d(users.flatMap((u) => [u, u, u])), int1d(items.flat())), weights)), vars);
    assert.ok(Math.abs(viaUserItems.value.dataSync()[0] - viaPairs.value.dataSync()[0]) < 1e-6);
    for (const v of vars) {
      const a = viaUserItems.grads[v.name].dataSync();
      const b = viaPairs.grads[v.name].dataSync();
      const scale = Math.max(1e-6, ...Array.from(b, Math.abs));
      assert.ok(maxAbsDiff(a, b) <= 1e-5 * scale, `${v.name}: gradients differ by ${maxAbsDiff(a, b)} (scale ${scale})`);
    }
    m.dispose();
  });

  test(`${name}: scoring and a training step leave no tensors behind (evaluation runs every epoch)`, async () => {
    await initBackend('wasm');
    const m = factory(config, 5);
    const before = tf.memory().numTensors;
    const scorer = m.createScorer();
    for (let r = 0; r < 3; r++) {
      scorer.scoreItems(Int32Array.from([0, 1, 2, 3]), Int32Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 0, 1]), 3);
      scorer.scoreAll(Int32Array.from([4, 5, 6]));
    }
    scorer.dispose();
    tf.tidy(() => { m.scoreUserItems(int1d([0, 1]), tf.tensor2d([[1, 2], [3, 4]], undefined, 'int32')); });
    const { value, grads } = tf.variableGrads(() => m.baseLoss(int1d([0, 1]), int1d([2, 3]), int1d([4, 5])), Object.values(m.variables));
    value.dispose();
    for (const g of Object.values(grads)) g.dispose();
    assert.equal(tf.memory().numTensors, before, `${tf.memory().numTensors - before} tensors leaked`);
    m.dispose();
  });

  test(`${name}: weights round-trip and wrong shapes are refused`, async () => {
    await initBackend('wasm');
    const a = factory(config, 1);
    const b = factory(config, 2);
    const probe = () => tf.tidy(() => b.scorePairs(int1d([0, 1, 2]), int1d([3, 4, 5])).dataSync());
    const before = probe();
    b.setWeights(a.getWeights());
    const after = probe();
    const expected = tf.tidy(() => a.scorePairs(int1d([0, 1, 2]), int1d([3, 4, 5])).dataSync());
    assert.deepEqual(after, expected);
    assert.notDeepEqual(before, after);
    const wrong = factory({ ...config, dim: 5 }, 0);
    assert.throws(() => b.setWeights(wrong.getWeights()), /has shape \[.*\] but this .* model .* needs/);
    for (const m of [a, b, wrong]) m.dispose();
  });

  test(`${name}: the same seed initialises identically; the base loss is finite and training lowers it`, async () => {
    await initBackend('wasm');
    assert.deepEqual(factory(config, 5).getWeights(), factory(config, 5).getWeights());
    const ds = tinyDataset(2);
    const m = factory({ numUsers: ds.numUsers, numItems: ds.numItems, dim: 8 }, 0);
    const opt = new AdamL2({ lr: 0.01 });
    const t = sampleTriples(ds, new Rng(0));
    const u = tf.tensor1d(t.users, 'int32'), p = tf.tensor1d(t.pos, 'int32'), n = tf.tensor1d(t.neg, 'int32');
    const lossOf = () => tf.tidy(() => m.baseLoss(u, p, n).dataSync()[0]);
    const first = lossOf();
    assert.ok(Number.isFinite(first));
    for (let step = 0; step < 30; step++) {
      const { value, grads } = tf.variableGrads(() => m.baseLoss(u, p, n), Object.values(m.variables));
      value.dispose();
      const byName: Record<string, tf.Tensor> = {};
      for (const [k, v] of Object.entries(m.variables)) byName[k] = grads[v.name];
      opt.apply(m.variables, byName);
    }
    assert.ok(lossOf() < first * 0.9, `loss ${lossOf()} not below ${first}`);
    opt.dispose();
    m.dispose();
  });
}
