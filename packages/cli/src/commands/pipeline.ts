/**
 * The main job: prepare data → train the teacher → train the student without distillation → distil the student
 * (DE-RRD by default) → evaluate → export all three to ONNX → latency → report (HTML + JSON).
 * Each step records a hash of its inputs in <out>/pipeline.json; a re-run skips finished steps whose inputs did not
 * change and resumes an interrupted training step from its last epoch. With --sweep-dims it also trains the students
 * at those sizes and adds their accuracy frontier to the report (the steps of `derrd sweep`).
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import type { Command } from 'commander';
import {
  InputError, canonicalJson, checkpointFinished, formatPValue, loadDataset, pairedTest, readCard, sha256, trainingFinished, writeFileAtomic, type Dataset, type EvalResult, type ModelCard,
} from '@derrd/core';
import type { Provider } from '@derrd/runtime';
import {
  TRAIN_DEFAULTS, DERRD_VERSION, checkTrainingMemory, evaluateCheckpoint, initBackend, isRankingTeacher, loadCheckpoint, parseMethod, prepareDistillation,
  type BackendRequest, type ModelKind, type TrainConfig,
  methodTerms,
} from '@derrd/train';
import { estimateTraining, formatDuration } from '../estimate.js';
import { addSettingOptions, layer, readConfigFile, readFlags, sectionOf, valuesOf } from '../flags.js';
import { applyDeThreads, deThreadsOf } from '../de-kernel.js';
import { emit, info } from '../output.js';
import { PIPELINE_SCHEMA, PIPELINE_SECTIONS, PIPELINE_TOP_SETTINGS, RECIPES, recipeOf, resolvePipeline, type PipelineSection } from '../recipes.js';
import { buildFrontier, renderFrontierMarkdown, type Frontier } from '../frontier.js';
import { timeModel, type LatencyRecord } from '../latency.js';
import { renderReportHtml, type Report, type ReportComparison } from '../report.js';
import { RECIPE_NAMES, checkOptimizer, toMethodSettings, toPrepareOptions, toTrainConfig, trainValues, type Values } from '../settings.js';
import { StepRunner, exportStep, trainInputs, trainStep as runTrainStep } from '../steps.js';
import { checkMethodSettings } from './distill.js';
import { prepareCommand } from './data.js';
import { checkDistinct, measuredModel, printEstimate, runSweep, sweepRuns, type SweepContext } from './sweep.js';

/** The roles the pipeline trains, in order, with their config section. */
const ROLES = [['teacher', 'teacher'], ['student', 'student'], ['distilled', 'distill']] as const;
type Role = (typeof ROLES)[number][0];

/** "64 (demo), 200 (paper)" when the recipes differ, else the one value: the defaults shown in --help. */
function recipeDefaults(section: 'top' | PipelineSection): Values {
  const empty = { top: {}, teacher: {}, student: {}, distill: {}, latency: {}, sweep: {} };
  const [demo, paper] = RECIPE_NAMES.map((name) => resolvePipeline({ recipe: name }, empty)[section]);
  const out: Values = {};
  for (const key of new Set([...Object.keys(demo), ...Object.keys(paper)])) {
    const [a, b] = [demo[key], paper[key]].map((v) => (v === undefined ? undefined : Array.isArray(v) ? v.join(',') : String(v)));
    out[key] = a === b ? a : `${a ?? 'unset'} (demo), ${b ?? 'unset'} (paper)`;
  }
  if (section === 'top') out.recipe = 'demo';
  return out;
}

/** The prepare settings a config file or flag sets explicitly that differ from a prepared data set's own. */
function preparedConflicts(given: Values, ds: Dataset): string[] {
  const s = ds.manifest.settings;
  const recorded: Values = { seed: s.seed, 'min-user': s.minUserInteractions, 'min-item': s.minItemInteractions, split: s.split, candidates: s.numCandidates, 'id-order': s.idOrder, 'min-rating': s.minRating };
  return Object.entries(given).filter(([k, v]) => v !== undefined && (k in recorded ? recorded[k] !== v : k !== 'format')).map(([k, v]) => `${k} ${String(v)} (the data set has ${String(recorded[k] ?? 'none')})`);
}

export function registerPipelineCommand(program: Command): void {
  const cmd = program
    .command('pipeline')
    .description('the main job: data → teacher → student → DE-RRD student → evaluate → ONNX export → latency → report (re-runs skip finished steps). Every setting is a flag and a config key (docs/config.md); `derrd config --print` shows them all')
    .option('-i, --data <path>', 'interaction file, users.dat, split directory or prepared data set (default: the embedded synthetic data set)')
    .option('--config <file>', 'JSON config file: the keys are these flags\' names, the teacher-/student-/distill-/latency- ones inside a section of that name, e.g. {"candidates": 99, "teacher": {"dim": 32}}')
    .option('-o, --out <dir>', 'output directory: the prepared data, the checkpoints (teacher/, student/, <method>/), the ONNX models (<name>.onnx with <name>.ids.json), report.html and report.json', 'models/pipeline')
    .option('--json', 'print report.json to stdout', false);
  addSettingOptions(cmd, PIPELINE_TOP_SETTINGS, { defaults: recipeDefaults('top') });
  for (const [section, { settings }] of Object.entries(PIPELINE_SECTIONS)) addSettingOptions(cmd, settings, { prefix: `${section}-`, defaults: recipeDefaults(section as PipelineSection) });
  cmd.action(async (opts: { data?: string; config?: string; out: string; json: boolean }) => {
    const started = performance.now();
    const out = resolve(opts.out);
    const file = opts.config ? readConfigFile(opts.config, PIPELINE_SCHEMA) : undefined;
    const flags = {
      top: readFlags(cmd, PIPELINE_TOP_SETTINGS),
      ...Object.fromEntries(Object.entries(PIPELINE_SECTIONS).map(([name, s]) => [name, readFlags(cmd, s.settings, `${name}-`)])),
    } as Record<'top' | PipelineSection, Values>;
    // paths in a config file are relative to the file; flags are relative to the working directory
    const reuse: Partial<Record<Role, string>> = {};
    for (const [role, section] of ROLES) {
      const fromFile = sectionOf(file, section)?.checkpoint;
      if (typeof fromFile === 'string') reuse[role] = resolve(dirname(resolve(opts.config!)), fromFile);
      if (flags[section].checkpoint !== undefined) reuse[role] = resolve(String(flags[section].checkpoint));
    }
    const recipe = recipeOf(file, flags.top);
    const steps = new StepRunner(join(out, 'pipeline.json'));
    const seconds = steps.seconds;

    // 1. data
    const givenPrepare = layer(valuesOf(file), flags.top);
    for (const k of ['recipe', 'backend']) delete givenPrepare[k];
    let dataDir: string;
    let ds: Dataset;
    if (opts.data && existsSync(join(opts.data, 'manifest.json'))) {
      dataDir = resolve(opts.data);
      ds = loadDataset(dataDir);
      const conflicts = preparedConflicts(givenPrepare, ds);
      if (conflicts.length > 0) throw new InputError(`--data ${opts.data} is already prepared, so its settings cannot change: ${conflicts.join(', ')}; pass the raw interaction file instead, or prepare again with \`derrd data prepare\``);
    } else {
      dataDir = join(out, 'data');
      const source = opts.data ? resolve(opts.data) : 'synthetic';
      const sourceStamp = opts.data ? `${statSync(opts.data).mtimeMs}:${statSync(opts.data).size}` : 'embedded';
      const prepare = toPrepareOptions(resolvePipeline(file, flags).top);
      await steps.run('prepare', { source, sourceStamp, settings: prepare }, () => existsSync(join(dataDir, 'manifest.json')), () => {
        prepareCommand({ ...prepare, input: opts.data, out: dataDir, force: true });
      });
      ds = loadDataset(dataDir);
    }

    // 2-4. teacher, student, distilled student: settings, checks and the time they may take, before any training
    const reused: Partial<Record<Role, ModelCard>> = {};
    for (const [role, section] of ROLES) if (reuse[role]) reused[role] = reusableCard(role, section, reuse[role]!, ds, dataDir);
    if (reused.teacher && isRankingTeacher(reused.teacher)) {
      throw new InputError(`--teacher-checkpoint ${reuse.teacher}: an ONNX teacher gives only its ranking, and the pipeline also exports, evaluates and times the teacher; distil from it with \`derrd distill --teacher ${reuse.teacher} --method rrd\``);
    }
    // a finished teacher's own settings stand in for the teacher's, and the students inherit them
    const teacherOverride = reused.teacher ? trainValues({ ...toTrainConfig(resolvePipeline(file, flags).teacher), ...reused.teacher.config } as TrainConfig) : undefined;
    const v = resolvePipeline(file, flags, teacherOverride);
    const teacherConfig = toTrainConfig(v.teacher);
    const studentConfig: TrainConfig = reused.student ? { ...TRAIN_DEFAULTS, ...reused.student.config } as TrainConfig : toTrainConfig({ ...v.student, model: teacherConfig.model });
    const distillConfig: TrainConfig = reused.distilled ? { ...TRAIN_DEFAULTS, ...reused.distilled.config } as TrainConfig : toTrainConfig({ ...v.distill, model: teacherConfig.model });
    const method = parseMethod(String(v.distill.method));
    [teacherConfig, studentConfig, distillConfig].forEach((cfg, k) => { if (!reused[ROLES[k][0]]) checkOptimizer(cfg, k === 2 ? method : null, `--${ROLES[k][1]}-optimizer`); });
    const settings = toMethodSettings(v.distill, teacherConfig.model, method);
    checkMethodSettings(method, settings, ds, (name) => `--distill-${name}`);
    applyDeThreads(deThreadsOf(v.distill['de-threads']), methodTerms(method).includes('de'));
    const dirs: Record<Role, string> = {
      teacher: reuse.teacher ?? join(out, 'teacher'),
      student: reuse.student ?? join(out, 'student'),
      distilled: reuse.distilled ?? join(out, method),
    };
    const why = recipe.from === 'default' ? 'the default; --recipe paper for the paper\'s settings' : recipe.from === 'flag' ? '--recipe' : `"recipe" in ${opts.config}`;
    info(`recipe ${recipe.name} (${why}): ${RECIPES[recipe.name].description}`);
    const c = ds.manifest.counts;
    info(`data: ${c.users.toLocaleString('en-US')} users × ${c.items.toLocaleString('en-US')} items, ${c.train.toLocaleString('en-US')} training interactions, ${c.evalUsers.toLocaleString('en-US')} evaluated users`);
    const toTrain = [
      { role: 'teacher', config: teacherConfig, reused: reused.teacher },
      { role: 'student', config: studentConfig, reused: reused.student },
      { role: method, config: distillConfig, method, settings, reused: reused.distilled },
    ];
    // roles whose step will be skipped cost nothing (the distilled one's key also needs the teacher's weights: compared by config only)
    const upToDate = (name: string, dir: string, cfg: TrainConfig, exact: boolean) => steps.finished(name) && checkpointFinished(dir)
      && (exact ? steps.finishedWith(name, trainInputs({ dataset: ds, config: cfg })) : canonicalJson(readCard(dir).config) === canonicalJson(cfg));
    const estimates = estimateTraining(ds, toTrain.filter((r, k) => !r.reused && !upToDate(r.role, dirs[ROLES[k][0]], r.config, k < 2)));
    for (const r of toTrain) info(`  ${r.role.padEnd(8)} ${r.config.model} d=${r.config.dim}${r.reused ? `: finished checkpoint ${r.reused.name}` : `, at most ${r.config.maxEpochs} epochs`}`);
    const total = estimates.reduce((s, e) => s + e.epochs * e.secondsPerEpoch, 0);
    info(estimates.length === 0 ? 'estimated training time: none (every model is trained already)'
      : `estimated training time: at most ~${formatDuration(total)} (${estimates.map((e) => `${e.role} ${formatDuration(e.epochs * e.secondsPerEpoch)}`).join(', ')}; a rough bound at each epoch cap from the data size and an idle 2-core machine's rates: slower on a shared machine, and early stopping usually ends sooner)`);
    // the sweep (--sweep-dims): the student's settings for none, the distill section's for the methods, at each size
    const sweepDims = v.sweep.dims as number[] | undefined;
    const sweepMethods = ((v.sweep.methods as string[] | undefined) ?? [...new Set(['none', method])]).map(parseMethod);
    if (sweepDims) {
      checkDistinct('--sweep-dims', sweepDims);
      checkDistinct('--sweep-methods', sweepMethods);
    }
    const sweep = sweepDims ? sweepRuns(sweepDims, sweepMethods, (m) => (m === 'none' ? v.student
      : m === method ? v.distill : resolvePipeline(file, { ...flags, distill: { ...flags.distill, method: m } }, teacherOverride).distill), teacherConfig.model as ModelKind) : [];
    for (const r of sweep) if (r.settings) checkMethodSettings(r.method, r.settings, ds, (name) => `--distill-${name}`);
    if (sweep.length > 0) info(`sweep: ${sweepMethods.join(', ')} at d = ${sweepDims!.join(', ')} after the report's models (steps sweep-<method>-d<dim>, in ${join(out, 'sweep')})`);
    const rel = (path: string) => relative(out, path) || '.';
    const latencySettings = { repsB1: v.latency['reps-b1'] as number, repsB64: v.latency['reps-b64'] as number, threads: v.latency.threads as number, providers: v.latency.providers as Provider[] };
    if (sweep.length > 0) printEstimate(ds, sweep.filter((r) => !(steps.finished(`sweep-${r.name}`) && checkpointFinished(join(out, 'sweep', r.name)))));
    const backend = await initBackend(v.top.backend as BackendRequest);
    for (const r of toTrain) if (!r.reused) checkTrainingMemory(r.config, ds, backend.name);
    for (const r of sweep) checkOptimizer(r.config, r.method, r.method === 'none' ? '--student-optimizer' : '--distill-optimizer');
    for (const r of sweep) checkTrainingMemory(r.config, ds, backend.name);

    const trainStep = async (name: string, role: Role, cfg: TrainConfig, extra: Omit<Parameters<typeof runTrainStep>[2], 'dir' | 'dataset' | 'dataDir' | 'config' | 'backend'> = {}) => {
      const dir = dirs[role];
      if (reused[role]) {
        info(`[${name}] using the finished checkpoint in ${dir}`);
        return;
      }
      await runTrainStep(steps, name, { dir, dataset: ds, dataDir, config: cfg, backend: backend.name, ...extra });
    };
    await trainStep('teacher', 'teacher', teacherConfig);
    await trainStep('student', 'student', studentConfig);
    const teacher = loadCheckpoint(dirs.teacher, ds);
    const setup = prepareDistillation({ teacherDir: dirs.teacher, teacher, dataset: ds, method, settings, seed: distillConfig.seed });
    if (reused.distilled) {
      const m = reused.distilled.method;
      if (m.name !== method) throw new InputError(`--distill-checkpoint ${dirs.distilled} was trained with method ${m.name}, not ${method} (set --distill-method or "distill": {"method": …})`);
      if (m.teacher?.weightsSha256 !== teacher.weightsSha256) throw new InputError(`--distill-checkpoint ${dirs.distilled} was distilled from another teacher (weights sha256 ${m.teacher?.weightsSha256 ?? 'none'}, the teacher in use has ${teacher.weightsSha256})`);
    }
    await trainStep(method, 'distilled', distillConfig, {
      key: { teacher: teacher.weightsSha256, method, recorded: setup.method.settings },
      method: setup.method,
      terms: setup.buildTerms,
      describe: setup.describe,
    });
    teacher.model.dispose();

    // 5-6. export, and evaluate the exported weights: the report's headline describes what ships
    const roles = [['teacher', dirs.teacher, 'teacher'], ['student', dirs.student, 'student'], [method, dirs.distilled, 'distilled']] as const;
    const cards = roles.map(([, dir]) => readCard(dir));
    const onnx: Record<string, { path: string; bytes: number }> = {};
    for (const [k, [name, dir]] of roles.entries()) onnx[name] = await exportStep(steps, `export-${name}`, dir, cards[k].weights?.sha256, join(out, `${name}.onnx`), dataDir);
    const protocol = cards[0].metrics.protocol === 'full' ? 'full' : 'sampled';
    const evaluations: EvalResult[] = [];
    for (const [, dir] of roles) evaluations.push((await evaluateCheckpoint(dir, ds, protocol)).result);

    // 6b. is the distilled student's difference from the student and the teacher larger than the evaluation noise?
    const comparisons: ReportComparison[] = [];
    for (const [against, k] of [['student', 1], ['teacher', 0]] as const) {
      for (const metric of ['HR@5', 'NDCG@10']) {
        const t = pairedTest(evaluations[k].ranks.test, evaluations[2].ranks.test, metric);
        comparisons.push({ model: method, against, metric, value: t.meanB, againstValue: t.meanA, diff: t.diff, pValue: t.pValue });
      }
    }

    // 7. latency on every available runtime
    const latencyPath = join(out, 'latency.json');
    await steps.run('latency', { onnx: Object.values(onnx).map((m) => sha256(readFileSync(m.path))), latency: latencySettings }, () => existsSync(latencyPath), async () => {
      const all: Record<string, LatencyRecord[]> = {};
      for (const [name, m] of Object.entries(onnx)) all[name] = await timeModel(m.path, ds, latencySettings);
      writeFileAtomic(latencyPath, JSON.stringify(all, null, 2) + '\n');
    });
    const latency = JSON.parse(readFileSync(latencyPath, 'utf8')) as Record<string, LatencyRecord[]>;

    // 7b. the sweep: the students at each size from the pipeline's teacher; its own student and distilled runs stand in where their settings match
    let frontier: Frontier | undefined;
    if (sweep.length > 0) {
      const sweepCtx: SweepContext = { steps, prefix: 'sweep-', ds, dataDir, dir: join(out, 'sweep'), backend: backend.name, latency: latencySettings, protocol, rel };
      const models = await runSweep(sweepCtx, dirs.teacher, sweep, [dirs.student, dirs.distilled]);
      const teacherRow = measuredModel({ name: 'teacher', role: 'teacher', card: cards[0], dir: dirs.teacher, reused: Boolean(reused.teacher), onnx: onnx.teacher, evaluation: evaluations[0], latency: latency.teacher, rel });
      frontier = buildFrontier(protocol === 'full' ? 'full-ranking protocol' : `sampled protocol: 1 held-out item vs ${ds.numCandidates} sampled candidates`, teacherRow, models, sweepDims!, sweepMethods);
    }

    // 8. report; paths in it are relative to the report's directory
    const report: Report = {
      title: `derrd: ${teacherConfig.model} teacher d=${teacherConfig.dim} → student d=${studentConfig.dim} (${method})`,
      createdAt: new Date().toISOString(),
      protocol: protocol === 'full' ? 'full-ranking protocol' : `sampled protocol: 1 held-out item vs ${ds.numCandidates} sampled candidates`,
      comparisons,
      dataset: { source: ds.manifest.source.path ? rel(ds.manifest.source.path) : ds.manifest.source.kind, hash: ds.manifest.hash, counts: { users: ds.numUsers, items: ds.numItems, train: ds.manifest.counts.train } },
      models: roles.map(([name, , role], k) => ({
        name, role, kind: cards[k].model.kind, dim: cards[k].model.dim, method: cards[k].method.name, parameters: cards[k].model.parameters,
        onnx: rel(onnx[name].path), onnxBytes: onnx[name].bytes, savedEpoch: cards[k].savedEpoch,
        test: evaluations[k].test, valid: evaluations[k].valid,
        bestEpochTest: cards[k].metrics.selected, bestEpochs: cards[k].metrics.bestEpochs,
        history: cards[k].history.map((h) => ({ epoch: h.epoch, loss: h.loss, valid: h.valid, test: h.test, trainSeconds: round(h.trainSeconds, 2), evalSeconds: round(h.evalSeconds, 2) })),
        wallSeconds: round(cards[k].wallSeconds, 1), latency: latency[name],
      })),
      settings: {
        recipe: recipe.name, config: opts.config ? rel(resolve(opts.config)) : null,
        teacher: teacherConfig, student: studentConfig, distill: distillConfig, method, methodSettings: reused.distilled?.method.settings ?? setup.method.settings,
        reused: Object.fromEntries(Object.entries(reuse).map(([role, dir]) => [role, rel(dir)])), latency: latencySettings, backend: backend.name,
        ...(sweep.length > 0 ? { sweep: { dims: sweepDims, methods: sweepMethods, runs: Object.fromEntries(sweep.map((r) => [r.name, { config: r.config, methodSettings: r.settings }])) } } : {}),
      },
      versions: { derrd: DERRD_VERSION, node: process.version, tfjs: backend.tfjsVersion, onnxruntime: '1.30.0' },
      seconds: Object.fromEntries(Object.entries({ ...seconds, total: (performance.now() - started) / 1000 }).map(([k, x]) => [k, round(x, 1)])),
      ...(frontier ? { frontier } : {}),
    };
    writeFileAtomic(join(out, 'report.json'), JSON.stringify(report, null, 2) + '\n');
    writeFileAtomic(join(out, 'report.html'), renderReportHtml(report));
    if (frontier) writeFileAtomic(join(out, 'frontier.md'), renderFrontierMarkdown(frontier, report.title));
    const rows = report.models.map((m) => `${m.name.padEnd(10)} HR@5 ${(m.test['HR@5'] ?? NaN).toFixed(4)}  NDCG@10 ${(m.test['NDCG@10'] ?? NaN).toFixed(4)}  (epoch ${m.savedEpoch})  ${(m.onnxBytes / 1e6).toFixed(2)} MB  B=1 p50 ${m.latency.find((l) => l.provider === 'cpu' && l.batch === 1)?.p50Us.toFixed(0) ?? '—'} µs`);
    const tests = comparisons.map((c) => `${c.model} vs ${c.against}: ${c.metric} ${c.diff >= 0 ? '+' : ''}${c.diff.toFixed(4)} (paired p ${formatPValue(c.pValue)})`);
    // paths as the user would type them: relative to the working directory when inside it
    const shown = (path: string) => { const r = relative(process.cwd(), path); return r === '' ? '.' : r.startsWith('..') || isAbsolute(r) ? path : r; };
    const next = [
      `models: ${roles.map(([name]) => shown(onnx[name].path)).join(', ')} (each with its .ids.json)`,
      `next: npx derrd demo --teacher ${shown(onnx.teacher.path)} --student ${shown(onnx[method].path)}   # in the browser`,
      `      npx derrd serve --model ${shown(onnx[method].path)}   # over HTTP`,
    ];
    const sweepText = frontier ? ['', `the sweep's frontier (also in ${shown(join(out, 'frontier.md'))}):`, renderFrontierMarkdown(frontier)] : [];
    emit({ json: opts.json }, report, () => [`report: ${shown(join(out, 'report.html'))} (and report.json) in ${report.seconds.total.toFixed(1)} s; test metrics of the exported weights:`, ...rows, ...tests, ...sweepText, ...next].join('\n'));
  });
}

const round = (x: number, digits: number) => Math.round(x * 10 ** digits) / 10 ** digits;

/** The card of a finished checkpoint the pipeline may use in place of training `role`, or a clear error. */
function reusableCard(role: Role, section: string, dir: string, ds: Dataset, dataDir: string): ModelCard {
  const flag = `--${section}-checkpoint`;
  if (!existsSync(join(dir, 'card.json'))) throw new InputError(`${flag}: no model card (card.json) in ${dir}`, { file: join(dir, 'card.json') });
  const card = readCard(dir);
  if (!trainingFinished(card)) throw new InputError(`${flag}: the checkpoint in ${dir} has not finished training (status ${card.status}); finish it with \`derrd train --resume\` first`, { file: join(dir, 'card.json') });
  if (card.dataset.hash !== ds.manifest.hash) throw new InputError(`${flag}: the checkpoint in ${dir} was trained on another data set (hash ${card.dataset.hash.slice(0, 12)}…), not ${dataDir} (${ds.manifest.hash.slice(0, 12)}…)`, { file: join(dir, 'card.json') });
  if (!card.weights || !existsSync(join(dir, card.weights.file))) throw new InputError(`${flag}: the checkpoint in ${dir} has no saved weights`, { file: join(dir, 'card.json') });
  if (role !== 'teacher' && isRankingTeacher(card)) throw new InputError(`${flag}: ${dir} is an imported ONNX teacher, not a student`);
  return card;
}
