/**
 * Scoring for dot-product models on both cores, without a users × items matrix: one fused pass per block of rows
 * computes the scores with the SIMD kernels (wasm/score-simd.ts) and reduces them at once, to the top-N keys of a row
 * (teacher rankings) or to the ranks of the held-out items (evaluation). Every score is summed in dimension order,
 * as tfjs-wasm's matMul sums it, so the lists and ranks equal those of the tfjs scoring path.
 */
import { InputError, evalUsers, type Dataset } from '@derrd/core';
import { SCORE_MAX_PAGES } from '../wasm/score-simd.js';
import { helper, type Helper, type PendingJob } from './helper.js';
import { sampledBuckets, slotBits, type FullRanksArgs, type SampledRanksArgs } from './eval-ranks.js';
import { MAX_KEYS, type TopKeysArgs, type TopKeysI16Args } from './top-keys.js';

const PAGE = 65536;

/** A shared WebAssembly memory with a bump allocator, attached to the helper while in use. */
export class SharedArena {
  readonly memory: WebAssembly.Memory;
  readonly id: number;
  private readonly owner: Helper;
  private top = 64;

  constructor(owner: Helper = helper()) {
    this.memory = new WebAssembly.Memory({ initial: 1, maximum: SCORE_MAX_PAGES, shared: true });
    this.owner = owner;
    this.id = owner.attach(this.memory);
  }

  /** Byte offset of `bytes` new bytes (64-byte aligned), growing the memory as needed. */
  alloc(bytes: number): number {
    const at = Math.ceil(this.top / 64) * 64;
    const end = at + bytes;
    if (end > SCORE_MAX_PAGES * PAGE) throw new InputError(`scoring needs ${(end / 2 ** 30).toFixed(1)} GiB of WebAssembly memory, above its 4 GiB limit: use fewer users or items, or a smaller dimension`);
    const pages = Math.ceil(end / PAGE) - this.memory.buffer.byteLength / PAGE;
    if (pages > 0) this.memory.grow(pages);
    this.top = end;
    return at;
  }

  floats(at: number, length: number): Float32Array {
    return new Float32Array(this.memory.buffer, at, length);
  }

  dispose(): void {
    this.owner.detach(this.id);
  }
}

const roundUp = (n: number, m: number): number => Math.ceil(n / m) * m;
const sharedInts = (n: number): Int32Array => new Int32Array(new SharedArrayBuffer(Math.max(1, n) * 4), 0, n);
const sharedCopy = (a: Int32Array): Int32Array => {
  const out = sharedInts(a.length);
  out.set(a);
  return out;
};

/** Columns per cache block: the block of Kᵀ (d × cols floats) stays in L2 while every row of a chunk passes it. */
function colBlockFor(d: number, keysPad: number): number {
  return Math.min(keysPad, Math.max(8, Math.floor((192 * 1024) / (4 * d) / 8) * 8));
}

/** Rows [numRows × d] packed in groups of 4 interleaved rows, q4[g][k][r] (missing rows zero), as gemm4x8 reads them. */
function packGroups(rows: Float32Array, numRows: number, d: number, out: Float32Array): void {
  for (let g = 0; g < numRows; g += 4) {
    const base = g * d;
    for (let r = 0; r < 4; r++) {
      const from = (g + r) * d;
      if (g + r < numRows) for (let k = 0; k < d; k++) out[base + 4 * k + r] = rows[from + k];
      else for (let k = 0; k < d; k++) out[base + 4 * k + r] = 0;
    }
  }
}

/** Kᵀ padded to keysPad columns (zeros beyond numKeys). */
function transposeInto(keys: Float32Array, numKeys: number, d: number, keysPad: number, out: Float32Array): void {
  for (let i = 0; i < numKeys; i++) {
    const from = i * d;
    for (let k = 0; k < d; k++) out[k * keysPad + i] = keys[from + k];
  }
  for (let k = 0; k < d; k++) out.fill(0, k * keysPad + numKeys, (k + 1) * keysPad);
}

export interface TopKeysOptions {
  /** [numRows × dim], row-major */
  queries: Float32Array;
  /** [numKeys × dim], row-major */
  keys: Float32Array;
  dim: number;
  topN: number;
  /** keys never returned for row q: indices[indptr[q] .. indptr[q+1]) (any order) */
  exclude?: { indptr: Int32Array; indices: Int32Array };
  onProgress?: (done: number, total: number) => void;
}

/**
 * The top-N keys of every row of Q·Kᵀ, best first: [numRows × topN] key ids, ties to the lower key id, excluded,
 * -Infinity and NaN scores never returned, -1 padding rows with fewer keys left. Scores are float32 dot products
 * summed in dimension order (what tfjs-wasm's matMul(Q, Kᵀ) gives). Runs on both cores when there are two.
 */
export function topKeysPerRow(o: TopKeysOptions): Int32Array {
  const d = o.dim;
  if (!Number.isInteger(d) || d < 1) throw new InputError(`dim must be a positive integer, got ${d}`);
  if (o.queries.length % d !== 0 || o.keys.length % d !== 0) throw new InputError(`queries (${o.queries.length}) and keys (${o.keys.length}) must hold whole rows of ${d}`);
  if (!Number.isInteger(o.topN) || o.topN < 1) throw new InputError(`topN must be a positive integer, got ${o.topN}`);
  const numRows = o.queries.length / d;
  const numKeys = o.keys.length / d;
  if (numKeys >= MAX_KEYS) throw new InputError(`top-N ranking handles up to ${MAX_KEYS - 1} keys, got ${numKeys}`);
  const exclude = o.exclude ? sortedExclusions(o.exclude, numRows, numKeys) : null;
  const out = sharedInts(numRows * o.topN);
  if (numRows === 0) return out;
  const h = helper();
  const arena = new SharedArena(h);
  try {
    const progress = sharedInts(1);
    const rowsPerChunk = 64;
    const onProgress = o.onProgress;
    const onChunk = onProgress && (() => onProgress(Atomics.load(progress, 0), numRows));
    const chunks = Math.ceil(numRows / rowsPerChunk);
    const quantized = quantizeTables(o.queries, o.keys, numRows, numKeys, d);
    const keysPad = roundUp(numKeys, 8);
    const common = { d, numRows, numKeys, keysPad, topN: o.topN, rowsPerChunk, exclIndptr: exclude?.indptr ?? null, exclIndices: exclude?.indices ?? null, out, progress };
    if (quantized) {
      const pairs = quantized.pairs;
      const colBlock = colBlockFor(2 * pairs, keysPad);
      const rescoreBatch = 1024;
      const q16 = arena.alloc(roundUp(numRows, 4) * pairs * 4);
      const k16 = arena.alloc(pairs * keysPad * 4);
      const qf = arena.alloc(numRows * d * 4);
      const kf = arena.alloc(numKeys * d * 4);
      const per = (bytes: number): [number, number] => [arena.alloc(bytes), arena.alloc(bytes)];
      const tile = per(4 * colBlock * 4);
      const cand = per((colBlock + 4) * 4);
      const ids = per(rescoreBatch * 4);
      const scores = per(rescoreBatch * 4);
      // about 1024 evenly spaced keys set each row's starting threshold
      const sampleStride = Math.max(1, Math.floor(numKeys / 1024));
      const sampleSize = numKeys > 4 * o.topN ? Math.ceil(numKeys / sampleStride) : 0;
      const samplePad = roundUp(Math.max(sampleSize, 8), 8);
      const sampleK16 = arena.alloc(pairs * samplePad * 4);
      const sampleTile = per(4 * samplePad * 4);
      quantized.writeQueries(new Int16Array(arena.memory.buffer, q16, roundUp(numRows, 4) * pairs * 2));
      const k16View = new Int16Array(arena.memory.buffer, k16, pairs * keysPad * 2);
      quantized.writeKeys(k16View, keysPad);
      const sampleView = new Int16Array(arena.memory.buffer, sampleK16, pairs * samplePad * 2);
      for (let p = 0; p < pairs; p++) {
        for (let j = 0; j < sampleSize; j++) {
          sampleView[(p * samplePad + j) * 2] = k16View[(p * keysPad + j * sampleStride) * 2];
          sampleView[(p * samplePad + j) * 2 + 1] = k16View[(p * keysPad + j * sampleStride) * 2 + 1];
        }
      }
      arena.floats(qf, numRows * d).set(o.queries);
      arena.floats(kf, numKeys * d).set(o.keys);
      const args: TopKeysI16Args = {
        ...common, pairs, colBlock, q16, k16, qf, kf, margin: quantized.margin, sampleSize, sampleStride, samplePad, sampleK16, sampleTile,
        tile, cand, rescoreBatch, ids, scores,
      };
      h.run({ kind: 'topKeysI16', arena: arena.id, chunks, args, onChunk });
    } else {
      const colBlock = colBlockFor(d, keysPad);
      const q4 = arena.alloc(roundUp(numRows, 4) * d * 4);
      const kt = arena.alloc(d * keysPad * 4);
      const tile: [number, number] = [arena.alloc(4 * colBlock * 4), arena.alloc(4 * colBlock * 4)];
      const cand: [number, number] = [arena.alloc((colBlock + 4) * 4), arena.alloc((colBlock + 4) * 4)];
      packGroups(o.queries, numRows, d, arena.floats(q4, roundUp(numRows, 4) * d));
      transposeInto(o.keys, numKeys, d, keysPad, arena.floats(kt, d * keysPad));
      const args: TopKeysArgs = { ...common, colBlock, q4, kt, tile, cand };
      h.run({ kind: 'topKeys', arena: arena.id, chunks, args, onChunk });
    }
    onProgress?.(numRows, numRows);
  } finally {
    arena.dispose();
  }
  return out;
}

/** unit roundoff of float32 */
const U32 = 2 ** -24;

/**
 * int16 versions of the tables for topKeysI16, and each row's margin, or null when the bound below does not hold
 * (non-finite values, or scores near float32's range), for the exact path.
 *
 * Each query row q is scaled by its own sq = max|q| / M and every key by one sk = max|k| / M, then rounded:
 * q = sq(Q + e), k = sk(K + f) with |e|, |f| ≤ ½, so q·k / (sq·sk) = Q·K + Σ(Q f + e K + e f) is within
 * E = ½(|Q|₁ + max|K|₁) + d/4 of the integer D = Q·K; the float32 score s (dimension order) is within
 * γ_d·|q|·|k| of q·k (γ_d = d·u / (1 − d·u)). If the N best D of a row are at least θ, the exact N-th best score is at
 * least (θ − E)·sq·sk, and every key of the exact top N has D ≥ θ − 2E: keeping those keeps the exact top N.
 * M = 2^b − 1 with 2·M²·⌈d/2⌉ < 2^31, so the int32 sums cannot overflow.
 */
function quantizeTables(queries: Float32Array, keys: Float32Array, numRows: number, numKeys: number, d: number): {
  pairs: number; margin: Int32Array; writeQueries(out: Int16Array): void; writeKeys(out: Int16Array, keysPad: number): void;
} | null {
  const pairs = Math.ceil(d / 2);
  const bits = Math.min(14, Math.floor((30 - Math.log2(pairs)) / 2));
  const M = 2 ** bits - 1;
  let maxK = 0;
  let maxNormK = 0;
  for (let i = 0; i < numKeys; i++) {
    let norm = 0;
    for (let k = 0; k < d; k++) {
      const x = keys[i * d + k];
      if (!Number.isFinite(x)) return null;
      const ax = Math.abs(x);
      if (ax > maxK) maxK = ax;
      norm += x * x;
    }
    if (norm > maxNormK) maxNormK = norm;
  }
  maxNormK = Math.sqrt(maxNormK);
  const sk = maxK > 0 ? maxK / M : 1;
  let maxL1K = 0;
  for (let i = 0; i < numKeys; i++) {
    let l1 = 0;
    for (let k = 0; k < d; k++) l1 += Math.abs(Math.round(keys[i * d + k] / sk));
    if (l1 > maxL1K) maxL1K = l1;
  }
  const gamma = (d * U32) / (1 - d * U32);
  const margin = sharedInts(numRows);
  const sq = new Float64Array(numRows);
  for (let r = 0; r < numRows; r++) {
    let maxQ = 0;
    let norm = 0;
    for (let k = 0; k < d; k++) {
      const x = queries[r * d + k];
      if (!Number.isFinite(x)) return null;
      maxQ = Math.max(maxQ, Math.abs(x));
      norm += x * x;
    }
    // scores this large could round to infinity in float32: the exact path keeps them
    if (maxQ * maxK * d > 1e36) return null;
    const s = (sq[r] = maxQ > 0 ? maxQ / M : 1);
    let l1 = 0;
    for (let k = 0; k < d; k++) l1 += Math.abs(Math.round(queries[r * d + k] / s));
    const rounding = (gamma * Math.sqrt(norm) * maxNormK) / (s * sk);
    // 2E with slack for the float64 arithmetic of this bound
    margin[r] = Math.ceil((l1 + maxL1K + d / 2 + 2 * rounding) * (1 + 1e-9)) + 2;
  }
  return {
    pairs,
    margin,
    writeQueries: (out) => {
      out.fill(0);
      for (let r = 0; r < numRows; r++) {
        const g = r >> 2;
        const lane = r & 3;
        for (let k = 0; k < d; k++) out[((g * pairs + (k >> 1)) * 4 + lane) * 2 + (k & 1)] = Math.round(queries[r * d + k] / sq[r]);
      }
    },
    writeKeys: (out, keysPad) => {
      out.fill(0);
      for (let i = 0; i < numKeys; i++) for (let k = 0; k < d; k++) out[((k >> 1) * keysPad + i) * 2 + (k & 1)] = Math.round(keys[i * d + k] / sk);
    },
  };
}

/** Shared copies of the exclusions, each row's keys sorted ascending (checked: ids in range, indptr monotone). */
function sortedExclusions(e: { indptr: Int32Array; indices: Int32Array }, numRows: number, numKeys: number): { indptr: Int32Array; indices: Int32Array } {
  if (e.indptr.length !== numRows + 1 || e.indptr[0] !== 0 || e.indptr[numRows] > e.indices.length) {
    throw new InputError(`exclusions: indptr must have ${numRows + 1} entries from 0 to at most ${e.indices.length}`);
  }
  const indptr = sharedCopy(e.indptr);
  const indices = sharedCopy(e.indices.subarray(0, e.indptr[numRows]));
  for (let r = 0; r < numRows; r++) {
    const a = indptr[r];
    const b = indptr[r + 1];
    if (b < a) throw new InputError(`exclusions: indptr decreases at row ${r}`);
    let sorted = true;
    for (let k = a; k < b; k++) {
      if (!(indices[k] >= 0 && indices[k] < numKeys)) throw new InputError(`exclusions: key ${indices[k]} of row ${r} outside [0, ${numKeys})`);
      if (k > a && indices[k] < indices[k - 1]) sorted = false;
    }
    if (!sorted) indices.subarray(a, b).sort();
  }
  return { indptr, indices };
}

/** A dot-product model's tables, row-major. */
export interface DotTables {
  users: Float32Array;
  items: Float32Array;
}

export interface Ranks {
  valid: Int32Array;
  test: Int32Array;
}

/** A background evaluation; finish() joins in and returns its ranks (copies, safe after the next run). */
export interface PendingRanks {
  finish(): Ranks;
}

/**
 * Ranks of each evaluated user's validation and test items under the sampled or the full protocol, for the tables
 * of a dot-product model, with evaluate.ts's rules. Holds shared copies of the data set's arrays and a memory sized
 * for the tables; load() then run() (both cores) or start() (in the background on the helper thread).
 */
export class DotEvaluator {
  readonly protocol: 'sampled' | 'full';
  private readonly helper: Helper;
  private readonly arena: SharedArena;
  private readonly users: number;
  private readonly items: number;
  private readonly numUsers: number;
  private readonly numItems: number;
  private readonly d: number;
  private readonly kind: 'sampledRanks' | 'fullRanks';
  private readonly args: SampledRanksArgs | FullRanksArgs;
  private readonly chunks: number;
  private pending: PendingJob | null = null;

  constructor(ds: Dataset, dim: number, protocol: 'sampled' | 'full') {
    this.protocol = protocol === 'full' || ds.numCandidates === 0 ? 'full' : 'sampled';
    this.helper = helper();
    this.numUsers = ds.numUsers;
    this.numItems = ds.numItems;
    this.d = dim;
    const arena = (this.arena = new SharedArena(this.helper));
    const order = sharedCopy(evalUsers(ds));
    this.users = arena.alloc(ds.numUsers * dim * 4);
    const base = {
      d: dim, users: this.users, evalUsers: order, testItem: sharedCopy(ds.testItem), validItem: sharedCopy(ds.validItem),
      outTest: sharedInts(order.length), outValid: sharedInts(order.length),
    };
    if (this.protocol === 'sampled') {
      const C = ds.numCandidates;
      for (const u of order) {
        for (let k = u * C; k < (u + 1) * C; k++) {
          if (!(ds.candidates[k] >= 0 && ds.candidates[k] < ds.numItems)) throw new InputError(`user ${u} has candidate item ${ds.candidates[k]} outside [0, ${ds.numItems}) (a corrupt data set)`);
        }
      }
      this.items = arena.alloc(ds.numItems * dim * 4);
      // a chunk's user rows stay in L2 while the item table streams past them
      const usersPerChunk = Math.max(16, Math.min(1024, Math.floor((256 * 1024) / (dim * 4))));
      const shift = slotBits(C);
      const grouped = sampledBuckets(order, ds.testItem, ds.validItem, ds.candidates, C, ds.numItems, usersPerChunk);
      const place = (arrays: Int32Array[]): Int32Array => {
        const offsets = sharedInts(arrays.length);
        arrays.forEach((x, c) => {
          offsets[c] = arena.alloc(x.byteLength);
          new Int32Array(arena.memory.buffer, offsets[c], x.length).set(x);
        });
        return offsets;
      };
      const chunkEntries = place(grouped.entries);
      const chunkBuckets = place(grouped.buckets);
      const chunkNumBuckets = sharedInts(grouped.buckets.length);
      grouped.buckets.forEach((x, c) => (chunkNumBuckets[c] = x.length / 2));
      const per = (bytes: number): [number, number] => [arena.alloc(bytes), arena.alloc(bytes)];
      this.kind = 'sampledRanks';
      this.args = {
        ...base, items: this.items, numCandidates: C, candidates: sharedCopy(ds.candidates), usersPerChunk, shift, chunkEntries, chunkBuckets, chunkNumBuckets,
        userBlock: per((usersPerChunk + 4) * dim * 4), userIds: per((usersPerChunk + 4) * 4),
        targets: per((2 * usersPerChunk + 4) * 4), targetIds: per((2 * usersPerChunk + 4) * 4), counts: per((2 * usersPerChunk + 4) * 4),
      } satisfies SampledRanksArgs;
      this.chunks = Math.ceil(order.length / usersPerChunk);
    } else {
      const keysPad = roundUp(ds.numItems, 8);
      const usersPerChunk = 32;
      this.items = arena.alloc(dim * keysPad * 4);
      this.kind = 'fullRanks';
      this.args = {
        ...base, kt: this.items, numItems: ds.numItems, keysPad, colBlock: colBlockFor(dim, keysPad), usersPerChunk,
        trainIndptr: sharedCopy(ds.trainIndptr), trainItems: sharedCopy(ds.trainItems),
        q4: [arena.alloc(usersPerChunk * dim * 4), arena.alloc(usersPerChunk * dim * 4)],
        rows: [arena.alloc(usersPerChunk * keysPad * 4), arena.alloc(usersPerChunk * keysPad * 4)],
      } satisfies FullRanksArgs;
      this.chunks = Math.ceil(order.length / usersPerChunk);
    }
  }

  /** Copies a model's tables in (the previous background run must have finished). */
  load(tables: DotTables): void {
    if (this.pending) throw new Error('DotEvaluator.load while an evaluation is running');
    if (tables.users.length !== this.numUsers * this.d || tables.items.length !== this.numItems * this.d) {
      throw new Error(`tables of ${tables.users.length} and ${tables.items.length} floats for ${this.numUsers} users, ${this.numItems} items, dim ${this.d}`);
    }
    this.arena.floats(this.users, tables.users.length).set(tables.users);
    if (this.kind === 'sampledRanks') this.arena.floats(this.items, tables.items.length).set(tables.items);
    else {
      const keysPad = (this.args as FullRanksArgs).keysPad;
      transposeInto(tables.items, this.numItems, this.d, keysPad, this.arena.floats(this.items, this.d * keysPad));
    }
  }

  /** The loaded tables' ranks, on both cores. */
  run(): Ranks {
    return this.start(false).finish();
  }

  /** Starts ranking the loaded tables on the helper thread (on this one at once when there is no helper). */
  start(background = true): PendingRanks {
    if (this.pending) throw new Error('DotEvaluator.start while an evaluation is running');
    const job = this.helper.start({ kind: this.kind, arena: this.arena.id, chunks: this.chunks, args: this.args }, background);
    this.pending = job;
    return {
      finish: () => {
        if (this.pending === job) {
          this.pending = null;
          job.finish();
        }
        return { valid: Int32Array.from(this.args.outValid), test: Int32Array.from(this.args.outTest) };
      },
    };
  }

  dispose(): void {
    this.pending?.finish();
    this.pending = null;
    this.arena.dispose();
  }
}
