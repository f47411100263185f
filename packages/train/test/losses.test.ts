/**
 * Independent expectations for the distillation losses and their weighting (issue 21): each loss recomputed by hand
 * from the raw tables in plain JS, and its gradient against finite differences; the training step's total against
 * base + Σ λ·term with constant terms.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng, sampleTriples, type Dataset } from '@derrd/core';
import { AdamL2, BprMf, CdTerm, DeTerm, RdTerm, RrdTerm, relaxedRankingLoss, leanRelaxedRankingLoss, deTemperature, initBackend, sampleRankPositions, setDeKernel, tf, trainableOf, trainingStep, type Batch, type LossTerm, type TeacherRanking } from '@derrd/train';
import { gradientCheck, tinyDataset } from './helpers.js';

const close = (a: number, b: number, tol: number, what: string) => assert.ok(Math.abs(a - b) <= tol * Math.max(1, Math.abs(b)), `${what}: ${a} != ${b}`);
const dot = (a: number[], b: number[]) => a.reduce((s, x, k) => s + x * b[k], 0);
const softplus = (x: number) => Math.log1p(Math.exp(x));
const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

let ds: Dataset;
function data(): Dataset {
  ds ??= tinyDataset(2, 20, 80);
  return ds;
}

/** A BPR model whose tables are scaled so scores spread over a few units. */
function bpr(dim: number, seed: number, scale: number): BprMf {
  const d = data();
  const m = new BprMf({ numUsers: d.numUsers, numItems: d.numItems, dim }, seed);
  for (const v of Object.values(m.variables)) v.assign(tf.mul(v, scale));
  return m;
}

function batch(userIds: number[], posIds: number[], negIds: number[]): Batch {
  const u = Int32Array.from(userIds), p = Int32Array.from(posIds), n = Int32Array.from(negIds);
  return { users: tf.tensor1d(u, 'int32'), pos: tf.tensor1d(p, 'int32'), neg: tf.tensor1d(n, 'int32'), userIds: u, posIds: p, negIds: n, epoch: 0, index: 0 };
}

/** Teacher ranking with hand-picked items: user u's list is (u + 3k) mod numItems, k = 0..topN−1. */
function ranking(topN: number): TeacherRanking {
  const d = data();
  const items = new Int32Array(d.numUsers * topN);
  for (let u = 0; u < d.numUsers; u++) for (let k = 0; k < topN; k++) items[u * topN + k] = (u + 3 * k + 1) % d.numItems;
  return { topN, numUsers: d.numUsers, items };
}

const rows = (v: tf.Tensor) => v.arraySync() as number[][];

test('RD on users 0 and 3: weights exp(−r/T)/Σ, loss −Σ w_r log σ(s(u, π_r)) by hand; gradients match finite differences', async () => {
  await initBackend('cpu');
  const student = bpr(3, 2, 40);
  const K = 3, T = 2;
  const term = new RdTerm(student, data(), ranking(5), { topK: K, positionTemperature: T, lambda: 0.3 });
  assert.equal(term.weight, 0.3);
  term.onEpochStart(0, new Rng(1)); // before dynamicStart: position weights only
  const raw = [1, 2, 3].map((r) => Math.exp(-r / T));
  const w = raw.map((x) => x / (raw[0] + raw[1] + raw[2]));
  for (const u of [0, 3]) for (let r = 0; r < K; r++) close(term.weights[u * K + r], w[r], 1e-6, `w[${u}, ${r}]`);
  const U = rows(student.user), I = rows(student.item);
  const b = batch([0, 3, 0, 3, 0], [1, 2, 3, 4, 5], [6, 7, 8, 9, 10]);
  let expected = 0;
  for (const u of [0, 3]) for (let r = 0; r < K; r++) expected += w[r] * softplus(-dot(U[u], I[(u + 3 * r + 1) % data().numItems]));
  close(tf.tidy(() => term.loss(b).dataSync()[0]), expected, 1e-5, 'RD loss');
  for (const [v, probes] of [[student.user, [0, 1, 2, 9, 10, 11]], [student.item, [3, 4, 5, 12, 13, 14, 21]]] as const) {
    const err = gradientCheck(v, () => term.loss(b), [...probes], 1e-3);
    assert.ok(err < 1e-2, `RD gradient relative error ${err}`);
  }
  // a user whose list is padded (−1 at position K) contributes nothing
  const padded = ranking(5);
  padded.items[0 * 5 + K - 1] = -1;
  const t2 = new RdTerm(student, data(), padded, { topK: K, positionTemperature: T });
  let only3 = 0;
  for (let r = 0; r < K; r++) only3 += w[r] * softplus(-dot(U[3], I[(3 + 3 * r + 1) % data().numItems]));
  close(tf.tidy(() => t2.loss(b).dataSync()[0]), only3, 1e-5, 'RD loss without the padded user');
  assert.equal(tf.tidy(() => t2.loss(batch([0], [1], [2])).dataSync()[0]), 0);
});

test('RD dynamic weights from dynamicStart on: exp(−r/T)·tanh(max(μ(r̂ − r), 0)) with r̂ from the sampled items, renormalised', async () => {
  await initBackend('cpu');
  const student = bpr(3, 4, 40);
  const K = 3, n = 7, T = 2, mu = 0.5;
  const term = new RdTerm(student, data(), ranking(4), { topK: K, positionTemperature: T, discrepancyScale: mu, dynamicSamples: n, dynamicStart: 2 });
  const before = Float32Array.from(term.weights);
  term.onEpochStart(1, new Rng(8));
  assert.deepEqual(term.weights, before, 'epoch 1 < dynamicStart keeps the position weights');
  term.onEpochStart(2, new Rng(8));
  const replay = new Rng(8);
  const U = rows(student.user), I = rows(student.item);
  const numItems = data().numItems;
  let anyDynamic = false;
  for (let u = 0; u < data().numUsers; u++) {
    const sampled = Array.from({ length: n }, () => replay.int(numItems));
    const raw = [0, 1, 2].map((r) => {
      const s = dot(U[u], I[(u + 3 * r + 1) % numItems]);
      const above = sampled.filter((j) => dot(U[u], I[j]) > s).length;
      const rank = Math.floor(((numItems - 1) * above) / n);
      return Math.exp(-(r + 1) / T) * Math.tanh(Math.max(mu * (rank - (r + 1)), 0));
    });
    const total = raw[0] + raw[1] + raw[2];
    if (total > 0 && raw.filter((x) => x > 0).length >= 2) anyDynamic = true;
    for (let r = 0; r < K; r++) close(term.weights[u * K + r], total > 0 ? raw[r] / total : 0, 1e-5, `dynamic w[${u}, ${r}]`);
  }
  assert.ok(anyDynamic, 'the fixture exercises the discrepancy factor');
});

test('CD: soft labels σ(s_T/temperature) on rank-sampled teacher items; loss Σ q·softplus(−x) + (1 − q)·softplus(x) by hand; gradients match', async () => {
  await initBackend('cpu');
  const teacher = bpr(4, 5, 150);
  const student = bpr(3, 6, 40);
  const S = 3, topN = 6, gamma = 2, temperature = 1.5;
  const rk = ranking(topN);
  const term = new CdTerm(student, teacher, data(), rk, { samples: S, topN, gamma, temperature, lambda: 0.2 });
  assert.equal(term.weight, 0.2);
  term.onEpochStart(0, new Rng(9));
  const replay = new Rng(9);
  const TU = rows(teacher.user), TI = rows(teacher.item), U = rows(student.user), I = rows(student.item);
  for (let u = 0; u < data().numUsers; u++) {
    const positions = sampleRankPositions(replay, topN, S, topN / gamma, topN);
    for (let k = 0; k < S; k++) {
      const item = rk.items[u * topN + positions[k]];
      assert.equal(term.items[u * S + k], item, `item ${k} of user ${u}`);
      close(term.labels[u * S + k], sigmoid(dot(TU[u], TI[item]) / temperature), 1e-5, `label ${k} of user ${u}`);
    }
  }
  // labels are neither all near 0 nor all near 1: an inverted label changes the loss
  assert.ok(term.labels.some((q) => q < 0.3) && term.labels.some((q) => q > 0.7), 'labels spread');
  const b = batch([2, 5, 2], [1, 2, 3], [4, 5, 6]);
  let expected = 0;
  for (const u of [2, 5]) {
    for (let k = 0; k < S; k++) {
      const x = dot(U[u], I[term.items[u * S + k]]);
      const q = term.labels[u * S + k];
      expected += q * softplus(-x) + (1 - q) * softplus(x);
    }
  }
  close(tf.tidy(() => term.loss(b).dataSync()[0]), expected, 1e-5, 'CD loss');
  for (const [v, probes] of [[student.user, [6, 7, 8, 15, 16]], [student.item, [0, 5, 9, 30, 31]]] as const) {
    const err = gradientCheck(v, () => term.loss(b), [...probes], 1e-3);
    assert.ok(err < 1e-2, `CD gradient relative error ${err}`);
  }
  // a user with fewer available teacher items than samples gets −1 slots and no loss
  const short = ranking(topN);
  for (let k = 2; k < topN; k++) short.items[5 * topN + k] = -1;
  const t2 = new CdTerm(student, teacher, data(), short, { samples: S, topN, gamma, temperature });
  t2.onEpochStart(0, new Rng(9));
  assert.equal(t2.items[5 * S + S - 1], -1);
  assert.equal(tf.tidy(() => t2.loss(batch([5], [1], [2])).dataSync()[0]), 0);
});

test('DE with entity weights: Σ_users ℓ(u) + ½ per unique positive/negative membership ℓ(i), the mixture by hand at the epoch\'s τ', async () => {
  await initBackend('cpu');
  setDeKernel('tfjs');
  try {
    const teacher = bpr(3, 7, 20);
    const student = bpr(2, 8, 20);
    const settings = { numExperts: 2, mode: 'exact' as const, tauStart: 1, tauEnd: 0.01, annealEpochs: 4, lambda: 0.05 };
    const term = new DeTerm(student, teacher, settings, 3);
    assert.equal(term.weight, 0.05);
    term.onEpochStart(3, new Rng(4));
    const tau = Math.pow(0.01, 2 / 4);
    close(term.temperature, tau, 1e-12, 'τ at epoch 3');
    close(deTemperature(3, settings), tau, 1e-12, 'deTemperature(3)');
    // users {1, 4}; item 7 is a positive and a negative (weight 1), 8 only positive, 9 only negative (½ each)
    const b = batch([1, 4, 1], [7, 8, 7], [9, 7, 9]);
    const replay = new Rng(4);
    let expected = 0;
    for (const [k, set] of term.sets.entries()) {
      const entities = set.side === 'user' ? [[1, 1], [4, 1]] : [[7, 1], [8, 0.5], [9, 0.5]];
      const { ids, weights } = DeTerm.entities(b, set.side);
      assert.deepEqual([...ids].map((id, e) => [id, weights[e]]), entities, `entities of set ${k}`);
      const HT = rows(set.teacher), HS = rows(set.student);
      const w1 = set.w1.arraySync() as number[][][], b1 = rows(set.b1), w2 = set.w2.arraySync() as number[][][], b2 = rows(set.b2);
      const wSel = rows(set.wSel), bSel = set.bSel.arraySync() as number[];
      const gumbel = Array.from({ length: entities.length * 2 }, () => replay.gumbel());
      entities.forEach(([id, weight], e) => {
        const ht = HT[id], hs = HS[id];
        const logits = [0, 1].map((m) => dot(ht, wSel.map((row) => row[m])) + bSel[m]);
        const z = logits.map(Math.exp), alpha = z.map((x) => x / (z[0] + z[1]));
        const g = alpha.map((a, m) => Math.exp((Math.log(a + 1e-10) + gumbel[e * 2 + m]) / tau));
        const sel = g.map((x) => x / (g[0] + g[1]));
        const recon = [0, 0, 0];
        for (let m = 0; m < 2; m++) {
          // hidden width ⌊(2 + 3)/2⌋ = 2
          const hidden = [0, 1].map((j) => Math.max(0, hs[0] * w1[m][0][j] + hs[1] * w1[m][1][j] + b1[m][j]));
          for (let d = 0; d < 3; d++) recon[d] += sel[m] * (hidden[0] * w2[m][0][d] + hidden[1] * w2[m][1][d] + b2[m][d]);
        }
        expected += weight * ht.reduce((s, x, d) => s + (x - recon[d]) ** 2, 0);
      });
    }
    close(tf.tidy(() => term.loss(b).dataSync()[0]), expected, 1e-5, 'DE loss');
    term.dispose();
    // sparse routing that keeps every expert (mass 1, cap 2), through the tfjs ops and the SIMD kernel: the same value
    for (const kernel of ['tfjs', 'simd'] as const) {
      setDeKernel(kernel);
      const sparse = new DeTerm(student, teacher, { ...settings, mode: 'sparse', sparseMass: 1, sparseMaxExperts: 2 }, 3);
      sparse.onEpochStart(3, new Rng(4));
      close(tf.tidy(() => sparse.loss(b).dataSync()[0]), expected, 1e-5, `sparse DE loss (${kernel})`);
      assert.ok(sparse.lastExpertsPerEntity > 1, 'some entities use both experts');
      sparse.dispose();
    }
  } finally {
    setDeKernel('simd');
  }
});

/** A term with a fixed value: its λ must scale it in the total. */
function constantTerm(name: string, weight: number, value: number): LossTerm {
  return { name, weight, variables: () => ({}), loss: () => tf.scalar(value), settings: () => ({}), dispose: () => {} };
}

test('training step: total = base + Σ λ·term with constant terms; parts are the unweighted values; a NaN total updates nothing', async () => {
  await initBackend('cpu');
  const model = bpr(4, 9, 1);
  const t = sampleTriples(data(), new Rng(2));
  const b = batch(Array.from(t.users.subarray(0, 50)), Array.from(t.pos.subarray(0, 50)), Array.from(t.neg.subarray(0, 50)));
  const terms = [constantTerm('a', 0.25, 3), constantTerm('b', 2, -0.75)];
  const trainable = trainableOf(model, terms);
  const base = tf.tidy(() => model.baseLoss(b.users, b.pos, b.neg).dataSync()[0]);
  const before = model.user.dataSync().slice();
  const { loss, parts } = trainingStep(model, terms, trainable, new AdamL2({ lr: 0.01 }), b);
  close(parts[0], base, 1e-6, 'base part');
  assert.deepEqual(parts.slice(1), [3, -0.75]);
  close(loss, base + 0.25 * 3 + 2 * -0.75, 1e-6, 'total');
  assert.notDeepEqual(model.user.dataSync(), before, 'a finite step updates the weights');
  const after = model.user.dataSync().slice();
  const nan = trainingStep(model, [constantTerm('n', 1, NaN)], trainableOf(model, []), new AdamL2({ lr: 0.01 }), b);
  assert.ok(Number.isNaN(nan.loss));
  assert.deepEqual(model.user.dataSync(), after, 'a NaN step changes nothing');
});

/** The relaxed Plackett-Luce loss of one row by its definition: Σ_k log(Σ_{l≥k} e^{a_l} + Σ_j e^{b_j}) − a_k. */
function plackettLuce(a: number[], b: number[]): number {
  const tail = b.reduce((s, x) => s + Math.exp(x), 0);
  return a.reduce((s, x, k) => s + Math.log(a.slice(k).reduce((t, y) => t + Math.exp(y), 0) + tail) - x, 0);
}

/** ∂ of `plackettLuce` by its definition: ∂/∂a_p = Σ_{q≤p} e^{a_p}/S_q − 1, ∂/∂b_j = Σ_q e^{b_j}/S_q (S_q = Σ_{p≥q} e^{a_p} + Σ e^b). */
function plackettLuceGrad(a: number[], b: number[]): { ga: number[]; gb: number[] } {
  const tail = b.reduce((s, x) => s + Math.exp(x), 0);
  const S = a.map((_x, q) => a.slice(q).reduce((t, y) => t + Math.exp(y), 0) + tail);
  const inv = S.map((x) => 1 / x);
  return {
    ga: a.map((x, p) => Math.exp(x) * inv.slice(0, p + 1).reduce((t, y) => t + y, 0) - 1),
    gb: b.map((x) => Math.exp(x) * inv.reduce((t, y) => t + y, 0)),
  };
}

test('RRD\'s lean relaxed ranking loss (the one training runs): each row\'s value and gradient by the definition, with row weights, no uninteresting items, one interesting item and masked (-Infinity) items', async () => {
  await initBackend('cpu');
  const rng = new Rng(31);
  for (const [rows, k, l] of [[5, 4, 6], [3, 1, 3], [4, 5, 0], [2, 3, 1]] as const) {
    const A = Array.from({ length: rows }, () => Array.from({ length: k }, () => rng.normal() * 2));
    const B = Array.from({ length: rows }, (_r, r) => Array.from({ length: l }, (_v, j) => (r === 1 && j === 0 ? -Infinity : rng.normal() * 2)));
    if (l > 0 && rows > 2) B[2] = B[2].map(() => -Infinity);
    const w = Array.from({ length: rows }, (_v, r) => 1 + 0.75 * r);
    const a = tf.variable(tf.tensor2d(A.flat(), [rows, k])), b = tf.variable(tf.tensor2d(B.flat(), [rows, l]));
    const values = tf.tidy(() => leanRelaxedRankingLoss(a, b).dataSync());
    const { grads, value } = tf.variableGrads(() => tf.sum(tf.mul(leanRelaxedRankingLoss(a, b), tf.tensor1d(w))) as tf.Scalar, [a, b]);
    const ga = grads[a.name].dataSync(), gb = grads[b.name]?.dataSync() ?? new Float32Array(0);
    for (let r = 0; r < rows; r++) {
      close(values[r], plackettLuce(A[r], B[r]), 1e-5, `${rows}×${k}+${l} row ${r} value`);
      const g = plackettLuceGrad(A[r], B[r]);
      for (let q = 0; q < k; q++) close(ga[r * k + q], w[r] * g.ga[q], 1e-5, `${rows}×${k}+${l} row ${r} ∂a${q}`);
      for (let j = 0; j < l; j++) close(gb[r * l + j], w[r] * g.gb[j], 1e-5, `${rows}×${k}+${l} row ${r} ∂b${j}`);
    }
    for (const t of [a, b, value, ...Object.values(grads)]) t.dispose();
  }
  // gaps beyond float range (e^300 overflows float32, e^800 float64): [300, 0] above [0, −1000] costs ln 2, [0, 300]
  // costs 300, and [0, 0] below an uninteresting 800 (not its row's first) costs 1600
  const gaps = tf.tidy(() => leanRelaxedRankingLoss(tf.tensor2d([[300, 0], [0, 300], [0, 0]]), tf.tensor2d([[0, -1000], [0, -1000], [-5, 800]])).dataSync());
  close(gaps[0], Math.LN2, 1e-6, 'gap, in order');
  close(gaps[1], 300, 1e-6, 'gap, reversed');
  close(gaps[2], 1600, 1e-6, 'gap above the interesting items');
});

test('RRD: the relaxed ranking loss by its definition on random rows, its gradient by finite differences, and the term on hand-set samples', async () => {
  await initBackend('cpu');
  const rng = new Rng(12);
  const K = 3, L = 4;
  const A = Array.from({ length: 2 }, () => Array.from({ length: K }, () => rng.normal() * 2));
  const B = Array.from({ length: 2 }, () => Array.from({ length: L }, () => rng.normal() * 2));
  const values = tf.tidy(() => relaxedRankingLoss(tf.tensor2d(A), tf.tensor2d(B)).dataSync());
  for (let r = 0; r < 2; r++) close(values[r], plackettLuce(A[r], B[r]), 1e-5, `row ${r}`);
  // gradient: weight the rows differently so dy is not 1
  const a = tf.variable(tf.tensor2d(A)), b = tf.variable(tf.tensor2d(B));
  const f = () => tf.sum(tf.mul(relaxedRankingLoss(a, b), tf.tensor1d([1, 2.5]))) as tf.Scalar;
  assert.ok(gradientCheck(a, f, [0, 1, 2, 3, 4, 5], 1e-3) < 1e-2, 'gradient of a');
  assert.ok(gradientCheck(b, f, [0, 1, 2, 3, 5, 7], 1e-3) < 1e-2, 'gradient of b');
  // the term on users 1 and 6 (user 2 has a −1 sample and is left out), raw scores and σ(scores)
  const student = bpr(3, 13, 40);
  const U = rows(student.user), I = rows(student.item);
  for (const score of ['raw', 'sigmoid'] as const) {
    const term = new RrdTerm(student, data(), ranking(6), { interesting: K, uninteresting: L, topN: 6, score, lambda: 0.4 });
    assert.equal(term.weight, 0.4);
    for (const u of [1, 2, 6]) {
      for (let k = 0; k < K; k++) term.interestingItems[u * K + k] = (u + 5 * k) % data().numItems;
      for (let j = 0; j < L; j++) term.uninterestingItems[u * L + j] = (u + 7 * j + 30) % data().numItems;
    }
    term.uninterestingItems[2 * L + L - 1] = -1;
    const s = (u: number, i: number) => (score === 'sigmoid' ? sigmoid(dot(U[u], I[i])) : dot(U[u], I[i]));
    let expected = 0;
    for (const u of [1, 6]) {
      expected += plackettLuce(Array.from(term.interestingItems.subarray(u * K, u * K + K), (i) => s(u, i)), Array.from(term.uninterestingItems.subarray(u * L, u * L + L), (i) => s(u, i)));
    }
    close(tf.tidy(() => term.loss(batch([6, 1, 2, 6], [1, 2, 3, 4], [5, 6, 7, 8])).dataSync()[0]), expected, 1e-5, `RRD term (${score})`);
    assert.equal(tf.tidy(() => term.loss(batch([2], [1], [5])).dataSync()[0]), 0);
  }
});

test('DE temperature by hand: τ_0 at epochs 0 and 1, then start·(end/start)^((e−1)/anneal), held at end after annealing', () => {
  const s = { tauStart: 2, tauEnd: 0.02, annealEpochs: 2 };
  const expected = [2, 2, 2 * Math.pow(0.01, 0.5), 0.02, 0.02, 0.02];
  for (const [e, tau] of expected.entries()) close(deTemperature(e, s), tau, 1e-12, `τ at epoch ${e}`);
  // never below τ_end, even where the formula would go under it
  close(deTemperature(50, s), 0.02, 1e-12, 'τ at epoch 50');
});
