/**
 * A model checkpoint directory: `card.json` (the model card), `model.safetensors` (the selected weights) and, while
 * training, `resume.safetensors` (last epoch's weights + optimizer state). Pure: the exporter reads it without tfjs.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { InputError } from './errors.js';
import { readJsonInDir, sha256 } from './fsutil.js';
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

export function readCard(dir: string): ModelCard {
  const { value: card, path } = readJsonInDir<ModelCard>(dir, CARD_FILE, 'checkpoint', 'from `derrd train` or `derrd distill`');
  if (card.format !== 'derrd-model') throw new InputError('not a derrd model card', { file: path });
  if (card.formatVersion !== CARD_FORMAT_VERSION) throw new InputError(`model card version ${card.formatVersion} is not supported (expected ${CARD_FORMAT_VERSION})`, { file: path });
  return card;
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
  return { tensors: decodeSafetensors(bytes, path).tensors, sha256: digest };
}
