/**
 * derrd's settings, one table for everything: each setting's name is its command-line flag (--name) and its config
 * key ("name"), with its type, valid range, default and a one-line doc. Flag parsing, config-file checking,
 * `derrd config --print` and docs/config.md all read this table, so they cannot disagree.
 */
import { InputError, PREPARE_DEFAULTS, SYNTH_DEFAULTS, SettingError, type PrepareOptions, type SettingSpec, type SettingValue, type SynthOptions } from '@derrd/core';
import {
  BACKENDS, DE_DEFAULTS, IR_DEFAULTS, METHODS, MODEL_KINDS, MODEL_RECIPES, RRD_DEFAULTS, RD_DEFAULTS, CD_DEFAULTS, TRAIN_DEFAULTS, methodDefaults,
  type MethodName, type MethodSettings, type ModelKind, type TrainConfig,
} from '@derrd/train';
import { PROVIDERS } from '@derrd/runtime';

export interface Setting extends SettingSpec {
  /** the default when it is one value */
  default?: SettingValue;
  /** the default in words when it depends on something else (the model, the data) */
  defaultText?: string;
}

export type Values = Record<string, SettingValue | undefined>;

const int = (min: number, max?: number) => ({ kind: 'integer', range: { min, max } }) as const;
const positive = { kind: 'number', range: { min: 0, minExclusive: true } } as const;
const nonNegative = { kind: 'number', range: { min: 0 } } as const;
const choice = (choices: readonly string[]) => ({ kind: 'choice', choices }) as const;
const perModel = (key: 'batchSize' | 'weightDecay') => Object.entries(MODEL_RECIPES).map(([kind, r]) => `${r[key]} for ${kind}`).join(', ');

export const INPUT_FORMATS = ['auto', 'users.dat', 'delimited', 'split', 'synthetic'] as const;
export const COLUMN_NAMES = ['user', 'item', 'rating', 'timestamp', 'skip'] as const;

/** How interactions become a prepared data set (`derrd data prepare`, and every command that prepares data). */
export const PREPARE_SETTINGS: readonly Setting[] = [
  { name: 'format', type: choice(INPUT_FORMATS), default: 'auto', doc: 'input format (auto: a directory is a split, "n item_1 … item_n" lines are users.dat, else delimited)' },
  { name: 'min-user', type: int(0), default: PREPARE_DEFAULTS.minUserInteractions, formerly: ['minUserInteractions'], doc: 'drop users with fewer interactions (iterated with min-item until nothing changes)' },
  { name: 'min-item', type: int(0), default: PREPARE_DEFAULTS.minItemInteractions, formerly: ['minItemInteractions'], doc: 'drop items with fewer interactions' },
  { name: 'split', type: choice(['random-loo', 'last-loo']), default: PREPARE_DEFAULTS.split, doc: 'random-loo (one random valid and test item per user, the paper) | last-loo (latest two by timestamp)' },
  { name: 'seed', type: int(0), default: PREPARE_DEFAULTS.seed, doc: 'seed for the split and the candidate sampling' },
  { name: 'candidates', type: int(0), default: PREPARE_DEFAULTS.numCandidates, formerly: ['numCandidates'], doc: 'sampled negatives per user for the sampled protocol (0: full-ranking evaluation only); must leave every user that many unseen items' },
  { name: 'id-order', type: choice(['appearance', 'numeric']), optional: true, formerly: ['idOrder'], defaultText: 'appearance; numeric for a split (keeps integer ids)', doc: 'dense id order' },
  { name: 'delimiter', type: { kind: 'string' }, optional: true, defaultText: 'detected', doc: 'field separator of delimited files' },
  { name: 'header', type: { kind: 'boolean' }, optional: true, defaultText: 'detected', doc: 'the first line of a delimited file is a header (--no-header: it is data)' },
  { name: 'columns', type: { kind: 'list', choices: COLUMN_NAMES }, optional: true, defaultText: 'from the header, else user,item[,rating][,timestamp]', doc: 'column meanings, e.g. user,item,rating,timestamp' },
  { name: 'min-rating', type: { kind: 'number', range: {} }, optional: true, formerly: ['minRating'], defaultText: 'keep every row', doc: 'keep rows with rating >= this' },
];

/** The seeded synthetic data set (`derrd data synth`). */
export const SYNTH_SETTINGS: readonly Setting[] = [
  { name: 'users', type: int(1), default: SYNTH_DEFAULTS.numUsers, doc: 'number of users' },
  { name: 'items', type: int(2), default: SYNTH_DEFAULTS.numItems, doc: 'number of items' },
  { name: 'dim', type: int(1), default: SYNTH_DEFAULTS.dim, doc: 'latent dimension of the generator' },
  { name: 'clusters', type: int(1), default: SYNTH_DEFAULTS.clusters, doc: 'item groups that share a latent factor (>= items: one factor per item)' },
  { name: 'mean-interactions', type: positive, default: SYNTH_DEFAULTS.meanInteractions, doc: 'mean interactions per user' },
  { name: 'popularity-exponent', type: nonNegative, default: SYNTH_DEFAULTS.popularityExponent, doc: 'Zipf exponent of item popularity' },
  { name: 'affinity', type: { kind: 'number', range: {} }, default: SYNTH_DEFAULTS.affinity, doc: 'strength of the latent preference relative to popularity (0: popularity alone)' },
  { name: 'seed', type: int(0), default: SYNTH_DEFAULTS.seed, doc: 'generator seed' },
];

/** Training a base model (`derrd train`; the students of `derrd distill` share them). */
export const TRAIN_SETTINGS: readonly Setting[] = [
  { name: 'model', type: choice(MODEL_KINDS), default: TRAIN_DEFAULTS.model, doc: 'base model' },
  { name: 'dim', type: int(1), default: TRAIN_DEFAULTS.dim, doc: 'embedding dimension (one that cannot fit in memory is refused before training)' },
  { name: 'epochs', type: int(1), default: TRAIN_DEFAULTS.maxEpochs, formerly: ['maxEpochs'], doc: 'maximum epochs' },
  { name: 'batch-size', type: int(1), defaultText: perModel('batchSize'), formerly: ['batchSize'], doc: 'triples per batch' },
  { name: 'lr', type: positive, default: TRAIN_DEFAULTS.lr, doc: 'Adam learning rate' },
  { name: 'weight-decay', type: nonNegative, defaultText: perModel('weightDecay'), formerly: ['weightDecay'], doc: 'coupled L2, as PyTorch Adam\'s weight_decay' },
  { name: 'optimizer', type: choice(['adam', 'lazy-adam']), default: 'adam', doc: 'adam: every row moves every step, as PyTorch\'s Adam(weight_decay) (the paper\'s recipe; a step costs O(users + items)) | lazy-adam: only the batch\'s rows move, their L2 included (a step costs O(batch); BPR without distillation terms only; other results, see docs/results.md)' },
  { name: 'patience', type: int(1), default: TRAIN_DEFAULTS.patience, doc: 'early stop after this many epochs without a validation improvement' },
  { name: 'seed', type: int(0), default: TRAIN_DEFAULTS.seed, doc: 'seed for initialisation, sampling and shuffling' },
  { name: 'negatives', type: int(1), default: TRAIN_DEFAULTS.negatives ?? 1, doc: 'negatives per training positive, re-drawn every epoch (the authors\' num_ns)' },
  { name: 'protocol', type: choice(['sampled', 'full']), default: TRAIN_DEFAULTS.protocol, doc: 'evaluation each epoch: sampled (the paper) | full ranking' },
  { name: 'select-cutoff', type: { kind: 'integer', range: { min: 1 }, values: [5, 10, 20] }, default: TRAIN_DEFAULTS.selectCutoff, formerly: ['selectCutoff'], doc: 'model.safetensors keeps the epoch with the best validation HR@N' },
];

export const BACKEND_SETTING: Setting = { name: 'backend', type: choice(BACKENDS), default: 'auto', doc: 'tfjs backend for training (auto: tensorflow if installed, else wasm, else cpu)' };

/** A distillation method and its terms' settings (`derrd distill`). */
export const DISTILL_SETTINGS: readonly Setting[] = [
  { name: 'method', type: choice(METHODS), default: 'de-rrd', doc: 'distillation method (none: the student alone)' },
  { name: 'lambda-de', type: positive, defaultText: `${DE_DEFAULTS.lambda}; 1e-4 for NeuMF DE-RRD`, doc: 'λ_DE, the weight of the DE term' },
  { name: 'experts', type: int(1), default: DE_DEFAULTS.numExperts, formerly: ['numExperts'], doc: 'DE: number of experts M' },
  { name: 'de-mode', type: choice(['sparse', 'exact']), default: DE_DEFAULTS.mode, doc: 'DE: sparse (experts with 99.9% of the selection weight, at most de-max-experts) | exact (every expert)' },
  { name: 'de-max-experts', type: int(1), default: DE_DEFAULTS.sparseMaxExperts, formerly: ['sparseMaxExperts'], doc: 'DE sparse mode: most experts per entity' },
  { name: 'de-threads', type: choice(['1', '2', 'auto']), default: 'auto', doc: 'DE kernel threads: 1, or 2 (half the expert pairs on a worker; the same floats); auto: DERRD_DE_THREADS, else 2 on 2+ cores' },
  { name: 'tau-start', type: positive, default: DE_DEFAULTS.tauStart, formerly: ['tauStart'], doc: 'DE: Gumbel-softmax temperature at epoch 0' },
  { name: 'tau-end', type: positive, default: DE_DEFAULTS.tauEnd, formerly: ['tauEnd'], doc: 'DE: temperature reached after anneal-epochs' },
  { name: 'anneal-epochs', type: int(1), default: DE_DEFAULTS.annealEpochs, formerly: ['annealEpochs'], doc: 'DE: epochs of the geometric temperature decay' },
  { name: 'lambda-rrd', type: positive, defaultText: `${RRD_DEFAULTS.lambda} for BPR, 0.1 for NeuMF`, doc: 'λ_RRD, the weight of the RRD term' },
  { name: 'rrd-k', type: int(1), default: RRD_DEFAULTS.interesting, formerly: ['interesting'], doc: 'RRD: interesting items per user (at most rrd-top-n)' },
  { name: 'rrd-l', type: int(1), default: RRD_DEFAULTS.uninteresting, formerly: ['uninteresting'], doc: 'RRD: uninteresting items per user' },
  { name: 'rrd-top-n', type: int(1), default: RRD_DEFAULTS.topN, formerly: ['topN'], doc: 'RRD/RD/CD: length of the teacher ranking (below the number of items)' },
  { name: 'rrd-temperature', type: positive, default: RRD_DEFAULTS.temperature, formerly: ['temperature'], doc: 'RRD: T in exp(-rank/T)' },
  { name: 'rrd-sampling', type: choice(['sample', 'top']), default: RRD_DEFAULTS.sampling, formerly: ['sampling'], doc: 'RRD: sample (the paper) | top (the teacher\'s first K, the authors\' later variant)' },
  { name: 'rrd-score', type: choice(['raw', 'sigmoid']), defaultText: 'raw for BPR, sigmoid for NeuMF', formerly: ['score'], doc: 'RRD: the student score it ranks: raw (inner product / logit) | sigmoid (probability)' },
  { name: 'lambda-ir', type: positive, defaultText: `${IR_DEFAULTS.lambda} for BPR, 0.05 for NeuMF`, doc: 'IR-RRD: λ_IR, the weight of the item-side term' },
  { name: 'ir-k', type: int(1), default: IR_DEFAULTS.interesting, doc: 'IR-RRD: interesting users per item (at most ir-top-n)' },
  { name: 'ir-l', type: int(1), default: IR_DEFAULTS.uninteresting, doc: 'IR-RRD: uninteresting users per item' },
  { name: 'ir-top-n', type: int(1), default: IR_DEFAULTS.topN, doc: 'IR-RRD: length of the teacher\'s per-item user ranking (below the number of users)' },
  { name: 'ir-temperature', type: positive, default: IR_DEFAULTS.temperature, doc: 'IR-RRD: T in exp(-rank/T)' },
  { name: 'ir-sampling', type: choice(['sample', 'top']), default: IR_DEFAULTS.sampling, doc: 'IR-RRD: sample (the paper) | top (the teacher\'s first K users)' },
  { name: 'ir-score', type: choice(['raw', 'sigmoid']), defaultText: 'raw for BPR, sigmoid for NeuMF', doc: 'IR-RRD: the student score it ranks, as rrd-score' },
  { name: 'lambda-rd', type: positive, default: RD_DEFAULTS.lambda, doc: 'RD: weight of the distillation term' },
  { name: 'lambda-cd', type: positive, default: CD_DEFAULTS.lambda, doc: 'CD: weight of the distillation term' },
];

/** How the pipeline times the exported models. */
export const LATENCY_SETTINGS: readonly Setting[] = [
  { name: 'reps-b1', type: int(1), formerly: ['repsB1'], doc: 'timed runs at batch size 1 (after 10 warm-up runs)' },
  { name: 'reps-b64', type: int(1), formerly: ['repsB64'], doc: 'timed runs at batch size 64' },
  { name: 'threads', type: int(1, 256), doc: 'intra-op threads of each runtime' },
  { name: 'providers', type: { kind: 'list', choices: PROVIDERS }, doc: 'execution providers to time (cuda needs `npm run setup:cuda`)' },
];

/** The dimensions a sweep trains: any integer a student's dim may be. */
const DIMS_TYPE = { kind: 'integers', range: { min: 1, max: 65536 } } as const;

/** `derrd sweep`: which students to train from one teacher, and finished runs that may stand in for some of them. */
export const SWEEP_SETTINGS: readonly Setting[] = [
  { name: 'teacher-checkpoint', type: { kind: 'string' }, optional: true, defaultText: 'trained by the sweep on --data', doc: 'the finished teacher every student learns from (its data set is the default --data; relative to the config file); without it the sweep trains one in <out>/teacher' },
  { name: 'teacher-model', type: choice(MODEL_KINDS), default: TRAIN_DEFAULTS.model, doc: 'base model of the teacher the sweep trains (a given teacher-checkpoint has its own; the students follow it)' },
  { name: 'teacher-dim', type: int(1, 65536), default: 200, doc: 'embedding dimension of the teacher the sweep trains (the paper\'s 200); its other training settings are the students\'' },
  { name: 'dims', type: DIMS_TYPE, optional: true, defaultText: 'the teacher\'s d × 0.05, 0.1, 0.25, 0.5, 1 (10,20,50,100,200 for d = 200)', doc: 'student embedding dimensions to train, each at φ = d / the teacher\'s d' },
  { name: 'methods', type: { kind: 'list', choices: METHODS }, default: ['none', 'de-rrd'], doc: 'methods trained at each dimension (none: the undistilled student)' },
  { name: 'reuse', type: { kind: 'list' }, optional: true, defaultText: 'none', doc: 'finished checkpoints, or directories of them, used instead of training a run whose model card has the same data set, settings, method and teacher (relative to the config file)' },
];

/** `derrd pipeline --sweep-dims`: the sweep as part of the pipeline, from the pipeline's teacher. */
export const PIPELINE_SWEEP_SETTINGS: readonly Setting[] = [
  { name: 'dims', type: DIMS_TYPE, optional: true, defaultText: 'no sweep', doc: 'also train the students at these dimensions and add their accuracy-size-latency frontier to the report' },
  { name: 'methods', type: { kind: 'list', choices: METHODS }, optional: true, defaultText: 'none and distill-method', doc: 'methods the sweep trains at each dimension (none: the student\'s settings; the others: the distill section\'s)' },
];

export const CHECKPOINT_SETTING: Setting = {
  name: 'checkpoint', type: { kind: 'string' }, optional: true, defaultText: 'trained by the pipeline',
  doc: 'use this finished checkpoint instead of training the role (same prepared data set; relative to the config file)',
};

export const RECIPE_NAMES = ['demo', 'paper'] as const;
export type RecipeName = (typeof RECIPE_NAMES)[number];
export const RECIPE_SETTING: Setting = { name: 'recipe', type: choice(RECIPE_NAMES), default: 'demo', doc: 'demo: small models, minutes on 2 cores; paper: the DE-RRD paper\'s settings, hours on real data' };

/** Values of the settings that have a single default. */
export function defaultsOf(settings: readonly Setting[]): Values {
  return Object.fromEntries(settings.filter((s) => s.default !== undefined).map((s) => [s.name, s.default]));
}

/** Defaults of the train settings for a base model, by setting name (the per-model batch size and L2 filled in). */
export function trainValues(config: TrainConfig): Values {
  return {
    model: config.model, dim: config.dim, epochs: config.maxEpochs, 'batch-size': config.batchSize, lr: config.lr, 'weight-decay': config.weightDecay,
    optimizer: config.optimizer ?? 'adam', patience: config.patience, seed: config.seed, negatives: config.negatives ?? 1, protocol: config.protocol, 'select-cutoff': config.selectCutoff,
  };
}

/** The train settings as the trainer's config; batch size and L2 unset take the model's recipe. */
export function toTrainConfig(v: Values): TrainConfig {
  const model = v.model as ModelKind;
  const recipe = MODEL_RECIPES[model];
  return {
    model,
    dim: v.dim as number,
    seed: v.seed as number,
    maxEpochs: v.epochs as number,
    batchSize: (v['batch-size'] as number | undefined) ?? recipe.batchSize,
    lr: v.lr as number,
    weightDecay: (v['weight-decay'] as number | undefined) ?? recipe.weightDecay,
    patience: v.patience as number,
    protocol: v.protocol as TrainConfig['protocol'],
    selectCutoff: v['select-cutoff'] as number,
    negatives: v.negatives as number,
    // absent for adam, so the identity of runs made before the setting existed is unchanged
    ...(v.optimizer === 'lazy-adam' ? { optimizer: 'lazy-adam' as const } : {}),
  };
}

/** The method's settings by setting name, from the defaults for the teacher's base model. */
export function methodValues(kind: string, method: MethodName): Values {
  const s = methodDefaults(kind, method);
  return {
    method, 'lambda-de': s.de.lambda, experts: s.de.numExperts, 'de-mode': s.de.mode, 'de-max-experts': s.de.sparseMaxExperts, 'de-threads': 'auto',
    'tau-start': s.de.tauStart, 'tau-end': s.de.tauEnd, 'anneal-epochs': s.de.annealEpochs, 'lambda-rrd': s.rrd.lambda, 'rrd-k': s.rrd.interesting,
    'rrd-l': s.rrd.uninteresting, 'rrd-top-n': s.rrd.topN, 'rrd-temperature': s.rrd.temperature, 'rrd-sampling': s.rrd.sampling,
    'rrd-score': s.rrd.score ?? 'raw', 'lambda-ir': s.ir.lambda, 'ir-k': s.ir.interesting, 'ir-l': s.ir.uninteresting, 'ir-top-n': s.ir.topN,
    'ir-temperature': s.ir.temperature, 'ir-sampling': s.ir.sampling, 'ir-score': s.ir.score ?? 'raw', 'lambda-rd': s.rd.lambda, 'lambda-cd': s.cd.lambda,
  };
}

/** The distillation settings as the distillers' settings (unset ones keep the method's defaults for `kind`). */
export function toMethodSettings(v: Values, kind: string, method: MethodName): MethodSettings {
  const s = methodDefaults(kind, method);
  const set = <T>(value: SettingValue | undefined, apply: (x: T) => void) => { if (value !== undefined) apply(value as T); };
  set<number>(v['lambda-de'], (x) => { s.de.lambda = x; });
  set<number>(v.experts, (x) => { s.de.numExperts = x; });
  set<'sparse' | 'exact'>(v['de-mode'], (x) => { s.de.mode = x; });
  set<number>(v['de-max-experts'], (x) => { s.de.sparseMaxExperts = x; });
  set<number>(v['tau-start'], (x) => { s.de.tauStart = x; });
  set<number>(v['tau-end'], (x) => { s.de.tauEnd = x; });
  set<number>(v['anneal-epochs'], (x) => { s.de.annealEpochs = x; });
  set<number>(v['lambda-rrd'], (x) => { s.rrd.lambda = x; });
  set<number>(v['rrd-k'], (x) => { s.rrd.interesting = x; });
  set<number>(v['rrd-l'], (x) => { s.rrd.uninteresting = x; });
  set<number>(v['rrd-top-n'], (x) => { s.rrd.topN = x; s.cd.topN = x; });
  set<number>(v['rrd-temperature'], (x) => { s.rrd.temperature = x; });
  set<'sample' | 'top'>(v['rrd-sampling'], (x) => { s.rrd.sampling = x; });
  // absent means raw: keeps the settings (and resume identity) of runs made before the option existed
  set<string>(v['rrd-score'], (x) => { if (x === 'sigmoid') s.rrd.score = 'sigmoid'; else delete s.rrd.score; });
  set<number>(v['lambda-ir'], (x) => { s.ir.lambda = x; });
  set<number>(v['ir-k'], (x) => { s.ir.interesting = x; });
  set<number>(v['ir-l'], (x) => { s.ir.uninteresting = x; });
  set<number>(v['ir-top-n'], (x) => { s.ir.topN = x; });
  set<number>(v['ir-temperature'], (x) => { s.ir.temperature = x; });
  set<'sample' | 'top'>(v['ir-sampling'], (x) => { s.ir.sampling = x; });
  set<string>(v['ir-score'], (x) => { if (x === 'sigmoid') s.ir.score = 'sigmoid'; else delete s.ir.score; });
  set<number>(v['lambda-rd'], (x) => { s.rd.lambda = x; });
  set<number>(v['lambda-cd'], (x) => { s.cd.lambda = x; });
  return s;
}

/** Options of the data readers and of preparation, from the prepare settings. */
export interface PrepareValues extends PrepareOptions {
  format?: (typeof INPUT_FORMATS)[number];
  delimiter?: string;
  header?: boolean;
  columns?: (typeof COLUMN_NAMES)[number][];
}

/** The prepare settings as reader and preparation options; unset ones are left out (they keep their defaults). */
export function toPrepareOptions(v: Values): PrepareValues {
  const fields: [string, keyof PrepareValues][] = [
    ['format', 'format'], ['min-user', 'minUserInteractions'], ['min-item', 'minItemInteractions'], ['split', 'split'], ['seed', 'seed'],
    ['candidates', 'numCandidates'], ['id-order', 'idOrder'], ['delimiter', 'delimiter'], ['header', 'header'], ['columns', 'columns'], ['min-rating', 'minRating'],
  ];
  const out: Record<string, unknown> = {};
  for (const [name, key] of fields) if (v[name] !== undefined) out[key] = v[name];
  const columns = out.columns as string[] | undefined;
  if (columns && !(columns.includes('user') && columns.includes('item'))) throw new SettingError('columns', `columns must include user and item, got "${columns.join(',')}"`);
  return out as PrepareValues;
}

export function toSynthOptions(v: Values): SynthOptions {
  return {
    numUsers: v.users as number, numItems: v.items as number, dim: v.dim as number, clusters: v.clusters as number,
    meanInteractions: v['mean-interactions'] as number, popularityExponent: v['popularity-exponent'] as number, affinity: v.affinity as number, seed: v.seed as number,
  };
}

/** Importing a teacher trained elsewhere (`derrd teacher import`). */
export const TEACHER_IMPORT_SETTINGS: readonly Setting[] = [
  { name: 'model', type: choice(MODEL_KINDS), optional: true, defaultText: 'detected from the tensor names', doc: 'safetensors: the teacher\'s base model' },
  { name: 'map', type: { kind: 'list' }, optional: true, defaultText: 'derrd\'s names, or NAME.weight', doc: 'tensor (safetensors) or input/output (ONNX: user, item, score) names that differ from derrd\'s, e.g. user=embed_user.weight,item=embed_item.weight' },
  { name: 'top-n', type: int(1), default: RRD_DEFAULTS.topN, doc: 'ONNX: length of the teacher ranking kept per user (the longest rrd-top-n it can serve)' },
  { name: 'signature', type: choice(['auto', 'pairs', 'all-items', 'topk']), default: 'auto', doc: 'ONNX: how the model scores: (user, item) pairs, one user\'s scores over all items, or a derrd top-k model' },
  { name: 'threads', type: int(1, 256), default: 2, doc: 'ONNX: onnxruntime intra-op threads' },
];

/** The browser demo's server (`derrd demo`). */
export const DEMO_SETTINGS: readonly Setting[] = [
  { name: 'host', type: { kind: 'string' }, default: '127.0.0.1', doc: 'address to listen on' },
  { name: 'port', type: int(0, 65535), default: 8090, doc: 'port (0: any free port)' },
  { name: 'threads', type: int(1, 64), default: 2, doc: 'WASM threads requested in the page' },
];

/**
 * Refuses lazy-adam where the trainer cannot run it (a NeuMF model, or distillation terms), before any work starts;
 * `flag` names the option as the user gave it (e.g. --distill-optimizer).
 */
export function checkOptimizer(config: TrainConfig, method: string | null, flag: string): void {
  if (config.optimizer !== 'lazy-adam') return;
  if (config.model !== 'bpr') throw new InputError(`${flag} lazy-adam updates only the batch's rows of a BPR model; the model here is ${config.model}, so use ${flag} adam`);
  if (method !== null && method !== 'none') throw new InputError(`${flag} lazy-adam updates only the batch's rows of a BPR model trained alone; --method ${method} adds distillation terms, so use ${flag} adam (or method none)`);
}
