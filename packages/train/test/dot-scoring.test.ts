import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateSynthetic, prepareFromInteractions, type Dataset } from '@derrd/core';
import {
  BprMf, TRAIN_DEFAULTS, computeTeacherItemRanking, computeTeacherItemRankingWithScorer, computeTeacherRanking, computeTeacherRankingWithScorer, evaluateModel, evaluateWithScorer, initBackend, setHelperThreads, tf,
  topKeysPerRow, train,
} from '@derrd/train';
import { instantiateScoreSimd } from '../src/wasm/score-simd.js';

const f = Math.fround;
/** the float32 score summed in dimension order: what tfjs-wasm's matMul gives (and the reference for every kernel) */
const seqDot = (a: Float32Array, ai: number, b: Float32Array, bi: number, d: number): number => {
  let s = 0;
  for (let k = 0; k < d; k++) s = f(s + f(a[ai + k] * b[bi + k]));
  return s;
};

function smallData(seed: number, numUsers = 300, numItems = 700): Dataset {
  return prepareFromInteractions(generateSynthetic({ numUsers, numItems, seed, meanInteractions: 15 }), { kind: 'synthetic', path: null, sha256: null }, { numCandidates: 99, seed });
}

let trained: { ds: Dataset; model: BprMf } | null = null;
/** a BPR model after 3 epochs (the trainer's own path), so that scores have a trained model's spread and near-ties */
async function trainedModel(): Promise<{ ds: Dataset; model: BprMf }> {
  if (trained) return trained;
  const ds = smallData(11);
  const out = mkdtempSync(join(tmpdir(), 'derrd-dot-'));
  const { model } = await train({ dataset: ds, datasetPath: 'small', config: { ...TRAIN_DEFAULTS, dim: 24, maxEpochs: 3, batchSize: 256, lr: 0.01 }, out, backend: 'wasm' });
  trained = { ds, model: model as BprMf };
  return trained;
}

/** A model whose values are multiples of 1/4: many exactly equal scores, so ties must go to the lower id. */
function tiedModel(ds: Dataset, d: number): BprMf {
  const m = new BprMf({ numUsers: ds.numUsers, numItems: ds.numItems, dim: d }, 1);
  let x = 7;
  const coarse = (n: number) => Float32Array.from({ length: n }, () => {
    x = (x * 1103515245 + 12345) % 2147483648;
    return ((x % 9) - 4) / 4;
  });
  m.user.assign(tf.tensor(coarse(ds.numUsers * d), [ds.numUsers, d]));
  m.item.assign(tf.tensor(coarse(ds.numItems * d), [ds.numItems, d]));
  return m;
}

test('scoring kernels sum in dimension order: bit-identical to a sequential float32 loop (odd dims, tails)', () => {
  const memory = new WebAssembly.Memory({ initial: 64, maximum: 1024, shared: true });
  const k = instantiateScoreSimd(memory)!;
  const F = new Float32Array(memory.buffer);
  const I = new Int32Array(memory.buffer);
  const S = new Int16Array(memory.buffer);
  let x = 3;
  const rnd = () => ((x = (x * 1103515245 + 12345) % 2147483648) / 2147483648) * 2 - 1;
  for (const d of [1, 3, 4, 7, 20, 64, 65]) {
    const rows = 40;
    const cols = 16;
    const tab = 1024;
    const u = tab + rows * d;
    const ids = u + d + 4;
    const out = ids + 64;
    const q4 = out + 64;
    const kt = q4 + 4 * d;
    const g = kt + d * cols;
    for (let i = 0; i < rows * d + d; i++) F[tab + i] = rnd();
    for (let j = 0; j < 12; j++) I[ids + j] = (j * 7) % rows;
    k.dotGather(out * 4, u * 4, tab * 4, ids * 4, 12, d);
    for (let j = 0; j < 12; j++) assert.equal(F[out + j], seqDot(F, u, F, tab + I[ids + j] * d, d), `dotGather d=${d} row ${j}`);
    for (let c = 0; c < d; c++) for (let r = 0; r < 4; r++) F[q4 + 4 * c + r] = F[tab + (20 + r) * d + c];
    for (let c = 0; c < d; c++) for (let i = 0; i < cols; i++) F[kt + c * cols + i] = F[tab + i * d + c];
    k.gemm4x8(g * 4, cols * 4, q4 * 4, kt * 4, cols * 4, cols, d);
    for (let r = 0; r < 4; r++) for (let i = 0; i < cols; i++) assert.equal(F[g + r * cols + i], seqDot(F, tab + (20 + r) * d, F, tab + i * d, d), `gemm4x8 d=${d}`);
    // dotBucketsRank: buckets (item row 5 of `tab`, 8 entries), (row 9, 4 entries); entry e = (user e >> 2, slot e & 3);
    // each user's two targets at targets[2u], [2u + 1]: counts of the candidate slots (≥ 2) scoring above (ties: lower id)
    const bk = g + 4 * cols + 16;
    const ent = bk + 8;
    const targets = ent + 16;
    const ids2 = targets + 2 * rows + 8;
    const counts = ids2 + 2 * rows + 8;
    I.set([5, 8, 9, 4], bk);
    for (let j = 0; j < 12; j++) I[ent + j] = (((j * 5) % 9) << 2) | (j % 4);
    for (let u = 0; u < 10; u++) {
      // the targets: item 5's score for even users (so that item 5's entry ties and item 9 < 5 does not count), else 0
      F[targets + 2 * u] = u % 2 === 0 ? seqDot(F, tab + 5 * d, F, tab + u * d, d) : 0;
      F[targets + 2 * u + 1] = -1;
      I[ids2 + 2 * u] = 7;
      I[ids2 + 2 * u + 1] = 7;
    }
    I.fill(0, counts, counts + 2 * rows);
    k.dotBucketsRank(counts * 4, 0, tab * 4, ent * 4, 2, d, tab * 4, bk * 4, 2, targets * 4, ids2 * 4);
    const expected = new Array(2 * rows).fill(0);
    for (let j = 0; j < 12; j++) {
      const e = I[ent + j];
      const user = e >> 2;
      if ((e & 3) < 2) continue;
      const item = j < 8 ? 5 : 9;
      const s = seqDot(F, tab + item * d, F, tab + user * d, d);
      for (let w = 0; w < 2; w++) {
        const t = F[targets + 2 * user + w];
        if (s > t || (s === t && item < I[ids2 + 2 * user + w])) expected[2 * user + w]++;
      }
    }
    assert.deepEqual(Array.from(I.subarray(counts, counts + 2 * rows)), expected, `dotBucketsRank d=${d}`);
  }
  // int16 products: exact integer sums
  const pairs = 5;
  const q16 = 4096;
  const k16 = q16 + 16 * pairs;
  const o = k16 + pairs * 8 * 4 + 64;
  for (let p = 0; p < pairs * 8; p++) S[q16 / 2 + p] = Math.round(rnd() * 4095);
  for (let p = 0; p < pairs * 16; p++) S[k16 / 2 + p] = Math.round(rnd() * 4095);
  k.gemmI16(o, 32, q16, k16, 32, 8, pairs);
  for (let r = 0; r < 4; r++) {
    for (let c = 0; c < 8; c++) {
      let s = 0;
      for (let p = 0; p < pairs; p++) for (let h = 0; h < 2; h++) s += S[q16 / 2 + (4 * p + r) * 2 + h] * S[k16 / 2 + (p * 8 + c) * 2 + h];
      assert.equal(I[o / 4 + r * 8 + c], s);
    }
  }
  // filters: every index above the threshold, in order, never NaN
  const src = 8192;
  for (let i = 0; i < 37; i++) F[src + i] = i % 5 === 0 ? NaN : rnd();
  k.filterAbove(src * 4, 37, 0.25, (src + 64) * 4, (src + 128) * 4);
  assert.deepEqual(Array.from(I.subarray(src + 64, src + 64 + I[src + 128])), [...Array(37).keys()].filter((i) => F[src + i] > 0.25));
});

for (const threads of [1, 2] as const) {
  test(`evaluation of a trained BPR model (${threads} thread${threads > 1 ? 's' : ''}): the fused ranks equal the tfjs scorer's, user by user, under both protocols`, async () => {
    await initBackend('wasm');
    setHelperThreads(threads);
    try {
      const { ds, model } = await trainedModel();
      for (const m of [model, tiedModel(ds, 24), tiedModel(ds, 7)]) {
        for (const protocol of ['sampled', 'full'] as const) {
          const reference = await evaluateWithScorer(m, ds, protocol);
          const fused = await evaluateModel(m, ds, protocol);
          assert.deepEqual(Array.from(fused.ranks.test), Array.from(reference.ranks.test), `${protocol} test ranks`);
          assert.deepEqual(Array.from(fused.ranks.valid), Array.from(reference.ranks.valid), `${protocol} validation ranks`);
          assert.deepEqual(fused.test, reference.test);
          assert.deepEqual(fused.valid, reference.valid);
        }
      }
    } finally {
      setHelperThreads(undefined);
    }
  });

  test(`teacher ranking (${threads} thread${threads > 1 ? 's' : ''}): the fused top-N equals the tfjs scorer's lists, ties to the lower id`, async () => {
    await initBackend('wasm');
    setHelperThreads(threads);
    try {
      const { ds, model } = await trainedModel();
      for (const [m, topN] of [[model, 50], [tiedModel(ds, 24), 60], [tiedModel(ds, 9), 300]] as const) {
        const reference = computeTeacherRankingWithScorer(m, ds, topN);
        const fused = computeTeacherRanking(m, ds, topN);
        assert.equal(fused.topN, topN);
        assert.deepEqual(Array.from(fused.items), Array.from(reference.items));
      }
    } finally {
      setHelperThreads(undefined);
    }
  });

  test(`teacher item ranking (${threads} thread${threads > 1 ? 's' : ''}): the fused top-N users per item equal the tfjs scorer's lists, ties to the lower id`, async () => {
    await initBackend('wasm');
    setHelperThreads(threads);
    try {
      const { ds, model } = await trainedModel();
      for (const [m, topN] of [[model, 40], [tiedModel(ds, 24), 60], [tiedModel(ds, 9), 290]] as const) {
        const reference = computeTeacherItemRankingWithScorer(m, ds, topN);
        const fused = computeTeacherItemRanking(m, ds, topN);
        assert.equal(fused.topN, topN);
        assert.deepEqual(Array.from(fused.users), Array.from(reference.users));
      }
    } finally {
      setHelperThreads(undefined);
    }
  });
}

test('topKeysPerRow: exclusions in any order, -1 padding, huge values through the exact path, and input errors', () => {
  const d = 3;
  // the third row's scores (3e36, all tied) are too close to float32's range for the int16 bound: the exact path
  const queries = Float32Array.from([1, 0, 0, 0, 1, 0, 1e36, 1e36, 0]);
  const keys = Float32Array.from([3, 0, 0, 2, 1, 0, 1, 2, 0, 0, 3, 1]);
  // brute force: scores in dimension order, ties to the lower id
  const brute = (q: number, excluded: number[], n: number) => [0, 1, 2, 3]
    .filter((i) => !excluded.includes(i))
    .map((i) => ({ i, s: seqDot(queries, q * d, keys, i * d, d) }))
    .sort((a, b) => b.s - a.s || a.i - b.i)
    .slice(0, n)
    .map((x) => x.i);
  const exclude = { indptr: Int32Array.from([0, 2, 2, 3]), indices: Int32Array.from([1, 0, 3]) };
  const progress: number[] = [];
  const top = topKeysPerRow({ queries, keys, dim: d, topN: 3, exclude, onProgress: (done, total) => progress.push(done / total) });
  assert.equal(progress.at(-1), 1);
  const row = (q: number) => Array.from(top.subarray(q * 3, q * 3 + 3));
  assert.deepEqual(row(0), [...brute(0, [0, 1], 3), -1]);
  assert.deepEqual(row(1), brute(1, [], 3));
  assert.deepEqual(row(2), brute(2, [3], 3));
  assert.deepEqual(row(2), [0, 1, 2]);
  assert.throws(() => topKeysPerRow({ queries, keys, dim: 4, topN: 3 }), /whole rows of 4/);
  assert.throws(() => topKeysPerRow({ queries, keys, dim: d, topN: 0 }), /topN must be a positive integer/);
  assert.throws(() => topKeysPerRow({ queries, keys, dim: d, topN: 2, exclude: { indptr: Int32Array.from([0, 1, 1, 1]), indices: Int32Array.from([7]) } }), /key 7 of row 0 outside/);
});
