/**
 * Issue-3 benchmark: the DE-RRD recipe on the authors' CiteULike split (../shared/data/citeulike/derrd_loo_seed0),
 * sampled protocol. Trains (or resumes / reuses finished runs in --dir) the BPR teacher d=200, the BPR student d=20
 * without distillation and the NeuMF teacher d=250, measures ms per step split into forward+backward and optimizer,
 * and writes bench/results/train-citeulike.{json,md}.
 *   npm run bench:train [-- --dir runs --only bpr-teacher,bpr-student,neumf-teacher --epochs 1000] [--report-only]
 * --report-only trains and times nothing: it tables the finished runs on disk and keeps the ms/step figures of the last
 * full run (bench/results/train-citeulike.json), so that a report taken while other jobs run does not overwrite them.
 * Recipe: BPR as issue 3 (batch 1024, L2 1e-3); NeuMF as bench:reproduce (batch 512, L2 1e-4, the authors' NeuMF base
 * code), which trains the better NeuMF teacher (docs/results.md, "The NeuMF recipe"). A finished run trained with another
 * recipe is refused. Finished runs of other seeds (cu-<run>-seedN, from `derrd train --seed N`) add a line with
 * every seed's H@5, their mean and sd: the seed moves the BPR student by more than its target window is wide.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { finishedCard, loadDataset, meanAndSd, prepareFromSplit, readSplitDir, readCard, round4, trainingFinished, sampleTriples, saveDataset, sha256File, writeFileAtomic, Rng, type ModelCard } from '@derrd/core';
import { AdamL2, MODEL_RECIPES, TRAIN_DEFAULTS, createModel, initBackend, tf, train, type ModelKind } from '@derrd/train';

const root = resolve(import.meta.dirname, '..');
const arg = (name: string, fallback: string) => { const k = process.argv.indexOf(`--${name}`); return k > 0 ? process.argv[k + 1] : fallback; };
const dir = resolve(arg('dir', join(root, 'runs')));
const only = arg('only', 'bpr-teacher,bpr-student,neumf-teacher').split(',');
const maxEpochs = Number(arg('epochs', '1000'));
const reportOnly = process.argv.includes('--report-only');
const resultsJson = join(root, 'bench', 'results', 'train-citeulike.json');
const lastTimings = new Map<string, { fwdBwdMs: number; optimizerMs: number }>();
if (reportOnly && existsSync(resultsJson)) {
  const last = JSON.parse(readFileSync(resultsJson, 'utf8')) as { results?: { name: string; fwdBwdMs: number; optimizerMs: number }[] };
  for (const r of last.results ?? []) lastTimings.set(r.name, { fwdBwdMs: r.fwdBwdMs, optimizerMs: r.optimizerMs });
}
const splitDir = join(root, '..', 'shared', 'data', 'citeulike', 'derrd_loo_seed0');
if (!existsSync(splitDir)) { console.error(`needs ${splitDir}`); process.exit(1); }

const dataDir = join(dir, 'citeulike-data');
if (!existsSync(dataDir)) {
  mkdirSync(dir, { recursive: true });
  const split = readSplitDir(splitDir);
  saveDataset(prepareFromSplit(split, { kind: 'split', path: splitDir, sha256: sha256File(join(splitDir, 'train.tsv')) }), dataDir);
}
const ds = loadDataset(dataDir);
const backend = await initBackend('auto');

const BPR_RECIPE = MODEL_RECIPES.bpr;
const NEUMF_RECIPE = MODEL_RECIPES.neumf;
const runs: { name: string; model: ModelKind; dim: number; recipe: { batchSize: number; weightDecay: number }; target: string; check: (h5: number) => boolean }[] = [
  { name: 'bpr-teacher', model: 'bpr', dim: 200, recipe: BPR_RECIPE, target: 'test H@5 >= 0.50 (paper 0.5135)', check: (h) => h >= 0.5 },
  { name: 'bpr-student', model: 'bpr', dim: 20, recipe: BPR_RECIPE, target: 'test H@5 in 0.43-0.46 (paper 0.4441)', check: (h) => h >= 0.43 && h <= 0.46 },
  { name: 'neumf-teacher', model: 'neumf', dim: 250, recipe: NEUMF_RECIPE, target: 'test H@5 >= 0.46 (paper 0.4790)', check: (h) => h >= 0.46 },
];

/** A run's checkpoint directory: cu-<name> for seed 0, cu-<name>-seedN for the others (`derrd train --seed N`). */
const runDir = (name: string, seed: number) => join(dir, `cu-${name}${seed === 0 ? '' : `-seed${seed}`}`);
/** The batch size and L2 a card was trained with, and whether they are the run's recipe. */
function recipeOf(card: ModelCard, run: (typeof runs)[number]): { batchSize?: number; weightDecay?: number; same: boolean } {
  const { batchSize, weightDecay } = card.config as { batchSize?: number; weightDecay?: number };
  return { batchSize, weightDecay, same: batchSize === run.recipe.batchSize && weightDecay === run.recipe.weightDecay };
}

/** ms per training step, forward+backward and optimizer separately (median of 20 steps after 3 warm-ups). */
function stepTiming(model: ModelKind, dim: number, batchSize: number): { fwdBwdMs: number; optimizerMs: number } {
  const m = createModel(model, { numUsers: ds.numUsers, numItems: ds.numItems, dim });
  const opt = new AdamL2();
  const t = sampleTriples(ds, new Rng(0));
  const fb: number[] = [], op: number[] = [];
  for (let s = 0; s < 23; s++) {
    const slice = (a: Int32Array) => tf.tensor1d(a.subarray(s * batchSize, (s + 1) * batchSize), 'int32');
    const u = slice(t.users), p = slice(t.pos), n = slice(t.neg);
    const t0 = performance.now();
    const { value, grads } = tf.variableGrads(() => m.baseLoss(u, p, n), Object.values(m.variables));
    // wasm and cpu run kernels eagerly: reading the scalar loss is enough to time the step (reading back the dense
    // gradients would add a 24 MB copy that training never does)
    value.dataSync();
    const t1 = performance.now();
    const byName: Record<string, tf.Tensor> = {};
    for (const [k, v] of Object.entries(m.variables)) byName[k] = grads[v.name];
    opt.apply(m.variables, byName);
    const t2 = performance.now();
    value.dispose(); u.dispose(); p.dispose(); n.dispose();
    if (s >= 3) { fb.push(t1 - t0); op.push(t2 - t1); }
  }
  opt.dispose(); m.dispose();
  const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
  return { fwdBwdMs: med(fb), optimizerMs: med(op) };
}

const results: Record<string, unknown>[] = [];
for (const run of runs.filter((r) => only.includes(r.name))) {
  const out = runDir(run.name, 0);
  let card: ModelCard | null = existsSync(join(out, 'card.json')) ? readCard(out) : null;
  const finished = card && trainingFinished(card) && card.config.dim === run.dim;
  const used = card ? recipeOf(card, run) : null;
  if (used && !used.same) {
    console.error(`${out} was trained with batch ${used.batchSize}, L2 ${used.weightDecay}; ${run.name} uses batch ${run.recipe.batchSize}, L2 ${run.recipe.weightDecay} (move the run away)`);
    process.exit(1);
  }
  if (!finished && reportOnly) {
    console.error(`${run.name}: no finished run in ${out} (--report-only trains nothing)`);
    continue;
  }
  if (!finished) {
    console.error(`training ${run.name} (${card ? 'resuming' : 'new'}) in ${out}`);
    const result = await train({
      dataset: ds, datasetPath: dataDir, out, backend: backend.name, resume: Boolean(card), force: false,
      config: { ...TRAIN_DEFAULTS, ...run.recipe, model: run.model, dim: run.dim, maxEpochs },
      onEvent: (e) => { if (e.type === 'epoch' && e.record.epoch % 10 === 0) console.error(`  ${run.name} epoch ${e.record.epoch} test H@5 ${e.record.test['HR@5'].toFixed(4)}`); },
    });
    result.model.dispose();
    card = result.card;
  } else {
    console.error(`reusing finished ${run.name} in ${out}`);
  }
  const c = card!;
  const timing = reportOnly ? lastTimings.get(run.name) ?? { fwdBwdMs: NaN, optimizerMs: NaN } : stepTiming(run.model, run.dim, run.recipe.batchSize);
  const epochs = c.history.length;
  const trainSec = c.history.reduce((s, h) => s + h.trainSeconds, 0) / epochs;
  const evalSec = c.history.reduce((s, h) => s + h.evalSeconds, 0) / epochs;
  results.push({
    name: run.name, model: run.model, dim: run.dim, ...run.recipe, parameters: c.model.parameters, status: c.status, epochsRun: c.epochsRun,
    bestEpochs: c.metrics.bestEpochs, test: c.metrics.selected, target: run.target, meetsTarget: run.check(c.metrics.selected['HR@5']),
    wallSeconds: c.wallSeconds, trainSecondsPerEpoch: trainSec, evalSecondsPerEpoch: evalSec, ...timing, backend: c.backend,
  });
}
// every run over its finished seeds
const seedRows: { run: (typeof runs)[number]; seeds: { seed: number; h5: number }[] }[] = [];
for (const run of runs.filter((r) => only.includes(r.name))) {
  const seeds: { seed: number; h5: number }[] = [];
  for (let seed = 0; seed < 10; seed++) {
    const card = finishedCard(runDir(run.name, seed));
    if (card && card.config.dim === run.dim && card.config.seed === seed && recipeOf(card, run).same) {
      seeds.push({ seed, h5: card.metrics.selected['HR@5'] });
    }
  }
  if (seeds.length > 1) seedRows.push({ run, seeds });
}
const cell = (m: Record<string, number>, k: string) => round4(m[k]).toFixed(4);
const lines = [
  `CiteULike (authors' split), sampled protocol (1 held-out vs 499 candidates); test metrics at each N's best-validation-HR@N epoch. Backend ${backend.name}.`,
  '',
  '| run | batch, L2 | params | H@5 | M@5 | N@5 | H@10 | M@10 | N@10 | H@20 | M@20 | N@20 | epochs (best @5) | s/epoch train+eval | ms/step fwd+bwd / Adam | total min | target |',
  '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|',
  ...results.map((r) => {
    const t = r.test as Record<string, number>;
    return `| ${r.name} d=${r.dim} | ${r.batchSize}, ${r.weightDecay} | ${(r.parameters as number).toLocaleString('en-US')} | ${['HR@5', 'MRR@5', 'NDCG@5', 'HR@10', 'MRR@10', 'NDCG@10', 'HR@20', 'MRR@20', 'NDCG@20'].map((k) => cell(t, k)).join(' | ')} | ${r.epochsRun} (${(r.bestEpochs as Record<string, number>)['@5']}) | ${(r.trainSecondsPerEpoch as number).toFixed(2)}+${(r.evalSecondsPerEpoch as number).toFixed(2)} | ${(r.fwdBwdMs as number).toFixed(1)} / ${(r.optimizerMs as number).toFixed(1)} | ${((r.wallSeconds as number) / 60).toFixed(1)} | ${r.target}: ${r.meetsTarget ? 'met' : 'NOT met'} |`;
  }),
];
for (const { run, seeds } of seedRows) {
  const h = seeds.map((x) => x.h5);
  const { mean, sd } = meanAndSd(h);
  lines.push('', `${run.name} d=${run.dim} over seeds ${seeds.map((x) => x.seed).join(', ')}: test H@5 ${h.map((x) => x.toFixed(4)).join(', ')}; mean ${mean.toFixed(4)} ± ${sd.toFixed(4)} (sd); ${run.target}: mean ${run.check(mean) ? 'meets it' : 'does not'}, ${h.filter(run.check).length} of ${h.length} seeds do.`);
}
console.log(lines.join('\n'));
mkdirSync(join(root, 'bench', 'results'), { recursive: true });
writeFileAtomic(resultsJson, JSON.stringify({ benchmark: 'train-citeulike', node: process.version, backend, results, seeds: seedRows.map(({ run, seeds }) => ({ name: run.name, seeds })) }, null, 2) + '\n');
writeFileAtomic(join(root, 'bench', 'results', 'train-citeulike.md'), lines.join('\n') + '\n');
console.log('wrote bench/results/train-citeulike.{json,md}');
