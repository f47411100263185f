/**
 * The training loop: per-epoch negative sampling, shuffled batches, base loss + distillation terms, Adam with coupled
 * L2, evaluation every epoch, the authors' per-N model selection and early stopping, atomic checkpoints every epoch and
 * exact resume (each epoch's randomness derives from (seed, epoch), so a resumed run equals an uninterrupted one).
 */
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { totalmem } from 'node:os';
import { join } from 'node:path';
import {
  CARD_FILE, CARD_FORMAT_VERSION, DEFAULT_CUTOFFS, InputError, checkTrainingOut, ModelSelector, RESUME_FILE, Rng, WEIGHTS_FILE, canonicalJson,
  decodeSafetensors, encodeSafetensors, evalResultOfRanks, evaluateFull, evaluateSampled, sampleTriples, sha256, writeFileAtomic,
  type Dataset, type EpochRecord, type EvalResult, type ModelCard, type SafeTensor,
} from '@derrd/core';
import { tf, type Tensor, type Variable, type Scalar } from './tf.js';
import { initBackend, type BackendInfo, type BackendRequest } from './backend.js';
import { AdamL2 } from './optimizer.js';
import { loadCheckpoint } from './checkpoint.js';
import { createModel } from './models/registry.js';
import type { ModelKind, RecModel } from './models/model.js';
import type { Batch, LossTerm } from './terms.js';
import { DotEvaluator } from './parallel/dot-evaluator.js';
import { helper } from './parallel/helper.js';
import { BprMf } from './models/bpr.js';
import { NativeBprStep, bprStepKind } from './models/bpr-step.js';

export const DERRD_VERSION = '0.1.0';

export interface TrainConfig {
  model: ModelKind;
  dim: number;
  seed: number;
  maxEpochs: number;
  batchSize: number;
  lr: number;
  weightDecay: number;
  /** stop after this many epochs without a validation HR@N improvement for any N */
  patience: number;
  protocol: 'sampled' | 'full';
  /** model.safetensors holds the epoch with the best validation HR@selectCutoff */
  selectCutoff: number;
  /** negatives per training positive, re-drawn every epoch (the authors' num_ns) */
  negatives?: number;
  /**
   * adam (absent): every row moves every step, as PyTorch's Adam(weight_decay) — the paper's recipe, O(parameters) a
   * step. lazy-adam: only the rows in the batch move (their L2 included), O(batch · d) a step; other results.
   */
  optimizer?: 'adam' | 'lazy-adam';
}

/** The DE-RRD code's recipe (derrd-method.md §1.4). */
export const TRAIN_DEFAULTS: TrainConfig = {
  model: 'bpr',
  dim: 200,
  seed: 0,
  maxEpochs: 1000,
  batchSize: 1024,
  lr: 1e-3,
  weightDecay: 1e-3,
  patience: 20,
  protocol: 'sampled',
  selectCutoff: 5,
  negatives: 1,
};

/**
 * Batch size and coupled L2 per base model, each from the authors' own code: BPR from the DE-RRD code (batch 1024,
 * L2 1e-3); NeuMF from their NeuMF base code, RS_Implicit_Feedback_PyTorch (batch 512, L2 1e-4; no DE-RRD file gives
 * one). docs/results.md#the-neumf-recipe compares the two recipes on CiteULike.
 */
export const MODEL_RECIPES: Record<ModelKind, Pick<TrainConfig, 'batchSize' | 'weightDecay'>> = {
  bpr: { batchSize: TRAIN_DEFAULTS.batchSize, weightDecay: TRAIN_DEFAULTS.weightDecay },
  neumf: { batchSize: 512, weightDecay: 1e-4 },
};

/** TRAIN_DEFAULTS with the base model's recipe. */
export function trainDefaults(model: ModelKind): TrainConfig {
  return { ...TRAIN_DEFAULTS, ...MODEL_RECIPES[model], model };
}

export type TrainEvent =
  | { type: 'start'; backend: BackendInfo; startEpoch: number; batches: number; parameters: number; resumed: boolean }
  | { type: 'batch'; epoch: number; batch: number; batches: number }
  | { type: 'epoch'; record: EpochRecord; improved: boolean; saved: boolean; sinceImproved: number }
  | { type: 'done'; card: ModelCard };

export interface TrainOptions {
  dataset: Dataset;
  datasetPath: string;
  config: TrainConfig;
  /** checkpoint directory */
  out: string;
  backend?: BackendRequest;
  resume?: boolean;
  force?: boolean;
  terms?: LossTerm[];
  /** builds distillation terms for the freshly created student (they need its variables) */
  buildTerms?: (model: RecModel) => LossTerm[];
  method?: ModelCard['method'];
  onEvent?: (event: TrainEvent) => void;
}

/** A user-facing training failure (NaN loss, bad resume): printed as one line by the CLI. */
export class TrainingError extends Error {
  readonly derrdUserError = true;
  constructor(message: string) {
    super(message);
    this.name = 'TrainingError';
  }
}

interface ResumeState {
  identity: string;
  epoch: number;
  optimizerStep: number;
  sinceImproved: number;
  selector: ReturnType<ModelSelector['toJSON']>;
  history: EpochRecord[];
  wallSeconds: number;
  savedEpoch: number;
  saved: { valid: EvalResult['valid']; test: EvalResult['test'] } | null;
  weightsSha256: string | null;
  createdAt: string;
}

/** What must match for --resume: everything but the epoch cap and the backend. */
function identityOf(config: TrainConfig, datasetHash: string, method: ModelCard['method'] | undefined, terms: LossTerm[]): string {
  const { maxEpochs: _m, ...rest } = config;
  return canonicalJson({ config: rest, datasetHash, method: method ?? { name: 'none' }, terms: terms.map((t) => ({ name: t.name, weight: t.weight, settings: t.settings() })) });
}

function diffKeys(a: unknown, b: unknown, prefix = ''): string[] {
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return JSON.stringify(a) === JSON.stringify(b) ? [] : [prefix || '(value)'];
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  const out: string[] = [];
  for (const k of keys) out.push(...diffKeys((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], prefix ? `${prefix}.${k}` : k));
  return out;
}

/** Copies (not views: later steps must not change a snapshot) of the tensors' values. */
function tensorsOf(vars: Record<string, Tensor>): Record<string, SafeTensor> {
  const out: Record<string, SafeTensor> = {};
  for (const [name, t] of Object.entries(vars)) out[name] = { dtype: 'F32', shape: t.shape.slice(), data: Float32Array.from(t.dataSync() as Float32Array) };
  return out;
}

export async function train(options: TrainOptions): Promise<{ card: ModelCard; model: RecModel }> {
  const { dataset: ds, config, out } = options;
  const emit = options.onEvent ?? (() => {});
  validateConfig(config);
  checkTrainingOut(out, { resume: options.resume, force: options.force });
  const backend = await initBackend(options.backend ?? 'auto');
  checkTrainingMemory(config, ds, backend.name);
  const model = createModel(config.model, { numUsers: ds.numUsers, numItems: ds.numItems, dim: config.dim }, config.seed);
  const terms = [...(options.terms ?? []), ...(options.buildTerms?.(model) ?? [])];
  const identity = identityOf(config, ds.manifest.hash, options.method, terms);
  // a BPR model without distillation terms trains on both cores without tfjs (models/bpr-step.ts)
  const nativeStep = model instanceof BprMf && terms.length === 0 && bprStepKind() === 'native';
  const lazy = config.optimizer === 'lazy-adam';
  if (lazy && !nativeStep) {
    model.dispose();
    for (const t of terms) t.dispose();
    throw new InputError('optimizer lazy-adam is available for a BPR model trained without distillation terms (derrd train --model bpr, or distill --method none); use optimizer adam here');
  }
  const cardPath = join(out, CARD_FILE);
  const resumePath = join(out, RESUME_FILE);

  let resumeState: ResumeState | null = null;
  let resumeTensors: Record<string, SafeTensor> | null = null;
  if (existsSync(cardPath) || existsSync(resumePath)) {
    if (options.resume) {
      if (!existsSync(resumePath)) throw new TrainingError(`${out}: no ${RESUME_FILE} to resume from (the run finished, or never completed an epoch); use --force to start over`);
      const decoded = decodeSafetensors(readFileSync(resumePath), resumePath);
      resumeState = parseResumeState(decoded.metadata.state, resumePath);
      for (const [name, t] of Object.entries(decoded.tensors)) {
        if (t.data.some((x) => !Number.isFinite(x))) throw new TrainingError(`${resumePath}: tensor "${name}" holds non-finite values, so the run cannot continue from it; use --force to start over`);
      }
      if (resumeState.identity !== identity) {
        const changed = diffKeys(JSON.parse(resumeState.identity), JSON.parse(identity));
        throw new TrainingError(`${out}: --resume with a different configuration (changed: ${changed.join(', ')}); use the original settings, or --force to start over`);
      }
      resumeTensors = decoded.tensors;
    } else if (!options.force) {
      const failed = failedRun(cardPath);
      if (failed) throw new TrainingError(`${out}: holds a run that failed (${failed.why}) ${failed.saved}; use --force to start over (a lower --lr often avoids a diverging loss)`);
      throw new TrainingError(`${out}: a checkpoint exists (use --resume to continue it or --force to start over)`);
    } else {
      for (const f of [CARD_FILE, WEIGHTS_FILE, RESUME_FILE]) rmSync(join(out, f), { force: true });
    }
  } else if (options.resume) {
    throw new TrainingError(`${out}: nothing to resume (no checkpoint there)`);
  }

  const optimizer = new AdamL2({ lr: config.lr, weightDecay: config.weightDecay });
  const trainable = trainableOf(model, terms);

  const selector = resumeState ? ModelSelector.fromJSON(resumeState.selector) : new ModelSelector(DEFAULT_CUTOFFS);
  const history: EpochRecord[] = resumeState?.history ?? [];
  let startEpoch = 0;
  let sinceImproved = resumeState?.sinceImproved ?? 0;
  let wallSeconds = resumeState?.wallSeconds ?? 0;
  let savedEpoch = resumeState?.savedEpoch ?? -1;
  let saved = resumeState?.saved ?? null;
  let weightsSha = resumeState?.weightsSha256 ?? null;
  const createdAt = resumeState?.createdAt ?? new Date().toISOString();
  if (resumeState && resumeTensors) {
    const weights: Record<string, { shape: number[]; data: Float32Array }> = {};
    const moments: Record<string, Tensor> = {};
    for (const [name, t] of Object.entries(resumeTensors)) {
      if (name.startsWith('param.')) weights[name.slice(6)] = { shape: t.shape, data: t.data as Float32Array };
      else if (name.startsWith('adam.')) moments[name.slice(5)] = tf.tensor(t.data as Float32Array, t.shape, 'float32');
    }
    for (const [name, v] of Object.entries(trainable)) {
      const w = weights[name];
      if (!w) throw new TrainingError(`${resumePath}: no tensor "${name}" (corrupt resume file)`);
      v.assign(tf.tensor(w.data, w.shape, 'float32'));
    }
    optimizer.restore(resumeState.optimizerStep, moments);
    startEpoch = resumeState.epoch + 1;
  }

  const numTrain = ds.trainItems.length * (config.negatives ?? 1);
  const batches = Math.ceil(numTrain / config.batchSize);
  const native = nativeStep ? new NativeBprStep(model as BprMf, optimizer, config.batchSize, { lazy }) : null;
  const backendUsed: BackendInfo = native ? { ...backend, threads: native.threads } : backend;
  emit({ type: 'start', backend: backendUsed, startEpoch, batches, parameters: model.parameterCount(), resumed: resumeState !== null });

  const baseCard = (): Omit<ModelCard, 'status' | 'epochsRun' | 'savedEpoch' | 'metrics' | 'history' | 'wallSeconds' | 'weights' | 'updatedAt'> => ({
    format: 'derrd-model',
    formatVersion: CARD_FORMAT_VERSION,
    name: out.split(/[\\/]/).filter(Boolean).pop() ?? out,
    model: { kind: config.model, numUsers: ds.numUsers, numItems: ds.numItems, dim: config.dim, parameters: model.parameterCount() },
    dataset: { hash: ds.manifest.hash, path: options.datasetPath },
    config: { ...config },
    method: options.method ?? { name: 'none' },
    backend: { ...backendUsed },
    createdAt,
    derrdVersion: DERRD_VERSION,
  });
  const makeCard = (status: ModelCard['status'], epochsRun: number, extra: Record<string, unknown> = {}): ModelCard => ({
    ...baseCard(),
    status,
    epochsRun,
    savedEpoch,
    metrics: { protocol: config.protocol, selected: selector.selected('test'), bestEpochs: selector.bestEpochs(), saved },
    history,
    wallSeconds,
    weights: weightsSha ? { file: WEIGHTS_FILE, sha256: weightsSha } : null,
    updatedAt: new Date().toISOString(),
    ...extra,
  });

  let status: ModelCard['status'] = 'max-epochs';
  let lastEpoch = startEpoch - 1;
  // a resumed run that had already early-stopped has nothing left to do
  if (resumeState && sinceImproved >= config.patience) status = 'early-stopped';

  // Dot-product models are evaluated on the helper thread while the next epoch trains: an epoch's bookkeeping
  // (selection, saved weights, resume file, card) then happens one epoch later, from a snapshot of its state.
  const overlapped = model.dotTables !== undefined && helper().threads === 2;
  const evaluator = model.dotTables ? new DotEvaluator(ds, config.dim, config.protocol) : null;
  let pending: PendingEpoch | null = null;
  let stopped = false;
  let restored = false;

  /** The bookkeeping of a trained and evaluated epoch; true when the run stops there. */
  const complete = (p: PendingEpoch): boolean => {
    const waitStart = performance.now();
    const result = p.result();
    const evalSeconds = p.evalSeconds + (performance.now() - waitStart) / 1000;
    const { epoch, trainSeconds } = p;
    const record: EpochRecord = { epoch, loss: p.lossSum, terms: p.termSums, valid: result.valid, test: result.test, trainSeconds, evalSeconds };
    history.push(record);
    const previousBest = selector.bestValidHr(config.selectCutoff);
    const improved = selector.update(epoch, result);
    sinceImproved = improved ? 0 : sinceImproved + 1;
    const savedNow = result.valid[`HR@${config.selectCutoff}`] > previousBest;
    wallSeconds += trainSeconds + evalSeconds;
    if (savedNow) {
      const weights = Object.fromEntries(Object.keys(model.variables).map((name) => [name, p.params[name]]));
      const bytes = encodeSafetensors(weights, { epoch: String(epoch), kind: config.model });
      writeFileAtomic(join(out, WEIGHTS_FILE), bytes);
      weightsSha = sha256(bytes);
      savedEpoch = epoch;
      saved = { valid: result.valid, test: result.test };
    }
    lastEpoch = epoch;
    const state: ResumeState = {
      identity, epoch, optimizerStep: p.optimizerStep, sinceImproved, selector: selector.toJSON(), history, wallSeconds, savedEpoch, saved,
      weightsSha256: weightsSha, createdAt,
    };
    writeFileAtomic(resumePath, encodeSafetensors({ ...prefixed(p.params, 'param.'), ...prefixed(p.moments, 'adam.') }, { state: JSON.stringify(state) }));
    const stop = sinceImproved >= config.patience;
    if (stop) status = 'early-stopped';
    writeFileAtomic(cardPath, JSON.stringify(makeCard(stop || epoch === config.maxEpochs - 1 ? status : 'running', epoch + 1), null, 2) + '\n');
    emit({ type: 'epoch', record, improved, saved: savedNow, sinceImproved });
    return stop;
  };
  /** Completes the pending epoch, if any; true when the run stops there. */
  const completePending = (): boolean => {
    const p = pending;
    pending = null;
    return p ? complete(p) : false;
  };

  try {
    for (let epoch = startEpoch; epoch < config.maxEpochs && status !== 'early-stopped'; epoch++) {
      const epochStart = performance.now();
      const rng = new Rng(config.seed).fork(1000 + epoch);
      const triples = sampleTriples(ds, rng, config.negatives ?? 1);
      terms.forEach((term, k) => term.onEpochStart?.(epoch, rng.fork(100 + k)));
      let lossSum = 0;
      const termSums: Record<string, number> = { base: 0 };
      for (const term of terms) termSums[term.name] = 0;
      for (let b = 0; b < batches; b++) {
        const s = b * config.batchSize;
        const e = Math.min(numTrain, s + config.batchSize);
        const userIds = triples.users.subarray(s, e);
        const posIds = triples.pos.subarray(s, e);
        const negIds = triples.neg.subarray(s, e);
        let loss: number;
        let partValues: number[];
        if (native) {
          loss = native.run(userIds, posIds, negIds);
          partValues = [loss];
        } else {
          const batch: Batch = {
            users: tf.tensor1d(userIds, 'int32'), pos: tf.tensor1d(posIds, 'int32'), neg: tf.tensor1d(negIds, 'int32'),
            userIds, posIds, negIds, epoch, index: b,
          };
          ({ loss, parts: partValues } = trainingStep(model, terms, trainable, optimizer, batch));
          batch.users.dispose(); batch.pos.dispose(); batch.neg.dispose();
        }
        if (!Number.isFinite(loss)) {
          // the previous epoch's checkpoint first, as if it had been written before this epoch started
          const previous = pending;
          if (completePending()) {
            // the previous epoch ended the run: this one would not have been trained
            restored = restore(trainable, previous!.params, native);
            stopped = true;
            break;
          }
          const kept = savedEpoch >= 0 ? `the last good checkpoint (epoch ${lastEpoch}, weights of epoch ${savedEpoch}) is kept in ${out}` : 'no checkpoint had been saved yet';
          writeFileAtomic(cardPath, JSON.stringify(makeCard('failed', lastEpoch + 1, { failure: `loss ${loss} at epoch ${epoch}, batch ${b}` }), null, 2) + '\n');
          throw new TrainingError(`loss became ${loss} at epoch ${epoch}, batch ${b} of ${batches}: stopped; ${kept}`);
        }
        lossSum += loss;
        termSums.base += partValues[0];
        terms.forEach((term, k) => { termSums[term.name] += partValues[k + 1]; });
        emit({ type: 'batch', epoch, batch: b + 1, batches });
      }
      if (stopped) break;
      const trainSeconds = (performance.now() - epochStart) / 1000;
      const evalStart = performance.now();
      if (evaluator && overlapped) {
        // the previous epoch's evaluation ran during this epoch's training
        const previous = pending;
        if (completePending()) {
          restored = restore(trainable, previous!.params, native);
          break;
        }
        const snapshot = native ? native.snapshot() : snapshotOf(trainable, optimizer);
        evaluator.load(native ? native.tables() : model.dotTables!());
        const ranks = evaluator.start();
        pending = {
          epoch, lossSum, termSums, trainSeconds, evalSeconds: (performance.now() - evalStart) / 1000, ...snapshot,
          result: () => evalResultOfRanks(evaluator.protocol, ranks.finish()),
        };
      } else {
        const result = evaluator ? (evaluator.load(native ? native.tables() : model.dotTables!()), evalResultOfRanks(evaluator.protocol, evaluator.run())) : await evaluateWithScorer(model, ds, config.protocol);
        const evalSeconds = (performance.now() - evalStart) / 1000;
        if (complete({ epoch, lossSum, termSums, trainSeconds, evalSeconds, ...(native ? native.snapshot() : snapshotOf(trainable, optimizer)), result: () => result })) break;
      }
    }
    if (!restored) native?.syncToModel();
    completePending();
  } finally {
    evaluator?.dispose();
    native?.dispose();
  }
  const card = makeCard(status, lastEpoch + 1);
  writeFileAtomic(cardPath, JSON.stringify(card, null, 2) + '\n');
  optimizer.dispose();
  for (const term of terms) term.dispose();
  emit({ type: 'done', card });
  return { card, model };
}

/** The failure a card in `cardPath` records, when the run behind it failed. */
function failedRun(cardPath: string): { why: string; saved: string } | null {
  let card: Partial<ModelCard> & { failure?: string };
  try {
    card = JSON.parse(readFileSync(cardPath, 'utf8')) as typeof card;
  } catch {
    return null;
  }
  if (card?.status !== 'failed') return null;
  return {
    why: card.failure ?? 'loss not finite',
    saved: card.weights ? `after saving the weights of epoch ${card.savedEpoch}, which are kept` : 'before saving any weights: there is nothing to continue',
  };
}

function parseResumeState(text: string | undefined, path: string): ResumeState {
  try {
    const state = JSON.parse(text ?? '') as ResumeState;
    if (typeof state?.identity === 'string' && Number.isInteger(state.epoch) && Array.isArray(state.history)) return state;
  } catch {
    // reported below
  }
  throw new TrainingError(`${path}: no readable training state in its metadata (not written by derrd, or damaged); use --force to start over`);
}

/** Parameters of a base model, counted without allocating it. */
export function parameterCount(kind: ModelKind, numUsers: number, numItems: number, dim: number): number {
  const tables = (numUsers + numItems) * dim;
  return kind === 'neumf' ? 2 * tables + 2 * dim * dim + dim + 2 * dim + 1 : tables;
}

/**
 * Float32 values a training run holds, from the peak memory of BPR runs at large d: about 20 copies of the parameters
 * (weights, gradients, two Adam moments and the optimizer's temporaries; the evaluation's transposed table; the
 * checkpoint's copies and encoded files) and about 10 × batch × dim of per-batch activations; 6 of those copies and the
 * activations live in the backend, which for wasm is one 4 GiB heap.
 */
const HOST_COPIES = 20;
const BACKEND_COPIES = 6;
const ACTIVATION_COPIES = 10;
/** tfjs-backend-wasm's heap is a 32-bit WebAssembly memory. */
const WASM_HEAP_BYTES = 4 * 1024 ** 3;

const gib = (bytes: number) => (bytes >= 1024 ** 4 ? `${(bytes / 1024 ** 4).toFixed(1)} TiB` : bytes >= 1024 ** 3 ? `${(bytes / 1024 ** 3).toFixed(1)} GiB` : `${Math.ceil(bytes / 1024 ** 2)} MiB`);

/** Bytes a training run holds in all and in the backend (estimates from the measurement above). */
export function trainingMemory(config: Pick<TrainConfig, 'model' | 'dim' | 'batchSize'>, ds: Pick<Dataset, 'numUsers' | 'numItems'>): { total: number; backend: number; parameters: number } {
  const parameters = parameterCount(config.model, ds.numUsers, ds.numItems, config.dim);
  const activations = ACTIVATION_COPIES * config.batchSize * config.dim;
  return { total: 4 * (HOST_COPIES * parameters + activations), backend: 4 * (BACKEND_COPIES * parameters + activations), parameters };
}

/** Refuses, before allocating, a model that cannot fit in this machine's memory (or the wasm backend's heap). */
export function checkTrainingMemory(config: Pick<TrainConfig, 'model' | 'dim' | 'batchSize'>, ds: Pick<Dataset, 'numUsers' | 'numItems'>, backend: string, totalMemory = totalmem()): void {
  const fits = (dim: number) => {
    const m = trainingMemory({ ...config, dim }, ds);
    return m.total <= totalMemory && (backend !== 'wasm' || m.backend <= WASM_HEAP_BYTES);
  };
  if (fits(config.dim)) return;
  let lo = 0;
  let hi = config.dim;
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (fits(mid)) lo = mid;
    else hi = mid;
  }
  const m = trainingMemory(config, ds);
  const limit = m.total > totalMemory ? `this machine has ${gib(totalMemory)}` : `the wasm backend holds at most ${gib(WASM_HEAP_BYTES)} (${gib(m.backend)} of it needed)`;
  throw new InputError(`--dim ${config.dim} is too large: ${config.model} on ${ds.numUsers.toLocaleString('en-US')} users × ${ds.numItems.toLocaleString('en-US')} items has ${m.parameters.toLocaleString('en-US')} parameters, and training at batch size ${config.batchSize} needs about ${gib(m.total)}, but ${limit}: lower --dim${lo >= 1 ? ` (up to about ${lo.toLocaleString('en-US')} fits)` : ''}${backend === 'wasm' && m.total <= totalMemory ? ' or --batch-size' : ''}`);
}

/** A trained epoch waiting for its evaluation, with the state its checkpoint records. */
interface PendingEpoch {
  epoch: number;
  lossSum: number;
  termSums: Record<string, number>;
  trainSeconds: number;
  /** evaluation time spent so far on the training thread (snapshot, load) */
  evalSeconds: number;
  params: Record<string, SafeTensor>;
  moments: Record<string, SafeTensor>;
  optimizerStep: number;
  result: () => EvalResult;
}

/** Copies of every trained parameter and the optimizer's moments (an epoch's checkpoint). */
function snapshotOf(trainable: Record<string, Variable>, optimizer: AdamL2): Pick<PendingEpoch, 'params' | 'moments' | 'optimizerStep'> {
  const opt = optimizer.state();
  return { params: tensorsOf(trainable), moments: tensorsOf(opt.tensors), optimizerStep: opt.step };
}

/** Puts snapshot values back into the variables (a run that stops leaves the model of its last completed epoch). */
function restore(trainable: Record<string, Variable>, params: Record<string, SafeTensor>, native: NativeBprStep | null): true {
  // the native step's optimizer moments first; then every parameter from the snapshot
  native?.syncToModel();
  for (const [name, v] of Object.entries(trainable)) {
    const t = params[name];
    // a copy: snapshot buffers are reused, and the cpu backend keeps the array a tensor is made from
    if (t) v.assign(tf.tensor(Float32Array.from(t.data as Float32Array), t.shape, 'float32'));
  }
  return true;
}

function prefixed(tensors: Record<string, SafeTensor>, prefix: string): Record<string, SafeTensor> {
  return Object.fromEntries(Object.entries(tensors).map(([k, t]) => [prefix + k, t]));
}

/** Every parameter a run trains, by the names its resume file uses: the model's, then each term's as `term.name`. */
export function trainableOf(model: RecModel, terms: LossTerm[]): Record<string, Variable> {
  const trainable: Record<string, Variable> = { ...model.variables };
  for (const term of terms) for (const [k, v] of Object.entries(term.variables())) trainable[`${term.name}.${k}`] = v;
  return trainable;
}

/**
 * One optimisation step as train() runs it: base loss + Σ weight · term on the batch, gradients, Adam update.
 * Returns the total and the unweighted parts (base first, then each term). A non-finite total updates nothing.
 */
export function trainingStep(model: RecModel, terms: LossTerm[], trainable: Record<string, Variable>, optimizer: AdamL2, batch: Batch): { loss: number; parts: number[] } {
  const parts: Scalar[] = [];
  const { value, grads } = tf.variableGrads(() => {
    const base = model.baseLoss(batch.users, batch.pos, batch.neg);
    parts.push(tf.keep(base.clone()));
    let total: Scalar = base;
    for (const term of terms) {
      const t = term.loss(batch);
      parts.push(tf.keep(t.clone()));
      total = tf.add(total, tf.mul(t, term.weight)) as Scalar;
    }
    return total;
  }, Object.values(trainable));
  const loss = value.dataSync()[0];
  const partValues = parts.map((p) => p.dataSync()[0]);
  value.dispose();
  for (const p of parts) p.dispose();
  if (!Number.isFinite(loss)) {
    for (const g of Object.values(grads)) g.dispose();
    return { loss, parts: partValues };
  }
  // variableGrads keys gradients by the variables' internal names
  const byName: Record<string, Tensor> = {};
  for (const [name, v] of Object.entries(trainable)) if (grads[v.name]) byName[name] = grads[v.name];
  optimizer.apply(trainable, byName);
  return { loss, parts: partValues };
}

/** Loads a checkpoint's saved weights, evaluates them on `ds` and frees them. */
export async function evaluateCheckpoint(dir: string, ds: Dataset, protocol: 'sampled' | 'full'): Promise<{ card: ModelCard; result: EvalResult }> {
  const { card, model } = loadCheckpoint(dir, ds);
  try {
    return { card, result: await evaluateModel(model, ds, protocol) };
  } finally {
    model.dispose();
  }
}

/**
 * The model's ranks and metrics on `ds`. Dot-product models (BPR) are ranked fused on both cores (DotEvaluator), with
 * the same ranks as their tfjs scorer gives; other models go through evaluateWithScorer.
 */
export async function evaluateModel(model: RecModel, ds: Dataset, protocol: 'sampled' | 'full'): Promise<EvalResult> {
  const tables = model.dotTables?.();
  if (!tables) return evaluateWithScorer(model, ds, protocol);
  const evaluator = new DotEvaluator(ds, model.config.dim, protocol);
  try {
    evaluator.load(tables);
    return evalResultOfRanks(evaluator.protocol, evaluator.run());
  } finally {
    evaluator.dispose();
  }
}

/** Evaluation through the model's tfjs scorer: core's evaluateSampled / evaluateFull on its scores. */
export async function evaluateWithScorer(model: RecModel, ds: Dataset, protocol: 'sampled' | 'full'): Promise<EvalResult> {
  const scorer = model.createScorer();
  try {
    if (protocol === 'full' || ds.numCandidates === 0) return await evaluateFull(ds, (users) => scorer.scoreAll(users));
    return await evaluateSampled(ds, (users, items, w) => scorer.scoreItems(users, items, w));
  } finally {
    scorer.dispose();
  }
}

function validateConfig(c: TrainConfig): void {
  const positiveInt = ['dim', 'maxEpochs', 'batchSize', 'patience', 'selectCutoff'] as const;
  for (const k of positiveInt) if (!Number.isInteger(c[k]) || c[k] < 1) throw new InputError(`${k} must be a positive integer, got ${c[k]}`);
  if (c.negatives !== undefined && (!Number.isInteger(c.negatives) || c.negatives < 1)) throw new InputError(`negatives must be a positive integer, got ${c.negatives}`);
  if (!(c.lr > 0)) throw new InputError(`lr must be > 0, got ${c.lr}`);
  if (!(c.weightDecay >= 0)) throw new InputError(`weightDecay must be >= 0, got ${c.weightDecay}`);
  if (c.protocol !== 'sampled' && c.protocol !== 'full') throw new InputError(`protocol must be sampled|full, got ${c.protocol}`);
  if (!DEFAULT_CUTOFFS.includes(c.selectCutoff as 5 | 10 | 20)) throw new InputError(`selectCutoff must be one of ${DEFAULT_CUTOFFS.join(', ')}`);
  if (c.optimizer !== undefined && c.optimizer !== 'adam' && c.optimizer !== 'lazy-adam') throw new InputError(`optimizer must be adam|lazy-adam, got ${String(c.optimizer)}`);
  if (c.optimizer === 'lazy-adam' && c.model !== 'bpr') throw new InputError(`optimizer lazy-adam is available for BPR only (model ${c.model}); use optimizer adam`);
}
