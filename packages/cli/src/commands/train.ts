import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { InputError, loadDataset, round4, type EpochRecord, type Metrics, type ModelCard } from '@derrd/core';
import { BACKENDS, MODEL_KINDS, MODEL_RECIPES, TRAIN_DEFAULTS, evaluateModel, trainDefaults, initBackend, loadCheckpoint, train, type BackendRequest, type LossTerm, type RecModel, type TrainConfig, type TrainEvent } from '@derrd/train';
import { emit, info, parseChoice, parseInteger, parseNumber } from '../output.js';
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

/** "1024 for bpr, 512 for neumf": a per-model default for --help */
const recipeText = (key: 'batchSize' | 'weightDecay') => Object.entries(MODEL_RECIPES).map(([kind, r]) => `${r[key]} for ${kind}`).join(', ');

/** Train flags shared by `train` and `distill`. */
export function addTrainOptions(cmd: Command, defaults: Partial<TrainConfig> = {}): Command {
  const d = { ...TRAIN_DEFAULTS, ...defaults };
  return cmd
    .requiredOption('--data <dir>', 'prepared data set directory (from `derrd data prepare`)')
    .requiredOption('-o, --out <dir>', 'checkpoint directory, e.g. models/teacher')
    .option('--dim <n>', 'embedding dimension', String(d.dim))
    .option('--epochs <n>', 'maximum epochs', String(d.maxEpochs))
    .option('--batch-size <n>', `triples per batch (default: ${recipeText('batchSize')})`)
    .option('--lr <x>', 'Adam learning rate', String(d.lr))
    .option('--weight-decay <x>', `coupled L2, as PyTorch Adam's weight_decay (default: ${recipeText('weightDecay')})`)
    .option('--patience <n>', 'early stop after this many epochs without validation improvement', String(d.patience))
    .option('--seed <n>', 'seed for initialisation, sampling and shuffling', String(d.seed))
    .option('--negatives <n>', 'negatives per training positive, re-drawn every epoch (the authors\' num_ns)', String(d.negatives ?? 1))
    .option('--protocol <p>', 'evaluation each epoch: sampled|full', d.protocol)
    .option('--select-cutoff <n>', 'model.safetensors keeps the epoch with the best validation HR@N', String(d.selectCutoff))
    .option('--backend <name>', `tfjs backend: ${BACKENDS.join('|')}`, 'auto')
    .option('--config <file>', 'JSON file with any of these settings (flags given explicitly win)')
    .option('--resume', 'continue the run in --out from its last completed epoch', false)
    .option('--force', 'start over, replacing a checkpoint in --out', false)
    .option('--json', 'print the final model card as JSON', false);
}

export function parseTrainConfig(opts: Record<string, unknown>, cmd: Command, model: string): TrainConfig {
  let fileConfig: Partial<TrainConfig> = {};
  if (opts.config) {
    const path = String(opts.config);
    if (!existsSync(path)) throw new InputError('config file not found', { file: path });
    try {
      fileConfig = JSON.parse(readFileSync(path, 'utf8')) as Partial<TrainConfig>;
    } catch (err) {
      throw new InputError(`config is not valid JSON (${(err as Error).message})`, { file: path });
    }
  }
  const fromFlag = (flag: string) => cmd.getOptionValueSource(flag) === 'cli' || fileConfig[flag as keyof TrainConfig] === undefined;
  const kind = parseChoice('--model', model, MODEL_KINDS);
  const recipe = trainDefaults(kind);
  // flags without a commander default (the per-model ones) fall back to the model's recipe
  const pick = <K extends keyof TrainConfig>(key: K, flag: string, parse: (v: string) => TrainConfig[K]): TrainConfig[K] =>
    fromFlag(flag) ? (opts[flag] === undefined ? recipe[key] : parse(String(opts[flag]))) : (fileConfig[key] as TrainConfig[K]);
  return {
    model: kind,
    dim: pick('dim', 'dim', (v) => parseInteger('--dim', v, 1)),
    maxEpochs: pick('maxEpochs', 'epochs', (v) => parseInteger('--epochs', v, 1)),
    batchSize: pick('batchSize', 'batchSize', (v) => parseInteger('--batch-size', v, 1)),
    lr: pick('lr', 'lr', (v) => parseNumber('--lr', v)),
    weightDecay: pick('weightDecay', 'weightDecay', (v) => parseNumber('--weight-decay', v)),
    patience: pick('patience', 'patience', (v) => parseInteger('--patience', v, 1)),
    seed: pick('seed', 'seed', (v) => parseInteger('--seed', v)),
    negatives: pick('negatives', 'negatives', (v) => parseInteger('--negatives', v, 1)),
    protocol: pick('protocol', 'protocol', (v) => parseChoice('--protocol', v, ['sampled', 'full'] as const)),
    selectCutoff: pick('selectCutoff', 'selectCutoff', (v) => parseInteger('--select-cutoff', v, 1)),
  };
}

export interface RunTrainingExtra {
  label: string;
  method?: ModelCard['method'];
  dataset?: ReturnType<typeof loadDataset>;
  buildTerms?: (model: RecModel) => LossTerm[];
  /** per-epoch status of the terms (τ, experts per entity) */
  describe?: () => string;
}

export async function runTraining(opts: Record<string, unknown>, config: TrainConfig, extra: RunTrainingExtra): Promise<ModelCard> {
  const dataset = extra.dataset ?? loadDataset(String(opts.data));
  const { card, model } = await train({
    dataset, datasetPath: resolve(String(opts.data)), config, out: String(opts.out),
    backend: parseChoice('--backend', String(opts.backend), BACKENDS) as BackendRequest,
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
  addTrainOptions(trainCmd.requiredOption('--model <kind>', `model: ${MODEL_KINDS.join('|')}`, 'bpr'));
  trainCmd.action(async (opts: Record<string, unknown>, cmd: Command) => {
    const config = parseTrainConfig(opts, cmd, String(opts.model));
    await runTraining(opts, config, { label: `train ${config.model} d=${config.dim}` });
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
