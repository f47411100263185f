/**
 * CD — Collaborative Distillation (Lee et al., ICDM 2019), §7.2 of derrd-method.md, teacher-guided variant: every
 * epoch each user gets `samples` unobserved items drawn without replacement from the teacher's top-N with rank-aware
 * probability ∝ exp(−γ·rank/N), and the student's sigmoid is pulled to the teacher's soft label q = σ(s_T/temperature)
 * by binary cross-entropy, summed over the batch's unique users. The student-guided variant is not implemented.
 */
import { Rng, type Dataset } from '@derrd/core';
import { tf, type Scalar, type Variable } from '../tf.js';
import type { RecModel } from '../models/model.js';
import type { Batch, LossTerm } from '../terms.js';
import type { TeacherRanking } from './teacher-ranking.js';
import { sampleRankPositions } from './rrd.js';

export interface CdSettings {
  lambda: number;
  samples: number;
  topN: number;
  /** γ of exp(−γ·rank/N) */
  gamma: number;
  /** soft label q = σ(teacher score / temperature) */
  temperature: number;
}

export const CD_DEFAULTS: CdSettings = { lambda: 0.1, samples: 10, topN: 500, gamma: 10, temperature: 1 };

export class CdTerm implements LossTerm {
  readonly name = 'cd';
  readonly weight: number;
  readonly settings_: CdSettings;
  private readonly student: RecModel;
  private readonly teacher: RecModel;
  private readonly ds: Dataset;
  private readonly ranking: TeacherRanking;
  items: Int32Array;
  labels: Float32Array;

  constructor(student: RecModel, teacher: RecModel, ds: Dataset, ranking: TeacherRanking, settings: Partial<CdSettings> = {}) {
    this.settings_ = { ...CD_DEFAULTS, ...settings };
    this.weight = this.settings_.lambda;
    this.student = student;
    this.teacher = teacher;
    this.ds = ds;
    this.ranking = ranking;
    this.items = new Int32Array(ds.numUsers * this.settings_.samples).fill(-1);
    this.labels = new Float32Array(ds.numUsers * this.settings_.samples);
  }

  variables(): Record<string, Variable> {
    return {};
  }

  onEpochStart(_epoch: number, rng: Rng): void {
    const { samples: S, topN, gamma, temperature } = this.settings_;
    for (let u = 0; u < this.ds.numUsers; u++) {
      const top = this.ranking.items.subarray(u * this.ranking.topN, u * this.ranking.topN + topN);
      let available = 0;
      while (available < topN && top[available] >= 0) available++;
      const positions = sampleRankPositions(rng, topN, S, topN / gamma, available);
      for (let k = 0; k < S; k++) this.items[u * S + k] = k < positions.length ? top[positions[k]] : -1;
    }
    const users = Int32Array.from({ length: this.ds.numUsers }, (_v, u) => u);
    const scorer = this.teacher.createScorer();
    const scores = scorer.scoreItems(users, this.items.map((i) => Math.max(i, 0)), S);
    scorer.dispose();
    for (let k = 0; k < scores.length; k++) this.labels[k] = 1 / (1 + Math.exp(-scores[k] / temperature));
  }

  loss(batch: Batch): Scalar {
    const S = this.settings_.samples;
    const users = Array.from(new Set(batch.userIds)).filter((u) => this.items[u * S + S - 1] >= 0);
    if (users.length === 0) return tf.scalar(0);
    const items = new Int32Array(users.length * S);
    const labels = new Float32Array(users.length * S);
    users.forEach((u, r) => {
      items.set(this.items.subarray(u * S, u * S + S), r * S);
      labels.set(this.labels.subarray(u * S, u * S + S), r * S);
    });
    return tf.tidy(() => {
      const logits = this.student.scoreUserItems(tf.tensor1d(users, 'int32'), tf.tensor2d(items, [users.length, S], 'int32'));
      const q = tf.tensor2d(labels, [users.length, S]);
      // BCE(σ(x), q) = q·softplus(−x) + (1−q)·softplus(x)
      return tf.sum(tf.add(tf.mul(q, tf.softplus(tf.neg(logits))), tf.mul(tf.sub(1, q), tf.softplus(logits)))) as Scalar;
    });
  }

  settings(): Record<string, unknown> {
    return { ...this.settings_ };
  }

  dispose(): void {}
}
