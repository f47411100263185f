/**
 * The contract every base model fulfils (BPR-MF, NeuMF, later LightGCN). Training code talks to models only
 * through this interface, and `test/conformance.ts` checks every model against it.
 */
import { InputError, Rng } from '@derrd/core';
import { tf, type Scalar, type Tensor, type Variable } from '../tf.js';

export type ModelKind = 'bpr' | 'neumf';

export interface ModelConfig {
  kind: ModelKind;
  numUsers: number;
  numItems: number;
  dim: number;
}

/** An embedding table DE distils, with the side it belongs to. */
export interface Representation {
  name: string;
  side: 'user' | 'item';
  table: Variable;
}

/** A frozen snapshot for evaluation (derived tensors cached); dispose when done. */
export interface Scorer {
  /** items is [users.length × itemsPerUser]; result the same shape */
  scoreItems(users: Int32Array, items: Int32Array, itemsPerUser: number): Float32Array;
  /** [users.length × numItems] */
  scoreAll(users: Int32Array): Float32Array;
  dispose(): void;
}

export interface WeightTensor {
  shape: number[];
  data: Float32Array;
}

export interface RecModel {
  readonly config: ModelConfig;
  /** every trainable parameter by a stable name (checkpoint keys) */
  readonly variables: Record<string, Variable>;
  /** differentiable scores of (user, item) pairs: [N] */
  scorePairs(users: Tensor, items: Tensor): Tensor;
  /** differentiable scores of W items per user: users [B], items [B, W] → [B, W] */
  scoreUserItems(users: Tensor, items: Tensor): Tensor;
  /** the model's own training loss on (user, positive, negative) triples, summed over the batch */
  baseLoss(users: Tensor, pos: Tensor, neg: Tensor): Scalar;
  /** user and item representations for distillation */
  representations(): Representation[];
  createScorer(): Scorer;
  /**
   * Models whose score is the dot product of a user row and an item row give copies of both tables (row-major
   * [numUsers × dim] and [numItems × dim]): evaluation and teacher rankings then run fused on both cores.
   */
  dotTables?(): { users: Float32Array; items: Float32Array };
  parameterCount(): number;
  getWeights(): Record<string, WeightTensor>;
  setWeights(weights: Record<string, WeightTensor>): void;
  dispose(): void;
}

/** Shared mechanics: named variables, weight I/O with shape checks, parameter count, disposal. */
export abstract class BaseModel implements RecModel {
  readonly config: ModelConfig;
  readonly variables: Record<string, Variable> = {};

  protected constructor(config: ModelConfig) {
    for (const key of ['numUsers', 'numItems', 'dim'] as const) {
      if (!Number.isInteger(config[key]) || config[key] < 1) throw new InputError(`${key} must be a positive integer, got ${config[key]}`);
    }
    this.config = config;
  }

  protected addVariable(name: string, shape: number[], values: Float32Array): Variable {
    const v = tf.variable(tf.tensor(values, shape, 'float32'), true, `${this.config.kind}.${name}.${nextId++}`);
    this.variables[name] = v;
    return v;
  }

  abstract scorePairs(users: Tensor, items: Tensor): Tensor;
  abstract baseLoss(users: Tensor, pos: Tensor, neg: Tensor): Scalar;
  abstract representations(): Representation[];
  abstract createScorer(): Scorer;

  scoreUserItems(users: Tensor, items: Tensor): Tensor {
    return tf.tidy(() => {
      const [b, w] = items.shape as [number, number];
      const repeated = tf.reshape(tf.tile(tf.reshape(users, [b, 1]), [1, w]), [b * w]);
      return tf.reshape(this.scorePairs(repeated, tf.reshape(items, [b * w])), [b, w]);
    });
  }

  parameterCount(): number {
    return Object.values(this.variables).reduce((s, v) => s + v.size, 0);
  }

  getWeights(): Record<string, WeightTensor> {
    const out: Record<string, WeightTensor> = {};
    for (const [name, v] of Object.entries(this.variables)) out[name] = { shape: v.shape.slice(), data: v.dataSync() as Float32Array };
    return out;
  }

  setWeights(weights: Record<string, WeightTensor>): void {
    for (const [name, v] of Object.entries(this.variables)) {
      const w = weights[name];
      if (!w) throw new InputError(`checkpoint has no tensor "${name}" for a ${this.config.kind} model`);
      if (w.shape.length !== v.shape.length || w.shape.some((d, k) => d !== v.shape[k])) {
        throw new InputError(`tensor "${name}" has shape [${w.shape}] but this ${this.config.kind} model (users ${this.config.numUsers}, items ${this.config.numItems}, dim ${this.config.dim}) needs [${v.shape}]`);
      }
      v.assign(tf.tensor(w.data, w.shape, 'float32'));
    }
  }

  dispose(): void {
    for (const v of Object.values(this.variables)) v.dispose();
  }
}

let nextId = 0;

/** N(0, std²) values from the seeded RNG (backend-independent initialisation). */
export function normalInit(rng: Rng, size: number, std: number): Float32Array {
  const out = new Float32Array(size);
  for (let k = 0; k < size; k++) out[k] = rng.normal() * std;
  return out;
}

export function uniformInit(rng: Rng, size: number, bound: number): Float32Array {
  const out = new Float32Array(size);
  for (let k = 0; k < size; k++) out[k] = (rng.float() * 2 - 1) * bound;
  return out;
}

/** Scores rows in blocks so that no intermediate exceeds `maxFloats`. */
export function blockRows(total: number, perRowFloats: number, maxFloats = 8_000_000): number {
  return Math.max(1, Math.min(total, Math.floor(maxFloats / Math.max(1, perRowFloats))));
}
