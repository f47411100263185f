/**
 * BPR-MF (Rendle et al. 2009) as in the DE-RRD code: user/item embeddings N(0, 0.01²), no biases,
 * score ⟨e_u, e_i⟩, loss Σ −log σ(s(u,i) − s(u,j)) summed over the batch (written as softplus: tf.logSigmoid
 * breaks inside minimize in tfjs 4.22).
 */
import { Rng } from '@derrd/core';
import { tf, type Scalar, type Tensor, type Variable } from '../tf.js';
import { embeddingLookup } from '../ops.js';
import { innerProductsByRow } from './inner-products.js';
import { BaseModel, blockRows, normalInit, type Representation, type Scorer } from './model.js';

export const BPR_DEFAULTS = { initStd: 0.01 } as const;

export class BprMf extends BaseModel {
  readonly user: Variable;
  readonly item: Variable;

  constructor(config: { numUsers: number; numItems: number; dim: number }, seed = 0) {
    super({ kind: 'bpr', ...config });
    const rng = new Rng(seed).fork(11);
    this.user = this.addVariable('user', [config.numUsers, config.dim], normalInit(rng, config.numUsers * config.dim, BPR_DEFAULTS.initStd));
    this.item = this.addVariable('item', [config.numItems, config.dim], normalInit(rng, config.numItems * config.dim, BPR_DEFAULTS.initStd));
  }

  scorePairs(users: Tensor, items: Tensor): Tensor {
    return tf.tidy(() => tf.sum(tf.mul(embeddingLookup(this.user, users), embeddingLookup(this.item, items)), 1));
  }

  /** Each user's inner products with its row of items ([B] × [B, W]), straight from the tables (models/inner-products.ts). */
  override scoreUserItems(users: Tensor, items: Tensor): Tensor {
    return innerProductsByRow(this.item, this.user, items.dataSync() as Int32Array, users.dataSync() as Int32Array, 'simd', ['items', 'users']);
  }

  baseLoss(users: Tensor, pos: Tensor, neg: Tensor): Scalar {
    return tf.tidy(() => {
      // one lookup for positives and negatives: one dense gradient for the item table instead of two plus an add
      const n = users.shape[0];
      const items = embeddingLookup(this.item, tf.concat([pos, neg]));
      const diff = tf.sum(tf.mul(embeddingLookup(this.user, users), tf.sub(tf.slice(items, [0, 0], [n, -1]), tf.slice(items, [n, 0], [n, -1]))), 1);
      return tf.sum(tf.softplus(tf.neg(diff))) as Scalar;
    });
  }

  representations(): Representation[] {
    return [
      { name: 'user', side: 'user', table: this.user },
      { name: 'item', side: 'item', table: this.item },
    ];
  }

  dotTables(): { users: Float32Array; items: Float32Array } {
    return { users: Float32Array.from(this.user.dataSync() as Float32Array), items: Float32Array.from(this.item.dataSync() as Float32Array) };
  }

  createScorer(): Scorer {
    const d = this.config.dim;
    const numItems = this.config.numItems;
    // item table transposed once: wasm matMul is ~13x slower with transposeB
    const itemT = tf.transpose(this.item);
    return {
      scoreItems: (users, items, w) => {
        const out = new Float32Array(items.length);
        const block = blockRows(users.length, w * d);
        for (let s = 0; s < users.length; s += block) {
          const e = Math.min(users.length, s + block);
          const scores = tf.tidy(() => this.scoreUserItems(tf.tensor1d(users.subarray(s, e), 'int32'), tf.tensor2d(items.subarray(s * w, e * w), [e - s, w], 'int32')));
          out.set(scores.dataSync() as Float32Array, s * w);
          scores.dispose();
        }
        return out;
      },
      scoreAll: (users) => {
        const out = new Float32Array(users.length * numItems);
        const block = blockRows(users.length, numItems);
        for (let s = 0; s < users.length; s += block) {
          const e = Math.min(users.length, s + block);
          const scores = tf.tidy(() => tf.matMul(tf.gather(this.user, tf.tensor1d(users.subarray(s, e), 'int32')), itemT));
          out.set(scores.dataSync() as Float32Array, s * numItems);
          scores.dispose();
        }
        return out;
      },
      dispose: () => itemT.dispose(),
    };
  }
}
