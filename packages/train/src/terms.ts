/**
 * What a distiller adds to training: its own trainable parameters, an optional per-epoch hook (re-sampling,
 * temperature), and a loss term on each batch. The trainer minimises base loss + Σ weight · term.
 */
import type { Rng } from '@derrd/core';
import type { Scalar, Tensor, Variable } from './tf.js';

export interface Batch {
  users: Tensor;
  pos: Tensor;
  neg: Tensor;
  userIds: Int32Array;
  posIds: Int32Array;
  negIds: Int32Array;
  epoch: number;
  index: number;
}

export interface LossTerm {
  readonly name: string;
  /** λ: the term enters the objective as weight · loss */
  readonly weight: number;
  /** trainable parameters owned by the term (experts, selection networks); may be empty */
  variables(): Record<string, Variable>;
  /** called before each epoch's batches, with a generator reserved for this term and epoch */
  onEpochStart?(epoch: number, rng: Rng): void;
  /** the unweighted term on one batch (summed over its entities, as the authors' code) */
  loss(batch: Batch): Scalar;
  /** settings recorded in the model card */
  settings(): Record<string, unknown>;
  dispose(): void;
}
