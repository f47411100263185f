/**
 * `derrd sweep`: from one teacher, the undistilled and the distilled students at several sizes, each trained,
 * exported, evaluated on its exported weights and timed on every runtime; the report is the accuracy frontier
 * (accuracy against ONNX bytes and latency, the H@5 ratio to the teacher beside the paper's Table 3). Each run is a
 * resumable step of <out>/sweep.json, as the pipeline's are; `derrd pipeline --sweep-dims` runs the same steps.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import type { Command } from 'commander';
import {
  InputError, canonicalJson, checkpointFinished, loadDataset, pairedTest, readCard, trainingFinished, writeFileAtomic, type Dataset, type EvalResult, type ModelCard,
} from '@derrd/core';
import {
  DERRD_VERSION, evaluateCheckpoint, initBackend, isRankingTeacher, loadCheckpoint, methodTerms, parseMethod, prepareDistillation, trainDefaults,
  type BackendName, type BackendRequest, type LoadedCheckpoint, type MethodName, type MethodSettings, type ModelKind, type TrainConfig,
} from '@derrd/train';
import { estimateTraining, formatDuration } from '../estimate.js';
import { addSettingOptions, layer, readConfigFile, readFlags, valuesOf } from '../flags.js';
import { buildFrontier, renderFrontierMarkdown, renderFrontierSection, type Frontier, type MeasuredModel } from '../frontier.js';
import { esc, renderPage } from '../html.js';
import { latencySettingsOf, latencyStep, type LatencyRecord, type LatencySettings } from '../latency.js';
import { applyDeThreads, deThreadsOf } from '../de-kernel.js';
import { emit, info, UsageError } from '../output.js';
import { Progress } from '../progress.js';
import { SWEEP_COMMAND_SETTINGS, SWEEP_DEFAULTS, SWEEP_SCHEMA } from '../recipes.js';
import { methodValues, toMethodSettings, toTrainConfig, trainValues, type Values } from '../settings.js';
import { StepRunner, exportStep, trainInputs, trainStep } from '../steps.js';
import { checkMethodSettings } from './distill.js';

/** One student of the sweep: a method at a dimension, with its full training configuration. */
export interface SweepRun {
  name: string;
  method: MethodName;
  dim: number;
  config: TrainConfig;
  /** the method's settings (null for none: the undistilled student does not see the teacher) */
  settings: MethodSettings | null;
}

/** Where a sweep's steps are recorded and its outputs written. */
export interface SweepContext {
  steps: StepRunner;
  /** prefix of its step names in the state file ('' for `derrd sweep`, 'sweep-' in the pipeline's) */
  prefix: string;
  ds: Dataset;
  dataDir: string;
  /** runs in <dir>/<name>, models in <dir>/onnx, timings in <dir>/latency */
  dir: string;
  backend: BackendName;
  latency: LatencySettings;
  protocol: 'sampled' | 'full';
  /** a path as the report shows it (relative to the report) */
  rel: (path: string) => string;
}

export const runName = (method: string, dim: number) => `${method}-d${dim}`;

/** φ = 0.05, 0.1, 0.25, 0.5 and 1 of the teacher's dimension (10, 20, 50, 100, 200 for d = 200). */
export function defaultDims(teacherDim: number): number[] {
  return [...new Set([0.05, 0.1, 0.25, 0.5, 1].map((phi) => Math.max(1, Math.round(teacherDim * phi))))];
}

/** Refuses a list that names an entry twice (a sweep runs each size and method once). */
export function checkDistinct<T>(flag: string, values: readonly T[]): void {
  const twice = values.filter((x, k) => values.indexOf(x) !== k);
  if (twice.length > 0) throw new UsageError(`${flag} names ${[...new Set(twice)].join(', ')} more than once: list each once`);
}

const median = (xs: number[]) => {
  if (xs.length === 0) return 0;
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/** A model's row as measured: its card, exported file, evaluation of the exported weights and timings. */
export function measuredModel(o: {
  name: string; role: MeasuredModel['role']; card: ModelCard; dir: string; reused: boolean; onnx: { path: string; bytes: number };
  evaluation: Pick<EvalResult, 'test' | 'valid'>; latency: LatencyRecord[]; rel: (path: string) => string;
}): MeasuredModel {
  const c = o.card;
  return {
    name: o.name, role: o.role, method: c.method.name, kind: c.model.kind, dim: c.model.dim, parameters: c.model.parameters,
    checkpoint: o.rel(o.dir), reused: o.reused, onnx: o.rel(o.onnx.path), onnxBytes: o.onnx.bytes, savedEpoch: c.savedEpoch, epochsRun: c.epochsRun, status: c.status,
    test: o.evaluation.test, valid: o.evaluation.valid, wallSeconds: Math.round(c.wallSeconds * 10) / 10,
    secondsPerEpoch: Math.round(median(c.history.map((h) => h.trainSeconds + h.evalSeconds)) * 100) / 100, latency: o.latency,
  };
}

/** Exports `dir` (a step), evaluates the exported weights and times them on each runtime (a step). */
export async function measureModel(ctx: SweepContext, name: string, role: MeasuredModel['role'], dir: string, reused: boolean): Promise<{ model: MeasuredModel; ranks: EvalResult['ranks'] }> {
  const card = readCard(dir);
  const onnx = await exportStep(ctx.steps, `export-${ctx.prefix}${name}`, dir, card.weights?.sha256, join(ctx.dir, 'onnx', `${name}.onnx`), ctx.dataDir);
  const { result } = await evaluateCheckpoint(dir, ctx.ds, ctx.protocol);
  const latency = await latencyStep(ctx.steps, `latency-${ctx.prefix}${name}`, onnx.path, ctx.ds, ctx.latency, join(ctx.dir, 'latency', `${name}.json`));
  return { model: measuredModel({ name, role, card, dir, reused, onnx, evaluation: result, latency, rel: ctx.rel }), ranks: result.ranks };
}

/** The checkpoints named by --reuse: each a checkpoint directory, or a directory whose subdirectories are. */
export function reuseCandidates(paths: readonly string[], flag = '--reuse'): string[] {
  const out: string[] = [];
  for (const p of paths) {
    if (!existsSync(p) || !statSync(p).isDirectory()) throw new InputError(`${flag} ${p}: no such directory (give finished checkpoints, or a directory of them, e.g. runs/)`);
    if (existsSync(join(p, 'card.json'))) out.push(p);
    else for (const e of readdirSync(p, { withFileTypes: true })) if (e.isDirectory() && existsSync(join(p, e.name, 'card.json'))) out.push(join(p, e.name));
  }
  return out;
}

/** What a run's checkpoint must record to stand in for it: the data set, the training settings, the method, and for a distilled run the teacher and the method's settings. */
interface RunIdentity { datasetHash: string; config: TrainConfig; method: MethodName; teacherSha256: string; recorded: Record<string, unknown> | null }

function cardMatches(card: ModelCard, id: RunIdentity): boolean {
  if (!trainingFinished(card) || isRankingTeacher(card) || !card.weights || card.dataset.hash !== id.datasetHash) return false;
  if (canonicalJson(card.config) !== canonicalJson(id.config) || card.method.name !== id.method) return false;
  // the undistilled student does not depend on the teacher, whichever command trained it
  if (id.method === 'none') return true;
  return card.method.teacher?.weightsSha256 === id.teacherSha256 && canonicalJson(card.method.settings ?? {}) === canonicalJson(id.recorded ?? {});
}

/** The first candidate whose model card matches the run, with its weights in place. */
function findReusable(candidates: readonly string[], id: RunIdentity, cards: Map<string, ModelCard | null>): string | null {
  for (const dir of candidates) {
    if (!cards.has(dir)) {
      try {
        cards.set(dir, readCard(dir));
      } catch {
        cards.set(dir, null); // not a derrd checkpoint: not a candidate
      }
    }
    const card = cards.get(dir);
    if (card && cardMatches(card, id) && existsSync(join(dir, card.weights!.file))) return dir;
  }
  return null;
}

/** Which runs will train (not finished in this sweep, not found among the candidates): for the time estimate. */
export function runsToTrain(ctx: SweepContext, teacherCard: ModelCard, runs: readonly SweepRun[], candidates: readonly string[]): SweepRun[] {
  const cards = new Map<string, ModelCard | null>();
  return runs.filter((r) => {
    const id = identityOf(ctx, teacherCard.weights!.sha256, r);
    if (ctx.steps.finishedWith(ctx.prefix + r.name, trainInputs({ dataset: ctx.ds, config: r.config, key: id.key })) && checkpointFinished(join(ctx.dir, r.name))) return false;
    return findReusable(candidates, id.identity, cards) === null;
  });
}

/** The settings a distilled run records in its card (as prepareDistillation does), and its step's extra key. */
function identityOf(ctx: SweepContext, teacherSha256: string, r: SweepRun): { identity: RunIdentity; key: unknown } {
  const recorded = r.settings ? Object.fromEntries(methodTerms(r.method).map((t) => [t, r.settings![t]])) : null;
  const key = r.method === 'none' ? null : { teacher: teacherSha256, method: r.method, recorded };
  return { identity: { datasetHash: ctx.ds.manifest.hash, config: r.config, method: r.method, teacherSha256, recorded }, key };
}

/**
 * Trains (or finds, or resumes) every run, then (after `beforeMeasuring`) measures each; a distilled run gets a paired test against the
 * undistilled run of the same dimension. `teacherDir` must hold a finished tensor teacher on `ctx.ds`.
 */
export async function runSweep(ctx: SweepContext, teacherDir: string, runs: readonly SweepRun[], candidates: readonly string[], options: { beforeMeasuring?: () => Promise<void> } = {}): Promise<MeasuredModel[]> {
  const teacherCard = readCard(teacherDir);
  let teacher: LoadedCheckpoint | null = null;
  const cards = new Map<string, ModelCard | null>();
  const trained: { run: SweepRun; dir: string; reused: boolean }[] = [];
  const measured: { run: SweepRun; model: MeasuredModel; ranks: EvalResult['ranks'] }[] = [];
  try {
    for (const r of runs) {
      const stepName = ctx.prefix + r.name;
      let dir = join(ctx.dir, r.name);
      let reused = false;
      const { identity, key } = identityOf(ctx, teacherCard.weights!.sha256, r);
      const done = ctx.steps.finishedWith(stepName, trainInputs({ dataset: ctx.ds, config: r.config, key })) && checkpointFinished(dir);
      const found = done ? null : findReusable(candidates, identity, cards);
      if (found) {
        info(`[${stepName}] using the finished checkpoint ${found} (its model card has this run's data set, settings${r.method === 'none' ? '' : ', method and teacher'})`);
        dir = found;
        reused = true;
      } else if (r.method === 'none') {
        await trainStep(ctx.steps, stepName, { dir, dataset: ctx.ds, dataDir: ctx.dataDir, config: r.config, backend: ctx.backend });
      } else {
        teacher ??= loadCheckpoint(teacherDir, ctx.ds);
        const bars = { user: new Progress('teacher ranking', ctx.ds.numUsers), item: new Progress('teacher item ranking', ctx.ds.numItems) };
        const setup = prepareDistillation({
          teacherDir, teacher, dataset: ctx.ds, method: r.method, settings: r.settings!, seed: r.config.seed,
          onRankingProgress: (d, _t, side) => bars[side].update(d),
          onRanking: (x) => { bars[x.side].done(); if (!x.cached) info(`teacher ${x.side === 'user' ? `top-${x.topN} ranking` : `top-${x.topN} users per item`} computed in ${x.seconds.toFixed(1)} s and cached in ${teacherDir}`); },
        });
        await trainStep(ctx.steps, stepName, { dir, dataset: ctx.ds, dataDir: ctx.dataDir, config: r.config, backend: ctx.backend, key, method: setup.method, terms: setup.buildTerms, describe: setup.describe });
      }
      trained.push({ run: r, dir, reused });
    }
  } finally {
    teacher?.model.dispose();
  }
  // measured after every run has trained, so that the sizes' timings are taken minutes apart, not hours
  await options.beforeMeasuring?.();
  for (const { run, dir, reused } of trained) measured.push({ run, ...(await measureModel(ctx, run.name, run.method === 'none' ? 'student' : 'distilled', dir, reused)) });
  for (const m of measured) {
    const student = measured.find((s) => s.run.method === 'none' && s.run.dim === m.run.dim);
    if (m.run.method === 'none' || !student) continue;
    const t = pairedTest(student.ranks.test, m.ranks.test, 'HR@5');
    m.model.vsStudent = { diff: t.diff, pValue: t.pValue };
  }
  return measured.map((m) => m.model);
}

/** The sweep's runs: each method at each dimension (dims outer), with the teacher's base model and the given settings. */
export function sweepRuns(dims: readonly number[], methods: readonly MethodName[], valuesFor: (method: MethodName) => Values, kind: ModelKind): SweepRun[] {
  return dims.flatMap((dim) => methods.map((method) => {
    const v = valuesFor(method);
    return { name: runName(method, dim), method, dim, config: toTrainConfig({ ...v, model: kind, dim }), settings: method === 'none' ? null : toMethodSettings(v, kind, method) };
  }));
}

/** Refuses a teacher the sweep cannot export, time and distil from. */
export function checkSweepTeacher(card: ModelCard, dir: string, ds: Dataset, flag: string): void {
  if (isRankingTeacher(card)) throw new InputError(`${flag} ${dir}: an ONNX teacher gives only its ranking, and the sweep also exports, evaluates and times the teacher as its reference point; import the teacher's tables from safetensors instead (\`derrd teacher import model.safetensors\`)`);
  if (!trainingFinished(card)) throw new InputError(`${flag} ${dir}: the teacher has not finished training (status ${card.status}); finish it with \`derrd train --resume\` first`, { file: join(dir, 'card.json') });
  if (!card.weights) throw new InputError(`${flag} ${dir}: the teacher has no saved weights`, { file: join(dir, 'card.json') });
  if (card.dataset.hash !== ds.manifest.hash) throw new InputError(`${flag} ${dir} was trained on another data set (hash ${card.dataset.hash.slice(0, 12)}…) than --data (${ds.manifest.hash.slice(0, 12)}…): give the data set it was trained on`);
}

/** Prints the time bound of the runs still to train. */
export function printEstimate(ds: Dataset, toTrain: readonly SweepRun[]): void {
  const estimates = estimateTraining(ds, toTrain.map((r) => ({ role: r.name, config: r.config, method: r.method, settings: r.settings ?? undefined })));
  const total = estimates.reduce((s, e) => s + e.epochs * e.secondsPerEpoch, 0);
  info(estimates.length === 0 ? 'estimated training time of the sweep: none (every run is trained already)'
    : `estimated training time of the sweep: at most ~${formatDuration(total)} for ${estimates.length} run${estimates.length > 1 ? 's' : ''} (a rough bound at each epoch cap on an idle 2-core machine; early stopping usually ends sooner)`);
}

export interface SweepReport {
  title: string;
  createdAt: string;
  dataset: { source: string; hash: string; counts: Record<string, number> };
  teacher: { checkpoint: string; onnx: string; trainedBySweep: boolean };
  frontier: Frontier;
  settings: Record<string, unknown>;
  versions: Record<string, string>;
  seconds: Record<string, number>;
}

export function renderSweepHtml(r: SweepReport): string {
  const section = renderFrontierSection(r.frontier);
  const counts = Object.entries(r.dataset.counts).map(([k, v]) => `${k} ${v.toLocaleString('en-US')}`).join(', ');
  const body = `<p>Created ${esc(r.createdAt)}. Data: ${esc(r.dataset.source)} (${esc(counts)}; hash ${esc(r.dataset.hash.slice(0, 16))}…). Teacher: ${esc(r.teacher.checkpoint)}.</p>
${section.html}
<h2>Settings and versions</h2>
<pre>${esc(JSON.stringify({ settings: r.settings, versions: r.versions, seconds: r.seconds }, null, 2))}</pre>`;
  return renderPage(r.title, body, [section.script]);
}

export function registerSweepCommand(program: Command): void {
  const cmd = program
    .command('sweep')
    .description('the accuracy frontier: from one teacher, train the undistilled and the DE-RRD students at several sizes (--dims), export, evaluate and time each on every runtime, and report accuracy against ONNX bytes and latency with the H@5 ratio to the teacher (re-runs skip finished steps; interrupted training resumes)')
    .option('--data <dir>', 'prepared data set (from `derrd data prepare`; default: the one --teacher-checkpoint was trained on, from its model card)')
    .option('--config <file>', 'JSON file with any of the settings below by their flag names, e.g. {"dims": [10, 20], "epochs": 200} (flags given explicitly win)')
    .option('-o, --out <dir>', 'output directory: sweep.json (the steps), one checkpoint per run, onnx/, latency/, report.{json,md,html}', 'runs/sweep')
    .option('--json', 'print report.json to stdout', false);
  addSettingOptions(cmd, SWEEP_COMMAND_SETTINGS, { defaults: { ...SWEEP_DEFAULTS, model: 'the teacher\'s' } });
  cmd.action(async (opts: { data?: string; config?: string; out: string; json: boolean }) => {
    const started = performance.now();
    const out = resolve(opts.out);
    const file = opts.config ? readConfigFile(opts.config, SWEEP_SCHEMA) : undefined;
    const flags = readFlags(cmd, SWEEP_COMMAND_SETTINGS);
    const given = layer(valuesOf(file), flags);
    // paths in a config file are relative to the file; flags are relative to the working directory
    const pathsOf = (name: string): string[] | undefined => {
      const asList = (x: unknown) => (Array.isArray(x) ? x.map(String) : [String(x)]);
      if (flags[name] !== undefined) return asList(flags[name]).map((p) => resolve(p));
      if (file?.[name] !== undefined) return asList(file[name]).map((p) => resolve(dirname(resolve(opts.config!)), p));
      return undefined;
    };
    const reuse = pathsOf('reuse') ?? [];
    const dims = given.dims as number[] | undefined;
    const methods = ((given.methods as string[] | undefined) ?? ['none', 'de-rrd']).map(parseMethod);
    if (dims) checkDistinct('--dims', dims);
    checkDistinct('--methods', methods);

    // the teacher: a finished checkpoint, or one the sweep trains (a step of its own) on --data
    const givenTeacher = pathsOf('teacher-checkpoint')?.[0];
    if (!givenTeacher && !opts.data) throw new UsageError('give --teacher-checkpoint <dir> (a finished teacher) or --data <dir> (a prepared data set to train the teacher on, from `derrd data prepare`)');
    const ignored = ['teacher-model', 'teacher-dim'].filter((name) => given[name] !== undefined);
    if (givenTeacher && ignored.length > 0) throw new UsageError(`${ignored.map((n) => `--${n}`).join(' and ')} ${ignored.length > 1 ? 'set' : 'sets'} the teacher the sweep trains, but --teacher-checkpoint gives a finished one (its card has its model and d): leave out one or the other`);
    const teacherDir = givenTeacher ?? join(out, 'teacher');
    const givenCard = givenTeacher ? readCard(givenTeacher) : null;
    const dataDir = resolve(opts.data ?? givenCard!.dataset.path);
    const ds = loadDataset(dataDir);
    if (givenCard) checkSweepTeacher(givenCard, givenTeacher!, ds, '--teacher-checkpoint');
    const kind = (givenCard?.model.kind ?? given['teacher-model'] ?? 'bpr') as ModelKind;
    const teacherConfig = toTrainConfig(layer(trainValues(trainDefaults(kind)), given, { model: kind, dim: (given['teacher-dim'] as number | undefined) ?? 200 }));
    const teacherDim = givenCard?.model.dim ?? teacherConfig.dim;
    const sweepDims = dims ?? defaultDims(teacherDim);
    const base = layer(trainValues(trainDefaults(kind)), SWEEP_DEFAULTS);
    const runs = sweepRuns(sweepDims, methods, (m) => layer(base, m === 'none' ? {} : methodValues(kind, m), given), kind);
    for (const r of runs) if (r.settings) checkMethodSettings(r.method, r.settings, ds, (name) => `--${name}`);
    const v = layer(base, given);
    const latency = latencySettingsOf(v);
    applyDeThreads(deThreadsOf(v['de-threads']), methods.some((m) => methodTerms(m).includes('de')));
    const candidates = reuseCandidates(reuse);
    // allowed: φ > 1 asks whether a student larger than its teacher gains from it (the paper stops at φ = 1)
    const above = sweepDims.filter((d) => d > teacherDim);
    if (above.length > 0) info(`note: d = ${above.join(', ')} ${above.length > 1 ? 'are' : 'is'} larger than the teacher's (${teacherDim}): φ > 1`);

    const backend = await initBackend(v.backend as BackendRequest);
    const steps = new StepRunner(join(out, 'sweep.json'));
    const c = ds.manifest.counts;
    info(`sweep: ${kind} teacher d=${teacherDim} (${givenTeacher ? teacherDir : `trained in ${teacherDir}`}) → ${methods.join(', ')} at d = ${sweepDims.join(', ')} (φ = ${sweepDims.map((d) => Math.round((d / teacherDim) * 1000) / 1000).join(', ')}); data ${c.users.toLocaleString('en-US')} users × ${c.items.toLocaleString('en-US')} items`);
    if (!givenTeacher) {
      if (!(steps.finishedWith('teacher', trainInputs({ dataset: ds, config: teacherConfig })) && checkpointFinished(teacherDir))) {
        const [e] = estimateTraining(ds, [{ role: 'teacher', config: teacherConfig }]);
        info(`estimated training time of the teacher: at most ~${formatDuration(e.epochs * e.secondsPerEpoch)} (${teacherConfig.maxEpochs} epochs on an idle 2-core machine; early stopping usually ends sooner)`);
      }
      await trainStep(steps, 'teacher', { dir: teacherDir, dataset: ds, dataDir, config: teacherConfig, backend: backend.name });
    }
    const teacherCard = givenCard ?? readCard(teacherDir);
    const rel = (path: string) => relative(out, path) || '.';
    const ctx: SweepContext = {
      steps, prefix: '', ds, dataDir, dir: out, backend: backend.name, latency,
      protocol: teacherCard.metrics.protocol === 'full' ? 'full' : 'sampled', rel,
    };
    if (candidates.length > 0) info(`--reuse: ${candidates.length} checkpoint${candidates.length > 1 ? 's' : ''} to match against the runs' settings`);
    printEstimate(ds, runsToTrain(ctx, teacherCard, runs, candidates));

    let teacher: MeasuredModel | undefined;
    const models = await runSweep(ctx, teacherDir, runs, candidates, { beforeMeasuring: async () => { teacher = (await measureModel(ctx, 'teacher', 'teacher', teacherDir, false)).model; } });
    if (!teacher) throw new Error('the teacher was not measured');
    const frontier = buildFrontier(ctx.protocol === 'full' ? 'full-ranking protocol' : `sampled protocol: 1 held-out item vs ${ds.numCandidates} sampled candidates`, teacher, models, sweepDims, methods);
    const round1 = (x: number) => Math.round(x * 10) / 10;
    const report: SweepReport = {
      title: `derrd sweep: ${kind} teacher d=${teacherCard.model.dim} → ${methods.join(', ')} at d = ${sweepDims.join(', ')}`,
      createdAt: new Date().toISOString(),
      dataset: { source: ds.manifest.source.path ? rel(ds.manifest.source.path) : ds.manifest.source.kind, hash: ds.manifest.hash, counts: { users: ds.numUsers, items: ds.numItems, train: c.train } },
      teacher: { checkpoint: rel(teacherDir), onnx: teacher.onnx, trainedBySweep: !givenTeacher },
      frontier,
      settings: {
        dims: sweepDims, methods, config: opts.config ? rel(resolve(opts.config)) : null, reuse: reuse.map(rel), teacher: givenTeacher ? null : teacherConfig,
        runs: Object.fromEntries(runs.map((r) => [r.name, { config: r.config, methodSettings: r.settings ? Object.fromEntries(methodTerms(r.method).map((t) => [t, r.settings![t]])) : null }])),
        latency, backend: backend.name,
      },
      versions: { derrd: DERRD_VERSION, node: process.version, tfjs: backend.tfjsVersion, onnxruntime: '1.30.0' },
      seconds: Object.fromEntries(Object.entries({ ...ctx.steps.seconds, total: (performance.now() - started) / 1000 }).map(([k, x]) => [k, round1(x)])),
    };
    writeFileAtomic(join(out, 'report.json'), JSON.stringify(report, null, 2) + '\n');
    writeFileAtomic(join(out, 'report.md'), renderFrontierMarkdown(frontier, report.title));
    writeFileAtomic(join(out, 'report.html'), renderSweepHtml(report));
    emit({ json: opts.json }, report, () => `report: ${join(out, 'report.html')} (and report.json, report.md) in ${report.seconds.total.toFixed(1)} s\n\n${renderFrontierMarkdown(frontier)}`);
  });
}
