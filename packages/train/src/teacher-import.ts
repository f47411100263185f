/**
 * Teachers trained elsewhere (PyTorch on a GPU, a cluster), turned into checkpoints the distillers accept:
 *
 * - tensor teachers: BPR-MF or NeuMF tables from safetensors, each row a raw id in the teacher's own order, re-ordered
 *   into the data set's dense ids. The result is an ordinary checkpoint (status "imported"): every method can use it.
 * - ranking teachers: any scoring function (an ONNX model, run by the CLI through @derrd/runtime). Its top-N unobserved
 *   items per user and their scores are kept, which is all RRD, RD and CD read; DE needs the teacher's embeddings
 *   and is refused for such a teacher.
 *
 * Each teacher is evaluated on import on the data set's protocol, and its card's `origin` records where it came from.
 */
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  CARD_FORMAT_VERSION, CARD_FILE, InputError, WEIGHTS_FILE, encodeSafetensors, evaluateFull, evaluateSampled, readCard, readWeights, sha256, topIndices, writeDirAtomic,
  type Dataset, type EvalResult, type ModelCard, type SafeTensor, type TeacherOrigin,
} from '@derrd/core';
import type { LoadedCheckpoint } from './checkpoint.js';
import { loadCheckpoint } from './checkpoint.js';
import { methodTerms, type MethodName } from './distill/methods.js';
import type { ModelConfig, ModelKind, RecModel, Representation, Scorer, WeightTensor } from './models/model.js';
import { createModel } from './models/registry.js';
import { evaluateModel, DERRD_VERSION } from './trainer.js';
import type { Scalar, Tensor, Variable } from './tf.js';

/** The card's model kind of a ranking teacher. */
export const RANKING_TEACHER_KIND = 'onnx';
export const RANKING_FILE = 'ranking.safetensors';

/** derrd's tensor names per base model, in the order documented for --map. */
export const TEACHER_TENSORS: Record<ModelKind, readonly string[]> = {
  bpr: ['user', 'item'],
  neumf: ['user_gmf', 'item_gmf', 'user_mlp', 'item_mlp', 'mlp_w', 'mlp_b', 'out_w', 'out_b'],
};

export function isRankingTeacher(card: Pick<ModelCard, 'model'>): boolean {
  return card.model.kind === RANKING_TEACHER_KIND;
}

/** Why `method` cannot distil from this teacher, or null. */
export function teacherRefusal(card: ModelCard, method: MethodName): string | null {
  if (isRankingTeacher(card) && methodTerms(method).includes('de')) {
    return `method ${method} needs DE, which distils the teacher's embeddings, and ${card.name} is an ONNX teacher that gives only its ranking (${card.origin?.file ?? 'imported'}): use --method rrd, rd or cd, or import the teacher's tables from safetensors (\`derrd teacher import model.safetensors\`)`;
  }
  if (isRankingTeacher(card) && methodTerms(method).includes('ir')) {
    return `method ${method} needs the teacher's top users of every item, and ${card.name} is an ONNX teacher that gives only each user's top items (${card.origin?.file ?? 'imported'}): use --method rrd, rd or cd, or import the teacher's tables from safetensors (\`derrd teacher import model.safetensors\`)`;
  }
  return null;
}

/** The raw id of each row of the teacher's user and item tables. */
export interface TeacherIds {
  users: readonly string[];
  items: readonly string[];
  /** how the user gave them, for the card */
  source: string;
}

/**
 * Reads raw-id orders: a JSON file {"users": [...], "items": [...]} (the format of derrd's `<model>.ids.json`), or
 * two text files with one raw id per line.
 */
export function readTeacherIds(o: { ids?: string; userIds?: string; itemIds?: string }): TeacherIds {
  const list = (path: string, what: string): string[] => {
    if (!existsSync(path) || statSync(path).isDirectory()) throw new InputError(`${what} file not found`, { file: path });
    const text = readFileSync(path, 'utf8');
    if (text.trimStart().startsWith('[')) return parseList(text, path, what);
    return text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== '');
  };
  if (o.ids) {
    if (!existsSync(o.ids) || statSync(o.ids).isDirectory()) throw new InputError('id map file not found', { file: o.ids });
    let v: unknown;
    try { v = JSON.parse(readFileSync(o.ids, 'utf8')); } catch (err) { throw new InputError(`id map is not valid JSON (${(err as Error).message})`, { file: o.ids }); }
    const m = v as { users?: unknown; items?: unknown };
    if (!Array.isArray(m?.users) || !Array.isArray(m?.items)) throw new InputError('id map must be {"users": [raw ids in row order], "items": [...]}', { file: o.ids });
    return { users: checkIds(m.users, o.ids, 'users'), items: checkIds(m.items, o.ids, 'items'), source: o.ids };
  }
  if (o.userIds && o.itemIds) return { users: checkIds(list(o.userIds, 'user id'), o.userIds, 'users'), items: checkIds(list(o.itemIds, 'item id'), o.itemIds, 'items'), source: `${o.userIds}, ${o.itemIds}` };
  throw new InputError('the raw-id order of the teacher\'s rows is needed: --ids ids.json ({"users": [...], "items": [...]}) or --user-ids users.txt --item-ids items.txt (one raw id per line, row order)');
}

function parseList(text: string, path: string, what: string): string[] {
  try {
    const v = JSON.parse(text) as unknown;
    if (Array.isArray(v)) return v.map(String);
  } catch { /* reported below */ }
  throw new InputError(`${what} file is neither one id per line nor a JSON array`, { file: path });
}

function checkIds(list: unknown[], file: string, what: string): string[] {
  const ids = list.map((x) => (typeof x === 'string' || typeof x === 'number' ? String(x) : null));
  const bad = ids.findIndex((x) => x === null);
  if (bad >= 0) throw new InputError(`${what}[${bad}] is not a string or number id`, { file });
  const seen = new Set<string>();
  for (const id of ids as string[]) {
    if (seen.has(id)) throw new InputError(`${what} lists raw id "${id}" twice: each row needs its own id`, { file });
    seen.add(id);
  }
  return ids as string[];
}

/** For each dense id of the data set, the teacher's row; every data set id must be in the teacher. */
function rowsOf(ds: Dataset, ids: TeacherIds): { users: Int32Array; items: Int32Array; extra: { users: number; items: number } } {
  const map = (side: 'users' | 'items', dense: readonly string[]) => {
    const index = new Map(ids[side].map((id, row) => [id, row]));
    const rows = new Int32Array(dense.length);
    const missing: string[] = [];
    dense.forEach((raw, k) => {
      const row = index.get(raw);
      if (row === undefined) missing.push(raw);
      else rows[k] = row;
    });
    if (missing.length > 0) {
      throw new InputError(`${missing.length} of the data set's ${dense.length} ${side} are not among the teacher's ${ids[side].length} (${missing.slice(0, 5).map((x) => `"${x}"`).join(', ')}${missing.length > 5 ? ', …' : ''}): a teacher must cover every user and item of the data set it teaches (check that ${ids.source} lists raw ids, in row order)`);
    }
    return rows;
  };
  const users = map('users', ds.userIds.rawIds());
  const items = map('items', ds.itemIds.rawIds());
  return { users, items, extra: { users: ids.users.length - ds.numUsers, items: ids.items.length - ds.numItems } };
}

export interface TensorTeacherOptions {
  dataset: Dataset;
  datasetPath: string;
  tensors: Record<string, SafeTensor>;
  ids: TeacherIds;
  /** default: detected from the tensor names */
  kind?: ModelKind;
  /** derrd tensor name → the file's name, for names that differ */
  map?: Record<string, string>;
  origin: Pick<TeacherOrigin, 'file' | 'sha256'>;
  out: string;
  force?: boolean;
  backend: ModelCard['backend'];
}

export interface ImportResult {
  card: ModelCard;
  evaluation: EvalResult;
}

/** Which file tensor stands for derrd's `name`: the mapped name, else the name itself, else PyTorch's `name.weight`. */
function findTensor(tensors: Record<string, SafeTensor>, name: string, map: Record<string, string>): string | null {
  if (map[name] !== undefined) return Object.hasOwn(tensors, map[name]) ? map[name] : null;
  for (const candidate of [name, `${name}.weight`]) if (Object.hasOwn(tensors, candidate)) return candidate;
  return null;
}

function detectKind(tensors: Record<string, SafeTensor>, map: Record<string, string>, file: string): ModelKind {
  // --map's names say which model it is (the two models share no tensor name); else the file's names do
  const mapped = Object.keys(map);
  for (const kind of ['neumf', 'bpr'] as const) if (mapped.length > 0 && mapped.every((n) => TEACHER_TENSORS[kind].includes(n))) return kind;
  for (const kind of ['neumf', 'bpr'] as const) if (TEACHER_TENSORS[kind].every((n) => findTensor(tensors, n, map))) return kind;
  throw new InputError(`cannot tell the model from its tensors (${Object.keys(tensors).join(', ')}): a BPR-MF teacher has ${TEACHER_TENSORS.bpr.join(', ')}, a NeuMF one ${TEACHER_TENSORS.neumf.join(', ')}; name yours with --map user=…,item=… (and --model)`, { file });
}

/** Imports BPR-MF or NeuMF tables, re-ordered into the data set's dense ids, as a checkpoint; evaluates it. */
export async function importTensorTeacher(o: TensorTeacherOptions): Promise<ImportResult> {
  const map = o.map ?? {};
  const kind = o.kind ?? detectKind(o.tensors, map, o.origin.file);
  for (const key of Object.keys(map)) {
    if (!TEACHER_TENSORS[kind].includes(key)) throw new InputError(`--map ${key}=…: a ${kind} teacher has no tensor "${key}" (it has ${TEACHER_TENSORS[kind].join(', ')})`);
  }
  const names: Record<string, string> = {};
  for (const n of TEACHER_TENSORS[kind]) {
    const found = findTensor(o.tensors, n, map);
    if (!found) throw new InputError(`no tensor for ${kind} "${n}"${map[n] ? ` (--map ${n}=${map[n]} names none)` : ''} among ${Object.keys(o.tensors).join(', ')}: name it with --map ${n}=<tensor name>`, { file: o.origin.file });
    if (o.tensors[found].dtype !== 'F32') throw new InputError(`tensor "${found}" is ${o.tensors[found].dtype}; teacher tables must be float32 (in PyTorch: {k: v.float() for k, v in state.items()})`, { file: o.origin.file });
    names[n] = found;
  }
  const t = (n: string) => o.tensors[names[n]];
  const userTables = kind === 'bpr' ? ['user'] : ['user_gmf', 'user_mlp'];
  const itemTables = kind === 'bpr' ? ['item'] : ['item_gmf', 'item_mlp'];
  const dim = t(userTables[0]).shape[1];
  for (const [n, rows] of [...userTables.map((n) => [n, o.ids.users.length] as const), ...itemTables.map((n) => [n, o.ids.items.length] as const)]) {
    const shape = t(n).shape;
    if (shape.length !== 2 || shape[0] !== rows || shape[1] !== dim) {
      throw new InputError(`tensor "${names[n]}" (${n}) has shape [${shape}], expected [${rows}, ${dim}]: one row per raw id in ${o.ids.source}, and one width for every table`, { file: o.origin.file });
    }
  }
  const rows = rowsOf(o.dataset, o.ids);
  const gather = (n: string, index: Int32Array): WeightTensor => {
    const src = t(n).data as Float32Array;
    const data = new Float32Array(index.length * dim);
    for (let k = 0; k < index.length; k++) data.set(src.subarray(index[k] * dim, (index[k] + 1) * dim), k * dim);
    return { shape: [index.length, dim], data };
  };
  const weights: Record<string, WeightTensor> = {};
  for (const n of userTables) weights[n] = gather(n, rows.users);
  for (const n of itemTables) weights[n] = gather(n, rows.items);
  const transposed: string[] = [];
  if (kind === 'neumf') {
    // PyTorch's nn.Linear stores [out, in]; derrd multiplies x·W with W [in, out]
    const matrix = (n: string, inDim: number, outDim: number): WeightTensor => {
      const { shape, data } = t(n);
      const d = data as Float32Array;
      if (shape.length === 2 && shape[0] === inDim && shape[1] === outDim) return { shape: [inDim, outDim], data: d };
      if (shape.length === 2 && shape[0] === outDim && shape[1] === inDim) {
        transposed.push(n);
        const out = new Float32Array(inDim * outDim);
        for (let r = 0; r < outDim; r++) for (let c = 0; c < inDim; c++) out[c * outDim + r] = d[r * inDim + c];
        return { shape: [inDim, outDim], data: out };
      }
      if (outDim === 1 && shape.length === 1 && shape[0] === inDim) return { shape: [inDim, 1], data: d };
      throw new InputError(`tensor "${names[n]}" (${n}) has shape [${shape}], expected [${inDim}, ${outDim}] (or PyTorch's [${outDim}, ${inDim}])`, { file: o.origin.file });
    };
    const vector = (n: string, len: number): WeightTensor => {
      const { shape, data } = t(n);
      if (data.length !== len) throw new InputError(`tensor "${names[n]}" (${n}) has shape [${shape}], expected [${len}]`, { file: o.origin.file });
      return { shape: [len], data: data as Float32Array };
    };
    weights.mlp_w = matrix('mlp_w', 2 * dim, dim);
    weights.mlp_b = vector('mlp_b', dim);
    weights.out_w = matrix('out_w', 2 * dim, 1);
    weights.out_b = vector('out_b', 1);
  }
  for (const [n, w] of Object.entries(weights)) {
    const bad = w.data.findIndex((x) => !Number.isFinite(x));
    if (bad >= 0) throw new InputError(`tensor "${names[n]}" holds a non-finite value (${w.data[bad]}) at index ${bad}`, { file: o.origin.file });
  }
  const ds = o.dataset;
  const model = createModel(kind, { numUsers: ds.numUsers, numItems: ds.numItems, dim });
  const started = performance.now();
  let evaluation: EvalResult;
  try {
    model.setWeights(weights);
    evaluation = await evaluateModel(model, ds, ds.numCandidates > 0 ? 'sampled' : 'full');
  } finally {
    model.dispose();
  }
  const bytes = encodeSafetensors(Object.fromEntries(Object.entries(weights).map(([n, w]) => [n, { dtype: 'F32', shape: w.shape, data: w.data }])));
  const card = importedCard(o, { kind, numUsers: ds.numUsers, numItems: ds.numItems, dim, parameters: Object.values(weights).reduce((s, w) => s + w.data.length, 0) }, evaluation, (performance.now() - started) / 1000, {
    file: WEIGHTS_FILE, sha256: sha256(bytes),
  }, { format: 'safetensors', tensors: names, transposed, extra: rows.extra });
  card.config = { model: kind, dim };
  writeCheckpointDir(o.out, Boolean(o.force), card, WEIGHTS_FILE, bytes);
  return { card, evaluation };
}

function importedCard(
  o: { dataset: Dataset; datasetPath: string; ids: TeacherIds; origin: Pick<TeacherOrigin, 'file' | 'sha256'>; out: string; backend: ModelCard['backend'] },
  model: ModelCard['model'], evaluation: EvalResult, seconds: number, weights: { file: string; sha256: string }, origin: Partial<TeacherOrigin> & Pick<TeacherOrigin, 'format'>,
): ModelCard {
  const now = new Date().toISOString();
  return {
    format: 'derrd-model',
    formatVersion: CARD_FORMAT_VERSION,
    name: o.out.split(/[\\/]/).filter(Boolean).pop() ?? o.out,
    model,
    dataset: { hash: o.dataset.manifest.hash, path: o.datasetPath },
    config: {},
    method: { name: 'none' },
    backend: o.backend,
    status: 'imported',
    epochsRun: 0,
    savedEpoch: 0,
    metrics: { protocol: evaluation.protocol, selected: evaluation.test, bestEpochs: { '@5': 0, '@10': 0, '@20': 0 }, saved: { valid: evaluation.valid, test: evaluation.test } },
    history: [],
    wallSeconds: seconds,
    weights,
    createdAt: now,
    updatedAt: now,
    derrdVersion: DERRD_VERSION,
    origin: { ...origin, file: o.origin.file, sha256: o.origin.sha256, ids: o.ids.source, importedAt: now },
  };
}

function writeCheckpointDir(out: string, force: boolean, card: ModelCard, weightsFile: string, bytes: Uint8Array): void {
  if (existsSync(out) && !force) throw new InputError('output directory exists (use --force to replace it)', { file: out });
  writeDirAtomic(out, force, (tmp) => {
    writeFileSync(join(tmp, weightsFile), bytes);
    writeFileSync(join(tmp, CARD_FILE), JSON.stringify(card, null, 2) + '\n');
  });
}

export interface RankingTeacherOptions {
  dataset: Dataset;
  datasetPath: string;
  ids: TeacherIds;
  /** scores of teacher items 0..numItems-1 for teacher users (its own index space), [users.length × numItems] */
  score: (teacherUsers: Int32Array, teacherNumItems: number) => Promise<Float32Array>;
  topN: number;
  /** the teacher's embedding dimension when known (recorded only) */
  dim?: number;
  origin: Pick<TeacherOrigin, 'file' | 'sha256' | 'signature' | 'names'>;
  out: string;
  force?: boolean;
  backend: ModelCard['backend'];
  /** users scored per call */
  batchUsers?: number;
  onProgress?: (done: number, total: number, phase: 'ranking' | 'evaluation') => void;
}

/**
 * Imports a teacher known only by its scores: keeps each user's top-N unobserved items with their scores
 * (`ranking.safetensors`), after evaluating the full scores on the data set's protocol.
 */
export async function importRankingTeacher(o: RankingTeacherOptions): Promise<ImportResult> {
  const ds = o.dataset;
  if (!Number.isInteger(o.topN) || o.topN < 1 || o.topN >= ds.numItems) throw new InputError(`--top-n ${o.topN} must be an integer from 1 to ${ds.numItems - 1} (below the number of items)`);
  const rows = rowsOf(ds, o.ids);
  const teacherItems = o.ids.items.length;
  const batch = o.batchUsers ?? 256;
  // scores of every dense item for dense users
  const denseScores = async (users: Int32Array): Promise<Float32Array> => {
    const raw = await o.score(Int32Array.from(users, (u) => rows.users[u]), teacherItems);
    if (raw.length !== users.length * teacherItems) throw new Error(`teacher returned ${raw.length} scores for ${users.length} users × ${teacherItems} items`);
    const out = new Float32Array(users.length * ds.numItems);
    for (let b = 0; b < users.length; b++) for (let i = 0; i < ds.numItems; i++) out[b * ds.numItems + i] = raw[b * teacherItems + rows.items[i]];
    const bad = out.findIndex((x) => Number.isNaN(x) || x === Infinity);
    if (bad >= 0) throw new InputError(`the teacher scored user "${ds.userIds.rawId(users[Math.floor(bad / ds.numItems)])}", item "${ds.itemIds.rawId(bad % ds.numItems)}" as ${out[bad]}`, { file: o.origin.file });
    return out;
  };
  const started = performance.now();
  const N = o.topN;
  const items = new Int32Array(ds.numUsers * N).fill(-1);
  const scores = new Float32Array(ds.numUsers * N).fill(-Infinity);
  for (let s = 0; s < ds.numUsers; s += batch) {
    const users = Int32Array.from({ length: Math.min(batch, ds.numUsers - s) }, (_v, k) => s + k);
    const block = await denseScores(users);
    for (let b = 0; b < users.length; b++) {
      const u = users[b];
      const row = block.subarray(b * ds.numItems, (b + 1) * ds.numItems);
      for (let k = ds.trainIndptr[u]; k < ds.trainIndptr[u + 1]; k++) row[ds.trainItems[k]] = -Infinity;
      const top = topIndices(row, N);
      top.forEach((i, r) => { items[u * N + r] = i; scores[u * N + r] = row[i]; });
    }
    o.onProgress?.(Math.min(ds.numUsers, s + batch), ds.numUsers, 'ranking');
  }
  let done = 0;
  const evalBatch = { batchUsers: batch };
  const evaluation = ds.numCandidates > 0
    ? await evaluateSampled(ds, async (users, its, width) => {
      const block = await denseScores(users);
      o.onProgress?.((done += users.length), ds.manifest.counts.evalUsers, 'evaluation');
      return Float32Array.from(its, (i, k) => block[Math.floor(k / width) * ds.numItems + i]);
    }, evalBatch)
    : await evaluateFull(ds, (users) => denseScores(users), evalBatch);
  const bytes = encodeSafetensors({ items: { dtype: 'I32', shape: [ds.numUsers, N], data: items }, scores: { dtype: 'F32', shape: [ds.numUsers, N], data: scores } }, { format: 'derrd-ranking-teacher', topN: String(N) });
  const card = importedCard(o, { kind: RANKING_TEACHER_KIND, numUsers: ds.numUsers, numItems: ds.numItems, dim: o.dim ?? 0, parameters: 0 }, evaluation, (performance.now() - started) / 1000,
    { file: RANKING_FILE, sha256: sha256(bytes) }, { format: 'onnx', signature: o.origin.signature, names: o.origin.names, topN: N, extra: rows.extra });
  writeCheckpointDir(o.out, Boolean(o.force), card, RANKING_FILE, bytes);
  return { card, evaluation };
}

const notDifferentiable = (): never => {
  throw new Error('an imported ONNX teacher holds only its ranking: it has no differentiable scores or embeddings');
};

/**
 * A teacher that is only its stored top-N ranking with scores: scoring an item outside a user's top-N gives -Infinity,
 * so a ranking of any length up to N computed from it is exactly the stored one's prefix.
 */
export class RankingTeacher implements RecModel {
  readonly config: ModelConfig;
  readonly variables: Record<string, Variable> = {};
  readonly topN: number;
  private readonly items: Int32Array;
  private readonly scores: Float32Array;

  constructor(numUsers: number, numItems: number, topN: number, items: Int32Array, scores: Float32Array) {
    // a ranking teacher has no base model; the kind is what its card records (nothing dispatches on a teacher's kind)
    this.config = { kind: RANKING_TEACHER_KIND, numUsers, numItems, dim: 0 } as unknown as ModelConfig;
    this.topN = topN;
    this.items = items;
    this.scores = scores;
  }

  scorePairs(_users: Tensor, _items: Tensor): Tensor { return notDifferentiable(); }
  scoreUserItems(_users: Tensor, _items: Tensor): Tensor { return notDifferentiable(); }
  baseLoss(_users: Tensor, _pos: Tensor, _neg: Tensor): Scalar { return notDifferentiable(); }
  representations(): Representation[] { return []; }
  parameterCount(): number { return 0; }
  getWeights(): Record<string, WeightTensor> { return {}; }
  setWeights(): void { notDifferentiable(); }
  dispose(): void {}

  createScorer(): Scorer {
    const { numItems } = this.config;
    const N = this.topN;
    const scoreOf = (u: number, i: number) => {
      for (let r = u * N; r < (u + 1) * N && this.items[r] >= 0; r++) if (this.items[r] === i) return this.scores[r];
      return -Infinity;
    };
    return {
      scoreItems: (users, items, perUser) => Float32Array.from(items, (i, k) => scoreOf(users[Math.floor(k / perUser)], i)),
      scoreAll: (users) => {
        const out = new Float32Array(users.length * numItems).fill(-Infinity);
        users.forEach((u, b) => {
          for (let r = u * N; r < (u + 1) * N && this.items[r] >= 0; r++) out[b * numItems + this.items[r]] = this.scores[r];
        });
        return out;
      },
      dispose: () => {},
    };
  }
}

/** A checkpoint as a teacher: a trained or imported model, or an imported ranking teacher. */
export function loadTeacher(dir: string, dataset: Dataset): LoadedCheckpoint {
  const card = readCard(dir);
  if (!isRankingTeacher(card)) return loadCheckpoint(dir, dataset);
  if (card.dataset.hash !== dataset.manifest.hash || card.model.numUsers !== dataset.numUsers || card.model.numItems !== dataset.numItems) {
    throw new InputError(`the ONNX teacher was imported for data set ${card.dataset.hash.slice(0, 12)}… (${card.dataset.path}) but this data set is ${dataset.manifest.hash.slice(0, 12)}…: import it again with --data`, { file: dir });
  }
  const { tensors, sha256: digest } = readWeights(dir, card);
  const items = tensors.items;
  const scores = tensors.scores;
  const N = card.origin?.topN ?? items?.shape[1];
  if (!items || !scores || items.dtype !== 'I32' || scores.dtype !== 'F32' || items.shape.join() !== `${dataset.numUsers},${N}` || scores.shape.join() !== items.shape.join()) {
    throw new InputError(`${RANKING_FILE} does not hold items I32 and scores F32 of shape [${dataset.numUsers}, ${N}]`, { file: dir });
  }
  return { card, model: new RankingTeacher(dataset.numUsers, dataset.numItems, N!, items.data as Int32Array, scores.data as Float32Array), weightsSha256: digest };
}
