/**
 * IR — the item-side ranking regulariser of IR-RRD (Kang, Hwang, Kweon, Yu; Information Sciences 580 (2021), §9 of
 * derrd-method.md; the authors' `implicit_CF_dataset_IR_reg` and `LOO_IR_RRD_run`). The same relaxed Plackett-Luce
 * loss as RRD with the roles of users and items swapped: every epoch, per item, K_I "interesting" users drawn without
 * replacement from the teacher's top-N users of the item with probability ∝ exp(−rank/T), kept in teacher order, and
 * L_I "uninteresting" users uniform among users that neither trained on the item nor are in its top-N.
 * On a batch the items are those the user side sampled for the batch's users (interesting ∪ uninteresting, distinct),
 * so the term runs with an RRD term and reads its epoch samples; the loss is summed over those items, scores s(·, i).
 */
import { Rng, type Dataset } from '@derrd/core';
import { customOp } from '../ops.js';
import { tf, type Scalar, type Tensor, type Variable } from '../tf.js';
import { BprMf } from '../models/bpr.js';
import type { RecModel } from '../models/model.js';
import type { Batch, LossTerm } from '../terms.js';
import { innerProductsByRow } from '../models/inner-products.js';
import type { TeacherItemRanking } from './teacher-ranking.js';
import { leanRelaxedRankingLoss, type RrdSettings } from './rrd.js';

/**
 * The item side's settings are RRD's, read per item: `interesting` / `uninteresting` are K_I / L_I users per item,
 * `topN` the length of the teacher's per-item user ranking, `sampling` 'top' takes its first K_I users.
 */
export type IrSettings = RrdSettings;

/** Where a batch's items come from: the RRD term's epoch samples for the batch's users (`RrdTerm.sampledItems`). */
export interface BatchItemSource {
  sampledItems(userIds: Int32Array): Int32Array;
}

export const IR_DEFAULTS: IrSettings = { lambda: 5e-4, interesting: 20, uninteresting: 20, topN: 500, temperature: 10, sampling: 'sample' };

/**
 * K distinct positions of 0..N−1 drawn sequentially without replacement with weights exp(−(r+1)/T) — the law of
 * RRD's `sampleRankPositions` — returned ascending. The weights are geometric, so each draw inverts the truncated
 * geometric CDF in O(1) and redraws a position already taken (which is exactly drawing from the positions left);
 * once the positions taken hold over 3/4 of the mass it scans the rest instead. ~20 draws per item instead of N
 * Gumbel keys: the item side samples for every item every epoch (25k on CiteULike, against 5k users).
 */
export function sampleGeometricPositions(rng: Rng, n: number, k: number, temperature: number, available = n): Int32Array {
  const m = Math.min(available, n);
  if (k >= m) return Int32Array.from({ length: m }, (_v, r) => r);
  const q = Math.exp(-1 / temperature);
  const logQ = -1 / temperature;
  const tail = q ** m;
  // normalised weight of position r: q^r (1 − q) / (1 − q^m)
  const scale = (1 - q) / (1 - tail);
  const taken = new Uint8Array(m);
  const out = new Int32Array(k);
  let takenMass = 0;
  for (let d = 0; d < k; d++) {
    let r: number;
    if (takenMass < 0.75) {
      do r = Math.min(m - 1, Math.floor(Math.log(1 - rng.float() * (1 - tail)) / logQ));
      while (taken[r]);
    } else {
      let left = 0;
      for (let p = 0, wp = 1; p < m; p++, wp *= q) if (!taken[p]) left += wp;
      let x = rng.float() * left;
      r = -1;
      for (let p = 0, wp = 1; p < m; p++, wp *= q) {
        if (taken[p]) continue;
        r = p;
        x -= wp;
        if (x < 0) break;
      }
    }
    taken[r] = 1;
    takenMass += q ** r * scale;
    out[d] = r;
  }
  return out.sort();
}

/** Training users per item (the transpose of the data set's CSR): indptr [numItems + 1] and user ids. */
function trainUsersByItem(ds: Dataset): { indptr: Int32Array; users: Int32Array } {
  const indptr = new Int32Array(ds.numItems + 1);
  for (const i of ds.trainItems) indptr[i + 1]++;
  for (let i = 0; i < ds.numItems; i++) indptr[i + 1] += indptr[i];
  const fill = indptr.slice(0, ds.numItems);
  const users = new Int32Array(ds.trainItems.length);
  for (let u = 0; u < ds.numUsers; u++) for (let k = ds.trainIndptr[u]; k < ds.trainIndptr[u + 1]; k++) users[fill[ds.trainItems[k]]++] = u;
  return { indptr, users };
}

export class IrTerm implements LossTerm {
  readonly name = 'ir';
  readonly weight: number;
  readonly settings_: IrSettings;
  private readonly student: RecModel;
  private readonly ranking: TeacherItemRanking;
  private readonly userSide: BatchItemSource;
  private readonly ds: Dataset;
  private readonly trainUsers: { indptr: Int32Array; users: Int32Array };
  /** this epoch's samples: [numItems × K_I] and [numItems × L_I] user ids, -1 where an item has too few candidates */
  interestingUsers: Int32Array;
  uninterestingUsers: Int32Array;

  constructor(student: RecModel, ds: Dataset, ranking: TeacherItemRanking, userSide: BatchItemSource, settings: Partial<IrSettings> = {}) {
    this.settings_ = { ...IR_DEFAULTS, ...settings };
    const { topN, interesting } = this.settings_;
    if (topN > ranking.topN) throw new Error(`IR needs the teacher's top ${topN} users per item but the ranking holds ${ranking.topN}`);
    if (interesting > topN) throw new Error(`K_I=${interesting} exceeds the teacher ranking length ${topN}`);
    this.weight = this.settings_.lambda;
    this.student = student;
    this.ranking = ranking;
    this.userSide = userSide;
    this.ds = ds;
    this.trainUsers = trainUsersByItem(ds);
    this.interestingUsers = new Int32Array(ds.numItems * interesting).fill(-1);
    this.uninterestingUsers = new Int32Array(ds.numItems * this.settings_.uninteresting).fill(-1);
  }

  variables(): Record<string, Variable> {
    return {};
  }

  /** Once per epoch, as the authors' `IR_reg_sampling` (called next to `URRD_sampling` at each epoch's start). */
  onEpochStart(_epoch: number, rng: Rng): void {
    const { interesting: K, uninteresting: L, topN, temperature, sampling } = this.settings_;
    const { numUsers, numItems } = this.ds;
    const { indptr, users: trainUsers } = this.trainUsers;
    const stamp = new Int32Array(numUsers).fill(-1);
    for (let i = 0; i < numItems; i++) {
      const top = this.ranking.users.subarray(i * this.ranking.topN, i * this.ranking.topN + topN);
      let available = 0;
      while (available < topN && top[available] >= 0) available++;
      const positions = sampling === 'top' ? Int32Array.from({ length: Math.min(K, available) }, (_v, r) => r) : sampleGeometricPositions(rng, topN, K, temperature, available);
      for (let k = 0; k < K; k++) this.interestingUsers[i * K + k] = k < positions.length ? top[positions[k]] : -1;
      // excluded: the item's top-N and its training users (stamp i); already drawn this row: −(i + 2)
      for (let r = 0; r < available; r++) stamp[top[r]] = i;
      for (let k = indptr[i]; k < indptr[i + 1]; k++) stamp[trainUsers[k]] = i;
      // the top-N holds no training user of the item, so the two exclusions are disjoint
      const eligible = numUsers - available - (indptr[i + 1] - indptr[i]);
      const row = i * L;
      this.uninterestingUsers.fill(-1, row, row + L);
      const take = Math.min(L, eligible);
      for (let k = 0; k < take; ) {
        const u = rng.int(numUsers);
        if (stamp[u] === i || stamp[u] === -(i + 2)) continue;
        stamp[u] = -(i + 2);
        this.uninterestingUsers[row + k++] = u;
      }
    }
  }

  /** The batch's items that have a full sample (K_I and L_I users), ascending. */
  batchItems(batch: Pick<Batch, 'userIds'>): Int32Array {
    const { interesting: K, uninteresting: L } = this.settings_;
    return this.userSide.sampledItems(batch.userIds).filter((i) => this.interestingUsers[i * K + K - 1] >= 0 && this.uninterestingUsers[i * L + L - 1] >= 0);
  }

  loss(batch: Batch): Scalar {
    const { interesting: K, uninteresting: L } = this.settings_;
    const items = this.batchItems(batch);
    const n = items.length;
    if (n === 0) return tf.scalar(0);
    const W = K + L;
    const users = new Int32Array(n * W);
    for (let r = 0; r < n; r++) {
      const i = items[r];
      users.set(this.interestingUsers.subarray(i * K, i * K + K), r * W);
      users.set(this.uninterestingUsers.subarray(i * L, i * L + L), r * W + K);
    }
    return tf.tidy(() => {
      const student = this.student;
      let raw: Tensor;
      if (student instanceof BprMf) raw = innerProductsByRow(student.user, student.item, users, items);
      else {
        const repeated = new Int32Array(n * W);
        for (let r = 0; r < n; r++) repeated.fill(items[r], r * W, r * W + W);
        raw = tf.reshape(student.scorePairs(tf.tensor1d(users, 'int32'), tf.tensor1d(repeated, 'int32')), [n, W]);
      }
      const scores = this.settings_.score === 'sigmoid' ? tf.sigmoid(raw) : raw;
      return tf.sum(leanRelaxedRankingLoss(tf.slice(scores, [0, 0], [n, K]), tf.slice(scores, [0, K], [n, L]))) as Scalar;
    });
  }

  settings(): Record<string, unknown> {
    return { ...this.settings_ };
  }

  dispose(): void {}
}
