/**
 * The main job: prepare data → train the teacher → train the student without distillation → distil the student
 * (DE-RRD by default) → evaluate → export all three to ONNX → latency → report (HTML + JSON).
 * Each step records a hash of its inputs in <out>/pipeline.json; a re-run skips finished steps whose inputs did not
 * change and resumes an interrupted training step from its last epoch.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import type { Command } from 'commander';
import {
  InputError, canonicalJson, checkpointFinished, formatPValue, loadDataset, pairedTest, readCard, sha256, trainingFinished, writeFileAtomic, type Dataset, type EvalResult, type ModelCard,
} from '@derrd/core';
import { exportCheckpoint } from '@derrd/export';
import { createRecommender, type Provider } from '@derrd/runtime';
import {
  TRAIN_DEFAULTS, DERRD_VERSION, deThreads, evaluateCheckpoint, initBackend, isRankingTeacher, loadCheckpoint, parseMethod, prepareDistillation, setDeThreads, train,
  type BackendRequest, type TrainConfig,
} from '@derrd/train';
import { estimateTraining, formatDuration } from '../estimate.js';
import { addSettingOptions, layer, readConfigFile, readFlags, sectionOf, valuesOf } from '../flags.js';
import { emit, info } from '../output.js';
import { PIPELINE_SCHEMA, PIPELINE_SECTIONS, PIPELINE_TOP_SETTINGS, RECIPES, recipeOf, resolvePipeline, type PipelineSection } from '../recipes.js';
import { renderReportHtml, type Report, type ReportComparison, type ReportModel } from '../report.js';
import { RECIPE_NAMES, toMethodSettings, toPrepareOptions, toTrainConfig, trainValues, type Values } from '../settings.js';
import { checkMethodSettings } from './distill.js';
import { prepareCommand } from './data.js';
import { cardSummary, trainReporter } from './train.js';

/** The roles the pipeline trains, in order, with their config section. */
const ROLES = [['teacher', 'teacher'], ['student', 'student'], ['distilled', 'distill']] as const;
type Role = (typeof ROLES)[number][0];

interface StepState { key: string; startedAt: string; finishedAt: string | null }

/** "64 (demo), 200 (paper)" when the recipes differ, else the one value: the defaults shown in --help. */
function recipeDefaults(section: 'top' | PipelineSection): Values {
  const empty = { top: {}, teacher: {}, student: {}, distill: {}, latency: {} };
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
    .option('-o, --out <dir>', 'output directory', 'runs/pipeline')
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
    const statePath = join(out, 'pipeline.json');
    const state: Record<string, StepState> = existsSync(statePath) ? (JSON.parse(readFileSync(statePath, 'utf8')) as Record<string, StepState>) : {};
    const seconds: Record<string, number> = {};
    const step = async <T>(name: string, inputs: unknown, done: () => boolean, run: (sameInputsAsLastTime: boolean) => Promise<T> | T): Promise<{ skipped: boolean; value?: T }> => {
      const key = sha256(canonicalJson(inputs));
      const t0 = performance.now();
      if (state[name]?.key === key && state[name].finishedAt && done()) {
        info(`[${name}] up to date, skipped`);
        return { skipped: true };
      }
      info(`[${name}] running`);
      const previous = state[name];
      state[name] = { key, startedAt: new Date().toISOString(), finishedAt: null };
      writeFileAtomic(statePath, JSON.stringify(state, null, 2) + '\n');
      const value = await run(previous?.key === key);
      state[name].finishedAt = new Date().toISOString();
      writeFileAtomic(statePath, JSON.stringify(state, null, 2) + '\n');
      seconds[name] = (performance.now() - t0) / 1000;
      info(`[${name}] done in ${seconds[name].toFixed(1)} s`);
      return { skipped: false, value };
    };

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
      await step('prepare', { source, sourceStamp, settings: prepare }, () => existsSync(join(dataDir, 'manifest.json')), () => {
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
    const v = resolvePipeline(file, flags, reused.teacher ? trainValues({ ...toTrainConfig(resolvePipeline(file, flags).teacher), ...reused.teacher.config } as TrainConfig) : undefined);
    const teacherConfig = toTrainConfig(v.teacher);
    const studentConfig: TrainConfig = reused.student ? { ...TRAIN_DEFAULTS, ...reused.student.config } as TrainConfig : toTrainConfig({ ...v.student, model: teacherConfig.model });
    const distillConfig: TrainConfig = reused.distilled ? { ...TRAIN_DEFAULTS, ...reused.distilled.config } as TrainConfig : toTrainConfig({ ...v.distill, model: teacherConfig.model });
    const method = parseMethod(String(v.distill.method));
    const settings = toMethodSettings(v.distill, teacherConfig.model, method);
    checkMethodSettings(method, settings, ds, (name) => `--distill-${name}`);
    setDeThreads(v.distill['de-threads'] === 'auto' ? deThreads() : Number(v.distill['de-threads']) as 1 | 2);
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
    const upToDate = (name: string, dir: string, cfg: TrainConfig, exact: boolean) => Boolean(state[name]?.finishedAt) && checkpointFinished(dir)
      && (exact ? state[name].key === sha256(canonicalJson({ dataset: ds.manifest.hash, config: cfg, extra: null })) : canonicalJson(readCard(dir).config) === canonicalJson(cfg));
    const estimates = estimateTraining(ds, toTrain.filter((r, k) => !r.reused && !upToDate(r.role, dirs[ROLES[k][0]], r.config, k < 2)));
    for (const r of toTrain) info(`  ${r.role.padEnd(8)} ${r.config.model} d=${r.config.dim}${r.reused ? `: finished checkpoint ${r.reused.name}` : `, at most ${r.config.maxEpochs} epochs`}`);
    const total = estimates.reduce((s, e) => s + e.epochs * e.secondsPerEpoch, 0);
    info(estimates.length === 0 ? 'estimated training time: none (every model is trained already)'
      : `estimated training time: at most ~${formatDuration(total)} (${estimates.map((e) => `${e.role} ${formatDuration(e.epochs * e.secondsPerEpoch)}`).join(', ')}; a rough bound at each epoch cap from the data size and an idle 2-core machine's rates: slower on a shared machine, and early stopping usually ends sooner)`);
    const backend = await initBackend(v.top.backend as BackendRequest);

    const trainStep = async (name: string, role: Role, cfg: TrainConfig, extra: { key?: unknown; terms?: Parameters<typeof train>[0]['buildTerms']; method?: ModelCard['method']; describe?: () => string } = {}) => {
      const dir = dirs[role];
      if (reused[role]) {
        info(`[${name}] using the finished checkpoint in ${dir}`);
        return;
      }
      const inputs = { dataset: ds.manifest.hash, config: cfg, extra: extra.key ?? null };
      await step(name, inputs, () => checkpointFinished(dir), async (sameInputs) => {
        // an interrupted run of the same step with the same inputs resumes from its last epoch; otherwise start over
        const canResume = sameInputs && existsSync(join(dir, 'resume.safetensors'));
        const r = await train({ dataset: ds, datasetPath: dataDir, config: cfg, out: dir, backend: backend.name, resume: canResume, force: !canResume, buildTerms: extra.terms, method: extra.method, onEvent: trainReporter(name, extra.describe) });
        r.model.dispose();
        info(cardSummary(r.card));
      });
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
    for (const [k, [name, dir]] of roles.entries()) {
      const path = join(out, 'onnx', `${name}.onnx`);
      const res = await step(`export-${name}`, { weights: cards[k].weights?.sha256 }, () => existsSync(path), () => exportCheckpoint({ checkpoint: dir, out: path, data: dataDir, force: true }));
      onnx[name] = { path, bytes: res.value?.bytes ?? statSync(path).size };
    }
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
    type Lat = ReportModel['latency'][number];
    const latencySettings = { repsB1: v.latency['reps-b1'] as number, repsB64: v.latency['reps-b64'] as number, threads: v.latency.threads as number, providers: v.latency.providers as Provider[] };
    await step('latency', { onnx: Object.values(onnx).map((m) => sha256(readFileSync(m.path))), latency: latencySettings }, () => existsSync(latencyPath), async () => {
      const all: Record<string, Lat[]> = {};
      for (const [name, m] of Object.entries(onnx)) {
        all[name] = [];
        for (const provider of latencySettings.providers) {
          const rec = await createRecommender(m.path, { provider, threads: latencySettings.threads });
          // timed on dense ids (recommend() takes raw ids and would add the id-map lookups to the timing)
          const topK = rec.recommendDense.bind(rec);
          for (const [batch, reps] of [[1, latencySettings.repsB1], [64, latencySettings.repsB64]] as const) {
            const times: number[] = [];
            for (let r = 0; r < reps + 10; r++) {
              const users = Array.from({ length: Math.min(batch, ds.numUsers) }, (_v, j) => (r * 131 + j * 17) % ds.numUsers);
              const t0 = process.hrtime.bigint();
              await topK(users, Math.min(10, ds.numItems));
              if (r >= 10) times.push(Number(process.hrtime.bigint() - t0) / 1000);
            }
            times.sort((a, b) => a - b);
            all[name].push({ runtime: provider === 'wasm' ? 'onnxruntime-web (Node)' : 'onnxruntime-node', provider, threads: rec.threads, batch, p50Us: round(times[times.length >> 1], 1), p95Us: round(times[Math.floor(times.length * 0.95)], 1) });
          }
          await rec.close();
        }
      }
      writeFileAtomic(latencyPath, JSON.stringify(all, null, 2) + '\n');
    });
    const latency = JSON.parse(readFileSync(latencyPath, 'utf8')) as Record<string, Lat[]>;

    // 8. report; paths in it are relative to the report's directory
    const rel = (path: string) => relative(out, path) || '.';
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
      },
      versions: { derrd: DERRD_VERSION, node: process.version, tfjs: backend.tfjsVersion, onnxruntime: '1.30.0' },
      seconds: Object.fromEntries(Object.entries({ ...seconds, total: (performance.now() - started) / 1000 }).map(([k, x]) => [k, round(x, 1)])),
    };
    writeFileAtomic(join(out, 'report.json'), JSON.stringify(report, null, 2) + '\n');
    writeFileAtomic(join(out, 'report.html'), renderReportHtml(report));
    const rows = report.models.map((m) => `${m.name.padEnd(10)} HR@5 ${(m.test['HR@5'] ?? NaN).toFixed(4)}  NDCG@10 ${(m.test['NDCG@10'] ?? NaN).toFixed(4)}  (epoch ${m.savedEpoch})  ${(m.onnxBytes / 1e6).toFixed(2)} MB  B=1 p50 ${m.latency.find((l) => l.provider === 'cpu' && l.batch === 1)?.p50Us.toFixed(0) ?? '—'} µs`);
    const tests = comparisons.map((c) => `${c.model} vs ${c.against}: ${c.metric} ${c.diff >= 0 ? '+' : ''}${c.diff.toFixed(4)} (paired p ${formatPValue(c.pValue)})`);
    emit({ json: opts.json }, report, () => [`report: ${join(out, 'report.html')} (and report.json) in ${report.seconds.total.toFixed(1)} s; test metrics of the exported weights:`, ...rows, ...tests].join('\n'));
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
