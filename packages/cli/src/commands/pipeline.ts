/**
 * The main job: prepare data → train the teacher → train the student without distillation → distil the student
 * (DE-RRD by default) → evaluate → export all three to ONNX → latency → report (HTML + JSON).
 * Each step records a hash of its inputs in <out>/pipeline.json; a re-run skips finished steps whose inputs did not
 * change and resumes an interrupted training step from its last epoch.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { Command } from 'commander';
import {
  InputError, canonicalJson, checkpointFinished, formatPValue, loadDataset, pairedTest, readCard, sha256, trainingFinished, writeFileAtomic, type Dataset, type ModelCard, type PrepareOptions,
} from '@derrd/core';
import { exportCheckpoint } from '@derrd/export';
import { createRecommender, type Provider } from '@derrd/runtime';
import {
  TRAIN_DEFAULTS, evaluateCheckpoint, trainDefaults, initBackend, loadCheckpoint, methodDefaults, parseMethod, prepareDistillation, train,
  type MethodSettings, type TrainConfig, DERRD_VERSION,
} from '@derrd/train';
import { emit, info } from '../output.js';
import { renderReportHtml, type Report, type ReportComparison, type ReportModel } from '../report.js';
import { prepareCommand } from './data.js';
import { cardSummary, trainReporter } from './train.js';

export interface PipelineConfig {
  /** data preparation settings (filters, split, candidates, seed) when the input is not a prepared directory */
  prepare: PrepareOptions;
  teacher: Partial<TrainConfig>;
  /** student settings; anything unset comes from the teacher's */
  student: Partial<TrainConfig>;
  method: string;
  /** overrides of the method's defaults, e.g. {"de": {"numExperts": 10}} */
  methodSettings: { [K in keyof MethodSettings]?: Partial<MethodSettings[K]> };
  distill: Partial<TrainConfig>;
  latency: { repsB1: number; repsB64: number; threads: number; providers: Provider[] };
  /**
   * finished checkpoints to use instead of training a role (e.g. a teacher trained elsewhere or by bench:reproduce);
   * each must be trained on the same prepared data set, and a distilled one from the teacher in use with the method
   */
  reuse: { teacher?: string; student?: string; distilled?: string };
}

/** The embedded demo: small models and a faster schedule so the whole job takes minutes on 2 cores. */
export const DEMO_CONFIG: PipelineConfig = {
  prepare: {},
  teacher: { model: 'bpr', dim: 64, lr: 0.01, maxEpochs: 60, patience: 10 },
  student: { dim: 8 },
  method: 'de-rrd',
  methodSettings: { de: { numExperts: 10 } },
  // DE is the expensive term (tfjs op overhead per expert): the demo distils for at most 30 epochs
  distill: { maxEpochs: 30 },
  latency: { repsB1: 500, repsB64: 50, threads: 2, providers: ['cpu', 'wasm'] },
  reuse: {},
};

/** The paper's recipe, for real data (e.g. CiteULike): hours on 2 cores. */
export const PAPER_CONFIG: PipelineConfig = {
  prepare: {},
  teacher: { model: 'bpr', dim: 200 },
  student: { dim: 20 },
  method: 'de-rrd',
  methodSettings: {},
  distill: {},
  latency: { repsB1: 1000, repsB64: 100, threads: 2, providers: ['cpu', 'wasm'] },
  reuse: {},
};

interface StepState { key: string; startedAt: string; finishedAt: string | null }

function mergeConfig(base: PipelineConfig, file: Partial<PipelineConfig>): PipelineConfig {
  return {
    prepare: { ...base.prepare, ...file.prepare },
    teacher: { ...base.teacher, ...file.teacher },
    student: { ...base.student, ...file.student },
    method: file.method ?? base.method,
    methodSettings: { ...base.methodSettings, ...file.methodSettings },
    distill: { ...base.distill, ...file.distill },
    latency: { ...base.latency, ...file.latency },
    reuse: { ...base.reuse, ...file.reuse },
  };
}

export function registerPipelineCommand(program: Command): void {
  program
    .command('pipeline')
    .description('the main job: data → teacher → student → DE-RRD student → evaluate → ONNX export → latency → report (re-runs skip finished steps)')
    .option('-i, --data <path>', 'interaction file, users.dat, split directory or prepared data set (default: the embedded synthetic data set)')
    .option('--config <file>', 'JSON with any of: prepare, teacher, student, method, methodSettings, distill, latency (default: a fast demo config without --data, the paper recipe with it)')
    .option('-o, --out <dir>', 'output directory', 'runs/pipeline')
    .option('--backend <name>', 'tfjs backend for training', 'auto')
    .option('--teacher <dir>', 'use this finished checkpoint as the teacher instead of training one (same prepared data set)')
    .option('--student <dir>', 'use this finished checkpoint as the undistilled student')
    .option('--distilled <dir>', 'use this finished checkpoint as the distilled student (distilled from the teacher in use with the method)')
    .option('--json', 'print report.json to stdout', false)
    .action(async (opts: { data?: string; config?: string; out: string; backend: string; json: boolean; teacher?: string; student?: string; distilled?: string }) => {
      const started = performance.now();
      const out = resolve(opts.out);
      let fileConfig: Partial<PipelineConfig> = {};
      if (opts.config) {
        if (!existsSync(opts.config)) throw new InputError('config file not found', { file: opts.config });
        try { fileConfig = JSON.parse(readFileSync(opts.config, 'utf8')) as Partial<PipelineConfig>; } catch (err) { throw new InputError(`config is not valid JSON (${(err as Error).message})`, { file: opts.config }); }
      }
      // paths in a config file are relative to the file; flags are relative to the working directory
      for (const role of ['teacher', 'student', 'distilled'] as const) {
        const fromFile = fileConfig.reuse?.[role];
        if (fromFile !== undefined && typeof fromFile !== 'string') throw new InputError(`config reuse.${role} must be a directory path`, { file: opts.config });
        if (fromFile && opts.config) fileConfig.reuse![role] = resolve(dirname(resolve(opts.config)), fromFile);
        if (opts[role]) fileConfig.reuse = { ...fileConfig.reuse, [role]: resolve(opts[role]) };
      }
      const config = mergeConfig(opts.data ? PAPER_CONFIG : DEMO_CONFIG, fileConfig);
      const method = parseMethod(config.method);
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
      let dataDir: string;
      if (opts.data && existsSync(join(opts.data, 'manifest.json'))) {
        dataDir = resolve(opts.data);
      } else {
        dataDir = join(out, 'data');
        const source = opts.data ? resolve(opts.data) : 'synthetic';
        const sourceStamp = opts.data ? `${statSync(opts.data).mtimeMs}:${statSync(opts.data).size}` : 'embedded';
        await step('prepare', { source, sourceStamp, settings: config.prepare }, () => existsSync(join(dataDir, 'manifest.json')), () => {
          prepareCommand({ ...config.prepare, input: opts.data, format: 'auto', out: dataDir, force: true });
        });
      }
      const ds: Dataset = loadDataset(dataDir);
      const backend = await initBackend(opts.backend as 'auto');

      // 2-4. teacher, student, distilled student
      const finished = checkpointFinished;
      const reused: Partial<Record<'teacher' | 'student' | 'distilled', ModelCard>> = {};
      for (const role of ['teacher', 'student', 'distilled'] as const) {
        const dir = config.reuse[role];
        if (dir) reused[role] = reusableCard(role, dir, ds, dataDir);
      }
      const teacherSource = (reused.teacher?.config ?? config.teacher) as Partial<TrainConfig>;
      const teacherConfig: TrainConfig = { ...trainDefaults(teacherSource.model ?? TRAIN_DEFAULTS.model), ...teacherSource } as TrainConfig;
      const studentConfig: TrainConfig = reused.student ? { ...TRAIN_DEFAULTS, ...reused.student.config } : { ...teacherConfig, ...config.student } as TrainConfig;
      const distillConfig: TrainConfig = reused.distilled ? { ...TRAIN_DEFAULTS, ...reused.distilled.config } : { ...studentConfig, ...config.distill } as TrainConfig;
      const dirs = {
        teacher: config.reuse.teacher ?? join(out, 'teacher'),
        student: config.reuse.student ?? join(out, 'student'),
        distilled: config.reuse.distilled ?? join(out, method),
      };
      const trainStep = async (name: string, dir: string, cfg: TrainConfig, extra: { key?: unknown; terms?: Parameters<typeof train>[0]['buildTerms']; method?: ModelCard['method']; describe?: () => string } = {}) => {
        if (Object.values(config.reuse).includes(dir)) {
          info(`[${name}] using the finished checkpoint in ${dir}`);
          return;
        }
        const inputs = { dataset: ds.manifest.hash, config: cfg, extra: extra.key ?? null };
        await step(name, inputs, () => finished(dir), async (sameInputs) => {
          // an interrupted run of the same step with the same inputs resumes from its last epoch; otherwise start over
          const canResume = sameInputs && existsSync(join(dir, 'resume.safetensors'));
          const r = await train({ dataset: ds, datasetPath: dataDir, config: cfg, out: dir, backend: backend.name, resume: canResume, force: !canResume, buildTerms: extra.terms, method: extra.method, onEvent: trainReporter(name, extra.describe) });
          r.model.dispose();
          info(cardSummary(r.card));
        });
      };
      await trainStep('teacher', dirs.teacher, teacherConfig);
      await trainStep('student', dirs.student, studentConfig);
      const teacher = loadCheckpoint(dirs.teacher, ds);
      const settings: MethodSettings = methodDefaults(teacherConfig.model, method);
      for (const [k, v] of Object.entries(config.methodSettings)) Object.assign(settings[k as keyof MethodSettings], v);
      const setup = prepareDistillation({ teacherDir: dirs.teacher, teacher, dataset: ds, method, settings, seed: distillConfig.seed });
      if (reused.distilled) {
        const m = reused.distilled.method;
        if (m.name !== method) throw new InputError(`--distilled ${dirs.distilled} was trained with method ${m.name}, not ${method} (set "method" in the config)`);
        if (m.teacher?.weightsSha256 !== teacher.weightsSha256) throw new InputError(`--distilled ${dirs.distilled} was distilled from another teacher (weights sha256 ${m.teacher?.weightsSha256 ?? 'none'}, the teacher in use has ${teacher.weightsSha256})`);
      }
      await trainStep(method, dirs.distilled, distillConfig, {
        key: { teacher: teacher.weightsSha256, method, recorded: setup.method.settings },
        method: setup.method,
        terms: setup.buildTerms,
        describe: setup.describe,
      });
      teacher.model.dispose();

      // 5-6. evaluate (from the model cards) and export
      const roles = [['teacher', dirs.teacher, 'teacher'], ['student', dirs.student, 'student'], [method, dirs.distilled, 'distilled']] as const;
      const cards = roles.map(([, dir]) => readCard(dir));
      const onnx: Record<string, { path: string; bytes: number }> = {};
      for (const [k, [name, dir]] of roles.entries()) {
        const path = join(out, 'onnx', `${name}.onnx`);
        const res = await step(`export-${name}`, { weights: cards[k].weights?.sha256 }, () => existsSync(path), () => exportCheckpoint({ checkpoint: dir, out: path, data: dataDir, force: true }));
        onnx[name] = { path, bytes: res.value?.bytes ?? statSync(path).size };
      }

      // 6b. is the distilled student's difference from the student and the teacher larger than the evaluation noise?
      const ranks: Int32Array[] = [];
      for (const [, dir] of roles) ranks.push((await evaluateCheckpoint(dir, ds, cards[0].metrics.protocol === 'full' ? 'full' : 'sampled')).result.ranks.test);
      const comparisons: ReportComparison[] = [];
      for (const [against, k] of [['student', 1], ['teacher', 0]] as const) {
        for (const metric of ['HR@5', 'NDCG@10']) {
          const t = pairedTest(ranks[k], ranks[2], metric);
          comparisons.push({ model: method, against, metric, value: t.meanB, againstValue: t.meanA, diff: t.diff, pValue: t.pValue });
        }
      }

      // 7. latency on every available runtime
      const latencyPath = join(out, 'latency.json');
      type Lat = ReportModel['latency'][number];
      await step('latency', { onnx: Object.values(onnx).map((m) => sha256(readFileSync(m.path))), latency: config.latency }, () => existsSync(latencyPath), async () => {
        const all: Record<string, Lat[]> = {};
        for (const [name, m] of Object.entries(onnx)) {
          all[name] = [];
          for (const provider of config.latency.providers) {
            const rec = await createRecommender(m.path, { provider, threads: config.latency.threads });
            for (const [batch, reps] of [[1, config.latency.repsB1], [64, config.latency.repsB64]] as const) {
              const times: number[] = [];
              for (let r = 0; r < reps + 10; r++) {
                const users = Array.from({ length: Math.min(batch, ds.numUsers) }, (_v, j) => (r * 131 + j * 17) % ds.numUsers);
                const t0 = process.hrtime.bigint();
                await rec.recommendDense(users, Math.min(10, ds.numItems));
                if (r >= 10) times.push(Number(process.hrtime.bigint() - t0) / 1000);
              }
              times.sort((a, b) => a - b);
              all[name].push({ runtime: provider === 'wasm' ? 'onnxruntime-web (Node)' : 'onnxruntime-node', provider, threads: rec.threads, batch, p50Us: times[times.length >> 1], p95Us: times[Math.floor(times.length * 0.95)] });
            }
            await rec.close();
          }
        }
        writeFileAtomic(latencyPath, JSON.stringify(all, null, 2) + '\n');
      });
      const latency = JSON.parse(readFileSync(latencyPath, 'utf8')) as Record<string, Lat[]>;

      // 8. report
      const report: Report = {
        title: `derrd: ${teacherConfig.model} teacher d=${teacherConfig.dim} → student d=${studentConfig.dim} (${method})`,
        createdAt: new Date().toISOString(),
        protocol: cards[0].metrics.protocol === 'full' ? 'full-ranking protocol' : `sampled protocol: 1 held-out item vs ${ds.numCandidates} sampled candidates`,
        comparisons,
        dataset: { source: ds.manifest.source.path ?? ds.manifest.source.kind, hash: ds.manifest.hash, counts: { users: ds.numUsers, items: ds.numItems, train: ds.manifest.counts.train } },
        models: roles.map(([name, , role], k) => ({
          name, role, kind: cards[k].model.kind, dim: cards[k].model.dim, method: cards[k].method.name, parameters: cards[k].model.parameters,
          onnxBytes: onnx[name].bytes, test: cards[k].metrics.selected, bestEpochs: cards[k].metrics.bestEpochs,
          history: cards[k].history.map((h) => ({ epoch: h.epoch, loss: h.loss, valid: h.valid, test: h.test, trainSeconds: h.trainSeconds, evalSeconds: h.evalSeconds })),
          wallSeconds: cards[k].wallSeconds, latency: latency[name],
        })),
        settings: { teacher: teacherConfig, student: studentConfig, distill: distillConfig, method, methodSettings: reused.distilled?.method.settings ?? setup.method.settings, reused: config.reuse, latency: config.latency, backend: backend.name },
        versions: { derrd: DERRD_VERSION, node: process.version, tfjs: backend.tfjsVersion, onnxruntime: '1.30.0' },
        seconds: { ...seconds, total: (performance.now() - started) / 1000 },
      };
      writeFileAtomic(join(out, 'report.json'), JSON.stringify(report, null, 2) + '\n');
      writeFileAtomic(join(out, 'report.html'), renderReportHtml(report));
      const rows = report.models.map((m) => `${m.name.padEnd(10)} HR@5 ${(m.test['HR@5'] ?? NaN).toFixed(4)}  NDCG@10 ${(m.test['NDCG@10'] ?? NaN).toFixed(4)}  ${(m.onnxBytes / 1e6).toFixed(2)} MB  B=1 p50 ${m.latency.find((l) => l.provider === 'cpu' && l.batch === 1)?.p50Us.toFixed(0)} µs`);
      const tests = comparisons.map((c) => `${c.model} vs ${c.against}: ${c.metric} ${c.diff >= 0 ? '+' : ''}${c.diff.toFixed(4)} (paired p ${formatPValue(c.pValue)})`);
      emit({ json: opts.json }, report, () => [`report: ${join(out, 'report.html')} (and report.json) in ${report.seconds.total.toFixed(1)} s`, ...rows, ...tests].join('\n'));
    });
}

/** The card of a finished checkpoint the pipeline may use in place of training `role`, or a clear error. */
function reusableCard(role: string, dir: string, ds: Dataset, dataDir: string): ModelCard {
  if (!existsSync(join(dir, 'card.json'))) throw new InputError(`--${role}: no model card (card.json) in ${dir}`, { file: join(dir, 'card.json') });
  const card = readCard(dir);
  if (!trainingFinished(card)) throw new InputError(`--${role}: the checkpoint in ${dir} has not finished training (status ${card.status}); finish it with \`derrd train --resume\` first`, { file: join(dir, 'card.json') });
  if (card.dataset.hash !== ds.manifest.hash) throw new InputError(`--${role}: the checkpoint in ${dir} was trained on another data set (hash ${card.dataset.hash.slice(0, 12)}…), not ${dataDir} (${ds.manifest.hash.slice(0, 12)}…)`, { file: join(dir, 'card.json') });
  if (!card.weights || !existsSync(join(dir, card.weights.file))) throw new InputError(`--${role}: the checkpoint in ${dir} has no saved weights`, { file: join(dir, 'card.json') });
  return card;
}
