import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Rng, isTrainPositive } from '@derrd/core';
import {
  BprMf, DeTerm, ExpertSet, IrTerm, NeuMf, RrdTerm, helper, innerProductsByRow, leanRelaxedRankingLoss, setHelperThreads, buildTerms, computeTeacherItemRanking, computeTeacherRanking, deTemperature, initBackend, methodDefaults,
  relaxedRankingLoss, routeEntities, sampleRankPositions, setDeKernel, settingsChanges, teacherItemRanking, teacherRanking, tf, type DeSettings,
  type MethodName,
} from '@derrd/train';
import { generateSynthetic, prepareFromInteractions, topIndices } from '@derrd/core';
import { batchOf, distillerConformance, fixture } from './distill-conformance.js';
import { gradientCheck, maxAbsDiff, tinyDataset } from './helpers.js';

const logSumExp = (xs: number[]) => { const m = Math.max(...xs); return m + Math.log(xs.reduce((s, x) => s + Math.exp(x - m), 0)); };

test('RRD loss with K=2, L=2 equals the hand-computed relaxed Plackett-Luce value, and stays finite for large scores', async () => {
  await initBackend('cpu');
  const rows = [[[2, 1], [0, -1]], [[0.5, 3], [1, 2]], [[100, 99], [0, -1]], [[200, 0], [0, 0]], [[0, 300], [-250, 5]]];
  for (const [a, b] of rows) {
    const expected = (-a[0] + logSumExp([a[0], a[1], ...b])) + (-a[1] + logSumExp([a[1], ...b]));
    const got = tf.tidy(() => relaxedRankingLoss(tf.tensor2d([a]), tf.tensor2d([b])).dataSync()[0]);
    assert.ok(Math.abs(got - expected) < 1e-4 * Math.max(1, Math.abs(expected)), `${a} ${b}: ${got} vs ${expected}`);
  }
});

test('RRD loss with score gaps beyond float range: finite value and gradient (one shift per row gave log 0 = −∞, then NaN)', async () => {
  await initBackend('cpu');
  // a = [200, 0], b = [0, 0]: term 1 = log(e^200 + 3) − 200 ≈ 0, term 2 = log(e^0 + 2) − 0 = log 3; d/da_2 = 1/3 − 1
  const v = tf.variable(tf.tensor2d([[200, 0, 0, 0]]));
  const { value, grads } = tf.variableGrads(() => tf.sum(relaxedRankingLoss(tf.slice(v, [0, 0], [1, 2]), tf.slice(v, [0, 2], [1, 2]))) as tf.Scalar, [v]);
  assert.ok(Math.abs(value.dataSync()[0] - Math.log(3)) < 1e-5, `loss ${value.dataSync()[0]}`);
  const g = Array.from(grads[v.name].dataSync());
  const expected = [0, 1 / 3 - 1, 1 / 3, 1 / 3];
  g.forEach((x, k) => assert.ok(Math.abs(x - expected[k]) < 1e-5, `gradient ${k}: ${x} vs ${expected[k]}`));
});

test('RRD loss: analytic gradient matches finite differences', async () => {
  await initBackend('cpu');
  const v = tf.variable(tf.tensor2d([[1.2, 0.3, -0.5, 0.8, 0.1, -1.1]]));
  const loss = () => tf.sum(relaxedRankingLoss(tf.slice(v, [0, 0], [1, 3]), tf.slice(v, [0, 3], [1, 3]))) as tf.Scalar;
  assert.ok(gradientCheck(v, loss, [0, 1, 2, 3, 4, 5]) < 1e-2);
});

function tinyExperts(): { set: ExpertSet; student: tf.Variable; teacher: tf.Variable } {
  const student = tf.variable(tf.tensor2d([[0.5, -1], [2, 0.25]]));
  const teacher = tf.variable(tf.tensor2d([[1, 0, -1], [0.5, 2, 0]]));
  const set = new ExpertSet({ name: 'user', side: 'user', table: student }, { name: 'user', side: 'user', table: teacher }, 2, new Rng(0));
  // ds = 2, dt = 3, h = floor(5/2) = 2
  set.w1.assign(tf.tensor3d([[[1, 0], [0, 1]], [[0.5, -1], [1, 0.5]]]));
  set.b1.assign(tf.tensor2d([[0, 0.1], [-0.2, 0]]));
  set.w2.assign(tf.tensor3d([[[1, 2, 0], [0, 1, -1]], [[-1, 0, 1], [2, 0.5, 0]]]));
  set.b2.assign(tf.tensor2d([[0, 0, 0.5], [0.1, 0, 0]]));
  set.wSel.assign(tf.tensor2d([[0.3, -0.3], [0.1, 0.2], [-0.5, 0.4]]));
  set.bSel.assign(tf.tensor1d([0, 0.1]));
  return { set, student, teacher };
}

test('DE with 2 experts and a fixed Gumbel draw equals the hand-computed mixture and squared-L2 loss', async () => {
  await initBackend('cpu');
  const { set, student, teacher } = tinyExperts();
  const gumbel = Float32Array.from([0.3, -0.2, 1.1, 0.4]);
  const tau = 0.5;
  const hsRows = student.arraySync() as number[][];
  const htRows = teacher.arraySync() as number[][];
  const w1 = set.w1.arraySync() as number[][][], b1 = set.b1.arraySync() as number[][], w2 = set.w2.arraySync() as number[][][], b2 = set.b2.arraySync() as number[][];
  const wSel = set.wSel.arraySync() as number[][], bSel = set.bSel.arraySync() as number[];
  let expectedLoss = 0;
  const expectedRecon: number[][] = [];
  for (let e = 0; e < 2; e++) {
    const logits = [0, 1].map((m) => htRows[e].reduce((s, x, k) => s + x * wSel[k][m], 0) + bSel[m]);
    const z = logits.map(Math.exp), alpha = z.map((x) => x / (z[0] + z[1]));
    const g = alpha.map((a, m) => Math.exp((Math.log(a + 1e-10) + gumbel[e * 2 + m]) / tau));
    const sel = g.map((x) => x / (g[0] + g[1]));
    const recon = [0, 0, 0];
    for (let m = 0; m < 2; m++) {
      const hidden = [0, 1].map((j) => Math.max(0, hsRows[e][0] * w1[m][0][j] + hsRows[e][1] * w1[m][1][j] + b1[m][j]));
      for (let k = 0; k < 3; k++) recon[k] += sel[m] * (hidden[0] * w2[m][0][k] + hidden[1] * w2[m][1][k] + b2[m][k]);
    }
    expectedRecon.push(recon);
    expectedLoss += recon.reduce((s, r, k) => s + (htRows[e][k] - r) ** 2, 0);
  }
  const s = set.selection(teacher, gumbel, tau);
  const exact = set.reconstructExact(student, s).arraySync() as number[][];
  assert.ok(maxAbsDiff(exact.flat(), expectedRecon.flat()) < 1e-5);
  const sparse = set.reconstructSparse(student, s, [[0, 1], [0, 1]]).arraySync() as number[][];
  assert.ok(maxAbsDiff(sparse.flat(), expectedRecon.flat()) < 1e-5);
  const loss = tf.sum(tf.square(tf.sub(teacher, set.reconstructExact(student, s)))).dataSync()[0];
  assert.ok(Math.abs(loss - expectedLoss) < 1e-4);
});

test('DE loss: analytic gradients match finite differences (student, experts, selection network)', async () => {
  await initBackend('cpu');
  const { set, student, teacher } = tinyExperts();
  const gumbel = Float32Array.from([0.3, -0.2, 1.1, 0.4]);
  const loss = () => tf.sum(tf.square(tf.sub(teacher, set.reconstructExact(student, set.selection(teacher, gumbel, 0.7))))) as tf.Scalar;
  for (const [v, probes] of [[student, [0, 1, 2, 3]], [set.w1, [0, 3, 5]], [set.w2, [1, 4, 8]], [set.wSel, [0, 3, 5]], [set.b2, [2, 3]]] as const) {
    const err = gradientCheck(v, loss, [...probes], 1e-2);
    assert.ok(err < 2e-2, `relative error ${err}`);
  }
});

test('DE loss weights: every unique user 1, an item ½ per unique positive and ½ per unique negative membership', () => {
  const { ids, weights } = DeTerm.entities({ userIds: Int32Array.from([3, 3, 5]), posIds: Int32Array.from([7, 7, 8]), negIds: Int32Array.from([8, 9, 9]) }, 'item');
  const w = new Map([...ids].map((id, k) => [id, weights[k]]));
  assert.deepEqual([...w.entries()].sort(), [[7, 0.5], [8, 1], [9, 0.5]]);
  const users = DeTerm.entities({ userIds: Int32Array.from([3, 3, 5]), posIds: new Int32Array(), negIds: new Int32Array() }, 'user');
  assert.deepEqual([...users.weights], [1, 1]);
});

test('τ schedule: 1 at epochs 0 and 1, then 10^(−(e−1)/100), floored at τ_end', () => {
  const s = { tauStart: 1, tauEnd: 1e-10, annealEpochs: 1000 };
  assert.equal(deTemperature(0, s), 1);
  assert.equal(deTemperature(1, s), 1);
  for (const [e, tau] of [[51, 10 ** -0.5], [101, 0.1], [201, 0.01], [301, 1e-3]] as const) assert.ok(Math.abs(deTemperature(e, s) / tau - 1) < 1e-9);
  assert.equal(deTemperature(5000, s), 1e-10);
});

test('sparse DE routing keeps the smallest top set holding the mass (capped), and with mass 1 and no cap equals exact', async () => {
  const weights = Float32Array.from([0.7, 0.2, 0.1, /* */ 0.05, 0.9, 0.05]);
  const kept = routeEntities(weights, 2, 3, 0.85, 3);
  assert.deepEqual(kept, [[0], [0, 1], []]);
  assert.deepEqual(routeEntities(weights, 2, 3, 0.999, 1), [[0], [1], []]);
  await initBackend('wasm');
  const f = fixture();
  const batch = batchOf(f.ds, 4);
  const loss = (mode: 'sparse' | 'exact') => {
    const term = new DeTerm(f.student, f.teacher, { mode, numExperts: 5, sparseMass: 1.01, sparseMaxExperts: 5 }, 0);
    term.onEpochStart(3, new Rng(8));
    const value = tf.tidy(() => term.loss(batch).dataSync()[0]);
    term.dispose();
    return value;
  };
  const exact = loss('exact');
  assert.ok(Math.abs(loss('sparse') - exact) < 1e-3 * exact);
});

/**
 * DE loss and every gradient on a small BPR pair (teacher d=13 scaled ×30, student d=5 scaled ×50: h = 9, d_t = 13, so
 * the SIMD bodies have scalar tails) with the given kernel, settings and epoch.
 */
function deLossAndGrads(kernel: 'simd' | 'tfjs', settings: Partial<DeSettings>, epoch: number) {
  const ds = tinyDataset(21, 60, 200);
  const teacher = new BprMf({ numUsers: ds.numUsers, numItems: ds.numItems, dim: 13 }, 1);
  for (const v of Object.values(teacher.variables)) v.assign(tf.mul(v, 30));
  const batch = batchOf(ds, 4);
  setDeKernel(kernel);
  const student = new BprMf({ numUsers: ds.numUsers, numItems: ds.numItems, dim: 5 }, 2);
  for (const v of Object.values(student.variables)) v.assign(tf.mul(v, 50));
  const term = new DeTerm(student, teacher, settings, 0);
  term.onEpochStart(epoch, new Rng(8));
  const vars = { ...student.variables, ...term.variables() };
  const { value, grads } = tf.variableGrads(() => term.loss(batch), Object.values(vars));
  const out = { loss: value.dataSync()[0], experts: term.lastExpertsPerEntity, grads: Object.fromEntries(Object.entries(vars).map(([k, v]) => [k, Array.from(grads[v.name].dataSync())])) };
  value.dispose();
  for (const g of Object.values(grads)) g.dispose();
  term.dispose();
  student.dispose();
  teacher.dispose();
  setDeKernel('simd');
  return out;
}

function assertSameDe(got: ReturnType<typeof deLossAndGrads>, reference: ReturnType<typeof deLossAndGrads>, label: string): void {
  assert.ok(Math.abs(got.loss - reference.loss) < 1e-5 * reference.loss, `${label}: loss ${got.loss} vs ${reference.loss}`);
  for (const [k, g] of Object.entries(reference.grads)) {
    const scale = Math.max(...g.map(Math.abs));
    if (scale === 0) { assert.ok(got.grads[k].every((x) => x === 0), `${label} ${k}: reference gradient 0, this one not`); continue; }
    assert.ok(maxAbsDiff(got.grads[k], g) < 1e-4 * scale, `${label} ${k}: max diff ${maxAbsDiff(got.grads[k], g)} of ${scale}`);
  }
}

test('the fused SIMD expert kernel equals the tfjs per-expert ops: DE loss and every gradient (odd dims, uneven routing)', async () => {
  for (const backend of ['wasm', 'cpu'] as const) {
    await initBackend(backend);
    const settings = { numExperts: 6, sparseMass: 0.9, sparseMaxExperts: 3 };
    const reference = deLossAndGrads('tfjs', settings, 2);
    assert.ok(reference.experts > 1 && reference.experts < 3, `routing should be uneven: ${reference.experts} experts per entity`);
    for (const k of Object.keys(reference.grads)) assert.ok(reference.grads[k].some((x) => x !== 0), `${k}: zero reference gradient`);
    assertSameDe(deLossAndGrads('simd', settings, 2), reference, backend);
  }
});

test('exact DE through the kernel (every nonzero weight routed) equals the dense tfjs mixture, at τ = 1 and once weights underflow', async () => {
  await initBackend('wasm');
  for (const epoch of [0, 700]) {
    const dense = deLossAndGrads('tfjs', { mode: 'exact', numExperts: 6 }, epoch);
    const routed = deLossAndGrads('simd', { mode: 'exact', numExperts: 6 }, epoch);
    // τ = 1: all 6 experts carry weight; τ = 1e-7 (epoch 700): the others underflow and only one runs per entity
    if (epoch === 0) assert.equal(routed.experts, 6);
    else assert.ok(routed.experts < 1.5, `epoch ${epoch}: ${routed.experts} experts per entity`);
    assertSameDe(routed, dense, `epoch ${epoch}`);
  }
});

test('defaults per base model: NeuMF DE alone keeps λ_DE 0.01, NeuMF DE-RRD takes Table 5\'s λ_DE 1e-4 and λ_RRD 0.1 on σ(logit)', () => {
  assert.equal(methodDefaults('bpr', 'de').de.lambda, 0.01);
  assert.equal(methodDefaults('bpr', 'de-rrd').de.lambda, 0.01);
  assert.equal(methodDefaults('neumf', 'de').de.lambda, 0.01);
  const neumf = methodDefaults('neumf', 'de-rrd');
  assert.deepEqual([neumf.de.lambda, neumf.rrd.lambda, neumf.rrd.score], [1e-4, 0.1, 'sigmoid']);
  assert.deepEqual([methodDefaults('bpr', 'rrd').rrd.lambda, methodDefaults('bpr', 'rrd').rrd.score ?? 'raw'], [1e-3, 'raw']);
});

test('settingsChanges names each recorded setting that differs from the expected ones; keys a card lacks are not changes', () => {
  const expected = methodDefaults('neumf', 'de-rrd');
  const recorded = { de: { ...expected.de, lambda: 0.5 }, rrd: { ...expected.rrd, score: undefined, interesting: 20 } } as Record<string, unknown>;
  delete (recorded.rrd as Record<string, unknown>).score;
  assert.deepEqual(settingsChanges('de-rrd', recorded, expected), [`de.lambda: 0.5 → ${expected.de.lambda}`, 'rrd.interesting: 20 → 40']);
  assert.deepEqual(settingsChanges('de', recorded, expected), [`de.lambda: 0.5 → ${expected.de.lambda}`]);
  assert.deepEqual(settingsChanges('rrd', { rrd: { lambda: 0.1 } }, expected), []);
  assert.deepEqual(settingsChanges('none', undefined, expected), []);
});

test('interesting-item sampler: frequencies follow exp(−rank/T); K positions are distinct and ascending', () => {
  const rng = new Rng(11);
  const n = 20, T = 5, draws = 40_000;
  const counts = new Array(n).fill(0);
  for (let k = 0; k < draws; k++) counts[sampleRankPositions(rng, n, 1, T)[0]]++;
  const z = Array.from({ length: n }, (_v, r) => Math.exp(-(r + 1) / T)).reduce((a, b) => a + b, 0);
  for (let r = 0; r < n; r++) {
    const p = Math.exp(-(r + 1) / T) / z;
    assert.ok(Math.abs(counts[r] / draws - p) < 4 * Math.sqrt((p * (1 - p)) / draws) + 1e-3, `rank ${r + 1}: ${counts[r] / draws} vs ${p}`);
  }
  for (let k = 0; k < 100; k++) {
    const pos = sampleRankPositions(rng, 500, 40, 10);
    assert.equal(new Set(pos).size, 40);
    for (let j = 1; j < pos.length; j++) assert.ok(pos[j] > pos[j - 1]);
  }
});

test('RRD epoch samples: interesting items from the teacher top-N in teacher order; uninteresting outside top-N and training', async () => {
  await initBackend('wasm');
  const f = fixture();
  for (const sampling of ['sample', 'top'] as const) {
    const term = new RrdTerm(f.student, f.ds, f.ranking, { interesting: 5, uninteresting: 6, topN: 50, sampling });
    term.onEpochStart(0, new Rng(2));
    for (let u = 0; u < f.ds.numUsers; u++) {
      const top = [...f.ranking.items.subarray(u * 50, u * 50 + 50)];
      const chosen = [...term.interestingItems.subarray(u * 5, u * 5 + 5)];
      const ranks = chosen.map((i) => top.indexOf(i));
      assert.ok(ranks.every((r) => r >= 0));
      assert.deepEqual(ranks, [...ranks].sort((a, b) => a - b));
      if (sampling === 'top') assert.deepEqual(ranks, [0, 1, 2, 3, 4]);
      for (const j of term.uninterestingItems.subarray(u * 6, u * 6 + 6)) {
        assert.ok(!top.includes(j) && !isTrainPositive(f.ds, u, j));
      }
    }
  }
});

test('RRD with sigmoid scores ranks σ(score): its loss equals the relaxed loss of the probabilities', async () => {
  await initBackend('cpu');
  const f = fixture();
  // spread the fresh student's scores: near 0 the relaxed loss barely depends on them, raw or through σ alike
  for (const v of Object.values(f.student.variables)) v.assign(tf.mul(v, 30));
  const settings = methodDefaults('bpr', 'rrd');
  Object.assign(settings.rrd, { topN: 50, interesting: 5, uninteresting: 5 });
  const [raw] = buildTerms({ method: 'rrd', student: f.student, teacher: f.teacher, dataset: f.ds, ranking: f.ranking, settings, seed: 0 }) as RrdTerm[];
  const [sig] = buildTerms({ method: 'rrd', student: f.student, teacher: f.teacher, dataset: f.ds, ranking: f.ranking, settings: { ...settings, rrd: { ...settings.rrd, score: 'sigmoid' } }, seed: 0 }) as RrdTerm[];
  raw.onEpochStart?.(0, new Rng(4));
  sig.onEpochStart?.(0, new Rng(4));
  const batch = batchOf(f.ds, 3);
  const users = [...new Set(batch.userIds)].filter((u) => sig.interestingItems[u * 5 + 4] >= 0 && sig.uninterestingItems[u * 5 + 4] >= 0);
  assert.ok(users.length > 3);
  const expected = tf.tidy(() => {
    const items = users.flatMap((u) => [...sig.interestingItems.subarray(u * 5, u * 5 + 5), ...sig.uninterestingItems.subarray(u * 5, u * 5 + 5)]);
    const p = tf.sigmoid(f.student.scoreUserItems(tf.tensor1d(users, 'int32'), tf.tensor2d(items, [users.length, 10], 'int32')));
    return tf.sum(relaxedRankingLoss(tf.slice(p, [0, 0], [users.length, 5]), tf.slice(p, [0, 5], [users.length, 5]))).dataSync()[0];
  });
  const got = tf.tidy(() => sig.loss(batch).dataSync()[0]);
  const rawLoss = tf.tidy(() => raw.loss(batch).dataSync()[0]);
  assert.ok(Math.abs(got - expected) < 1e-4 * Math.abs(expected), `${got} vs ${expected}`);
  assert.ok(Math.abs(got - rawLoss) > 1e-3, `sigmoid and raw scores should give different losses: ${got} vs ${rawLoss}`);
});

test('teacher ranking: top-N unobserved items best first (training positives excluded); cached, and rebuilt for another teacher', async () => {
  await initBackend('wasm');
  const scores = Float32Array.from([0.5, 2, -Infinity, 2, 1, 0.5]);
  assert.deepEqual(topIndices(scores, 4), [1, 3, 4, 0]);
  const ds = tinyDataset(22, 40, 120);
  const teacher = new BprMf({ numUsers: ds.numUsers, numItems: ds.numItems, dim: 8 }, 3);
  const ranking = computeTeacherRanking(teacher, ds, 30);
  const scorer = teacher.createScorer();
  const all = scorer.scoreAll(Int32Array.from([5]));
  scorer.dispose();
  const expected = Array.from({ length: ds.numItems }, (_v, i) => i).filter((i) => !isTrainPositive(ds, 5, i)).sort((a, b) => all[b] - all[a] || a - b).slice(0, 30);
  assert.deepEqual([...ranking.items.subarray(5 * 30, 6 * 30)], expected);
  const dir = mkdtempSync(join(tmpdir(), 'derrd-rank-'));
  assert.equal(teacherRanking(dir, teacher, 'sha-a', ds, 30).cached, false);
  assert.equal(teacherRanking(dir, teacher, 'sha-a', ds, 30).cached, true);
  assert.equal(teacherRanking(dir, teacher, 'sha-b', ds, 30).cached, false);
  assert.ok(JSON.parse(readFileSync(join(dir, 'ranking-top30.i32.json'), 'utf8')).teacherWeightsSha256 === 'sha-b');
});

// ---- IR-RRD: the item side ----

/** A fixed source of batch items (the role RRD's epoch samples play in training). */
const itemsOf = (...items: number[]) => ({ sampledItems: () => Int32Array.from(items) });

test('IR loss on one item equals the hand-computed relaxed Plackett-Luce value over its users; a batch sums its items', async () => {
  await initBackend('cpu');
  const f = fixture();
  const student = new BprMf({ numUsers: f.ds.numUsers, numItems: f.ds.numItems, dim: 2 }, 0);
  const user = new Float32Array(f.ds.numUsers * 2);
  const item = new Float32Array(f.ds.numItems * 2);
  user.set([1, 0], 2 * 4); user.set([0, 1], 2 * 7); user.set([1, 1], 2 * 9);
  item.set([2, 1], 2 * 3); item.set([-1, 0.5], 2 * 11);
  student.setWeights({ user: { shape: [f.ds.numUsers, 2], data: user }, item: { shape: [f.ds.numItems, 2], data: item } });
  const batch = batchOf(f.ds, 1);
  const lossWith = (...items: number[]) => {
    const term = new IrTerm(student, f.ds, f.itemRanking, itemsOf(...items), { interesting: 2, uninteresting: 1, topN: 30 });
    // item 3: interesting users 4, 7 (teacher order), uninteresting 9; item 11: interesting 9, 4, uninteresting 7
    term.interestingUsers.set([4, 7], 3 * 2); term.uninterestingUsers[3] = 9;
    term.interestingUsers.set([9, 4], 11 * 2); term.uninterestingUsers[11] = 7;
    return tf.tidy(() => term.loss(batch).dataSync()[0]);
  };
  // item 3: s = (2, 1 | 3): [−2 + log(e² + e¹ + e³)] + [−1 + log(e¹ + e³)] = 1.407606 + 2.126928
  assert.ok(Math.abs(lossWith(3) - 3.534534) < 1e-5, `one item: ${lossWith(3)}`);
  // item 11: s = (−0.5, −1 | 0.5)
  const item11 = (0.5 + logSumExp([-0.5, -1, 0.5])) + (1 + logSumExp([-1, 0.5]));
  assert.ok(Math.abs(lossWith(3, 11) - (3.534534 + item11)) < 1e-5, `two items: ${lossWith(3, 11)}`);
  // an item without a full sample (its rows still −1) is left out, as RRD leaves out such users
  assert.ok(Math.abs(lossWith(3, 12) - 3.534534) < 1e-5);
  student.dispose();
});

test('IR\'s lean relaxed ranking loss equals RRD\'s op in value and gradients, on random rows and on gaps beyond float range', async () => {
  await initBackend('cpu');
  const rng = new Rng(12);
  const shapes = [[50, 20, 20], [7, 3, 5], [4, 1, 1], [3, 4, 0]] as const;
  for (const [rows, k, l] of shapes) {
    const a = tf.variable(tf.tensor2d(Float32Array.from({ length: rows * k }, () => rng.normal() * 3), [rows, k]));
    const b = tf.variable(tf.tensor2d(Float32Array.from({ length: rows * l }, () => rng.normal() * 3), [rows, l]));
    const weights = tf.tensor1d(Float32Array.from({ length: rows }, (_v, r) => 1 + r / rows));
    const run = (f: typeof relaxedRankingLoss) => {
      const { value, grads } = tf.variableGrads(() => tf.sum(tf.mul(f(a, b), weights)) as tf.Scalar, [a, b]);
      return { value: value.dataSync()[0], ga: Array.from(grads[a.name].dataSync()), gb: Array.from(grads[b.name].dataSync()) };
    };
    const ours = run(leanRelaxedRankingLoss), theirs = run(relaxedRankingLoss);
    assert.ok(Math.abs(ours.value - theirs.value) < 1e-5 * Math.abs(theirs.value), `${rows}×${k}+${l}: ${ours.value} vs ${theirs.value}`);
    assert.ok(maxAbsDiff(ours.ga, theirs.ga) < 1e-5 && maxAbsDiff(ours.gb, theirs.gb) < 1e-5, `${rows}×${k}+${l} gradients`);
  }
  for (const [x, y] of [[[2, 1], [0, -1]], [[100, 99], [0, -1]], [[200, 0], [0, 0]], [[0, 300], [-250, 5]], [[-400, 400], [1000, -1000]]]) {
    const value = (f: typeof relaxedRankingLoss) => tf.tidy(() => f(tf.tensor2d([x]), tf.tensor2d([y])).dataSync()[0]);
    const expected = value(relaxedRankingLoss);
    assert.ok(Number.isFinite(value(leanRelaxedRankingLoss)) && Math.abs(value(leanRelaxedRankingLoss) - expected) < 1e-4 * Math.max(1, Math.abs(expected)), `${x} ${y}`);
  }
});

test('IR\'s lean ranking loss split with the helper thread gives the same floats as on one thread (chunks, a partial last one, a regrown shared region, rows of -Infinity)', async () => {
  await initBackend('cpu');
  const shapes = [[1500, 20, 20], [600, 20, 20], [3100, 7, 9], [1100, 4, 0]] as const;
  const run = () => shapes.map(([rows, k, l]) => {
    const r = new Rng(rows + k + l);
    const av = Float32Array.from({ length: rows * k }, () => r.normal() * 4);
    const bv = Float32Array.from({ length: rows * l }, (_v, j) => (j % 97 === 0 ? -Infinity : r.normal() * 4));
    const a = tf.variable(tf.tensor2d(av, [rows, k]));
    const b = tf.variable(tf.tensor2d(bv, [rows, l]));
    const weights = tf.tensor1d(Float32Array.from({ length: rows }, (_v, j) => 1 + (j % 5)));
    const { value, grads } = tf.variableGrads(() => tf.sum(tf.mul(leanRelaxedRankingLoss(a, b), weights)) as tf.Scalar, [a, b]);
    const out = { value: value.dataSync()[0], ga: Array.from(grads[a.name].dataSync()), gb: Array.from(grads[b.name]?.dataSync() ?? []) };
    for (const t of [a, b, weights, value, ...Object.values(grads)]) t.dispose();
    return out;
  });
  setHelperThreads(1);
  const one = run();
  setHelperThreads(2);
  try {
    const h = helper();
    assert.equal(h.threads, 2);
    const two = run();
    assert.deepEqual(two, one);
    assert.ok(one.every((x) => Number.isFinite(x.value)));
  } finally {
    setHelperThreads(undefined);
  }
});

test('IR loss: analytic gradients match finite differences for the user and item tables', async () => {
  await initBackend('cpu');
  const f = fixture();
  for (const v of Object.values(f.student.variables)) v.assign(tf.mul(v, 30));
  const student = f.student as BprMf;
  const term = new IrTerm(student, f.ds, f.itemRanking, itemsOf(2, 5, 9), { interesting: 4, uninteresting: 3, topN: 30 });
  term.onEpochStart(0, new Rng(6));
  const batch = batchOf(f.ds, 2);
  const loss = () => term.loss(batch);
  // coordinates that enter the loss: the three items' rows, an interesting and an uninteresting user of each
  const dim = student.config.dim;
  const users = [2, 5, 9].flatMap((i) => [term.interestingUsers[i * 4], term.interestingUsers[i * 4 + 3], term.uninterestingUsers[i * 3 + 1]]);
  assert.ok(users.every((u) => u >= 0));
  assert.ok(gradientCheck(student.item, loss, [2 * dim, 2 * dim + 3, 5 * dim + 1, 9 * dim + 2]) < 1e-2);
  assert.ok(gradientCheck(student.user, loss, users.map((u, k) => u * dim + (k % dim))) < 1e-2);
});

test('inner products: an id outside its table is refused on either side, for both kernels, as a gather would', async () => {
  await initBackend('cpu');
  const student = new BprMf({ numUsers: 6, numItems: 9, dim: 4 }, 1);
  for (const kernel of ['simd', 'js'] as const) {
    const run = (users: number[], items: number[]) => tf.tidy(() => { innerProductsByRow(student.user, student.item, Int32Array.from(users), Int32Array.from(items), kernel).dataSync(); });
    run([0, 5, 1, 2], [8, 0]);
    assert.throws(() => run([0, 6, 1, 2], [8, 0]), /users id 6 outside \[0, 6\)/, kernel);
    assert.throws(() => run([0, 1, -1, 2], [8, 0]), /users id -1 outside/, kernel);
    assert.throws(() => run([0, 1, 1, 2], [9, 0]), /items id 9 outside \[0, 9\)/, kernel);
  }
  // BPR's scoreUserItems (RRD, RD, CD) reaches the op with the tables the other way round
  assert.throws(() => tf.tidy(() => { student.scoreUserItems(tf.tensor1d([0, 1], 'int32'), tf.tensor2d([[1, 9], [2, 3]], undefined, 'int32')).dataSync(); }), /items id 9 outside \[0, 9\)/);
  student.dispose();
});

test('IR scores: the fused BPR op (SIMD and JS loops, odd dims) equals scorePairs in value and table gradients; NeuMF (generic path) passes a gradient check', async () => {
  await initBackend('cpu');
  const f = fixture();
  for (const dim of [7, 2, 4]) {
    const student = new BprMf({ numUsers: f.ds.numUsers, numItems: f.ds.numItems, dim }, 3);
    for (const v of Object.values(student.variables)) v.assign(tf.mul(v, 30));
    const items = Int32Array.from([4, 0, 17, 4, f.ds.numItems - 1]);
    const users = Int32Array.from({ length: items.length * 6 }, (_v, k) => (k * 7 + 3) % f.ds.numUsers);
    // weight 0 at k = 0: the kernels skip zero upstream gradients
    const weights = tf.tensor2d(Float32Array.from({ length: users.length }, (_v, k) => Math.sin(k)), [items.length, 6]);
    const repeated = Int32Array.from({ length: users.length }, (_v, k) => items[Math.floor(k / 6)]);
    const generic = tf.variableGrads(() => tf.sum(tf.mul(tf.reshape(student.scorePairs(tf.tensor1d(users, 'int32'), tf.tensor1d(repeated, 'int32')), [items.length, 6]), weights)) as tf.Scalar, [student.user, student.item]);
    for (const kernel of ['simd', 'js'] as const) {
      const fused = tf.variableGrads(() => tf.sum(tf.mul(innerProductsByRow(student.user, student.item, users, items, kernel), weights)) as tf.Scalar, [student.user, student.item]);
      assert.ok(Math.abs(fused.value.dataSync()[0] - generic.value.dataSync()[0]) < 1e-3 * Math.max(1, Math.abs(generic.value.dataSync()[0])), `${kernel} d=${dim}`);
      for (const v of [student.user, student.item]) {
        const a = fused.grads[v.name].dataSync(), b = generic.grads[v.name].dataSync();
        assert.ok(maxAbsDiff(a, b) < 1e-4 * Math.max(...Array.from(b, Math.abs)), `${kernel} d=${dim} ${v.name}: ${maxAbsDiff(a, b)}`);
      }
    }
    student.dispose();
  }
  const neumf = new NeuMf({ numUsers: f.ds.numUsers, numItems: f.ds.numItems, dim: 3 }, 1);
  for (const v of Object.values(neumf.variables)) v.assign(tf.mul(v, 20));
  for (const score of ['raw', 'sigmoid'] as const) {
    const term = new IrTerm(neumf, f.ds, f.itemRanking, itemsOf(2, 5), { interesting: 3, uninteresting: 2, topN: 30, score });
    term.onEpochStart(0, new Rng(1));
    const loss = () => term.loss(batchOf(f.ds, 1));
    const i = term.interestingUsers[2 * 3];
    assert.ok(gradientCheck(neumf.variables.item_gmf, loss, [2 * 3, 5 * 3 + 1]) < 2e-2, score);
    // a small step for the user's MLP row: the ×20 weights put a ReLU kink within 1e-2 of it on this data (central
    // differences read 5.1 there against an analytic 1.19; at 1e-3, 1.20)
    assert.ok(gradientCheck(neumf.variables.user_mlp, loss, [i * 3, i * 3 + 2], 1e-3) < 2e-2, score);
    assert.ok(gradientCheck(neumf.variables.mlp_w, loss, [0, 4]) < 2e-2, score);
  }
  neumf.dispose();
});

/** Exact probability of each K-subset of positions 0..n−1 under sequential sampling without replacement ∝ exp(−(r+1)/T). */
function subsetProbabilities(n: number, k: number, temperature: number): Map<string, number> {
  const w = Array.from({ length: n }, (_v, r) => Math.exp(-(r + 1) / temperature));
  const out = new Map<string, number>();
  const walk = (chosen: number[], p: number, left: number) => {
    if (chosen.length === k) {
      const key = [...chosen].sort((a, b) => a - b).join(',');
      out.set(key, (out.get(key) ?? 0) + p);
      return;
    }
    for (let r = 0; r < n; r++) if (!chosen.includes(r)) walk([...chosen, r], (p * w[r]) / left, left - w[r]);
  };
  walk([], 1, w.reduce((a, b) => a + b, 0));
  return out;
}

/** χ²(dof) quantile at 0.999 (Wilson-Hilferty, z = 3.090). */
const chi2Critical999 = (dof: number) => dof * (1 - 2 / (9 * dof) + 3.09 * Math.sqrt(2 / (9 * dof))) ** 3;

test('IR interesting-user sampler: K-subsets of rank positions fit exp(−r/T) without replacement exactly (χ², seeded); order kept', async () => {
  await initBackend('wasm');
  const f = fixture();
  // (8, 3, T 10): the O(1) geometric draws; (6, 4, T 2): the top positions hold most of the mass, so the scan runs too
  for (const [n, k, temperature, rival] of [[8, 3, 10, 6], [6, 4, 2, 1.5]] as const) {
    const term = new IrTerm(f.student, f.ds, f.itemRanking, itemsOf(), { topN: n, interesting: k, uninteresting: 5, temperature });
    const counts = new Map<string, number>();
    let draws = 0;
    for (let epoch = 0; epoch < 50; epoch++) {
      term.onEpochStart(epoch, new Rng(40 + epoch));
      for (let i = 0; i < f.ds.numItems; i++) {
        const top = [...f.itemRanking.users.subarray(i * 30, i * 30 + n)];
        assert.ok(top.every((u) => u >= 0));
        const ranks = [...term.interestingUsers.subarray(i * k, i * k + k)].map((u) => top.indexOf(u));
        assert.ok(ranks.every((r, q) => r >= 0 && (q === 0 || r > ranks[q - 1])), `item ${i}: ranks ${ranks} not in teacher order`);
        counts.set(ranks.join(','), (counts.get(ranks.join(',')) ?? 0) + 1);
        draws++;
      }
    }
    const chi2 = (probabilities: Map<string, number>) => [...probabilities].reduce((s, [key, p]) => s + ((counts.get(key) ?? 0) - p * draws) ** 2 / (p * draws), 0);
    const exact = subsetProbabilities(n, k, temperature);
    assert.equal([...counts.keys()].filter((key) => !exact.has(key)).length, 0);
    const critical = chi2Critical999(exact.size - 1);
    assert.ok(chi2(exact) < critical, `N ${n} K ${k} T ${temperature}: χ² ${chi2(exact).toFixed(1)}, critical ${critical.toFixed(1)}`);
    // the same counts reject a neighbouring temperature: the test can fail
    assert.ok(chi2(subsetProbabilities(n, k, rival)) > critical, `χ² against T=${rival}: ${chi2(subsetProbabilities(n, k, rival)).toFixed(1)}`);
  }
});

test('IR sampler at the defaults (N 500, K_I 20, L_I 20, T 10): positions match a literal sequential sampler (two-sample χ², seeded); uninteresting users outside the top-500 and training', async () => {
  await initBackend('wasm');
  const ds = tinyDataset(23, 640, 300);
  const teacher = new BprMf({ numUsers: ds.numUsers, numItems: ds.numItems, dim: 8 }, 4);
  for (const v of Object.values(teacher.variables)) v.assign(tf.mul(v, 30));
  const ranking = computeTeacherItemRanking(teacher, ds, 500);
  teacher.dispose();
  const student = new BprMf({ numUsers: ds.numUsers, numItems: ds.numItems, dim: 2 }, 1);
  const term = new IrTerm(student, ds, ranking, itemsOf());
  const { topN: N, interesting: K, uninteresting: L, temperature: T } = term.settings_;
  assert.deepEqual([N, K, L, T, term.weight], [500, 20, 20, 10, 5e-4]);
  const full = Array.from({ length: ds.numItems }, (_v, i) => i).filter((i) => ranking.users[i * N + N - 1] >= 0);
  assert.ok(full.length > 250, `${full.length} items with a full top-500`);
  const bins = (r: number) => (r < 60 ? r : r < 100 ? 60 : 61);
  const ours = new Array(62).fill(0);
  const epochs = 10;
  for (let epoch = 0; epoch < epochs; epoch++) {
    term.onEpochStart(epoch, new Rng(70 + epoch));
    for (const i of full) {
      const top = ranking.users.subarray(i * N, i * N + N);
      const rankOf = new Map([...top].map((u, r) => [u, r]));
      const ranks = [...term.interestingUsers.subarray(i * K, i * K + K)].map((u) => rankOf.get(u) ?? -1);
      assert.ok(ranks.every((r, q) => r >= 0 && (q === 0 || r > ranks[q - 1])), `item ${i}: ranks not in teacher order`);
      for (const r of ranks) ours[bins(r)]++;
      const unint = [...term.uninterestingUsers.subarray(i * L, i * L + L)];
      assert.equal(new Set(unint).size, L);
      for (const u of unint) assert.ok(u >= 0 && !rankOf.has(u) && !isTrainPositive(ds, u, i), `item ${i}: uninteresting user ${u} is in the top-500 or trained on it`);
    }
  }
  // the definition, literally: K sequential draws, each ∝ exp(−(r+1)/T) over the positions not yet drawn
  const literal = (temperature: number, draws: number, rng: Rng) => {
    const hist = new Array(62).fill(0);
    const w = Float64Array.from({ length: N }, (_v, r) => Math.exp(-(r + 1) / temperature));
    for (let d = 0; d < draws; d++) {
      const taken = new Uint8Array(N);
      let left = w.reduce((a, b) => a + b, 0);
      for (let q = 0; q < K; q++) {
        let x = rng.float() * left, r = 0;
        for (; r < N - 1; r++) { if (taken[r]) continue; x -= w[r]; if (x < 0) break; }
        while (taken[r]) r--;
        taken[r] = 1; left -= w[r]; hist[bins(r)]++;
      }
    }
    return hist;
  };
  const homogeneity = (a: number[], b: number[]) => a.reduce((s, x, k) => (x + b[k] > 0 ? s + (x - b[k]) ** 2 / (x + b[k]) : s), 0);
  const draws = full.length * epochs;
  const critical = chi2Critical999(61);
  const same = homogeneity(ours, literal(10, draws, new Rng(5)));
  assert.ok(same < critical, `χ² ${same.toFixed(1)} against the literal sampler at T=10, critical ${critical.toFixed(1)}`);
  const other = homogeneity(ours, literal(8, draws, new Rng(5)));
  assert.ok(other > critical, `χ² against T=8 should reject: ${other.toFixed(1)}`);
  student.dispose();
});

test('teacher item ranking: top-N users per item best first (training users excluded, ties to the lower id) through the bounded heaps; cached by side', async () => {
  await initBackend('wasm');
  const ds = tinyDataset(24, 700, 80);
  const teacher = new BprMf({ numUsers: ds.numUsers, numItems: ds.numItems, dim: 4 }, 5);
  // users u and u + 350 share an embedding: equal scores, broken by the lower user id
  const w = teacher.getWeights();
  for (let u = 350; u < 700; u++) w.user.data.set(w.user.data.subarray((u - 350) * 4, (u - 350) * 4 + 4), u * 4);
  teacher.setWeights(w);
  const topN = 40;
  const ranking = computeTeacherItemRanking(teacher, ds, topN);
  const scorer = teacher.createScorer();
  const all = scorer.scoreAll(Int32Array.from({ length: ds.numUsers }, (_v, u) => u));
  scorer.dispose();
  let ties = 0;
  for (let i = 0; i < ds.numItems; i++) {
    const expected = Array.from({ length: ds.numUsers }, (_v, u) => u).filter((u) => !isTrainPositive(ds, u, i))
      .sort((a, b) => all[b * ds.numItems + i] - all[a * ds.numItems + i] || a - b).slice(0, topN);
    const got = [...ranking.users.subarray(i * topN, (i + 1) * topN)];
    assert.deepEqual(got, expected, `item ${i}`);
    for (let k = 1; k < topN; k++) if (all[got[k] * ds.numItems + i] === all[got[k - 1] * ds.numItems + i]) ties++;
  }
  assert.ok(ties > 100, `${ties} ties exercised`);
  const dir = mkdtempSync(join(tmpdir(), 'derrd-item-rank-'));
  assert.equal(teacherItemRanking(dir, teacher, 'sha-a', ds, topN).cached, false);
  const again = teacherItemRanking(dir, teacher, 'sha-a', ds, topN);
  assert.equal(again.cached, true);
  assert.deepEqual(again.ranking.users, ranking.users);
  // the user side's cache is another file: it does not see the item side's
  assert.equal(teacherRanking(dir, teacher, 'sha-a', ds, topN).cached, false);
  assert.equal(teacherItemRanking(dir, teacher, 'sha-b', ds, topN).cached, false);
  const meta = JSON.parse(readFileSync(join(dir, `item-ranking-top${topN}.i32.json`), 'utf8'));
  assert.deepEqual([meta.side, meta.teacherWeightsSha256, meta.numItems], ['item', 'sha-b', ds.numItems]);
  teacher.dispose();
});

test('IR-RRD methods: RRD then IR (after DE for de-ir-rrd); IR ranks the items RRD sampled for the batch; NeuMF defaults', async () => {
  await initBackend('wasm');
  const f = fixture();
  const settings = methodDefaults('bpr', 'de-ir-rrd');
  Object.assign(settings.rrd, { topN: 50, interesting: 5, uninteresting: 5 });
  Object.assign(settings.ir, { topN: 30, interesting: 5, uninteresting: 5 });
  settings.de.numExperts = 2;
  const terms = buildTerms({ method: 'de-ir-rrd', student: f.student, teacher: f.teacher, dataset: f.ds, ranking: f.ranking, itemRanking: f.itemRanking, settings, seed: 0 });
  assert.deepEqual(terms.map((t) => t.name), ['de', 'rrd', 'ir']);
  const [, rrd, ir] = terms as [DeTerm, RrdTerm, IrTerm];
  terms.forEach((t, k) => t.onEpochStart?.(0, new Rng(3).fork(k)));
  const batch = batchOf(f.ds, 3);
  const expected = new Set<number>();
  for (const u of batch.userIds) {
    for (const i of rrd.interestingItems.subarray(u * 5, u * 5 + 5)) expected.add(i);
    for (const j of rrd.uninterestingItems.subarray(u * 5, u * 5 + 5)) expected.add(j);
  }
  expected.delete(-1);
  assert.deepEqual([...ir.batchItems(batch)], [...expected].sort((a, b) => a - b));
  assert.throws(() => buildTerms({ method: 'ir-rrd', student: f.student, teacher: f.teacher, dataset: f.ds, ranking: f.ranking, settings, seed: 0 }), /per-item user ranking/);
  for (const t of terms) t.dispose();
  assert.deepEqual([methodDefaults('bpr', 'ir-rrd').ir.lambda, methodDefaults('bpr', 'ir-rrd').ir.score ?? 'raw', methodDefaults('bpr', 'ir-rrd').rrd.lambda], [5e-4, 'raw', 1e-3]);
  const neumf = methodDefaults('neumf', 'de-ir-rrd');
  assert.deepEqual([neumf.de.lambda, neumf.rrd.lambda, neumf.rrd.score, neumf.ir.lambda, neumf.ir.score], [1e-4, 0.1, 'sigmoid', 0.05, 'sigmoid']);
  assert.equal(methodDefaults('neumf', 'ir-rrd').de.lambda, 0.01);
});

const build = (method: MethodName, over: (s: ReturnType<typeof methodDefaults>) => void = () => {}) =>
  (f: ReturnType<typeof fixture>) => {
    const settings = methodDefaults('bpr', method);
    settings.de.numExperts = 4;
    settings.rrd.topN = settings.rd.topK > 50 ? 50 : 50;
    settings.cd.topN = 50;
    settings.rrd.interesting = 5;
    settings.rrd.uninteresting = 5;
    settings.rd.dynamicStart = 1;
    Object.assign(settings.ir, { topN: 30, interesting: 5, uninteresting: 5 });
    over(settings);
    return buildTerms({ method, student: f.student, teacher: f.teacher, dataset: f.ds, ranking: f.ranking, itemRanking: f.itemRanking, settings, seed: 0 });
  };

distillerConformance('de (sparse)', build('de'));
distillerConformance('de (exact)', build('de', (s) => { s.de.mode = 'exact'; }));
distillerConformance('rrd', build('rrd'));
distillerConformance('rrd (teacher top-K)', build('rrd', (s) => { s.rrd.sampling = 'top'; }));
distillerConformance('rrd (sigmoid scores)', build('rrd', (s) => { s.rrd.score = 'sigmoid'; }));
distillerConformance('de-rrd', build('de-rrd'));
distillerConformance('rd', build('rd'));
distillerConformance('cd', build('cd'));
distillerConformance('ir-rrd', build('ir-rrd'));
distillerConformance('ir-rrd (sigmoid scores, teacher top-K)', build('ir-rrd', (s) => { s.rrd.score = 'sigmoid'; s.ir.score = 'sigmoid'; s.ir.sampling = 'top'; }));
distillerConformance('de-ir-rrd', build('de-ir-rrd'));
