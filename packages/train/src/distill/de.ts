/**
 * DE — Distillation Experts (Kang et al., CIKM 2020, §2 of derrd-method.md).
 * For each distilled representation (BPR: user and item embeddings; NeuMF: its four embedding tables, each with its own
 * experts — our documented choice), M experts map the student's embedding to the teacher's space
 * (Linear d_s → ⌊(d_s+d_t)/2⌋, ReLU, Linear → d_t); a selection network Linear(d_t → M)+softmax on the frozen teacher
 * embedding picks an expert by Gumbel-softmax (soft, fresh noise every pass) at a temperature annealed per epoch.
 * Loss per batch: Σ_unique users ℓ(u) + ½ (Σ_unique positives ℓ(i) + Σ_unique negatives ℓ(j)), ℓ = squared L2
 * between the teacher embedding and the mixed reconstruction.
 *
 * Exact mode evaluates every expert on every entity whose weight is not 0 in float32 (~12 GFLOP a batch on CiteULike
 * at τ = 1; cheaper as τ falls and weights underflow), through the same kernel; with DERRD_DE_KERNEL=tfjs it runs the
 * dense reference mixture of tfjs ops instead. Sparse mode (default) runs, per
 * entity, only the experts that hold the top `sparseMass` of its selection weight (at most `sparseMaxExperts`); the
 * dropped weights are below (1 − sparseMass) in total, so the reconstruction differs by at most that fraction of one
 * expert's output, and the selection network still gets gradients through every kept weight.
 */
import { Rng } from '@derrd/core';
import { tf, type Scalar, type Tensor, type Variable } from '../tf.js';
import { customOp, embeddingLookup, matMul, segmentSum } from '../ops.js';
import { uniformInit, type RecModel, type Representation } from '../models/model.js';
import type { Batch, LossTerm } from '../terms.js';
import { ExpertMixtureKernel } from './expert-kernel.js';
import { expertLane } from './expert-lane.js';

export interface DeSettings {
  /** λ_DE */
  lambda: number;
  /** M */
  numExperts: number;
  /** τ of epoch 0; epoch e ≥ 1 uses tauStart·(tauEnd/tauStart)^((e−1)/annealEpochs), never below tauEnd */
  tauStart: number;
  tauEnd: number;
  annealEpochs: number;
  mode: 'sparse' | 'exact';
  sparseMass: number;
  sparseMaxExperts: number;
}

export const DE_DEFAULTS: DeSettings = {
  lambda: 0.01,
  numExperts: 30,
  tauStart: 1,
  tauEnd: 1e-10,
  annealEpochs: 1000,
  mode: 'sparse',
  sparseMass: 0.999,
  sparseMaxExperts: 8,
};

/** The authors' schedule (T_annealing): τ_0 = start; after epoch e−1 the code sets start·(end/start)^((e−1)/annealEpochs). */
export function deTemperature(epoch: number, s: Pick<DeSettings, 'tauStart' | 'tauEnd' | 'annealEpochs'>): number {
  if (epoch <= 0) return s.tauStart;
  return Math.max(s.tauEnd, s.tauStart * Math.pow(s.tauEnd / s.tauStart, (epoch - 1) / s.annealEpochs));
}

export function expertHiddenDim(studentDim: number, teacherDim: number): number {
  return studentDim === teacherDim ? Math.max(1, Math.floor(studentDim / 2)) : Math.floor((studentDim + teacherDim) / 2);
}

/** One expert set + selection network for one representation. */
export class ExpertSet {
  readonly name: string;
  readonly side: 'user' | 'item';
  readonly student: Variable;
  readonly teacher: Tensor;
  readonly w1: Variable; // [M, ds, h]
  readonly b1: Variable; // [M, h]
  readonly w2: Variable; // [M, h, dt]
  readonly b2: Variable; // [M, dt]
  readonly wSel: Variable; // [dt, M]
  readonly bSel: Variable; // [M]
  readonly m: number;
  readonly ds: number;
  readonly h: number;
  readonly dt: number;

  constructor(student: Representation, teacher: Representation, numExperts: number, rng: Rng) {
    this.name = student.name;
    this.side = student.side;
    this.student = student.table;
    this.teacher = teacher.table;
    this.m = numExperts;
    this.ds = student.table.shape[1] as number;
    this.dt = teacher.table.shape[1] as number;
    this.h = expertHiddenDim(this.ds, this.dt);
    const { m, ds, h, dt } = this;
    // PyTorch's default Linear init: U(±1/√fan_in) for weight and bias
    const v = (shape: number[], fanIn: number, label: string) =>
      tf.variable(tf.tensor(uniformInit(rng, shape.reduce((a, c) => a * c, 1), 1 / Math.sqrt(fanIn)), shape), true, `de.${this.name}.${label}.${uid++}`);
    this.w1 = v([m, ds, h], ds, 'w1');
    this.b1 = v([m, h], ds, 'b1');
    this.w2 = v([m, h, dt], h, 'w2');
    this.b2 = v([m, dt], h, 'b2');
    this.wSel = v([dt, m], dt, 'wsel');
    this.bSel = v([m], dt, 'bsel');
  }

  variables(): Record<string, Variable> {
    return { [`${this.name}.w1`]: this.w1, [`${this.name}.b1`]: this.b1, [`${this.name}.w2`]: this.w2, [`${this.name}.b2`]: this.b2, [`${this.name}.wsel`]: this.wSel, [`${this.name}.bsel`]: this.bSel };
  }

  /** Gumbel-softmax selection weights s [E, M] for the teacher embeddings ht [E, dt] with the given noise. */
  selection(ht: Tensor, gumbel: Float32Array, tau: number): Tensor {
    const e = ht.shape[0];
    const alpha = tf.softmax(tf.add(matMul(ht, this.wSel), this.bSel));
    return tf.softmax(tf.div(tf.add(tf.log(tf.add(alpha, 1e-10)), tf.tensor2d(gumbel, [e, this.m])), tau));
  }

  /** Σ_m s[e, m] · E_m(hs[e]) for every expert (exact). */
  reconstructExact(hs: Tensor, s: Tensor): Tensor {
    const { m, ds, h, dt } = this;
    const e = hs.shape[0];
    const w1Flat = tf.reshape(tf.transpose(this.w1, [1, 0, 2]), [ds, m * h]);
    const hidden = tf.relu(tf.add(matMul(hs, w1Flat), tf.reshape(this.b1, [1, m * h])));
    const perExpert = tf.transpose(tf.reshape(hidden, [e, m, h]), [1, 0, 2]); // [M, E, h]
    const out = tf.add(matMul(perExpert, this.w2), tf.reshape(this.b2, [m, 1, dt])); // [M, E, dt]
    const mixed = matMul(tf.reshape(s, [e, 1, m]), tf.transpose(out, [1, 0, 2])); // [E, 1, dt]
    return tf.reshape(mixed, [e, dt]);
  }

  /**
   * The same sum over the experts kept per entity (`kept[m]` = entity rows routed to expert m): routed (entity, expert)
   * pairs are sorted by expert and each expert runs once on exactly its rows, so the cost follows the number of routed
   * pairs. (Routing is uneven at low τ, so padding every expert to the busiest one wasted most of the work; running
   * the first layer densely for all experts cost more than it saved in ops.)
   */
  reconstructSparse(hs: Tensor, s: Tensor, kept: number[][]): Tensor {
    const { m, ds, h, dt } = this;
    const e = hs.shape[0];
    const experts: number[] = [];
    const sizes: number[] = [];
    const entityRows: number[] = [];
    const pairRows: number[] = [];
    const pairExpert: number[] = [];
    for (let k = 0; k < m; k++) {
      if (kept[k].length === 0) continue;
      experts.push(k);
      sizes.push(kept[k].length);
      for (const row of kept[k]) {
        entityRows.push(row);
        pairRows.push(row * m + k);
        pairExpert.push(k);
      }
    }
    const weight = tf.gather(tf.reshape(s, [e * m]), tf.tensor1d(pairRows, 'int32'));
    if (deKernel === 'simd') {
      this.kernel ??= ExpertMixtureKernel.create(m, ds, h, dt, expertLane()) ?? undefined;
      if (this.kernel) return this.mixture(hs, weight, Int32Array.from(entityRows), Int32Array.from(pairExpert), e);
    }
    const w1s = tf.split(this.w1, m, 0);
    const b1s = tf.split(this.b1, m, 0);
    const w2s = tf.split(this.w2, m, 0);
    const entityIdx = tf.tensor1d(entityRows, 'int32');
    const inputs = tf.gather(hs, entityIdx);
    const groups = experts.length === 1 ? [inputs] : tf.split(inputs, sizes, 0);
    const outs = experts.map((k, g) => {
      const hidden = tf.relu(tf.add(matMul(groups[g], tf.reshape(w1s[k], [ds, h])), b1s[k]));
      return matMul(hidden, tf.reshape(w2s[k], [h, dt]));
    });
    const out = tf.add(outs.length === 1 ? outs[0] : tf.concat(outs, 0), tf.gather(this.b2, tf.tensor1d(pairExpert, 'int32')));
    return segmentSum(tf.mul(out, tf.reshape(weight, [pairRows.length, 1])), entityIdx, e);
  }

  private kernel: ExpertMixtureKernel | undefined;

  /** The routed mixture through the fused SIMD kernel, as one differentiable op of (hs, pair weights, parameters). */
  private mixture(hs: Tensor, weight: Tensor, pairEntity: Int32Array, pairExpert: Int32Array, numEntities: number): Tensor {
    const kernel = this.kernel!;
    const { m, ds, h, dt } = this;
    const op = customOp<[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]>((x, w, w1, b1, w2, b2) => {
      const data = (t: Tensor) => t.dataSync() as Float32Array;
      const recon = kernel.forward({ hs: data(x), w1: data(w1), b1: data(b1), w2: data(w2), b2: data(b2), pairEntity, pairExpert, pairWeight: data(w), numEntities });
      return {
        value: tf.tensor2d(recon, [numEntities, dt]),
        gradFunc: (dy: Tensor) => {
          const g = kernel.backward(dy.dataSync() as Float32Array);
          return [
            tf.tensor2d(g.hs, [numEntities, ds]), tf.tensor1d(g.pairWeight), tf.tensor3d(g.w1, [m, ds, h]), tf.tensor2d(g.b1, [m, h]),
            tf.tensor3d(g.w2, [m, h, dt]), tf.tensor2d(g.b2, [m, dt]),
          ];
        },
      };
    });
    return op(hs, weight, this.w1, this.b1, this.w2, this.b2);
  }
}

let uid = 0;

/**
 * How sparse mode runs the routed experts: 'simd' (default) through the fused WebAssembly kernel, 'tfjs' as tfjs ops
 * per expert (the reference the kernel is tested against). Both compute the same sums; DERRD_DE_KERNEL=tfjs selects
 * the latter for a whole process.
 */
let deKernel: 'simd' | 'tfjs' = process.env.DERRD_DE_KERNEL === 'tfjs' ? 'tfjs' : 'simd';
export function setDeKernel(kind: 'simd' | 'tfjs'): void {
  deKernel = kind;
}

/** Rows routed to each expert: per entity the smallest top set holding `mass` of its weight, at most `maxExperts`. */
export function routeEntities(weights: Float32Array, numEntities: number, numExperts: number, mass: number, maxExperts: number): number[][] {
  const kept: number[][] = Array.from({ length: numExperts }, () => []);
  const taken = new Uint8Array(numExperts);
  for (let e = 0; e < numEntities; e++) {
    const base = e * numExperts;
    taken.fill(0);
    let total = 0;
    // repeated arg-max (ties to the lower expert): at low τ one pass finds the single expert holding the mass
    for (let r = 0; r < Math.min(maxExperts, numExperts); r++) {
      let best = -1;
      for (let k = 0; k < numExperts; k++) if (!taken[k] && (best < 0 || weights[base + k] > weights[base + best])) best = k;
      // weights are sorted descending here: a zero (underflowed) weight adds exactly nothing to the mixture or to any
      // gradient (d s_m / d logit = s_m (δ − s) = 0), so neither it nor the rest need running
      if (!(weights[base + best] > 0)) break;
      taken[best] = 1;
      kept[best].push(e);
      total += weights[base + best];
      if (total >= mass) break;
    }
  }
  return kept;
}

export class DeTerm implements LossTerm {
  readonly name = 'de';
  readonly weight: number;
  readonly settings_: DeSettings;
  readonly sets: ExpertSet[];
  private tau: number;
  private rng: Rng = new Rng(0);
  /** experts evaluated per entity in the last batch (sparse mode), for reporting */
  lastExpertsPerEntity = 0;

  constructor(student: RecModel, teacher: RecModel, settings: Partial<DeSettings> = {}, seed = 0) {
    this.settings_ = { ...DE_DEFAULTS, ...settings };
    this.weight = this.settings_.lambda;
    this.tau = this.settings_.tauStart;
    const teacherReps = new Map(teacher.representations().map((r) => [r.name, r]));
    const rng = new Rng(seed).fork(21);
    this.sets = student.representations().map((rep) => {
      const t = teacherReps.get(rep.name);
      if (!t) throw new Error(`teacher has no representation "${rep.name}" to distil into the student's`);
      return new ExpertSet(rep, t, this.settings_.numExperts, rng);
    });
  }

  get temperature(): number {
    return this.tau;
  }

  variables(): Record<string, Variable> {
    return Object.assign({}, ...this.sets.map((s) => s.variables()));
  }

  onEpochStart(epoch: number, rng: Rng): void {
    this.tau = deTemperature(epoch, this.settings_);
    this.rng = rng;
  }

  /** Entities of a side with their loss weights: users 1; items ½ per membership in the unique positives and negatives. */
  static entities(batch: Pick<Batch, 'userIds' | 'posIds' | 'negIds'>, side: 'user' | 'item'): { ids: Int32Array; weights: Float32Array } {
    const weightOf = new Map<number, number>();
    if (side === 'user') {
      for (const u of batch.userIds) weightOf.set(u, 1);
    } else {
      for (const list of [batch.posIds, batch.negIds]) {
        const unique = new Set(list);
        for (const i of unique) weightOf.set(i, (weightOf.get(i) ?? 0) + 0.5);
      }
    }
    return { ids: Int32Array.from(weightOf.keys()), weights: Float32Array.from(weightOf.values()) };
  }

  loss(batch: Batch): Scalar {
    return tf.tidy(() => {
      let total: Tensor = tf.scalar(0);
      let routed = 0;
      let entities = 0;
      for (const set of this.sets) {
        const { ids, weights } = DeTerm.entities(batch, set.side);
        const idx = tf.tensor1d(ids, 'int32');
        // the teacher is constant: embeddingLookup saves only the ids for backprop, where tf.gather would copy the whole
        // teacher table into the tape every step (25 MB for a CiteULike NeuMF item table)
        const ht = embeddingLookup(set.teacher, idx);
        const hs = embeddingLookup(set.student, idx);
        const gumbel = new Float32Array(ids.length * set.m);
        for (let k = 0; k < gumbel.length; k++) gumbel[k] = this.rng.gumbel();
        const s = set.selection(ht, gumbel, this.tau);
        let recon: Tensor;
        if (this.settings_.mode === 'exact' && deKernel === 'tfjs') {
          recon = set.reconstructExact(hs, s);
        } else {
          // exact mode routes every expert with a nonzero weight, which is the full mixture: the skipped weights
          // underflowed to 0 in float32 and contribute exactly nothing, forward or backward
          const exact = this.settings_.mode === 'exact';
          const kept = routeEntities(s.dataSync() as Float32Array, ids.length, set.m, exact ? Infinity : this.settings_.sparseMass, exact ? set.m : this.settings_.sparseMaxExperts);
          routed += kept.reduce((a, l) => a + l.length, 0);
          entities += ids.length;
          recon = set.reconstructSparse(hs, s, kept);
        }
        const perEntity = tf.sum(tf.square(tf.sub(ht, recon)), 1);
        total = tf.add(total, tf.sum(tf.mul(perEntity, tf.tensor1d(weights))));
      }
      if (entities > 0) this.lastExpertsPerEntity = routed / entities;
      return total as Scalar;
    });
  }

  settings(): Record<string, unknown> {
    return { ...this.settings_ };
  }

  dispose(): void {
    for (const v of Object.values(this.variables())) v.dispose();
  }
}
