/**
 * A model checkpoint directory: `card.json` (the model card), `model.safetensors` (the selected weights) and, while
 * training, `resume.safetensors` (last epoch's weights + optimizer state). Pure: the exporter reads it without tfjs.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { InputError } from './errors.js';
import { checkWritable, isTemporaryName, readJsonInDir, removeStaleTemporaries, sha256, type OutputKind } from './fsutil.js';
import type { Metrics } from './metrics.js';
import { decodeSafetensors, type SafeTensor } from './safetensors.js';

export const CARD_FILE = 'card.json';
export const WEIGHTS_FILE = 'model.safetensors';
export const RESUME_FILE = 'resume.safetensors';
export const CARD_FORMAT_VERSION = 1;

export interface EpochRecord {
  epoch: number;
  loss: number;
  /** per-term losses (base, and each distillation term before its λ) */
  terms?: Record<string, number>;
  valid: Metrics;
  test: Metrics;
  trainSeconds: number;
  evalSeconds: number;
}

export interface ModelCard {
  format: 'derrd-model';
  formatVersion: number;
  name: string;
  model: { kind: string; numUsers: number; numItems: number; dim: number; parameters: number };
  dataset: { hash: string; path: string };
  /** the full training configuration (reproduces the run) */
  config: Record<string, unknown>;
  /** distillation: method name ('none' for plain training), its settings, and the teacher */
  method: { name: string; settings?: Record<string, unknown>; teacher?: { path: string; kind: string; dim: number; weightsSha256: string } };
  backend: { name: string; tfjsVersion: string; simd?: boolean; threads: number };
  /** imported: a teacher trained elsewhere (`derrd teacher import`), see `origin` */
  status: 'running' | 'early-stopped' | 'max-epochs' | 'failed' | 'imported';
  epochsRun: number;
  /** epoch whose weights are in model.safetensors (best validation HR@selectCutoff) */
  savedEpoch: number;
  metrics: {
    protocol: 'sampled' | 'full';
    /** the authors' reporting: for each N the test metrics of the epoch with the best validation HR@N */
    selected: Metrics;
    bestEpochs: Record<string, number>;
    /** valid and test metrics of the saved epoch */
    saved: { valid: Metrics; test: Metrics } | null;
  };
  history: EpochRecord[];
  wallSeconds: number;
  weights: { file: string; sha256: string } | null;
  createdAt: string;
  updatedAt: string;
  derrdVersion: string;
  /** where an imported teacher came from */
  origin?: TeacherOrigin;
}

/** The source of an imported teacher, recorded in its card. */
export interface TeacherOrigin {
  format: 'safetensors' | 'onnx';
  /** the file as given on import, and its sha256 */
  file: string;
  sha256: string;
  /** where the raw-id order of its rows came from */
  ids: string;
  importedAt: string;
  /** safetensors: the file's tensor name for each of derrd's, and those transposed from PyTorch's [out, in] */
  tensors?: Record<string, string>;
  transposed?: string[];
  /** ONNX: how the model scores, its inputs/output, and the ranking length kept */
  signature?: string;
  names?: Record<string, string>;
  topN?: number;
  /** the teacher's users and items outside the data set (ignored) */
  extra?: { users: number; items: number };
}

const STATUSES: readonly ModelCard['status'][] = ['running', 'early-stopped', 'max-epochs', 'failed', 'imported'];

export function readCard(dir: string): ModelCard {
  const { value: card, path } = readJsonInDir<ModelCard>(dir, CARD_FILE, 'checkpoint', 'from `derrd train` or `derrd distill`');
  if (card.format !== 'derrd-model') throw new InputError('not a derrd model card', { file: path });
  if (card.formatVersion !== CARD_FORMAT_VERSION) throw new InputError(`model card version ${card.formatVersion} is not supported (expected ${CARD_FORMAT_VERSION})`, { file: path });
  const problem = cardProblem(card);
  if (problem) throw new InputError(`model card is damaged: ${problem} (edited by hand?); train or import the model again`, { file: path });
  return card;
}

/** What is wrong with a card's fields that loading relies on, or null. */
function cardProblem(card: ModelCard): string | null {
  const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  const count = (v: unknown, min: number) => Number.isInteger(v) && (v as number) >= min;
  const m = card.model as unknown;
  if (!isObject(m) || typeof m.kind !== 'string') return 'no model kind';
  if (!count(m.numUsers, 1) || !count(m.numItems, 1) || !count(m.dim, 0)) return `model sizes ${String(m.numUsers)} users × ${String(m.numItems)} items, d=${String(m.dim)} are not counts`;
  if (!isObject(card.dataset) || typeof card.dataset.hash !== 'string') return 'no data set hash';
  if (!STATUSES.includes(card.status)) return `status "${String(card.status)}" is not one of ${STATUSES.join('|')}`;
  if (!isObject(card.method) || typeof card.method.name !== 'string') return 'no method';
  if (!isObject(card.metrics) || !Array.isArray(card.history) || !isObject(card.config)) return 'no metrics, history or config';
  const w = card.weights as unknown;
  if (w !== null && (!isObject(w) || typeof w.file !== 'string' || w.file !== basename(w.file) || w.file.startsWith('.') || typeof w.sha256 !== 'string')) {
    return 'weights must name a file in the checkpoint directory and its sha256';
  }
  return null;
}

/** Whether the run behind a card is over (early-stopped, at its epoch cap, or imported), so its weights are final. */
export function trainingFinished(card: Pick<ModelCard, 'status'>): boolean {
  return card.status === 'early-stopped' || card.status === 'max-epochs' || card.status === 'imported';
}

/** The model card in `dir` if the run finished training, else null (no card, or still running). */
export function finishedCard(dir: string): ModelCard | null {
  if (!existsSync(join(dir, CARD_FILE))) return null;
  const card = readCard(dir);
  return trainingFinished(card) ? card : null;
}

/** Whether `dir` holds a model card of a run that finished training. */
export function checkpointFinished(dir: string): boolean {
  return finishedCard(dir) !== null;
}

/** The selected weights, verified against the card's sha256. */
export function readWeights(dir: string, card: ModelCard = readCard(dir)): { tensors: Record<string, SafeTensor>; sha256: string } {
  if (!card.weights) throw new InputError('checkpoint has no saved weights yet (training has not finished an epoch)', { file: dir });
  const path = join(dir, card.weights.file);
  if (!existsSync(path)) throw new InputError('weights file missing', { file: path });
  const bytes = readFileSync(path);
  const digest = sha256(bytes);
  if (digest !== card.weights.sha256) throw new InputError('weights do not match the model card (sha256 differs): corrupt or replaced file', { file: path });
  const { tensors } = decodeSafetensors(bytes, path);
  for (const [name, t] of Object.entries(tensors)) {
    if (t.dtype !== 'F32') continue;
    const bad = t.data.findIndex((x) => !Number.isFinite(x));
    if (bad >= 0) {
      let count = 0;
      for (const x of t.data) if (!Number.isFinite(x)) count++;
      throw new InputError(`tensor "${name}" holds ${count} non-finite value${count > 1 ? 's' : ''} (the first, ${t.data[bad]}, at index ${bad}): these weights cannot score; train again (a lower --lr avoids a run that diverged)`, { file: path });
    }
  }
  return { tensors, sha256: digest };
}

/** A checkpoint directory, as `--force` may replace it: derrd's model files and caches, nothing else. */
export const CHECKPOINT_OUTPUT: OutputKind = {
  what: 'checkpoint', markers: [CARD_FILE, RESUME_FILE],
  owns: (name) => [CARD_FILE, WEIGHTS_FILE, RESUME_FILE, 'ranking.safetensors'].includes(name) || /^ranking-top\d+\.i32(\.json)?$/.test(name),
};

/**
 * Checks where `derrd train`/`distill` will write, before the data is read or anything trained: --resume and --force
 * exclude each other; the output is a new or empty directory or one holding a checkpoint (derrd never trains into a
 * user's other directory or over a file); it is writable. Temporaries of a killed run are cleaned.
 */
export function checkTrainingOut(out: string, o: { resume?: boolean; force?: boolean }): void {
  if (o.resume && o.force) throw new InputError('--resume and --force exclude each other: --resume continues the run in --out, --force starts it over; give one');
  if (existsSync(out) && !statSync(out).isDirectory()) {
    throw new InputError('is a file, not a checkpoint directory: derrd writes a checkpoint into a directory of its own (--force does not replace a file); choose another --out', { file: out });
  }
  for (const f of [CARD_FILE, WEIGHTS_FILE, RESUME_FILE]) removeStaleTemporaries(join(out, f));
  if (existsSync(out)) {
    const entries = readdirSync(out).filter((e) => !isTemporaryName(e));
    if (entries.length > 0 && !CHECKPOINT_OUTPUT.markers.some((m) => entries.includes(m))) {
      throw new InputError(`is a directory but not a checkpoint (no ${CARD_FILE}): derrd trains into a new or empty directory, or over a checkpoint of its own; choose another --out`, { file: out });
    }
    checkWritable(out, out);
  } else {
    checkWritable(dirname(resolve(out)), out);
  }
}
