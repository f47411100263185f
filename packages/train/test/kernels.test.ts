import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '@derrd/core';
import { AdamL2, adamUpdate, initBackend, tf } from '@derrd/train';
import { maxAbsDiff } from './helpers.js';

function randomArray(n: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  return Float32Array.from({ length: n }, () => rng.normal());
}

async function onBackend<T>(name: 'cpu' | 'wasm', f: () => T): Promise<T> {
  await initBackend(name);
  return f();
}

test('UnsortedSegmentSum (the gradient of gather): wasm equals cpu equals a plain scatter-add, with repeated ids', async () => {
  const values = randomArray(9 * 3, 1);
  const ids = Int32Array.from([4, 0, 4, 2, 4, 0, 6, 6, 1]);
  const expected = new Float32Array(7 * 3);
  ids.forEach((id, r) => { for (let k = 0; k < 3; k++) expected[id * 3 + k] += values[r * 3 + k]; });
  const run = () => tf.tidy(() => tf.unsortedSegmentSum(tf.tensor2d(values, [9, 3]), tf.tensor1d(ids, 'int32'), 7).dataSync());
  const wasm = await onBackend('wasm', run);
  const cpu = await onBackend('cpu', run);
  assert.ok(maxAbsDiff(wasm, expected) < 1e-6);
  assert.ok(maxAbsDiff(cpu, expected) < 1e-6);
});

test('GatherV2 row copy: wasm equals cpu and rejects out-of-range ids; other axes use the stock kernel', async () => {
  const table = randomArray(5 * 4, 2);
  const run = () => tf.tidy(() => {
    const t = tf.tensor2d(table, [5, 4]);
    return [tf.gather(t, tf.tensor1d([4, 0, 4, 2], 'int32')).dataSync(), tf.gather(t, tf.tensor1d([3, 1], 'int32'), 1).dataSync()];
  });
  const [wasmRows, wasmCols] = await onBackend('wasm', run);
  const [cpuRows, cpuCols] = await onBackend('cpu', run);
  assert.deepEqual(wasmRows, cpuRows);
  assert.deepEqual(wasmCols, cpuCols);
  assert.deepEqual(Array.from(wasmRows.slice(0, 4)), Array.from(table.slice(16, 20)));
  await initBackend('wasm');
  assert.throws(() => tf.tidy(() => tf.gather(tf.tensor2d(table, [5, 4]), tf.tensor1d([5], 'int32')).dataSync()), /outside \[0, 5\)/);
});

test('gradient of an embedding lookup is identical on wasm and cpu', async () => {
  const table = randomArray(6 * 3, 3);
  const weights = randomArray(5 * 3, 4);
  const run = () => tf.tidy(() => {
    const t = tf.tensor2d(table, [6, 3]);
    const g = tf.grad((x: tf.Tensor) => tf.sum(tf.mul(tf.gather(x, tf.tensor1d([1, 5, 1, 0, 5], 'int32')), tf.tensor2d(weights, [5, 3]))))(t);
    return g.dataSync();
  });
  const wasm = await onBackend('wasm', run);
  const cpu = await onBackend('cpu', run);
  assert.ok(maxAbsDiff(wasm, cpu) < 1e-6);
});

test('fused Adam (wasm SIMD, cpu JS) equals the stock-op composite and the PyTorch formula', async () => {
  const n = 1023; // not a multiple of 4: exercises the SIMD tail
  const p0 = randomArray(n, 5), g = randomArray(n, 6);
  const step = async (backend: 'cpu' | 'wasm', fused: boolean) => {
    await initBackend(backend);
    const v = { w: tf.variable(tf.tensor1d(p0)) };
    const opt = new AdamL2({ lr: 0.01, weightDecay: 0.1 });
    const saved = fused ? null : tf.getKernel('DerrdAdam', backend);
    if (saved) tf.unregisterKernel('DerrdAdam', backend);
    try {
      for (let s = 0; s < 3; s++) opt.apply(v, { w: tf.tensor1d(g) });
    } finally {
      if (saved) tf.registerKernel(saved);
    }
    const out = v.w.dataSync().slice();
    opt.dispose();
    v.w.dispose();
    return out;
  };
  // reference: three steps of the formula in float64
  const p = Float64Array.from(p0), m = new Float64Array(n), s2 = new Float64Array(n);
  for (let t = 1; t <= 3; t++) {
    for (let k = 0; k < n; k++) {
      const gk = g[k] + 0.1 * p[k];
      m[k] = 0.9 * m[k] + 0.1 * gk;
      s2[k] = 0.999 * s2[k] + 0.001 * gk * gk;
      p[k] -= (0.01 / (1 - 0.9 ** t)) * m[k] / (Math.sqrt(s2[k]) / Math.sqrt(1 - 0.999 ** t) + 1e-8);
    }
  }
  for (const [backend, fused] of [['wasm', true], ['cpu', true], ['wasm', false], ['cpu', false]] as const) {
    const got = await step(backend, fused);
    assert.ok(maxAbsDiff(got, p) < 2e-6, `${backend} fused=${fused}: ${maxAbsDiff(got, p)}`);
  }
  const direct = { p: new Float32Array(n), m: new Float32Array(n), v: new Float32Array(n) };
  adamUpdate(p0, g, new Float32Array(n), new Float32Array(n), direct.p, direct.m, direct.v, { lr: 0.01, beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 0.1, step: 1 });
  assert.ok(maxAbsDiff(direct.p, p0) > 1e-3);
});

test('ops.matMul gradients (explicit transposes) equal tf.matMul gradients, rank 2 and batched rank 3', async () => {
  const { matMul } = await import('@derrd/train');
  await initBackend('wasm');
  for (const [sa, sb] of [[[3, 4], [4, 5]], [[2, 3, 4], [2, 4, 1]]] as const) {
    const a = tf.tensor(randomArray(sa.reduce((x, y) => x * y, 1), 7), [...sa]);
    const b = tf.tensor(randomArray(sb.reduce((x, y) => x * y, 1), 8), [...sb]);
    const w = (t: tf.Tensor) => tf.sum(tf.mul(t, tf.range(1, t.size + 1).reshape(t.shape)));
    const ours = tf.grads((x: tf.Tensor, y: tf.Tensor) => w(matMul(x, y)))([a, b]);
    const stock = tf.grads((x: tf.Tensor, y: tf.Tensor) => w(tf.matMul(x as tf.Tensor2D, y as tf.Tensor2D)))([a, b]);
    for (let k = 0; k < 2; k++) assert.ok(maxAbsDiff(ours[k].dataSync(), stock[k].dataSync()) < 1e-4);
  }
});
