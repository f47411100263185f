import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BprMf, NeuMf, initBackend, tf } from '@derrd/train';
import { gradientCheck, int1d } from './helpers.js';

// finite differences on the cpu backend in float32: eps 1e-2 on O(0.1) weights keeps rounding error small
const config = { numUsers: 5, numItems: 8, dim: 3 };
const users = [0, 1, 4, 0];
const pos = [2, 3, 7, 5];
const neg = [6, 0, 1, 2];

function scaleUp(model: BprMf | NeuMf): void {
  // N(0, 0.01²) init gives gradients near zero; larger weights make the check meaningful
  for (const v of Object.values(model.variables)) v.assign(tf.mul(v, 20));
}

test('BPR loss: analytic gradients match finite differences for both tables', async () => {
  await initBackend('cpu');
  const m = new BprMf(config, 0);
  scaleUp(m);
  const loss = () => m.baseLoss(int1d(users), int1d(pos), int1d(neg));
  assert.ok(gradientCheck(m.user, loss, [0, 1, 2, 3, 12, 13]) < 2e-2);
  assert.ok(gradientCheck(m.item, loss, [6, 7, 9, 0, 18, 21]) < 2e-2);
  m.dispose();
});

test('BPR loss equals Σ softplus(−(s_ui − s_uj)) computed by hand', async () => {
  await initBackend('cpu');
  const m = new BprMf({ numUsers: 1, numItems: 2, dim: 2 }, 0);
  m.setWeights({ user: { shape: [1, 2], data: Float32Array.from([1, 2]) }, item: { shape: [2, 2], data: Float32Array.from([0.5, 0.25, -1, 1]) } });
  // s_u0 = 1; s_u1 = 1; diff = 0 → log 2 per triple; (u, 1, 0): diff = 0 too
  const l = tf.tidy(() => m.baseLoss(int1d([0, 0]), int1d([0, 1]), int1d([1, 0])).dataSync()[0]);
  assert.ok(Math.abs(l - 2 * Math.log(2)) < 1e-6);
  m.setWeights({ user: { shape: [1, 2], data: Float32Array.from([1, 0]) }, item: { shape: [2, 2], data: Float32Array.from([3, 0, 1, 0]) } });
  const l2 = tf.tidy(() => m.baseLoss(int1d([0]), int1d([0]), int1d([1])).dataSync()[0]);
  assert.ok(Math.abs(l2 - Math.log(1 + Math.exp(-2))) < 1e-6);
  m.dispose();
});

test('NeuMF BCE loss: analytic gradients match finite differences for embeddings and MLP', async () => {
  await initBackend('cpu');
  const m = new NeuMf(config, 0);
  scaleUp(m);
  const loss = () => m.baseLoss(int1d(users), int1d(pos), int1d(neg));
  for (const [name, probes] of [['user_gmf', [0, 4]], ['item_mlp', [6, 21]], ['mlp_w', [0, 5, 17]], ['mlp_b', [0, 2]], ['out_w', [1, 4]], ['out_b', [0]]] as const) {
    const err = gradientCheck(m.variables[name], loss, [...probes]);
    assert.ok(err < 2e-2, `${name}: relative error ${err}`);
  }
  m.dispose();
});

test('NeuMF loss equals softplus(−logit⁺) + softplus(logit⁻) with the logit computed by hand', async () => {
  await initBackend('cpu');
  const m = new NeuMf({ numUsers: 1, numItems: 2, dim: 1 }, 0);
  const w = (shape: number[], data: number[]) => ({ shape, data: Float32Array.from(data) });
  m.setWeights({
    user_gmf: w([1, 1], [2]), item_gmf: w([2, 1], [0.5, -1]), user_mlp: w([1, 1], [1]), item_mlp: w([2, 1], [1, -3]),
    mlp_w: w([2, 1], [0.5, 0.25]), mlp_b: w([1], [0.1]), out_w: w([2, 1], [1, 2]), out_b: w([1], [-0.5]),
  });
  // item 0: gmf 1, hidden relu(0.5 + 0.25 + 0.1) = 0.85, logit = 1 + 1.7 - 0.5 = 2.2
  // item 1: gmf -2, hidden relu(0.5 - 0.75 + 0.1) = 0, logit = -2 - 0.5 = -2.5
  const logits = tf.tidy(() => m.scorePairs(int1d([0, 0]), int1d([0, 1])).dataSync());
  assert.ok(Math.abs(logits[0] - 2.2) < 1e-6 && Math.abs(logits[1] + 2.5) < 1e-6);
  const l = tf.tidy(() => m.baseLoss(int1d([0]), int1d([0]), int1d([1])).dataSync()[0]);
  assert.ok(Math.abs(l - (Math.log(1 + Math.exp(-2.2)) + Math.log(1 + Math.exp(-2.5)))) < 1e-6);
  m.dispose();
});
