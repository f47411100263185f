/**
 * Issue-4 reproduction: the paper's Table 2 layout (H/M/N @5/10/20, sampled protocol, test metrics at each N's
 * best-validation-HR@N epoch) on the authors' CiteULike split for teacher, student, RD, CD, DE, RRD and DE-RRD, then
 * (issue 20) IR-RRD and DE-IR-RRD — by default for BPR only (the authors' IR-RRD is BPR-only; NeuMF runs them with
 * --only). Runs (or resumes / reuses) every model under --dir, one after another, and writes
 * bench/results/reproduce-<base>.{json,md}. Hours on 2 cores (DE and the IR item side dominate).
 *   npm run bench:reproduce [-- --base bpr|neumf --dir runs --only teacher,student,rd,cd,de,rrd,de-rrd,ir-rrd,de-ir-rrd]
 *                               [--batch-size N --weight-decay X] [--seeds 0,1,2] [--report-only]
 * --report-only trains nothing. Either way the tables describe the finished runs on disk; the others are listed as not run.
 * --parallel N trains the teacher (and its top-N ranking cache) first, then up to N student runs at a time, each in its
 * own process (its output prefixed with the row); the DE kernel gets a worker thread only where the machine has
 * 2·N cores. --no-report trains and skips the tables (what the child processes run).
 * --seeds trains every student row once per seed (the teacher is one run, seed 0); seed 0 lives in cu-<base>-<name>,
 * seed N in cu-<base>-<name>-seedN. The main table is seed 0; a second table gives each row's mean and spread over its
 * finished seeds and the seed-paired difference to the student (same seed, so the same initial embeddings).
 * Each student row also gets a paired per-user test against the undistilled student at H@5 and N@5 (as `derrd compare`).
 * The training recipe (batch size, coupled L2) is the same for the teacher and every student of a table. BPR: the
 * authors' DE-RRD code (batch 1024, L2 1e-3). NeuMF: no DE-RRD file gives one, so the default is the authors' NeuMF
 * base code (RS_Implicit_Feedback_PyTorch: batch 512, L2 1e-4); with the BPR recipe our NeuMF d=250 teacher
 * overfits less but reaches only H@5 0.42.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import { checkpointFinished, finishedCard, formatPValue, loadDataset, meanAndSd, pairedTest, prepareFromSplit, readCard, readSplitDir, round4, saveDataset, sha256File, writeFileAtomic, type ModelCard } from '@derrd/core';
import {
  MODEL_RECIPES, TRAIN_DEFAULTS, evaluateCheckpoint, initBackend, loadCheckpoint, methodDefaults, needsItemRanking, needsRanking, settingsChanges, prepareDistillation, teacherItemRanking,
  teacherRanking, train,
  type MethodName, type ModelKind,
} from '@derrd/train';

const root = resolve(import.meta.dirname, '..');
const arg = (name: string, fallback: string) => { const k = process.argv.indexOf(`--${name}`); return k > 0 ? process.argv[k + 1] : fallback; };
const base = arg('base', 'bpr') as ModelKind;
const dir = resolve(arg('dir', join(root, 'runs')));
const ROWS = ['teacher', 'student', 'rd', 'cd', 'de', 'rrd', 'de-rrd', 'ir-rrd', 'de-ir-rrd'];
const only = arg('only', ROWS.filter((n) => base === 'bpr' || !n.includes('ir-rrd')).join(',')).split(',');
const unknownRows = only.filter((n) => !ROWS.includes(n));
if (unknownRows.length > 0) throw new Error(`--only: unknown row ${unknownRows.join(', ')} (rows: ${ROWS.join(',')})`);
const seeds = arg('seeds', '0').split(',').map(Number);
if (!seeds.every((x) => Number.isInteger(x) && x >= 0)) throw new Error('--seeds takes integers >= 0, e.g. 0,1,2');
const parallel = Number(arg('parallel', '1'));
if (!(Number.isInteger(parallel) && parallel >= 1)) throw new Error('--parallel takes an integer >= 1');
const runDir = (name: string, seed: number) => join(dir, `cu-${base}-${name}${seed === 0 ? '' : `-seed${seed}`}`);
const labelOf = (name: string, seed: number) => (seed === 0 ? name : `${name} seed ${seed}`);
const teacherDir = runDir('teacher', 0);
const recipe = { ...MODEL_RECIPES[base] };
recipe.batchSize = Number(arg('batch-size', String(recipe.batchSize)));
recipe.weightDecay = Number(arg('weight-decay', String(recipe.weightDecay)));
if (!(Number.isInteger(recipe.batchSize) && recipe.batchSize > 0)) throw new Error(`--batch-size must be a positive integer`);
if (!(recipe.weightDecay >= 0)) throw new Error(`--weight-decay must be a number >= 0`);
const dims = base === 'bpr' ? { teacher: 200, student: 20 } : { teacher: 250, student: 25 };
// IR-RRD's reference is the authors' IR-RRD log (one run, seed 0; §8.2 of derrd-method.md), not the DE-RRD table
const paper: Record<string, number> = base === 'bpr'
  ? { teacher: 0.5135, student: 0.4441, rd: 0.4533, cd: 0.4550, de: 0.4817, rrd: 0.4622, 'de-rrd': 0.4843, 'ir-rrd': 0.4947 }
  : { teacher: 0.4790, student: 0.3867, rd: 0.4179, cd: 0.4025, de: 0.4079, rrd: 0.4737, 'de-rrd': 0.4758 };

const splitDir = join(root, '..', 'shared', 'data', 'citeulike', 'derrd_loo_seed0');
const dataDir = join(dir, 'citeulike-data');
if (!existsSync(dataDir)) {
  mkdirSync(dir, { recursive: true });
  saveDataset(prepareFromSplit(readSplitDir(splitDir), { kind: 'split', path: splitDir, sha256: sha256File(join(splitDir, 'train.tsv')) }), dataDir);
}
const ds = loadDataset(dataDir);
const backend = await initBackend('auto');
const started = performance.now();
const finished = checkpointFinished;

/** How a run's method settings differ from this table's defaults (none for the teacher and the student). */
const otherSettings = (card: ModelCard, method: MethodName | null) => (method ? settingsChanges(method, card.method.settings, methodDefaults(base, method)) : []);

async function run(name: string, out: string, dim: number, method: MethodName | null, seed: number): Promise<ModelCard> {
  if (finished(out)) {
    const card = readCard(out);
    const c = card.config as { batchSize?: number; weightDecay?: number; seed?: number };
    if (c.batchSize !== recipe.batchSize || c.weightDecay !== recipe.weightDecay) {
      throw new Error(`${out} was trained with batch ${c.batchSize}, L2 ${c.weightDecay}; this table uses batch ${recipe.batchSize}, L2 ${recipe.weightDecay} (pass --batch-size/--weight-decay, or move the run away)`);
    }
    if ((c.seed ?? 0) !== seed) throw new Error(`${out} was trained with seed ${c.seed}, expected ${seed}`);
    const changed = otherSettings(card, method);
    if (changed.length > 0) throw new Error(`${out} was trained with other ${method} settings (${changed.join(', ')}); move the run away to train this table's`);
    return card;
  }
  const resume = existsSync(join(out, 'resume.safetensors'));
  const label = labelOf(name, seed);
  console.error(`${label}: ${resume ? 'resuming' : 'training'} in ${out}`);
  const config = { ...TRAIN_DEFAULTS, ...recipe, model: base, dim, seed };
  let setup;
  if (method) {
    setup = prepareDistillation({ teacherDir, teacher: loadCheckpoint(teacherDir, ds), dataset: ds, method, settings: methodDefaults(base, method), seed: config.seed });
  }
  const r = await train({
    dataset: ds, datasetPath: dataDir, config, out, backend: backend.name, resume, force: !resume, buildTerms: setup?.buildTerms, method: setup?.method,
    onEvent: (e) => { if (e.type === 'epoch' && e.record.epoch % 10 === 0) console.error(`  ${label} epoch ${e.record.epoch} test H@5 ${e.record.test['HR@5'].toFixed(4)} (${e.record.trainSeconds.toFixed(1)} s)`); },
  });
  r.model.dispose();
  return r.card;
}

const reportOnly = process.argv.includes('--report-only');
const names = ROWS.filter((n) => only.includes(n));
const methodOf = (name: string) => (name === 'teacher' || name === 'student' ? null : (name as MethodName));
const failWith = (label: string, err: unknown): never => {
  // tfjs-wasm rethrows uncaught errors from its own handler, which would print its minified source instead
  console.error(`${label}: ${(err as Error).message}`);
  process.exit(1);
};

/** One child process per student run, at most `parallel` at a time; resolves to the labels of the failed ones. */
async function runChildren(jobs: { name: string; seed: number }[]): Promise<string[]> {
  const threads = availableParallelism() >= 2 * parallel ? '2' : '1';
  const failed: string[] = [];
  const queue = [...jobs];
  const worker = async () => {
    for (let job = queue.shift(); job; job = queue.shift()) {
      const label = labelOf(job.name, job.seed);
      const args = [...process.execArgv, process.argv[1], '--base', base, '--dir', dir, '--only', job.name, '--seeds', String(job.seed),
        '--batch-size', String(recipe.batchSize), '--weight-decay', String(recipe.weightDecay), '--no-report'];
      const child = spawn(process.execPath, args, { env: { ...process.env, DERRD_DE_THREADS: threads }, stdio: ['ignore', 'pipe', 'pipe'] });
      const prefix = (chunk: Buffer) => process.stderr.write(chunk.toString().split('\n').filter((l) => l).map((l) => `[${label}] ${l}\n`).join(''));
      child.stdout.on('data', prefix);
      child.stderr.on('data', prefix);
      const code = await new Promise<number | null>((done) => child.on('close', done));
      if (code !== 0) failed.push(label);
    }
  };
  await Promise.all(Array.from({ length: Math.min(parallel, jobs.length) }, worker));
  return failed;
}

if (!reportOnly) {
  const sortedSeeds = [...seeds].sort((a, b) => a - b);
  if (parallel === 1) {
    for (const seed of sortedSeeds) {
      for (const name of names.filter((n) => n !== 'teacher' || seed === 0)) {
        await run(name, runDir(name, seed), name === 'teacher' ? dims.teacher : dims.student, methodOf(name), seed).catch((err) => failWith(labelOf(name, seed), err));
      }
    }
  } else {
    if (names.includes('teacher')) await run('teacher', teacherDir, dims.teacher, null, 0).catch((err) => failWith('teacher', err));
    const jobs = sortedSeeds.flatMap((seed) => names.filter((n) => n !== 'teacher').map((name) => ({ name, seed }))).filter((j) => !finished(runDir(j.name, j.seed)));
    // the teacher's ranking once, before several runs would each compute it
    if (jobs.some((j) => methodOf(j.name) && needsRanking(methodOf(j.name)!))) {
      const teacher = loadCheckpoint(teacherDir, ds);
      const r = teacherRanking(teacherDir, teacher.model, teacher.weightsSha256, ds, methodDefaults(base, 'rrd').rrd.topN);
      console.error(`teacher ranking ${r.cached ? 'reused' : 'computed and cached'}`);
      if (jobs.some((j) => methodOf(j.name) && needsItemRanking(methodOf(j.name)!))) {
        const items = teacherItemRanking(teacherDir, teacher.model, teacher.weightsSha256, ds, methodDefaults(base, 'ir-rrd').ir.topN);
        console.error(`teacher item ranking ${items.cached ? 'reused' : 'computed and cached'}`);
      }
      teacher.model.dispose();
    }
    console.error(`${jobs.length} runs, ${parallel} at a time: ${jobs.map((j) => labelOf(j.name, j.seed)).join(', ')}`);
    const failed = await runChildren(jobs);
    if (failed.length > 0) failWith('bench:reproduce', new Error(`failed: ${failed.join(', ')} (their output above; each resumes on the next call)`));
  }
}
if (process.argv.includes('--no-report')) process.exit(0);

// The tables describe what is on disk: the main one the seed-0 runs, the seeds one every finished seed 0-9 of this
// recipe (runs of another recipe are left out), whichever seeds this invocation trained.
const sameRecipe = (card: ModelCard) => {
  const c = card.config as { batchSize?: number; weightDecay?: number };
  return c.batchSize === recipe.batchSize && c.weightDecay === recipe.weightDecay;
};
const rows: { name: string; card: ModelCard; out: string }[] = [];
const notRun: string[] = [];
const seedRuns = new Map<string, { seed: number; out: string; card: ModelCard }[]>();
for (const name of names) {
  // each finished run of this recipe, seed 0 first (the teacher has only seed 0)
  const found: { seed: number; out: string; card: ModelCard }[] = [];
  for (let seed = 0; seed < (name === 'teacher' ? 1 : 10); seed++) {
    const out = runDir(name, seed);
    const card = finishedCard(out);
    if (card && sameRecipe(card) && otherSettings(card, methodOf(name)).length === 0) found.push({ seed, out, card });
  }
  const seed0 = found.find((r) => r.seed === 0);
  if (seed0) rows.push({ name, out: seed0.out, card: seed0.card });
  else notRun.push(name);
  if (name !== 'teacher' && found.length > 0) seedRuns.set(name, found);
}

// paired per-user test of every row against the undistilled student, on the saved (best validation HR@5) weights
const ranksOf = async (out: string) => (await evaluateCheckpoint(out, ds, 'sampled')).result.ranks.test;
const studentRow = rows.find((r) => r.name === 'student');
const pValues = new Map<string, { h5: number; n5: number }>();
if (studentRow) {
  const studentRanks = await ranksOf(studentRow.out);
  for (const r of rows) {
    if (r.name === 'student') continue;
    const ranks = await ranksOf(r.out);
    pValues.set(r.name, { h5: pairedTest(studentRanks, ranks, 'HR@5').pValue, n5: pairedTest(studentRanks, ranks, 'NDCG@5').pValue });
  }
}
const pCell = (name: string) => {
  const p = pValues.get(name);
  const f = (x: number) => formatPValue(x, 3);
  return p ? `${f(p.h5)} / ${f(p.n5)}` : '—';
};
const cols = [5, 10, 20].flatMap((n) => ['HR', 'MRR', 'NDCG'].map((m) => `${m}@${n}`));
const lines = [
  `CiteULike (authors' split, seed 0), ${base.toUpperCase()} teacher d=${dims.teacher}, students d=${dims.student}; batch ${recipe.batchSize}, L2 ${recipe.weightDecay}; sampled protocol (1 held-out vs 499 candidates), test metrics at each N's best-validation-HR@N epoch. Backend ${backend.name}.`,
  '',
  `| method | ${cols.map((c) => c.replace('HR', 'H').replace('MRR', 'M').replace('NDCG', 'N')).join(' | ')} | paper H@5 | p vs student H@5 / N@5 | epochs | s/epoch |`,
  `|---|${cols.map(() => '---').join('|')}|---|---|---|---|`,
  // the paper's row order, unfinished rows in place
  ...names.map((name) => {
    const card = rows.find((r) => r.name === name)?.card;
    if (!card) return `| ${name} | ${cols.map(() => 'not run').join(' | ')} | ${paper[name] ?? '—'} | — | — | — |`;
    const secondsPerEpoch = card.history.reduce((s, h) => s + h.trainSeconds + h.evalSeconds, 0) / Math.max(1, card.history.length);
    return `| ${name} | ${cols.map((c) => round4(card.metrics.selected[c] ?? NaN).toFixed(4)).join(' | ')} | ${paper[name] ?? '—'} | ${pCell(name)} | ${card.epochsRun} | ${secondsPerEpoch.toFixed(1)} |`;
  }),
  '',
  ...(names.some((n) => n.includes('ir-rrd')) ? ['paper H@5 of ir-rrd: the authors\' IR-RRD log (one run, seed 0), not the DE-RRD paper\'s table; de-ir-rrd has no published counterpart.', ''] : []),
  'p: two-sided paired test per user against the undistilled student on the saved weights (the best validation HR@5 epoch); it covers the 5,219 evaluation users, not other splits or seeds.',
  '',
  `total wall time of the runs: ${(rows.reduce((s, r) => s + r.card.wallSeconds, 0) / 3600).toFixed(2)} h (this invocation ${((performance.now() - started) / 60000).toFixed(1)} min)`,
];
// across seeds: each row's mean and spread, and its seed-paired difference to the student
const studentBySeed = new Map((seedRuns.get('student') ?? []).map((r) => [r.seed, r.card.metrics.selected['HR@5']]));
const seedRows = names.filter((n) => (seedRuns.get(n)?.length ?? 0) > 0).map((name) => {
  const runs = seedRuns.get(name)!;
  const h5 = runs.map((r) => r.card.metrics.selected['HR@5']);
  const n5 = runs.map((r) => r.card.metrics.selected['NDCG@5']);
  const deltas = runs.filter((r) => studentBySeed.has(r.seed)).map((r) => r.card.metrics.selected['HR@5'] - studentBySeed.get(r.seed)!);
  const h5Stats = meanAndSd(h5);
  return { name, seeds: runs.map((r) => r.seed), h5, n5, h5Mean: h5Stats.mean, h5Sd: h5Stats.sd, n5Mean: meanAndSd(n5).mean, deltaVsStudent: deltas };
});
if (seedRows.some((r) => r.seeds.length > 1)) {
  const f4 = (x: number) => (Number.isNaN(x) ? '—' : x.toFixed(4));
  lines.push(
    '',
    'Across training seeds (test at the best-validation epoch; the teacher is one run):',
    '',
    '| method | seeds | H@5 mean ± sd | per seed H@5 | N@5 mean | Δ H@5 vs student, same seed: mean (per seed) |',
    '|---|---|---|---|---|---|',
    ...seedRows.map((r) => {
      const signed = (d: number) => (d >= 0 ? '+' : '') + d.toFixed(4);
      const delta = r.name === 'student' || r.deltaVsStudent.length === 0 ? '—' : `${signed(meanAndSd(r.deltaVsStudent).mean)} (${r.deltaVsStudent.map(signed).join(', ')})`;
      return `| ${r.name} | ${r.seeds.join(',')} | ${f4(r.h5Mean)} ± ${f4(r.h5Sd)} | ${r.h5.map(f4).join(', ')} | ${f4(r.n5Mean)} | ${delta} |`;
    }),
  );
}
console.log(lines.join('\n'));
mkdirSync(join(root, 'bench', 'results'), { recursive: true });
writeFileAtomic(join(root, 'bench', 'results', `reproduce-${base}.json`), JSON.stringify({ benchmark: `reproduce-${base}`, notRun, seeds: seedRows, rows: rows.map((r) => ({ name: r.name, pVsStudent: pValues.get(r.name) ?? null, test: r.card.metrics.selected, bestEpochs: r.card.metrics.bestEpochs, epochs: r.card.epochsRun, wallSeconds: r.card.wallSeconds, method: r.card.method })) }, null, 2) + '\n');
writeFileAtomic(join(root, 'bench', 'results', `reproduce-${base}.md`), lines.join('\n') + '\n');
