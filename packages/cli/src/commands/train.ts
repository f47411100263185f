import { resolve } from 'node:path';
import type { Command } from 'commander';
import { checkTrainingOut, loadDataset, round4, type EpochRecord, type Metrics, type ModelCard } from '@derrd/core';
import { BACKENDS, evaluateModel, trainDefaults, initBackend, loadCheckpoint, train, type BackendRequest, type LossTerm, type ModelKind, type RecModel, type TrainConfig, type TrainEvent } from '@derrd/train';
import { addSettingOptions, layer, readConfigFile, readFlags, valuesOf } from '../flags.js';
import { emit, info, parseChoice, UsageError } from '../output.js';
import { BACKEND_SETTING, TRAIN_SETTINGS, toTrainConfig, trainValues, type Setting, type Values } from '../settings.js';
import { Progress } from '../progress.js';

export function formatHr(m: Metrics): string {
  return [5, 10, 20].map((n) => (m[`HR@${n}`] ?? NaN).toFixed(4)).join('/');
}

export function epochLine(r: EpochRecord, extra = ''): string {
  return `epoch ${String(r.epoch).padStart(4)}  loss ${r.loss.toFixed(2).padStart(11)}  valid HR@5/10/20 ${formatHr(r.valid)}  test ${formatHr(r.test)}  ${r.trainSeconds.toFixed(2)}s+${r.evalSeconds.toFixed(2)}s eval${extra}`;
}

/** Progress bar per epoch + one line per epoch on stderr. */
export function trainReporter(label: string, describe?: () => string): (e: TrainEvent) => void {
  let bar: Progress | null = null;
  return (e) => {
    if (e.type === 'start') {
      info(`${label}: backend ${e.backend.name}${e.backend.simd ? ' (SIMD)' : ''}, ${e.backend.threads} thread${e.backend.threads === 1 ? '' : 's'}, ${e.parameters.toLocaleString('en-US')} parameters, ${e.batches} batches/epoch${e.resumed ? `, resumed at epoch ${e.startEpoch}` : ''}`);
    } else if (e.type === 'batch') {
      if (e.batch === 1) bar = new Progress(`${label} epoch ${e.epoch}`, e.batches, { delayMs: 500 });
      bar?.update(e.batch);
    } else if (e.type === 'epoch') {
      bar?.done();
      const termText = e.record.terms && Object.keys(e.record.terms).length > 1 ? '  ' + Object.entries(e.record.terms).map(([k, v]) => `${k} ${v.toFixed(1)}`).join(' ') : '';
      const described = describe ? `  ${describe()}` : '';
      info(epochLine(e.record, `${termText}${described}${e.saved ? '  *saved' : ''}${e.improved ? '' : `  (${e.sinceImproved} without improvement)`}`));
    }
  };
}

export function cardSummary(card: ModelCard): string {
  const sel = card.metrics.selected;
  const rows = [5, 10, 20].map((n) => `  @${n}: HR ${round4(sel[`HR@${n}`] ?? NaN)}  MRR ${round4(sel[`MRR@${n}`] ?? NaN)}  NDCG ${round4(sel[`NDCG@${n}`] ?? NaN)}  (epoch ${card.metrics.bestEpochs[`@${n}`]})`);
  return [
    `${card.name}: ${card.model.kind} d=${card.model.dim}, ${card.model.parameters.toLocaleString('en-US')} parameters, method ${card.method.name}, backend ${card.backend.name}`,
    `status ${card.status} after ${card.epochsRun} epochs, ${card.wallSeconds.toFixed(1)} s; saved weights of epoch ${card.savedEpoch}`,
    `test metrics (${card.metrics.protocol} protocol, each N at its best-validation-HR@N epoch):`,
    ...rows,
  ].join('\n');
}

/** Run flags of `train` and `distill` (not settings: they say where to read and write, not how to train). */
export function addRunOptions(cmd: Command): Command {
  return cmd
    .requiredOption('--data <dir>', 'prepared data set directory (from `derrd data prepare`)')
    .requiredOption('-o, --out <dir>', 'checkpoint directory, e.g. models/teacher')
    .option('--config <file>', 'JSON file with any of the settings below by their flag names, e.g. {"dim": 32, "weight-decay": 1e-4} (flags given explicitly win)')
    .option('--resume', 'continue the run in --out from its last completed epoch', false)
    .option('--force', 'start over, replacing a checkpoint in --out', false)
    .option('--json', 'print the final model card as JSON', false);
}

/** Refuses, before the data is read or a teacher ranked, run flags that contradict and an output derrd may not train into. */
export function checkRunOut(opts: Record<string, unknown>): void {
  if (opts.resume && opts.force) throw new UsageError('--resume and --force exclude each other: --resume continues the run in --out, --force starts it over; give one');
  checkTrainingOut(String(opts.out), { resume: Boolean(opts.resume), force: Boolean(opts.force) });
}

/** The settings a run was given: its config file (--config) < its flags, each checked against its type and range. */
export function givenSettings(cmd: Command, settings: readonly Setting[]): Values {
  const path = cmd.opts().config as string | undefined;
  const file = path ? valuesOf(readConfigFile(path, { settings })) : {};
  return layer(file, readFlags(cmd, settings));
}

export const TRAIN_COMMAND_SETTINGS: readonly Setting[] = [...TRAIN_SETTINGS, BACKEND_SETTING];

export interface RunTrainingExtra {
  label: string;
  method?: ModelCard['method'];
  dataset?: ReturnType<typeof loadDataset>;
  buildTerms?: (model: RecModel) => LossTerm[];
  /** per-epoch status of the terms (τ, experts per entity) */
  describe?: () => string;
}

export async function runTraining(opts: Record<string, unknown>, config: TrainConfig, backend: BackendRequest, extra: RunTrainingExtra): Promise<ModelCard> {
  const dataset = extra.dataset ?? loadDataset(String(opts.data));
  const { card, model } = await train({
    dataset, datasetPath: resolve(String(opts.data)), config, out: String(opts.out), backend,
    resume: Boolean(opts.resume), force: Boolean(opts.force), method: extra.method,
    buildTerms: extra.buildTerms,
    onEvent: trainReporter(extra.label, extra.describe),
  });
  model.dispose();
  emit({ json: Boolean(opts.json) }, card, () => cardSummary(card));
  return card;
}

export function registerTrainCommands(program: Command): void {
  const trainCmd = program.command('train').description('train a base model (a teacher, or a student without distillation) with the DE-RRD recipe');
  addSettingOptions(addRunOptions(trainCmd), TRAIN_COMMAND_SETTINGS);
  trainCmd.action(async (opts: Record<string, unknown>, cmd: Command) => {
    const given = givenSettings(cmd, TRAIN_COMMAND_SETTINGS);
    checkRunOut(opts);
    // the base model picks the defaults of the rest (batch size and L2 differ)
    const v = layer(trainValues(trainDefaults((given.model ?? 'bpr') as ModelKind)), { backend: 'auto' }, given);
    const config = toTrainConfig(v);
    await runTraining(opts, config, v.backend as BackendRequest, { label: `train ${config.model} d=${config.dim}` });
  });

  program
    .command('evaluate')
    .description('evaluate a checkpoint on a prepared data set')
    .argument('<checkpoint>', 'checkpoint directory (from `derrd train` or `derrd distill`)')
    .requiredOption('--data <dir>', 'prepared data set directory')
    .option('--protocol <p>', 'sampled (1 held-out item vs its candidates) | full (all items, training items masked)', 'sampled')
    .option('--backend <name>', `tfjs backend: ${BACKENDS.join('|')}`, 'auto')
    .option('--json', 'print the result as JSON', false)
    .action(async (checkpoint: string, opts: Record<string, string | boolean>) => {
      const protocol = parseChoice('--protocol', String(opts.protocol), ['sampled', 'full'] as const);
      const backend = await initBackend(parseChoice('--backend', String(opts.backend), BACKENDS));
      const dataset = loadDataset(String(opts.data));
      const { card, model } = loadCheckpoint(checkpoint, dataset);
      const started = performance.now();
      const result = await evaluateModel(model, dataset, protocol);
      model.dispose();
      const seconds = (performance.now() - started) / 1000;
      const { ranks: _ranks, ...metrics } = result;
      const output = { checkpoint, model: card.model, method: card.method.name, savedEpoch: card.savedEpoch, backend: backend.name, seconds, ...metrics };
      emit({ json: Boolean(opts.json) }, output, () => {
        const keys = Object.keys(result.test);
        return [`${checkpoint} (${card.model.kind} d=${card.model.dim}, epoch ${card.savedEpoch}) on ${result.users} users, ${protocol} protocol, ${seconds.toFixed(2)} s, backend ${backend.name}`,
          `metric     ${keys.map((k) => k.padStart(9)).join(' ')}`,
          `valid      ${keys.map((k) => round4(result.valid[k]).toFixed(4).padStart(9)).join(' ')}`,
          `test       ${keys.map((k) => round4(result.test[k]).toFixed(4).padStart(9)).join(' ')}`].join('\n');
      });
    });
}
