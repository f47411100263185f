/**
 * The BPR-MF training step without tfjs, on both cores: the user and item tables, their Adam moments and gradients live
 * in a shared WebAssembly memory; a batch's scores and row gradients come from the SIMD kernels of wasm/bpr-simd.ts on
 * the calling thread (O(batch · d)), and the dense Adam pass with coupled L2 (every row moves every step, as PyTorch's
 * Adam(weight_decay) does: O(parameters), most of a step) runs in chunks on the calling thread and the helper thread.
 *
 * Same loss, gradients and Adam update as BprMf.baseLoss + AdamL2, but not the same floats as the tfjs step (its sums
 * and its softplus and sigmoid round differently). Adam is elementwise and a chunk's result does not depend on the
 * thread that ran it, so a run is bit-identical on one thread and on two. Used by train() for a BPR model trained
 * without distillation terms; DERRD_BPR_STEP=tfjs selects the tfjs step.
 */
import { InputError, type SafeTensor } from '@derrd/core';
import { tf } from '../tf.js';
import type { AdamL2 } from '../optimizer.js';
import { SharedArena } from '../parallel/shared-arena.js';
import { helper, type Helper } from '../parallel/helper.js';
import { instantiateBprSimd, type BprSimd } from '../wasm/bpr-simd.js';
import { SCORE_MAX_PAGES } from '../wasm/score-simd.js';
import type { BprMf } from './bpr.js';

/** floats per Adam chunk: 64 KiB of each array */
const CHUNK_FLOATS = 16384;

/** 'native' unless DERRD_BPR_STEP=tfjs. */
export function bprStepKind(): 'native' | 'tfjs' {
  const env = process.env.DERRD_BPR_STEP;
  if (env === undefined || env === '' || env === 'native') return 'native';
  if (env === 'tfjs') return 'tfjs';
  throw new InputError(`DERRD_BPR_STEP must be native or tfjs (got "${env}")`);
}

export class NativeBprStep {
  readonly threads: 1 | 2;
  private readonly model: BprMf;
  private readonly optimizer: AdamL2;
  private readonly helper: Helper;
  private readonly arena: SharedArena;
  private readonly simd: BprSimd;
  private readonly d: number;
  private readonly numUsers: number;
  private readonly numItems: number;
  /** floats of both tables, padded to a multiple of 4 */
  private readonly n: number;
  private readonly at: { p: number; g: number; m: number; v: number; ids: number; scores: number; coeff: number; touched: number };
  private readonly maxBatch: number;
  private step = 0;
  private saved: Float32Array[] | undefined;

  /** lazy Adam: only the batch's rows are updated */
  private readonly lazy: boolean;
  /** the current batch's distinct table rows (users, then items offset by numUsers) */
  private readonly batchRows: Int32Array;

  constructor(model: BprMf, optimizer: AdamL2, maxBatch: number, options: { lazy?: boolean } = {}, h: Helper = helper()) {
    this.lazy = options.lazy ?? false;
    this.model = model;
    this.optimizer = optimizer;
    this.helper = h;
    this.threads = h.threads;
    const { numUsers, numItems, dim } = model.config;
    this.d = dim;
    this.numUsers = numUsers;
    this.numItems = numItems;
    this.maxBatch = maxBatch;
    this.batchRows = new Int32Array(3 * maxBatch);
    const n = (this.n = Math.ceil(((numUsers + numItems) * dim) / 4) * 4);
    const arena = (this.arena = new SharedArena(h));
    this.at = {
      p: arena.alloc(n * 4), g: arena.alloc(n * 4), m: arena.alloc(n * 4), v: arena.alloc(n * 4),
      ids: arena.alloc(3 * maxBatch * 4), scores: arena.alloc(maxBatch * 4), coeff: arena.alloc(maxBatch * 4),
      touched: arena.alloc(numUsers + numItems),
    };
    const simd = instantiateBprSimd(arena.memory, SCORE_MAX_PAGES);
    if (!simd) throw new Error('WebAssembly SIMD is unavailable');
    this.simd = simd;
    // parameters and (on resume) the optimizer's moments, in table order: users then items
    const floats = (off: number) => this.arena.floats(off, n);
    const put = (off: number, user: Float32Array | null, item: Float32Array | null) => {
      const f = floats(off);
      f.fill(0);
      if (user) f.set(user, 0);
      if (item) f.set(item, numUsers * dim);
    };
    put(this.at.p, model.user.dataSync() as Float32Array, model.item.dataSync() as Float32Array);
    const state = optimizer.state();
    const moment = (key: string) => (state.tensors[key] ? (state.tensors[key].dataSync() as Float32Array) : null);
    put(this.at.m, moment('m.user'), moment('m.item'));
    put(this.at.v, moment('v.user'), moment('v.item'));
    floats(this.at.g).fill(0);
    this.step = state.step;
  }

  /** One step on a batch of triples; returns the summed loss (non-finite: nothing is updated). */
  run(users: Int32Array, pos: Int32Array, neg: Int32Array): number {
    const b = users.length;
    if (b > this.maxBatch) throw new Error(`batch of ${b} above ${this.maxBatch}`);
    const { d, at } = this;
    const I = new Int32Array(this.arena.memory.buffer);
    const F = new Float32Array(this.arena.memory.buffer);
    const ids = at.ids >>> 2;
    I.set(users, ids);
    I.set(pos, ids + b);
    I.set(neg, ids + 2 * b);
    const userTable = at.p;
    const itemTable = at.p + this.numUsers * d * 4;
    this.simd.bprScores(at.scores, userTable, itemTable, at.ids, at.ids + b * 4, at.ids + 2 * b * 4, b, d);
    // loss Σ softplus(−x); dloss/dx = −σ(−x)
    let loss = 0;
    const scores = at.scores >>> 2;
    const coeff = at.coeff >>> 2;
    for (let t = 0; t < b; t++) {
      const x = F[scores + t];
      loss += x > 30 ? Math.exp(-x) : x < -30 ? -x : Math.log1p(Math.exp(-x));
      F[coeff + t] = -1 / (1 + Math.exp(x));
    }
    if (!Number.isFinite(loss)) return loss;
    const userGrad = at.g;
    const itemGrad = at.g + this.numUsers * d * 4;
    this.simd.bprGrads(userGrad, itemGrad, userTable, itemTable, at.ids, at.ids + b * 4, at.ids + 2 * b * 4, at.coeff, b, d);
    this.step++;
    const { lr, beta1, beta2, epsilon, weightDecay } = this.optimizer.config;
    const bc1 = 1 - Math.pow(beta1, this.step);
    const bc2 = 1 - Math.pow(beta2, this.step);
    const hyper = [lr / bc1, 1 / Math.sqrt(bc2), epsilon, beta1, 1 - beta1, beta2, 1 - beta2, weightDecay];
    // rows with a gradient read (and zero) it; the others take the decay alone. Each of the batch's rows is flagged
    // and listed once.
    const touched = new Uint8Array(this.arena.memory.buffer, at.touched, this.numUsers + this.numItems);
    const batchRows = this.batchRows;
    let n = 0;
    const mark = (r: number) => {
      if (touched[r] === 0) {
        touched[r] = 1;
        batchRows[n++] = r;
      }
    };
    for (let t = 0; t < b; t++) {
      mark(users[t]);
      mark(this.numUsers + pos[t]);
      mark(this.numUsers + neg[t]);
    }
    if (this.lazy) {
      // lazy Adam: only the listed rows (the kernel clears a row's flag as it updates it): O(batch · d)
      const [s, inv, eps, b1, ob1, b2, ob2, wd] = hyper;
      for (let k = 0; k < n; k++) this.simd.adamRows(at.p, at.g, at.m, at.v, at.touched, batchRows[k], batchRows[k] + 1, d, s, inv, eps, b1, ob1, b2, ob2, wd);
      return loss;
    }
    const rows = this.numUsers + this.numItems;
    const rowsPerChunk = Math.max(1, Math.floor(CHUNK_FLOATS / d));
    this.helper.run({ kind: 'adamRows', arena: this.arena.id, chunks: Math.ceil(rows / rowsPerChunk), args: { p: at.p, g: at.g, m: at.m, v: at.v, touched: at.touched, d, rows, rowsPerChunk, hyper } });
    return loss;
  }

  /** Views of the tables (row-major, valid until the next step), e.g. for evaluation. */
  tables(): { users: Float32Array; items: Float32Array } {
    const f = this.arena.floats(this.at.p, this.n);
    const split = this.numUsers * this.d;
    return { users: f.subarray(0, split), items: f.subarray(split, split + this.numItems * this.d) };
  }

  /**
   * The state a checkpoint records: parameters and moments by the names the tfjs path uses, and the step count. The
   * copies live in buffers this step reuses (fresh pages cost more than the copy: ~0.4 s per 73 MB here), so a
   * snapshot is valid until the next snapshot() call.
   */
  snapshot(): { params: Record<string, SafeTensor>; moments: Record<string, SafeTensor>; optimizerStep: number } {
    const split = this.numUsers * this.d;
    const end = split + this.numItems * this.d;
    this.saved ??= Array.from({ length: 6 }, (_v, k) => new Float32Array(k % 2 === 0 ? split : end - split));
    const buffers = this.saved;
    let next = 0;
    const of = (off: number, from: number, to: number, rows: number): SafeTensor => {
      const data = buffers[next++];
      data.set(this.arena.floats(off, this.n).subarray(from, to));
      return { dtype: 'F32', shape: [rows, this.d], data };
    };
    const two = (off: number) => ({ user: of(off, 0, split, this.numUsers), item: of(off, split, end, this.numItems) });
    const params = two(this.at.p);
    const m = two(this.at.m);
    const v = two(this.at.v);
    return { params, moments: { 'm.user': m.user, 'm.item': m.item, 'v.user': v.user, 'v.item': v.item }, optimizerStep: this.step };
  }

  /** Writes parameters and moments back into the tfjs model and optimizer (snapshots stay as they are). */
  syncToModel(): void {
    const split = this.numUsers * this.d;
    const end = split + this.numItems * this.d;
    // copies: the cpu backend keeps the array a tensor is made from
    const user = (off: number) => tf.tensor(this.arena.floats(off, this.n).slice(0, split), [this.numUsers, this.d], 'float32');
    const item = (off: number) => tf.tensor(this.arena.floats(off, this.n).slice(split, end), [this.numItems, this.d], 'float32');
    this.model.user.assign(user(this.at.p));
    this.model.item.assign(item(this.at.p));
    this.optimizer.restore(this.step, { 'm.user': user(this.at.m), 'm.item': item(this.at.m), 'v.user': user(this.at.v), 'v.item': item(this.at.v) });
  }

  dispose(): void {
    this.arena.dispose();
  }
}

