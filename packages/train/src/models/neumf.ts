/**
 * NeuMF (He et al. 2017) as in the DE-RRD authors' base code: separate GMF and MLP embeddings of dim d
 * (N(0, 0.01²)); GMF = e_u ⊙ e_i; MLP = ReLU(Linear(2d → d)(concat(e_u, e_i))) (one hidden layer); logit =
 * Linear(2d → 1)(concat(GMF, MLP)). MLP weight xavier_uniform, output weight kaiming_uniform(a=1, nonlinearity='relu'),
 * biases 0. PyTorch ignores `a` for 'relu', so the output bound is √2·√(3/fan_in) = √(6/2d); before 2026-11-29 derrd used
 * gain 1 (√(3/2d)), which the NeuMF runs of docs/results.md's table started from.
 * Loss: BCE on logits summed over the positive (label 1) and the negative (label 0) of each triple.
 * Weights are stored [in, out] so products need no transposeB.
 */
import { Rng } from '@derrd/core';
import { tf, type Scalar, type Tensor, type Variable } from '../tf.js';
import { embeddingLookup, matMul } from '../ops.js';
import { BaseModel, blockRows, normalInit, uniformInit, type Representation, type Scorer } from './model.js';

export const NEUMF_DEFAULTS = { initStd: 0.01, outputInitGain: Math.SQRT2 } as const;

export class NeuMf extends BaseModel {
  readonly userGmf: Variable;
  readonly itemGmf: Variable;
  readonly userMlp: Variable;
  readonly itemMlp: Variable;
  readonly mlpW: Variable;
  readonly mlpB: Variable;
  readonly outW: Variable;
  readonly outB: Variable;

  constructor(config: { numUsers: number; numItems: number; dim: number }, seed = 0) {
    super({ kind: 'neumf', ...config });
    const { numUsers: U, numItems: I, dim: d } = config;
    const rng = new Rng(seed).fork(12);
    const std = NEUMF_DEFAULTS.initStd;
    this.userGmf = this.addVariable('user_gmf', [U, d], normalInit(rng, U * d, std));
    this.itemGmf = this.addVariable('item_gmf', [I, d], normalInit(rng, I * d, std));
    this.userMlp = this.addVariable('user_mlp', [U, d], normalInit(rng, U * d, std));
    this.itemMlp = this.addVariable('item_mlp', [I, d], normalInit(rng, I * d, std));
    this.mlpW = this.addVariable('mlp_w', [2 * d, d], uniformInit(rng, 2 * d * d, Math.sqrt(6 / (2 * d + d))));
    this.mlpB = this.addVariable('mlp_b', [d], new Float32Array(d));
    this.outW = this.addVariable('out_w', [2 * d, 1], uniformInit(rng, 2 * d, NEUMF_DEFAULTS.outputInitGain * Math.sqrt(3 / (2 * d))));
    this.outB = this.addVariable('out_b', [1], new Float32Array(1));
  }

  scorePairs(users: Tensor, items: Tensor): Tensor {
    return tf.tidy(() => {
      const gmf = tf.mul(embeddingLookup(this.userGmf, users), embeddingLookup(this.itemGmf, items));
      const mlpIn = tf.concat([embeddingLookup(this.userMlp, users), embeddingLookup(this.itemMlp, items)], 1);
      const hidden = tf.relu(tf.add(matMul(mlpIn, this.mlpW), this.mlpB));
      const logit = tf.add(matMul(tf.concat([gmf, hidden], 1), this.outW), this.outB);
      return tf.reshape(logit, [-1]);
    });
  }

  /**
   * Scores [B, W] items for B users without repeating the users: each user's rows are looked up once and broadcast,
   * the MLP's first layer is split into its user and item halves, and the output layer into its GMF and MLP halves,
   * so no [B·W, 2d] concatenation (and its split in the gradient) is built. Same scores as scorePairs; RRD, RD and
   * CD score 80 items per user this way.
   */
  override scoreUserItems(users: Tensor, items: Tensor): Tensor {
    return tf.tidy(() => {
      const [b, w] = items.shape as [number, number];
      const d = this.config.dim;
      const flatItems = tf.reshape(items, [b * w]);
      const userGmf = tf.reshape(embeddingLookup(this.userGmf, users), [b, 1, d]);
      const itemGmf = tf.reshape(embeddingLookup(this.itemGmf, flatItems), [b, w, d]);
      const gmf = tf.reshape(tf.mul(userGmf, itemGmf), [b * w, d]);
      const userPart = tf.reshape(matMul(embeddingLookup(this.userMlp, users), tf.slice(this.mlpW, [0, 0], [d, d])), [b, 1, d]);
      const itemPart = tf.reshape(matMul(embeddingLookup(this.itemMlp, flatItems), tf.slice(this.mlpW, [d, 0], [d, d])), [b, w, d]);
      const hidden = tf.reshape(tf.relu(tf.add(tf.add(userPart, itemPart), this.mlpB)), [b * w, d]);
      const logit = tf.add(tf.add(matMul(gmf, tf.slice(this.outW, [0, 0], [d, 1])), matMul(hidden, tf.slice(this.outW, [d, 0], [d, 1]))), this.outB);
      return tf.reshape(logit, [b, w]);
    });
  }

  baseLoss(users: Tensor, pos: Tensor, neg: Tensor): Scalar {
    return tf.tidy(() => {
      // positives and negatives in one pass: one dense gradient per embedding table
      const n = users.shape[0];
      const logits = this.scorePairs(tf.concat([users, users]), tf.concat([pos, neg]));
      // BCE(logit, 1) = softplus(-logit); BCE(logit, 0) = softplus(logit)
      const signed = tf.mul(logits, tf.concat([tf.fill([n], -1), tf.fill([n], 1)]));
      return tf.sum(tf.softplus(signed)) as Scalar;
    });
  }

  representations(): Representation[] {
    return [
      { name: 'user_gmf', side: 'user', table: this.userGmf },
      { name: 'user_mlp', side: 'user', table: this.userMlp },
      { name: 'item_gmf', side: 'item', table: this.itemGmf },
      { name: 'item_mlp', side: 'item', table: this.itemMlp },
    ];
  }

  /**
   * The first MLP layer is linear in concat(e_u, e_i), so W·[e_u; e_i] + b = (W_u e_u + b) + W_i e_i: both halves
   * are computed once per user and per item, and scoring a pair costs O(d) instead of O(d²).
   */
  createScorer(): Scorer {
    const d = this.config.dim;
    const numItems = this.config.numItems;
    const userHidden = tf.tidy(() => tf.add(tf.matMul(this.userMlp, tf.slice(this.mlpW, [0, 0], [d, d])), this.mlpB));
    const itemHidden = tf.tidy(() => tf.matMul(this.itemMlp, tf.slice(this.mlpW, [d, 0], [d, d])));
    const wGmf = tf.tidy(() => tf.reshape(tf.slice(this.outW, [0, 0], [d, 1]), [d]));
    const wMlp = tf.tidy(() => tf.slice(this.outW, [d, 0], [d, 1]));
    const userGmfW = tf.tidy(() => tf.mul(this.userGmf, wGmf));
    const itemGmfT = tf.transpose(this.itemGmf);
    const score = (users: Tensor, items: Tensor): Tensor => tf.tidy(() => {
      const [b, w] = items.shape as [number, number];
      const flat = tf.reshape(items, [b * w]);
      const hidden = tf.relu(tf.add(tf.reshape(tf.gather(itemHidden, flat), [b, w, d]), tf.reshape(tf.gather(userHidden, users), [b, 1, d])));
      const mlp = tf.reshape(tf.matMul(tf.reshape(hidden, [b * w, d]), wMlp), [b, w]);
      const gmf = tf.reshape(tf.matMul(tf.reshape(tf.gather(this.itemGmf, flat), [b, w, d]), tf.reshape(tf.gather(userGmfW, users), [b, d, 1])), [b, w]);
      return tf.add(tf.add(mlp, gmf), this.outB);
    });
    return {
      scoreItems: (users, items, w) => {
        const out = new Float32Array(items.length);
        const block = blockRows(users.length, w * d * 2);
        for (let s = 0; s < users.length; s += block) {
          const e = Math.min(users.length, s + block);
          const scores = tf.tidy(() => score(tf.tensor1d(users.subarray(s, e), 'int32'), tf.tensor2d(items.subarray(s * w, e * w), [e - s, w], 'int32')));
          out.set(scores.dataSync() as Float32Array, s * w);
          scores.dispose();
        }
        return out;
      },
      scoreAll: (users) => {
        const out = new Float32Array(users.length * numItems);
        const block = blockRows(users.length, numItems * d * 2);
        for (let s = 0; s < users.length; s += block) {
          const e = Math.min(users.length, s + block);
          const scores = tf.tidy(() => {
            const u = tf.tensor1d(users.subarray(s, e), 'int32');
            const hidden = tf.relu(tf.add(tf.reshape(itemHidden, [1, numItems, d]), tf.reshape(tf.gather(userHidden, u), [e - s, 1, d])));
            const mlp = tf.reshape(tf.matMul(tf.reshape(hidden, [(e - s) * numItems, d]), wMlp), [e - s, numItems]);
            const gmf = tf.matMul(tf.gather(userGmfW, u), itemGmfT);
            return tf.add(tf.add(mlp, gmf), this.outB);
          });
          out.set(scores.dataSync() as Float32Array, s * numItems);
          scores.dispose();
        }
        return out;
      },
      dispose: () => {
        for (const t of [userHidden, itemHidden, wGmf, wMlp, userGmfW, itemGmfT]) t.dispose();
      },
    };
  }
}
