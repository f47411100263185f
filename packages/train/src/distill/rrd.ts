/**
 * RRD — Relaxed Ranking Distillation (Kang et al., CIKM 2020, §3 of derrd-method.md).
 * Every epoch, per user: K "interesting" items drawn without replacement from the teacher's top-N with probability
 * ∝ exp(−rank/T) and kept in teacher order (or, with `sampling: 'top'`, the authors' later variant: the teacher's
 * first K items), and L "uninteresting" items uniform among items neither trained on nor in the top-N.
 * Loss on the batch's unique users, summed: Σ_k [ −a_k + log( Σ_{l≥k} e^{a_l} + Σ_j e^{b_j} ) ], a = student scores of
 * the interesting items in teacher order, b = of the uninteresting ones — each log-sum-exp shifted by its own maximum.
 */
import { Rng, isTrainPositive, topIndices, type Dataset } from '@derrd/core';
import { customOp } from '../ops.js';
import { tf, type Scalar, type Tensor, type Variable } from '../tf.js';
import type { RecModel } from '../models/model.js';
import type { Batch, LossTerm } from '../terms.js';
import type { TeacherRanking } from './teacher-ranking.js';
import { helper, type Helper } from '../parallel/helper.js';
import { SharedArena } from '../parallel/shared-arena.js';
import { rankingLossRows, type RankingLossOffsets } from './ranking-loss-rows.js';

export interface RrdSettings {
  /** λ_RRD */
  lambda: number;
  /** K interesting items per user */
  interesting: number;
  /** L uninteresting items per user */
  uninteresting: number;
  /** N: length of the teacher ranking sampled from */
  topN: number;
  /** T in exp(−rank/T) */
  temperature: number;
  /** 'sample' (the paper) or 'top' (the authors' later finding: the teacher's first K directly) */
  sampling: 'sample' | 'top';
  /**
   * What the ranking loss sees as the student's score: 'raw' (BPR's inner product, NeuMF's logit — our default) or
   * 'sigmoid' (NeuMF's predicted probability). The paper does not say which the NeuMF runs used; with logits and
   * λ_RRD = 0.1 the loss dominates the BCE and drives logit gaps past 80, with probabilities the gaps stay below 1.
   * Absent means 'raw' (so the settings, and the resume identity, of runs made before this option are unchanged).
   */
  score?: 'raw' | 'sigmoid';
}

export const RRD_DEFAULTS: RrdSettings = { lambda: 1e-3, interesting: 40, uninteresting: 40, topN: 500, temperature: 10, sampling: 'sample' };

/**
 * K distinct positions of 0..N−1 drawn sequentially without replacement with weights exp(−(r+1)/T), returned ascending.
 * Gumbel top-K on log-weights is exactly sequential sampling without replacement.
 */
export function sampleRankPositions(rng: Rng, n: number, k: number, temperature: number, available = n): Int32Array {
  const m = Math.min(available, n);
  const keys = new Float32Array(m);
  for (let r = 0; r < m; r++) keys[r] = -(r + 1) / temperature + rng.gumbel();
  return Int32Array.from(topIndices(keys, Math.min(k, m))).sort();
}

/**
 * The relaxed Plackett-Luce loss of each row: a [B, K] in teacher order, b [B, L]; returns [B].
 * term_k = C_k − a_k with C_k = log(Σ_{l≥k} e^{a_l} + Σ_j e^{b_j}), built as a reverse running log-add-exp from
 * logsumexp(b), in float64 — stable for any score gap. (One max shift per row is not: with gaps above ~87, which
 * NeuMF logits under λ_RRD = 0.1 reach, a later suffix underflows to log 0 and the loss turns −∞, then NaN.)
 * Its gradient is exact and O(K + L) per row:
 *   ∂/∂a_l = e^{a_l − C_l} · Σ_{k≤l} e^{C_l − C_k} − 1,   ∂/∂b_j = e^{b_j − C_K} · Σ_k e^{C_K − C_k}
 * (every exponent ≤ 0, since C is non-increasing and C_k ≥ a_k, C_K ≥ b_j), so one custom op replaces about twenty
 * tfjs ops and their gradients. Training runs the same loss with fewer transcendentals
 * (`leanRelaxedRankingLoss` below, tested against this one); this is its reference formulation.
 */
export function relaxedRankingLoss(a: Tensor, b: Tensor): Tensor {
  return rankingLossOp(a, b, (av, bv, rows, k, l) => {
    const loss = new Float32Array(rows);
    const ga = new Float32Array(rows * k);
    const gb = new Float32Array(rows * l);
    const c = new Float64Array(k);
    for (let r = 0; r < rows; r++) {
      const ar = r * k;
      const br = r * l;
      let maxB = -Infinity;
      for (let j = 0; j < l; j++) maxB = Math.max(maxB, bv[br + j]);
      let acc = -Infinity;
      if (maxB > -Infinity) {
        let sum = 0;
        for (let j = 0; j < l; j++) sum += Math.exp(bv[br + j] - maxB);
        acc = maxB + Math.log(sum);
      }
      let total = 0;
      for (let q = k - 1; q >= 0; q--) {
        const x = av[ar + q];
        acc = acc === -Infinity ? x : Math.max(acc, x) + Math.log1p(Math.exp(-Math.abs(acc - x)));
        c[q] = acc;
        total += acc - x;
      }
      loss[r] = total;
      let prefix = 0;
      for (let q = 0; q < k; q++) {
        prefix = q === 0 ? 1 : prefix * Math.exp(c[q] - c[q - 1]) + 1;
        ga[ar + q] = Math.exp(av[ar + q] - c[q]) * prefix - 1;
      }
      if (k > 0) {
        let spread = 0;
        for (let q = 0; q < k; q++) spread += Math.exp(c[k - 1] - c[q]);
        for (let j = 0; j < l; j++) gb[br + j] = Math.exp(bv[br + j] - c[k - 1]) * spread;
      }
    }
    return { loss, ga, gb };
  });
}

/**
 * The relaxed Plackett-Luce loss of each row, as `relaxedRankingLoss` (above: a [B, K] in teacher order, b [B, L],
 * returns [B], float64 and stable for any gap), with fewer transcendentals: each step of the reverse log-add-exp
 * C_k = logaddexp(a_k, C_{k+1}) yields, from its one e = exp(−|C_{k+1} − a_k|), both ratios the gradient needs,
 * e^{a_k − C_k} and e^{C_{k+1} − C_k} (1/(1+e) and e/(1+e)), and the sums the gradient needs follow from them:
 * ~3 per row element instead of ~7. RRD's user side and the item side both train with it; the item side runs it
 * on ~22k rows a CiteULike batch, where it was most of the term's time, so the rows are split with the helper thread
 * where there is one (the same floats on one thread).
 */
export function leanRelaxedRankingLoss(a: Tensor, b: Tensor): Tensor {
  return rankingLossOp(a, b, rankingLoss);
}

type RankingLossRows = (av: Float32Array, bv: Float32Array, rows: number, k: number, l: number) => { loss: Float32Array; ga: Float32Array; gb: Float32Array };

/** Both formulations as one custom op: `rowLoss` gives each row's loss and its gradients for dy = 1; dy scales them. */
function rankingLossOp(a: Tensor, b: Tensor, rowLoss: RankingLossRows): Tensor {
  const op = customOp<[Tensor, Tensor]>((at, bt) => {
    const [rows, k] = at.shape as [number, number];
    const l = bt.shape[1] as number;
    const { loss, ga, gb } = rowLoss(at.dataSync() as Float32Array, bt.dataSync() as Float32Array, rows, k, l);
    return {
      value: tf.tensor1d(loss),
      gradFunc: (dy: Tensor) => {
        const d = dy.dataSync() as Float32Array;
        for (let r = 0; r < rows; r++) {
          for (let q = 0; q < k; q++) ga[r * k + q] *= d[r];
          for (let j = 0; j < l; j++) gb[r * l + j] *= d[r];
        }
        return [tf.tensor2d(ga, [rows, k]), tf.tensor2d(gb, [rows, l])];
      },
    };
  });
  return op(a, b);
}

/** Rows a chunk of the helper's job takes; below two chunks' worth the hand-off costs more than it saves. */
const LOSS_ROWS_PER_CHUNK = 512;
let lossArena: { owner: Helper; arena: SharedArena; at: number; floats: number } | null = null;

/** A region of `floats` floats in a shared memory attached to the current helper (reused while it is large enough). */
function lossRegion(owner: Helper, floats: number): { arena: SharedArena; at: number } {
  if (!lossArena || lossArena.owner !== owner || lossArena.floats < floats) {
    // an arena of a helper closed since (setHelperThreads) is dropped with it
    if (lossArena && lossArena.owner === owner) lossArena.arena.dispose();
    const arena = new SharedArena(owner);
    const size = Math.ceil(floats * 1.25);
    lossArena = { owner, arena, at: arena.alloc(size * 4) / 4, floats: size };
  }
  return lossArena;
}

/** Where a, b, loss, ga and gb of `rows` rows lie in one float array from float offset `at` (rows·(2k + 2l + 1) floats). */
function lossOffsets(at: number, rows: number, k: number, l: number): RankingLossOffsets {
  return { a: at, b: at + rows * k, loss: at + rows * (k + l), ga: at + rows * (k + l + 1), gb: at + rows * (2 * k + l + 1) };
}

/**
 * The loss rows on this thread, or split with the helper thread when there is one and the rows fill several chunks
 * (IR-RRD's item side: ~22k rows a CiteULike batch); the same floats either way.
 */
function rankingLoss(av: Float32Array, bv: Float32Array, rows: number, k: number, l: number): { loss: Float32Array; ga: Float32Array; gb: Float32Array } {
  const h = helper();
  const floats = rows * (2 * k + 2 * l + 1);
  const split = h.threads === 2 && rows >= 2 * LOSS_ROWS_PER_CHUNK;
  const region = split ? lossRegion(h, floats) : null;
  const o = lossOffsets(region ? region.at : 0, rows, k, l);
  // the job allocates nothing, so the shared memory does not grow under this view
  const f = region ? new Float32Array(region.arena.memory.buffer) : new Float32Array(floats);
  f.set(av, o.a);
  f.set(bv, o.b);
  if (region) h.run({ kind: 'rankingLoss', arena: region.arena.id, chunks: Math.ceil(rows / LOSS_ROWS_PER_CHUNK), args: { ...o, k, l, rows, rowsPerChunk: LOSS_ROWS_PER_CHUNK } });
  else rankingLossRows(f, o, k, l, 0, rows);
  return { loss: f.slice(o.loss, o.loss + rows), ga: f.slice(o.ga, o.ga + rows * k), gb: f.slice(o.gb, o.gb + rows * l) };
}

export class RrdTerm implements LossTerm {
  readonly name = 'rrd';
  readonly weight: number;
  readonly settings_: RrdSettings;
  private readonly student: RecModel;
  private readonly ranking: TeacherRanking;
  private readonly ds: Dataset;
  /** this epoch's samples: [numUsers × K] and [numUsers × L], -1 where a user has too few candidates */
  interestingItems: Int32Array;
  uninterestingItems: Int32Array;

  constructor(student: RecModel, ds: Dataset, ranking: TeacherRanking, settings: Partial<RrdSettings> = {}) {
    this.settings_ = { ...RRD_DEFAULTS, ...settings };
    if (this.settings_.topN > ranking.topN) throw new Error(`RRD needs the teacher's top ${this.settings_.topN} but the ranking holds ${ranking.topN}`);
    if (this.settings_.interesting > this.settings_.topN) throw new Error(`K=${this.settings_.interesting} exceeds the teacher ranking length ${this.settings_.topN}`);
    this.weight = this.settings_.lambda;
    this.student = student;
    this.ranking = ranking;
    this.ds = ds;
    this.interestingItems = new Int32Array(ds.numUsers * this.settings_.interesting).fill(-1);
    this.uninterestingItems = new Int32Array(ds.numUsers * this.settings_.uninteresting).fill(-1);
  }

  variables(): Record<string, Variable> {
    return {};
  }

  onEpochStart(_epoch: number, rng: Rng): void {
    const { interesting: K, uninteresting: L, topN, temperature, sampling } = this.settings_;
    const ds = this.ds;
    const stamp = new Int32Array(ds.numItems).fill(-1);
    for (let u = 0; u < ds.numUsers; u++) {
      const top = this.ranking.items.subarray(u * this.ranking.topN, u * this.ranking.topN + topN);
      let available = 0;
      while (available < topN && top[available] >= 0) available++;
      const positions = sampling === 'top' ? Int32Array.from({ length: Math.min(K, available) }, (_v, r) => r) : sampleRankPositions(rng, topN, K, temperature, available);
      const row = u * K;
      for (let k = 0; k < K; k++) this.interestingItems[row + k] = k < positions.length ? top[positions[k]] : -1;
      for (let r = 0; r < available; r++) stamp[top[r]] = u;
      const eligible = ds.numItems - available - (ds.trainIndptr[u + 1] - ds.trainIndptr[u]);
      const lRow = u * L;
      for (let k = 0; k < L; k++) this.uninterestingItems[lRow + k] = -1;
      const take = Math.min(L, eligible);
      for (let k = 0; k < take; ) {
        const j = rng.int(ds.numItems);
        if (stamp[j] === u || stamp[j] === -(u + 2) || isTrainPositive(ds, u, j)) continue;
        stamp[j] = -(u + 2);
        this.uninterestingItems[lRow + k++] = j;
      }
    }
  }

  /**
   * The distinct items this epoch's samples give the batch's users, interesting and uninteresting, ascending: the
   * item set IR-RRD ranks users for (the authors' `torch.cat([interesting, uninteresting]).unique()`).
   */
  sampledItems(userIds: Int32Array): Int32Array {
    const { interesting: K, uninteresting: L } = this.settings_;
    const seen = new Uint8Array(this.ds.numItems);
    for (const u of userIds) {
      for (let k = 0; k < K; k++) { const i = this.interestingItems[u * K + k]; if (i >= 0) seen[i] = 1; }
      for (let k = 0; k < L; k++) { const j = this.uninterestingItems[u * L + k]; if (j >= 0) seen[j] = 1; }
    }
    let n = 0;
    for (let i = 0; i < seen.length; i++) n += seen[i];
    const items = new Int32Array(n);
    for (let i = 0, k = 0; i < seen.length; i++) if (seen[i]) items[k++] = i;
    return items;
  }

  loss(batch: Batch): Scalar {
    const { interesting: K, uninteresting: L } = this.settings_;
    const users = Array.from(new Set(batch.userIds)).filter((u) => this.interestingItems[u * K + K - 1] >= 0 && this.uninterestingItems[u * L + L - 1] >= 0);
    if (users.length === 0) return tf.scalar(0);
    const items = new Int32Array(users.length * (K + L));
    users.forEach((u, r) => {
      items.set(this.interestingItems.subarray(u * K, u * K + K), r * (K + L));
      items.set(this.uninterestingItems.subarray(u * L, u * L + L), r * (K + L) + K);
    });
    return tf.tidy(() => {
      const raw = this.student.scoreUserItems(tf.tensor1d(users, 'int32'), tf.tensor2d(items, [users.length, K + L], 'int32'));
      const scores = this.settings_.score === 'sigmoid' ? tf.sigmoid(raw) : raw;
      const a = tf.slice(scores, [0, 0], [users.length, K]);
      const b = tf.slice(scores, [0, K], [users.length, L]);
      return tf.sum(leanRelaxedRankingLoss(a, b)) as Scalar;
    });
  }

  settings(): Record<string, unknown> {
    return { ...this.settings_ };
  }

  dispose(): void {}
}
