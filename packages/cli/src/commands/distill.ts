import type { Command } from 'commander';
import { InputError, loadDataset, type Dataset } from '@derrd/core';
import {
  initBackend, isRankingTeacher, loadTeacher, methodTerms, needsRanking, parseMethod, prepareDistillation, teacherRefusal, trainDefaults,
  type BackendRequest, type MethodName, type MethodSettings, type ModelKind,
} from '@derrd/train';
import { addSettingOptions, layer } from '../flags.js';
import { applyDeThreads, deThreadsOf } from '../de-kernel.js';
import { info } from '../output.js';
import { Progress } from '../progress.js';
import { BACKEND_SETTING, DISTILL_SETTINGS, TRAIN_SETTINGS, checkOptimizer, methodValues, toMethodSettings, toTrainConfig, trainValues, type Setting } from '../settings.js';
import { addRunOptions, checkRunOut, givenSettings, runTraining } from './train.js';

export const DISTILL_COMMAND_SETTINGS: readonly Setting[] = [...TRAIN_SETTINGS, BACKEND_SETTING, ...DISTILL_SETTINGS];

/**
 * Checks a method's settings against each other and the data before any training; `flag` names a setting the way
 * the calling command spells it (--rrd-k, --distill-rrd-k). `rankingTopN` is an imported ranking teacher's length.
 */
export function checkMethodSettings(method: MethodName, s: MethodSettings, ds: Dataset, flag: (name: string) => string, rankingTopN?: number): void {
  if (!needsRanking(method)) return;
  if (methodTerms(method).includes('rrd') && s.rrd.interesting > s.rrd.topN) throw new InputError(`${flag('rrd-k')} ${s.rrd.interesting} exceeds ${flag('rrd-top-n')} ${s.rrd.topN}: RRD draws its interesting items from the teacher's top ${s.rrd.topN}`);
  if (s.rrd.topN >= ds.numItems) throw new InputError(`${flag('rrd-top-n')} ${s.rrd.topN} must be below the number of items (${ds.numItems}): lower it, e.g. ${flag('rrd-top-n')} ${Math.max(1, Math.floor(ds.numItems / 5))}`);
  if (rankingTopN !== undefined && s.rrd.topN > rankingTopN) throw new InputError(`${flag('rrd-top-n')} ${s.rrd.topN} is longer than the imported teacher's ranking (${rankingTopN}): lower it, or import the teacher again with --top-n ${s.rrd.topN}`);
  if (methodTerms(method).includes('ir')) {
    if (s.ir.interesting > s.ir.topN) throw new InputError(`${flag('ir-k')} ${s.ir.interesting} exceeds ${flag('ir-top-n')} ${s.ir.topN}: IR-RRD draws its interesting users from the teacher's top ${s.ir.topN} users of each item`);
    if (s.ir.topN >= ds.numUsers) throw new InputError(`${flag('ir-top-n')} ${s.ir.topN} must be below the number of users (${ds.numUsers}): lower it, e.g. ${flag('ir-top-n')} ${Math.max(1, Math.floor(ds.numUsers / 5))}`);
  }
}

export function registerDistillCommand(program: Command): void {
  const cmd = program
    .command('distill')
    .description('train a small student from a trained teacher with DE, RRD, DE-RRD, IR-RRD (RRD + item side), DE-IR-RRD or the RD/CD baselines (none: no distillation)')
    .requiredOption('--teacher <dir>', 'teacher checkpoint directory (from `derrd train` or `derrd teacher import`)');
  addRunOptions(cmd);
  addSettingOptions(cmd, DISTILL_COMMAND_SETTINGS, { defaults: { model: 'the teacher\'s (bpr for an ONNX teacher)', dim: 20 } });
  cmd.action(async (opts: Record<string, unknown>, command: Command) => {
    const given = givenSettings(command, DISTILL_COMMAND_SETTINGS);
    checkRunOut(opts);
    await initBackend((given.backend ?? 'auto') as BackendRequest);
    const dataset = loadDataset(String(opts.data));
    const teacherDir = String(opts.teacher);
    const teacher = loadTeacher(teacherDir, dataset);
    const ranking = isRankingTeacher(teacher.card);
    const teacherKind = teacher.card.model.kind as ModelKind;
    const kind = (given.model ?? (ranking ? 'bpr' : teacherKind)) as ModelKind;
    const method = parseMethod(String(given.method ?? 'de-rrd'));
    // the method's defaults follow the teacher's base model (the student's for an ONNX teacher)
    const methodKind = ranking ? kind : teacherKind;
    const v = layer(trainValues(trainDefaults(kind)), { dim: 20, backend: 'auto' }, methodValues(methodKind, method), given);
    const config = toTrainConfig(v);
    checkOptimizer(config, method, '--optimizer');
    const refusal = teacherRefusal(teacher.card, method);
    if (refusal) throw new InputError(refusal);
    if (methodTerms(method).includes('de') && kind !== teacherKind) throw new InputError(`--model ${kind}: DE distils each of the teacher's embedding tables into the same table of the student, so the student must be a ${teacherKind} like the teacher (or use --method rrd, rd or cd)`);
    if (!ranking && config.dim > teacher.card.model.dim) info(`note: the student (d=${config.dim}) is larger than the teacher (d=${teacher.card.model.dim})`);
    const settings = toMethodSettings(v, methodKind, method);
    const threads = deThreadsOf(v['de-threads']);
    checkMethodSettings(method, settings, dataset, (name) => `--${name}`, ranking ? teacher.card.origin?.topN : undefined);
    applyDeThreads(threads, methodTerms(method).includes('de') && settings.de.mode === 'sparse');

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
    await runTraining(opts, config, v.backend as BackendRequest, {
      label: `distill ${method} ${config.model} d=${config.dim}`,
      dataset,
      method: setup.method,
      buildTerms: setup.buildTerms,
      describe: setup.describe,
    });
  });
}
