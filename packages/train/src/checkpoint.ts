/** Loading a trained checkpoint back into a tfjs model, checked against the data it is used with. */
import { InputError, readCard, readWeights, type Dataset, type ModelCard } from '@derrd/core';
import { createModel } from './models/registry.js';
import type { RecModel } from './models/model.js';

export interface LoadedCheckpoint {
  card: ModelCard;
  model: RecModel;
  weightsSha256: string;
}

/** Reads card + weights; with `dataset`, refuses a checkpoint trained on other data or of other dims. */
export function loadCheckpoint(dir: string, dataset?: Dataset): LoadedCheckpoint {
  const card = readCard(dir);
  if (card.model.kind === 'onnx') throw new InputError('this is an imported ONNX teacher: it holds its ranking, not model weights; only `derrd distill --method rrd|rd|cd` reads it (its metrics on import are in card.json)', { file: dir });
  if (dataset) {
    if (card.model.numUsers !== dataset.numUsers || card.model.numItems !== dataset.numItems) {
      throw new InputError(`checkpoint is for ${card.model.numUsers} users × ${card.model.numItems} items but the data set has ${dataset.numUsers} × ${dataset.numItems}`, { file: dir });
    }
    if (card.dataset.hash !== dataset.manifest.hash) {
      throw new InputError(`checkpoint was trained on data set ${card.dataset.hash.slice(0, 12)}… (${card.dataset.path}) but this data set is ${dataset.manifest.hash.slice(0, 12)}…`, { file: dir });
    }
  }
  const { tensors, sha256 } = readWeights(dir, card);
  const model = createModel(card.model.kind, { numUsers: card.model.numUsers, numItems: card.model.numItems, dim: card.model.dim });
  const weights: Record<string, { shape: number[]; data: Float32Array }> = {};
  for (const [name, t] of Object.entries(tensors)) {
    if (t.dtype !== 'F32') throw new InputError(`tensor "${name}" is ${t.dtype}, expected F32`, { file: dir });
    weights[name] = { shape: t.shape, data: t.data as Float32Array };
  }
  try {
    model.setWeights(weights);
  } catch (err) {
    model.dispose();
    throw err instanceof InputError ? new InputError(err.message, { file: dir }) : err;
  }
  return { card, model, weightsSha256: sha256 };
}
