/**
 * The top-N keys per row of Q·Kᵀ with per-row exclusions, fused and on both cores: the teacher's top-N items per user
 * (RRD, RD, CD), or any other query/key tables (e.g. the top users per item). See parallel/top-keys.ts for the chunks.
 */
import { InputError } from '@derrd/core';
import { helper } from './helper.js';
import { colBlockFor, packGroups, transposeInto } from './layouts.js';
import { SharedArena, roundUp, sharedCopy, sharedInts } from './shared-arena.js';
import { MAX_KEYS, type TopKeysArgs, type TopKeysI16Args } from './top-keys.js';

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
