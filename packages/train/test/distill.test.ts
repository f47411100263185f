import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Rng, isTrainPositive } from '@derrd/core';
import {
  BprMf, DeTerm, ExpertSet, RrdTerm, buildTerms, computeTeacherRanking, deTemperature, initBackend, methodDefaults, relaxedRankingLoss,
  routeEntities, sampleRankPositions, setDeKernel, settingsChanges, teacherRanking, tf, type DeSettings,
} from '@derrd/train';
import { topIndices } from '@derrd/core';
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

const build = (method: 'de' | 'rrd' | 'de-rrd' | 'rd' | 'cd', over: (s: ReturnType<typeof methodDefaults>) => void = () => {}) =>
  (f: ReturnType<typeof fixture>) => {
    const settings = methodDefaults('bpr', method);
    settings.de.numExperts = 4;
    settings.rrd.topN = settings.rd.topK > 50 ? 50 : 50;
    settings.cd.topN = 50;
    settings.rrd.interesting = 5;
    settings.rrd.uninteresting = 5;
    settings.rd.dynamicStart = 1;
    over(settings);
    return buildTerms({ method, student: f.student, teacher: f.teacher, dataset: f.ds, ranking: f.ranking, settings, seed: 0 });
  };

distillerConformance('de (sparse)', build('de'));
distillerConformance('de (exact)', build('de', (s) => { s.de.mode = 'exact'; }));
distillerConformance('rrd', build('rrd'));
distillerConformance('rrd (teacher top-K)', build('rrd', (s) => { s.rrd.sampling = 'top'; }));
distillerConformance('rrd (sigmoid scores)', build('rrd', (s) => { s.rrd.score = 'sigmoid'; }));
distillerConformance('de-rrd', build('de-rrd'));
distillerConformance('rd', build('rd'));
distillerConformance('cd', build('cd'));
