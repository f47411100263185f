/**
 * RD — Ranking Distillation (Tang & Wang, KDD 2018), §7.1 of derrd-method.md. The teacher's top-K unobserved items
 * are weighted positives: L_RD(u) = −Σ_r w_r log σ(ŝ(u, π_r)). Weights: position importance w^a_r ∝ exp(−r/λ); from
 * `dynamicStart` on, times the ranking discrepancy w^b_r = tanh(max(μ·(r̂ − r), 0)) with the student's rank r̂ of π_r
 * estimated from `dynamicSamples` random items each epoch, renormalised. Summed over the batch's unique users.
 * Settings the DE-RRD paper used for RD are not public: these are the official RD defaults and our λ (documented).
 */
import { Rng, type Dataset } from '@derrd/core';
import { tf, type Scalar, type Variable } from '../tf.js';
import type { RecModel } from '../models/model.js';
import type { Batch, LossTerm } from '../terms.js';
import type { TeacherRanking } from './teacher-ranking.js';

export interface RdSettings {
  lambda: number;
  topK: number;
  /** λ in exp(−r/λ) */
  positionTemperature: number;
  /** μ */
  discrepancyScale: number;
  dynamicSamples: number;
  dynamicStart: number;
}

export const RD_DEFAULTS: RdSettings = { lambda: 0.1, topK: 10, positionTemperature: 1, discrepancyScale: 0.1, dynamicSamples: 100, dynamicStart: 10 };

export class RdTerm implements LossTerm {
  readonly name = 'rd';
  readonly weight: number;
  readonly settings_: RdSettings;
  private readonly student: RecModel;
  private readonly ds: Dataset;
  private readonly ranking: TeacherRanking;
  /** per-user weights of the top-K items for the current epoch, [numUsers × K] */
  weights: Float32Array;

  constructor(student: RecModel, ds: Dataset, ranking: TeacherRanking, settings: Partial<RdSettings> = {}) {
    this.settings_ = { ...RD_DEFAULTS, ...settings };
    this.weight = this.settings_.lambda;
    this.student = student;
    this.ds = ds;
    this.ranking = ranking;
    const K = this.settings_.topK;
    const position = Float32Array.from({ length: K }, (_v, r) => Math.exp(-(r + 1) / this.settings_.positionTemperature));
    const total = position.reduce((a, c) => a + c, 0);
    this.weights = new Float32Array(ds.numUsers * K);
    for (let u = 0; u < ds.numUsers; u++) for (let r = 0; r < K; r++) this.weights[u * K + r] = position[r] / total;
  }

  private topItems(u: number): Int32Array {
    return this.ranking.items.subarray(u * this.ranking.topN, u * this.ranking.topN + this.settings_.topK);
  }

  variables(): Record<string, Variable> {
    return {};
  }

  onEpochStart(epoch: number, rng: Rng): void {
    const { topK: K, dynamicSamples: n, dynamicStart, positionTemperature, discrepancyScale } = this.settings_;
    if (epoch < dynamicStart) return;
    const ds = this.ds;
    const width = K + n;
    const users = Int32Array.from({ length: ds.numUsers }, (_v, u) => u);
    const items = new Int32Array(ds.numUsers * width);
    for (let u = 0; u < ds.numUsers; u++) {
      items.set(this.topItems(u), u * width);
      for (let s = 0; s < n; s++) items[u * width + K + s] = rng.int(ds.numItems);
    }
    const scorer = this.student.createScorer();
    const scores = scorer.scoreItems(users, items, width);
    scorer.dispose();
    for (let u = 0; u < ds.numUsers; u++) {
      let total = 0;
      for (let r = 0; r < K; r++) {
        const s = scores[u * width + r];
        let above = 0;
        for (let k = 0; k < n; k++) if (scores[u * width + K + k] > s) above++;
        const studentRank = Math.floor(((ds.numItems - 1) * above) / n);
        const w = Math.exp(-(r + 1) / positionTemperature) * Math.tanh(Math.max(discrepancyScale * (studentRank - (r + 1)), 0));
        this.weights[u * K + r] = w;
        total += w;
      }
      for (let r = 0; r < K; r++) this.weights[u * K + r] = total > 0 ? this.weights[u * K + r] / total : 0;
    }
  }

  loss(batch: Batch): Scalar {
    const K = this.settings_.topK;
    const users = Array.from(new Set(batch.userIds)).filter((u) => this.topItems(u)[K - 1] >= 0);
    if (users.length === 0) return tf.scalar(0);
    const items = new Int32Array(users.length * K);
    const weights = new Float32Array(users.length * K);
    users.forEach((u, r) => {
      items.set(this.topItems(u), r * K);
      weights.set(this.weights.subarray(u * K, u * K + K), r * K);
    });
    return tf.tidy(() => {
      const scores = this.student.scoreUserItems(tf.tensor1d(users, 'int32'), tf.tensor2d(items, [users.length, K], 'int32'));
      // −log σ(s) = softplus(−s)
      return tf.sum(tf.mul(tf.softplus(tf.neg(scores)), tf.tensor2d(weights, [users.length, K]))) as Scalar;
    });
  }

  settings(): Record<string, unknown> {
    return { ...this.settings_ };
  }

  dispose(): void {}
}
