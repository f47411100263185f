/**
 * Issue-19 scaling benchmark: derrd on synthetic data of 5k × 3k, 20k × 10k and 100k × 40k users × items (add 300k ×
 * 100k with --sizes), each step a separate process under GNU time for its wall time and peak RSS:
 *   synth     `derrd data synth` (generator + TSV)
 *   prepare   `derrd data prepare` (split, candidates)
 *   teacher   `derrd train` BPR d=64, --epochs 3: epoch 1's training time and the evaluation time it waited for (epoch
 *             0 warms up; the last epoch's evaluation overlaps nothing)
 *   eval      the teacher's sampled evaluation, the fused path (both cores) against the tfjs scorer, interleaved
 *   ranking   the teacher's top-500 ranking (fused; the tfjs scorer's too where --compare-ranking includes the size)
 *   derrd     `derrd distill --method de-rrd --dim 8 --epochs 2` from that teacher (its ranking is cached by then)
 * and the growth per size step of the per-epoch training time against the interaction count. The machine is shared:
 * the load average at each size is recorded with its figures. Writes bench/results/scale.{json,md}.
 *   npm run bench:scale [-- --sizes 5k,20k,100k --steps synth,prepare,teacher,eval,ranking,derrd --work runs/bench-scale --compare-ranking 5k,20k]
 *                       [--teacher-optimizer adam|lazy-adam]   (lazy-adam: bench/results/scale-lazy-adam.{json,md})
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { loadDataset, writeFileAtomic, type ModelCard } from '@derrd/core';
import { DotEvaluator, computeTeacherRankingWithScorer, evaluateModel, evaluateWithScorer, initBackend, loadCheckpoint, teacherRanking } from '@derrd/train';

const root = resolve(import.meta.dirname, '..');
const arg = (name: string, fallback: string) => { const k = process.argv.indexOf(`--${name}`); return k > 0 ? process.argv[k + 1] : fallback; };
const SIZES: Record<string, { users: number; items: number }> = {
  '5k': { users: 5000, items: 3000 }, '20k': { users: 20000, items: 10000 }, '100k': { users: 100000, items: 40000 }, '300k': { users: 300000, items: 100000 },
};
const STEPS = ['synth', 'prepare', 'teacher', 'eval', 'ranking', 'derrd'] as const;
type Step = (typeof STEPS)[number];

// ---- a library stage, run in its own process: prints one JSON line ---------------------------------------------------
const stage = arg('stage', '');
if (stage) {
  const dataDir = arg('data', '');
  const teacherDir = arg('teacher', '');
  await initBackend('auto');
  const ds = loadDataset(dataDir);
  const teacher = loadCheckpoint(teacherDir, ds);
  const timed = async <T>(f: () => T | Promise<T>): Promise<{ seconds: number; value: T }> => {
    const t = performance.now();
    const value = await f();
    return { seconds: (performance.now() - t) / 1000, value };
  };
  const out: Record<string, unknown> = {};
  if (stage === 'eval') {
    // interleaved: tfjs scorer, fused, tfjs scorer, fused
    const tfjs: number[] = [];
    const fused: number[] = [];
    let differing = 0;
    let fusedRanks: { test: ArrayLike<number> } | undefined;
    for (let rep = 0; rep < 2; rep++) {
      const a = await timed(() => evaluateWithScorer(teacher.model, ds, 'sampled'));
      const b = await timed(() => evaluateModel(teacher.model, ds, 'sampled'));
      tfjs.push(a.seconds);
      fused.push(b.seconds);
      fusedRanks = b.value.ranks;
      // float32 near-ties can rank one place apart between the two summation orders; count them
      differing = 0;
      for (const key of ['test', 'valid'] as const) a.value.ranks[key].forEach((r, k) => { if (r !== b.value.ranks[key][k]) differing++; });
    }
    // what a training epoch pays: the evaluator (candidate buckets, shared copies) is built once per run, then each
    // epoch copies the tables in and ranks
    const tables = teacher.model.dotTables?.();
    if (tables) {
      const built = await timed(() => new DotEvaluator(ds, teacher.model.config.dim, 'sampled'));
      const perEpoch: number[] = [];
      let perEpochEqual = true;
      for (let rep = 0; rep < 3; rep++) {
        const r = await timed(() => { built.value.load(tables); return built.value.run(); });
        perEpoch.push(r.seconds);
        perEpochEqual &&= r.value.test.every((x, k) => x === fusedRanks!.test[k]);
      }
      built.value.dispose();
      Object.assign(out, { evaluatorSetupSeconds: built.seconds, perEpochSeconds: Math.min(...perEpoch), perEpochRanksEqual: perEpochEqual });
    }
    Object.assign(out, { tfjsSeconds: Math.min(...tfjs), fusedSeconds: Math.min(...fused), ranksEqual: differing === 0, ranksDiffering: differing, ranksCompared: fusedRanks ? 2 * fusedRanks.test.length : 0 });
  } else if (stage === 'ranking') {
    const fused = await timed(() => teacherRanking(teacherDir, teacher.model, teacher.weightsSha256, ds, 500));
    out.fusedSeconds = fused.value.cached ? null : fused.seconds;
    if (process.argv.includes('--compare')) {
      const tfjs = await timed(() => computeTeacherRankingWithScorer(teacher.model, ds, 500));
      out.tfjsSeconds = tfjs.seconds;
      out.listsEqual = tfjs.value.items.every((x, k) => x === fused.value.ranking.items[k]);
    }
  }
  console.log(JSON.stringify(out));
  process.exit(0);
}

// ---- the driver ------------------------------------------------------------------------------------------------------
const sizes = arg('sizes', '5k,20k,100k').split(',');
for (const s of sizes) if (!SIZES[s]) throw new Error(`unknown size ${s} (${Object.keys(SIZES).join(', ')})`);
const steps = arg('steps', STEPS.join(',')).split(',') as Step[];
for (const s of steps) if (!STEPS.includes(s)) throw new Error(`unknown step ${s} (${STEPS.join(', ')})`);
const compareRanking = arg('compare-ranking', '5k,20k').split(',');
// the teacher's optimizer (--teacher-optimizer lazy-adam: its own teacher directories and results file)
const optimizer = arg('teacher-optimizer', 'adam');
if (optimizer !== 'adam' && optimizer !== 'lazy-adam') throw new Error(`--teacher-optimizer takes adam or lazy-adam (got ${optimizer})`);
const suffix = optimizer === 'adam' ? '' : `-${optimizer}`;
const work = resolve(arg('work', join(root, 'runs', 'bench-scale')));
mkdirSync(work, { recursive: true });
const cli = join(root, 'packages', 'cli', 'dist', 'main.js');

interface Measured { seconds: number; maxRssMB: number; stdout: string }
/** Runs a command under GNU time: wall seconds and peak RSS of the process (worker threads included). */
function measure(cmd: string[], label: string): Measured {
  const r = spawnSync('/usr/bin/time', ['-f', '%M %e', ...cmd], { encoding: 'utf8', maxBuffer: 1 << 28 });
  const last = r.stderr.trim().split('\n').at(-1) ?? '';
  const [kb, seconds] = last.split(' ').map(Number);
  if (r.status !== 0 || !Number.isFinite(kb)) throw new Error(`${label} failed (exit ${r.status}):\n${r.stderr.slice(-2000)}`);
  return { seconds, maxRssMB: kb / 1024, stdout: r.stdout };
}
const node = (args: string[]) => [process.execPath, ...args];

interface Row {
  size: string; users: number; items: number; interactions: number; load: [number, number];
  synthSeconds?: number; prepareSeconds?: number;
  teacherEpochs?: { trainSeconds: number; evalSeconds: number }[];
  eval?: { tfjsSeconds: number; fusedSeconds: number; ranksEqual: boolean; ranksDiffering?: number; ranksCompared?: number; evaluatorSetupSeconds?: number; perEpochSeconds?: number };
  ranking?: { fusedSeconds: number | null; tfjsSeconds?: number; listsEqual?: boolean };
  derrdEpochs?: { trainSeconds: number; evalSeconds: number }[];
  peakRssMB: Record<string, number>;
}
const rows: Row[] = [];
for (const size of sizes) {
  const { users, items } = SIZES[size];
  const tsv = join(work, `synth-${size}.tsv`);
  const data = join(work, `data-${size}`);
  const teacherDir = join(work, `teacher-${size}${suffix}`);
  const row: Row = { size, users, items, interactions: 0, load: [loadavg()[0], 0], peakRssMB: {} };
  console.error(`== ${size}: ${users} users × ${items} items (load ${loadavg()[0].toFixed(1)})`);
  const step = (name: Step, cmd: string[]): Measured => {
    const m = measure(cmd, `${size} ${name}`);
    row.peakRssMB[name] = m.maxRssMB;
    console.error(`  ${name}: ${m.seconds.toFixed(1)} s, peak RSS ${(m.maxRssMB / 1024).toFixed(2)} GB`);
    return m;
  };
  if (steps.includes('synth') || !existsSync(tsv)) row.synthSeconds = step('synth', node([cli, 'data', 'synth', '-o', tsv, '--users', String(users), '--items', String(items), '--force'])).seconds;
  if (steps.includes('prepare') || !existsSync(join(data, 'manifest.json'))) row.prepareSeconds = step('prepare', node([cli, 'data', 'prepare', '-i', tsv, '-o', data, '--force', '--json'])).seconds;
  row.interactions = (JSON.parse(readFileSync(join(data, 'manifest.json'), 'utf8')) as { counts: { interactions: number } }).counts.interactions;
  const epochsOf = (stdout: string) => (JSON.parse(stdout) as ModelCard).history.map((h) => ({ trainSeconds: h.trainSeconds, evalSeconds: h.evalSeconds }));
  if (steps.includes('teacher') || !existsSync(join(teacherDir, 'model.safetensors'))) {
    row.teacherEpochs = epochsOf(step('teacher', node([cli, 'train', '--data', data, '-o', teacherDir, '--dim', '64', '--epochs', '3', '--optimizer', optimizer, '--force', '--json'])).stdout);
  }
  const library = (name: 'eval' | 'ranking', extra: string[] = []) =>
    JSON.parse(step(name, node(['--import', 'tsx', join(root, 'scripts', 'bench-scale.ts'), '--stage', name, '--data', data, '--teacher', teacherDir, ...extra])).stdout.trim().split('\n').at(-1)!);
  if (steps.includes('eval')) row.eval = library('eval');
  if (steps.includes('ranking')) {
    // a fresh ranking, not the cache of an earlier invocation
    for (const f of ['ranking-top500.i32', 'ranking-top500.i32.json']) spawnSync('rm', ['-f', join(teacherDir, f)]);
    row.ranking = library('ranking', compareRanking.includes(size) ? ['--compare'] : []);
  }
  if (steps.includes('derrd')) {
    row.derrdEpochs = epochsOf(step('derrd', node([cli, 'distill', '--teacher', teacherDir, '--data', data, '--method', 'de-rrd', '--dim', '8', '--epochs', '2', '-o', join(work, `derrd-${size}`), '--force', '--json'])).stdout);
  }
  row.load[1] = loadavg()[0];
  rows.push(row);
}

// ---- table -----------------------------------------------------------------------------------------------------------
const fmt = (x: number | undefined | null, digits = 1) => (x === undefined || x === null ? '—' : x.toFixed(digits));
const epoch1 = (e?: { trainSeconds: number; evalSeconds: number }[]) => e?.[Math.min(1, e.length - 1)];
const lines = [
  '| users × items (interactions) | synth | prepare | teacher epoch: train + eval wait | sampled eval: tfjs → fused | fused eval per training epoch (+ once per run) | top-500 ranking: fused (tfjs) | DE-RRD epoch 0 | peak RSS | load |',
  '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  ...rows.map((r) => {
    const t = epoch1(r.teacherEpochs);
    const d = r.derrdEpochs?.[0];
    const peak = Math.max(...Object.values(r.peakRssMB)) / 1024;
    return `| ${r.users / 1000}k × ${r.items / 1000}k (${(r.interactions / 1e6).toFixed(2)}M) | ${fmt(r.synthSeconds)} s | ${fmt(r.prepareSeconds)} s | ${t ? `${fmt(t.trainSeconds, 2)} + ${fmt(t.evalSeconds, 2)} s` : '—'} | ${r.eval ? `${fmt(r.eval.tfjsSeconds, 2)} → ${fmt(r.eval.fusedSeconds, 2)} s (${(r.eval.tfjsSeconds / r.eval.fusedSeconds).toFixed(1)}×${r.eval.ranksEqual ? ', ranks equal' : `, ${r.eval.ranksDiffering} of ${r.eval.ranksCompared} ranks differ`})` : '—'} | ${r.eval?.perEpochSeconds !== undefined ? `${fmt(r.eval.perEpochSeconds, 2)} s (+ ${fmt(r.eval.evaluatorSetupSeconds, 2)} s)` : '—'} | ${r.ranking ? `${fmt(r.ranking.fusedSeconds)} s${r.ranking.tfjsSeconds !== undefined ? ` (${fmt(r.ranking.tfjsSeconds)} s, ${r.ranking.listsEqual ? 'lists equal' : 'LISTS DIFFER'})` : ''}` : '—'} | ${d ? `${fmt(d.trainSeconds)} + ${fmt(d.evalSeconds, 2)} s` : '—'} | ${peak.toFixed(2)} GB | ${r.load[0].toFixed(1)}–${r.load[1].toFixed(1)} |`;
  }),
];
const growth: string[] = [];
for (let k = 1; k < rows.length; k++) {
  const a = rows[k - 1];
  const b = rows[k];
  const ta = epoch1(a.teacherEpochs)?.trainSeconds;
  const tb = epoch1(b.teacherEpochs)?.trainSeconds;
  const interactions = b.interactions / a.interactions;
  const ratio = (x?: number, y?: number) => (x && y ? y / x : NaN);
  growth.push(`| ${a.size} → ${b.size} | ${interactions.toFixed(2)}× | ${fmt(ratio(ta, tb), 2)}× (${fmt(ratio(ta, tb) / interactions, 2)} of the interaction ratio) | ${fmt(ratio(a.synthSeconds, b.synthSeconds), 2)}× | ${fmt(ratio(a.eval?.fusedSeconds, b.eval?.fusedSeconds), 2)}× | ${fmt(ratio(a.derrdEpochs?.[0]?.trainSeconds, b.derrdEpochs?.[0]?.trainSeconds), 2)}× |`);
}
const md = [
  '# bench:scale', '',
  `${new Date().toISOString()}, ${process.platform} ${process.arch}, Node ${process.version}; the load average (1 min) at the start and the end of each size is in the last column: the machine is shared. Teacher optimizer: ${optimizer}.`, '',
  ...lines, '',
  'Growth per size step (the teacher\'s epoch 1 training time):', '',
  '| step | interactions | teacher epoch training | synth | fused eval | DE-RRD epoch 0 |', '| --- | --- | --- | --- | --- | --- |', ...growth, '',
];
console.log(md.join('\n'));
mkdirSync(join(root, 'bench', 'results'), { recursive: true });
writeFileAtomic(join(root, 'bench', 'results', `scale${suffix}.json`), JSON.stringify({ benchmark: 'scale', date: new Date().toISOString(), teacherOptimizer: optimizer, rows }, null, 2) + '\n');
writeFileAtomic(join(root, 'bench', 'results', `scale${suffix}.md`), md.join('\n'));
