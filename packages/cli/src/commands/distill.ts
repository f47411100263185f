import type { Command } from 'commander';
import { InputError, loadDataset } from '@derrd/core';
import {
  BACKENDS, METHODS, deThreads, initBackend, loadCheckpoint, methodDefaults, methodTerms, parseMethod, prepareDistillation, setDeThreads, type BackendRequest, type MethodSettings,
} from '@derrd/train';
import { info, parseChoice, parseInteger, parseNumber } from '../output.js';
import { Progress } from '../progress.js';
import { addTrainOptions, parseTrainConfig, runTraining } from './train.js';

export function registerDistillCommand(program: Command): void {
  const cmd = program
    .command('distill')
    .description('train a small student from a trained teacher with DE, RRD, DE-RRD, IR-RRD (RRD + item side), DE-IR-RRD or the RD/CD baselines (none: no distillation)')
    .requiredOption('--teacher <dir>', 'teacher checkpoint directory (from `derrd train`)')
    .option('--method <name>', `distillation method: ${METHODS.join('|')}`, 'de-rrd');
  addTrainOptions(cmd, { dim: 20 });
  cmd
    .option('--lambda-de <x>', 'λ_DE (default: 0.01; 1e-4 for NeuMF DE-RRD)')
    .option('--experts <n>', 'DE: number of experts M', '30')
    .option('--de-mode <mode>', 'DE: sparse (experts with the top 99.9% of the selection weight, at most --de-max-experts) | exact (every expert on every entity; weights that underflow to 0 are skipped, which changes nothing)', 'sparse')
    .option('--de-max-experts <n>', 'DE sparse mode: most experts per entity', '8')
    .option('--de-threads <n>', 'DE kernel: 1, or 2 to run half of the expert pairs on a worker thread (the same floats either way); auto = DERRD_DE_THREADS, else 2 where there are 2+ cores', 'auto')
    .option('--tau-start <x>', 'DE: Gumbel-softmax temperature at epoch 0', '1')
    .option('--tau-end <x>', 'DE: temperature reached after --anneal-epochs', '1e-10')
    .option('--anneal-epochs <n>', 'DE: epochs of the geometric temperature decay', '1000')
    .option('--lambda-rrd <x>', 'λ_RRD (default: 1e-3 for BPR, 0.1 for NeuMF)')
    .option('--rrd-k <n>', 'RRD: interesting items per user', '40')
    .option('--rrd-l <n>', 'RRD: uninteresting items per user', '40')
    .option('--rrd-top-n <n>', 'RRD/RD/CD: length of the teacher ranking', '500')
    .option('--rrd-temperature <x>', 'RRD: T in exp(-rank/T)', '10')
    .option('--rrd-sampling <mode>', 'RRD: sample (the paper) | top (the teacher\'s first K, the authors\' later variant)', 'sample')
    .option('--rrd-score <kind>', 'RRD: the student score it ranks: raw (inner product / logit) | sigmoid (probability) (default: raw for BPR, sigmoid for NeuMF)')
    .option('--lambda-ir <x>', 'IR-RRD item side: λ_IR (default: 5e-4 for BPR, 0.05 for NeuMF)')
    .option('--ir-k <n>', 'IR-RRD: interesting users per item', '20')
    .option('--ir-l <n>', 'IR-RRD: uninteresting users per item', '20')
    .option('--ir-top-n <n>', 'IR-RRD: length of the teacher\'s per-item user ranking', '500')
    .option('--ir-temperature <x>', 'IR-RRD: T in exp(-rank/T)', '10')
    .option('--ir-sampling <mode>', 'IR-RRD: sample (the paper) | top (the teacher\'s first K users)', 'sample')
    .option('--ir-score <kind>', 'IR-RRD: raw | sigmoid, as --rrd-score (default: raw for BPR, sigmoid for NeuMF)')
    .option('--lambda-rd <x>', 'RD: weight of the distillation term', '0.1')
    .option('--lambda-cd <x>', 'CD: weight of the distillation term', '0.1')
    .action(async (opts: Record<string, unknown>, command: Command) => {
      const method = parseMethod(String(opts.method));
      await initBackend(parseChoice('--backend', String(opts.backend), BACKENDS) as BackendRequest);
      const dataset = loadDataset(String(opts.data));
      const teacherDir = String(opts.teacher);
      const teacher = loadCheckpoint(teacherDir, dataset);
      const config = parseTrainConfig(opts, command, teacher.card.model.kind);
      if (config.dim > teacher.card.model.dim) info(`note: the student (d=${config.dim}) is larger than the teacher (d=${teacher.card.model.dim})`);
      const settings: MethodSettings = methodDefaults(teacher.card.model.kind, method);
      if (opts.lambdaDe !== undefined) settings.de.lambda = parseNumber('--lambda-de', String(opts.lambdaDe));
      settings.de.numExperts = parseInteger('--experts', String(opts.experts), 1);
      settings.de.mode = parseChoice('--de-mode', String(opts.deMode), ['sparse', 'exact'] as const);
      settings.de.sparseMaxExperts = parseInteger('--de-max-experts', String(opts.deMaxExperts), 1);
      const threads = String(opts.deThreads) === 'auto' ? deThreads() : parseChoice('--de-threads', String(opts.deThreads), ['1', '2', 'auto'] as const) === '1' ? 1 : 2;
      setDeThreads(threads);
      if (methodTerms(method).includes('de') && settings.de.mode === 'sparse') info(`DE kernel on ${threads} thread${threads > 1 ? 's' : ''}`);
      settings.de.tauStart = parseNumber('--tau-start', String(opts.tauStart));
      settings.de.tauEnd = parseNumber('--tau-end', String(opts.tauEnd));
      settings.de.annealEpochs = parseInteger('--anneal-epochs', String(opts.annealEpochs), 1);
      if (opts.lambdaRrd !== undefined) settings.rrd.lambda = parseNumber('--lambda-rrd', String(opts.lambdaRrd));
      settings.rrd.interesting = parseInteger('--rrd-k', String(opts.rrdK), 1);
      settings.rrd.uninteresting = parseInteger('--rrd-l', String(opts.rrdL), 1);
      settings.rrd.topN = parseInteger('--rrd-top-n', String(opts.rrdTopN), 1);
      settings.rrd.temperature = parseNumber('--rrd-temperature', String(opts.rrdTemperature));
      settings.rrd.sampling = parseChoice('--rrd-sampling', String(opts.rrdSampling), ['sample', 'top'] as const);
      if (opts.rrdScore !== undefined) {
        // absent means raw: keeps the settings (and resume identity) of runs made before the option existed
        if (parseChoice('--rrd-score', String(opts.rrdScore), ['raw', 'sigmoid'] as const) === 'sigmoid') settings.rrd.score = 'sigmoid';
        else delete settings.rrd.score;
      }
      settings.rd.lambda = parseNumber('--lambda-rd', String(opts.lambdaRd));
      settings.cd.lambda = parseNumber('--lambda-cd', String(opts.lambdaCd));
      settings.cd.topN = settings.rrd.topN;
      if (settings.rrd.interesting > settings.rrd.topN) throw new InputError(`--rrd-k ${settings.rrd.interesting} exceeds --rrd-top-n ${settings.rrd.topN}`);
      if (settings.rrd.topN >= dataset.numItems) throw new InputError(`--rrd-top-n ${settings.rrd.topN} must be below the number of items (${dataset.numItems})`);
      if (opts.lambdaIr !== undefined) settings.ir.lambda = parseNumber('--lambda-ir', String(opts.lambdaIr));
      settings.ir.interesting = parseInteger('--ir-k', String(opts.irK), 1);
      settings.ir.uninteresting = parseInteger('--ir-l', String(opts.irL), 1);
      settings.ir.topN = parseInteger('--ir-top-n', String(opts.irTopN), 1);
      settings.ir.temperature = parseNumber('--ir-temperature', String(opts.irTemperature));
      settings.ir.sampling = parseChoice('--ir-sampling', String(opts.irSampling), ['sample', 'top'] as const);
      if (opts.irScore !== undefined) {
        if (parseChoice('--ir-score', String(opts.irScore), ['raw', 'sigmoid'] as const) === 'sigmoid') settings.ir.score = 'sigmoid';
        else delete settings.ir.score;
      }
      if (settings.ir.interesting > settings.ir.topN) throw new InputError(`--ir-k ${settings.ir.interesting} exceeds --ir-top-n ${settings.ir.topN}`);
      if (methodTerms(method).includes('ir') && settings.ir.topN >= dataset.numUsers) throw new InputError(`--ir-top-n ${settings.ir.topN} must be below the number of users (${dataset.numUsers})`);

      const bars = { user: new Progress('teacher ranking', dataset.numUsers), item: new Progress('teacher item ranking', dataset.numUsers) };
      const setup = prepareDistillation({
        teacherDir, teacher, dataset, method, settings, seed: config.seed,
        onRankingProgress: (done, _total, side) => bars[side].update(done),
        onRanking: (r) => {
          bars[r.side].done();
          const what = r.side === 'user' ? `top-${r.topN} ranking` : `top-${r.topN} users per item`;
          info(`teacher ${what} ${r.cached ? 'reused from cache' : `computed in ${r.seconds.toFixed(1)} s and cached`} (${teacherDir})`);
        },
      });
      await runTraining(opts, config, {
        label: `distill ${method} ${config.model} d=${config.dim}`,
        dataset,
        method: setup.method,
        buildTerms: setup.buildTerms,
        describe: setup.describe,
      });
    });
}
