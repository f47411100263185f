/**
 * Top-N keys per row of Q·Kᵀ (ties → lower key id) with per-row exclusions, a block of query rows per chunk.
 *
 * topKeysI16 (the fast path): scores are first computed approximately in int16 (per-row query scale, one key scale;
 * i32x4.dot_i16x8_s does twice the multiply-adds of float32 per instruction), each row keeping every key whose
 * approximate score is within `margin` of its N-th best; the margin bounds the quantization error plus the float32
 * rounding (see dot-scoring.ts), so the kept keys hold the exact top N. Those few are then scored exactly (dimension
 * order, as tfjs-wasm's matMul) and ranked. topKeys (exact float32 throughout) is the fallback for tables whose
 * bound does not hold (non-finite or huge values).
 */
import { floatsOf, intsOf, simdOf, type ThreadContext } from './context.js';

/** Q (packed in groups of 4 rows) against Kᵀ: byte offsets into the shared memory, and the chunking. */
export interface TopKeysArgs {
  d: number;
  numRows: number;
  numKeys: number;
  /** numKeys rounded up to a multiple of 8: the row stride of kt */
  keysPad: number;
  topN: number;
  rowsPerChunk: number;
  colBlock: number;
  q4: number;
  kt: number;
  /** per thread: a 4 × colBlock float tile, and colBlock + 4 ints for filterAbove's indices and count */
  tile: [number, number];
  cand: [number, number];
  exclIndptr: Int32Array | null;
  exclIndices: Int32Array | null;
  /** [numRows × topN] key ids, best first, -1 padded */
  out: Int32Array;
  /** [0]: rows done */
  progress: Int32Array;
}

export interface TopKeysI16Args {
  d: number;
  /** ceil(d / 2): int16 pairs per row */
  pairs: number;
  numRows: number;
  numKeys: number;
  keysPad: number;
  topN: number;
  rowsPerChunk: number;
  colBlock: number;
  /** queries as int16 pairs, in groups of 4 interleaved rows; keys as int16 pairs, pair p of key c at k16 + (p·keysPad + c)·4 */
  q16: number;
  k16: number;
  /** the float tables, row-major, for the exact scores */
  qf: number;
  kf: number;
  /** per row: keep keys within this many integer units of the row's N-th best approximate score */
  margin: Int32Array;
  /** the sample for starting thresholds: keys 0, sampleStride, 2·sampleStride, … as int16 pairs (samplePad columns) */
  sampleSize: number;
  sampleStride: number;
  samplePad: number;
  sampleK16: number;
  /** per thread: a 4 × samplePad i32 tile */
  sampleTile: [number, number];
  /** per thread: a 4 × colBlock i32 tile, colBlock + 4 ints for filter output, and rescoreBatch ids and scores */
  tile: [number, number];
  cand: [number, number];
  rescoreBatch: number;
  ids: [number, number];
  scores: [number, number];
  exclIndptr: Int32Array | null;
  exclIndices: Int32Array | null;
  out: Int32Array;
  progress: Int32Array;
}

// ---- top-N selection -------------------------------------------------------------------------------------------

/** Keys are ids below 2^21: a (score, id) pair packs into one double that orders by score, then by lower id. */
export const MAX_KEYS = 1 << 21;
const ID_SPAN = MAX_KEYS;
const bitsF = new Float32Array(1);
const bitsU = new Uint32Array(bitsF.buffer);

/** An order-preserving double for (score, id): larger = better (higher score, then lower id). score is not NaN. */
export function packKey(score: number, id: number): number {
  bitsF[0] = score + 0; // -0 → +0: equal scores must tie
  const b = bitsU[0];
  const ordered = b >= 0x80000000 ? ~b >>> 0 : b + 0x80000000;
  return ordered * ID_SPAN + (ID_SPAN - 1 - id);
}

export function keyId(key: number): number {
  return ID_SPAN - 1 - (key % ID_SPAN);
}

export function keyScore(key: number): number {
  const ordered = Math.floor(key / ID_SPAN);
  bitsU[0] = ordered >= 0x80000000 ? ordered - 0x80000000 : ~ordered >>> 0;
  return bitsF[0];
}

/** Rearranges a[lo, hi) so that its `k` largest values come first (Hoare partition, median of three). */
export function selectLargest(a: Float64Array, lo: number, hi: number, k: number): void {
  let left = lo;
  let right = hi - 1;
  const target = lo + k - 1;
  while (right > left) {
    // median of three as the pivot
    const x = a[left];
    const y = a[(left + right) >>> 1];
    const z = a[right];
    const pivot = x < y ? (y < z ? y : x < z ? z : x) : x < z ? x : y < z ? z : y;
    let i = left;
    let j = right;
    while (i <= j) {
      while (a[i] > pivot) i++;
      while (a[j] < pivot) j--;
      if (i <= j) {
        const t = a[i];
        a[i] = a[j];
        a[j] = t;
        i++;
        j--;
      }
    }
    if (target <= j) right = j;
    else if (target >= i) left = i;
    else return;
  }
}

interface Selection {
  cap: number;
  keys: Float64Array;
  count: Int32Array;
  threshold: Float64Array;
  excl: Int32Array;
}

function selectionOf(context: ThreadContext, rows: number, topN: number): Selection {
  const cap = Math.max(2 * topN, 64);
  let s = context.scratch.get('selection') as Selection | undefined;
  if (!s || s.cap !== cap || s.count.length < rows) {
    s = { cap, keys: new Float64Array(rows * cap), count: new Int32Array(rows), threshold: new Float64Array(rows), excl: new Int32Array(rows) };
    context.scratch.set('selection', s);
  }
  return s;
}

export function topKeysChunk(context: ThreadContext, a: TopKeysArgs, chunk: number): void {
  const simd = simdOf(context);
  const F = floatsOf(context);
  const r0 = chunk * a.rowsPerChunk;
  const r1 = Math.min(a.numRows, r0 + a.rowsPerChunk);
  const sel = selectionOf(context, a.rowsPerChunk, a.topN);
  const { cap, keys, count, threshold, excl } = sel;
  const N = a.topN;
  for (let r = r0; r < r1; r++) {
    count[r - r0] = 0;
    threshold[r - r0] = -Infinity;
    excl[r - r0] = a.exclIndptr ? a.exclIndptr[r] : 0;
  }
  const tile = a.tile[context.thread];
  const tileFloat = tile >>> 2;
  const cand = a.cand[context.thread];
  const candInt = cand >>> 2;
  const countAt = cand + a.colBlock * 4;
  const I = intsOf(context);
  const indices = a.exclIndices;
  for (let c0 = 0; c0 < a.numKeys; c0 += a.colBlock) {
    const cols = Math.min(a.colBlock, a.keysPad - c0);
    const real = Math.min(cols, a.numKeys - c0);
    const cEnd = c0 + real;
    for (let g = r0; g < r1; g += 4) {
      simd.gemm4x8(tile, cols * 4, a.q4 + (g >> 2) * a.d * 16, a.kt + c0 * 4, a.keysPad * 4, cols, a.d);
      for (let r = g; r < Math.min(g + 4, r1); r++) {
        const li = r - r0;
        const rowAt = tileFloat + (r - g) * cols;
        if (indices) {
          const end = a.exclIndptr![r + 1];
          let p = excl[li];
          while (p < end && indices[p] < cEnd) {
            F[rowAt + indices[p] - c0] = -Infinity;
            p++;
          }
          excl[li] = p;
        }
        const base = li * cap;
        let n = count[li];
        let thr = threshold[li];
        simd.filterAbove(rowAt * 4, real, thr, cand, countAt);
        const passed = I[countAt >>> 2];
        for (let t = 0; t < passed; t++) {
          const c = I[candInt + t];
          const s = F[rowAt + c];
          if (!(s > thr)) continue;
          if (n === cap) {
            selectLargest(keys, base, base + n, N);
            n = N;
            // the N-th best so far: a later key (a higher id) must score above it
            thr = keyScore(keys[base + N - 1]);
            if (!(s > thr)) continue;
          }
          keys[base + n++] = packKey(s, c0 + c);
        }
        count[li] = n;
        threshold[li] = thr;
      }
    }
  }
  for (let r = r0; r < r1; r++) {
    const li = r - r0;
    const base = li * cap;
    let n = count[li];
    if (n > N) {
      selectLargest(keys, base, base + n, N);
      n = N;
    }
    const sorted = keys.subarray(base, base + n).sort();
    const o = r * N;
    for (let k = 0; k < n; k++) a.out[o + k] = keyId(sorted[n - 1 - k]);
    a.out.fill(-1, o + n, o + N);
  }
  Atomics.add(a.progress, 0, r1 - r0);
}


// ---- the int16 path ----------------------------------------------------------------------------------------------

const HALF = 2 ** 31;
/** (approximate score D, id) in one double: larger = better D, then lower id */
const packApprox = (D: number, id: number): number => (D + HALF) * ID_SPAN + (ID_SPAN - 1 - id);
const approxOf = (key: number): number => Math.floor(key / ID_SPAN) - HALF;

interface ApproxRows {
  buffers: Float64Array[];
  count: Int32Array;
  threshold: Int32Array;
  /** the sample's estimate of a score that at least N keys beat (checked at the end) */
  estimate: Int32Array;
  excl: Int32Array;
  sample: Int32Array;
}

function approxRowsOf(context: ThreadContext, rows: number, topN: number, sampleSize: number): ApproxRows {
  let s = context.scratch.get('approx') as ApproxRows | undefined;
  if (!s || s.count.length < rows || s.buffers[0].length < 2 * topN || s.sample.length < sampleSize) {
    s = {
      buffers: Array.from({ length: rows }, () => new Float64Array(Math.max(64, 2 * topN))),
      count: new Int32Array(rows), threshold: new Int32Array(rows), estimate: new Int32Array(rows), excl: new Int32Array(rows),
      sample: new Int32Array(Math.max(1, sampleSize)),
    };
    context.scratch.set('approx', s);
  }
  return s;
}

/**
 * Keeps the keys of buf[0, n) with D ≥ (N-th best D) − margin, at the front; returns their count and the new
 * acceptance threshold (accept D > threshold).
 */
function compactApprox(buf: Float64Array, n: number, N: number, margin: number): { n: number; threshold: number } {
  if (n <= N) return { n, threshold: -HALF };
  selectLargest(buf, 0, n, N);
  const threshold = approxOf(buf[N - 1]) - margin - 1;
  let kept = N;
  for (let k = N; k < n; k++) if (approxOf(buf[k]) > threshold) buf[kept++] = buf[k];
  return { n: kept, threshold };
}

/** The k-th largest of a[0, n) (k ≥ 1), rearranging a. */
function kthLargestInt(a: Int32Array, n: number, k: number): number {
  let left = 0;
  let right = n - 1;
  const target = k - 1;
  while (right > left) {
    const x = a[left];
    const y = a[(left + right) >>> 1];
    const z = a[right];
    const pivot = x < y ? (y < z ? y : x < z ? z : x) : x < z ? x : y < z ? z : y;
    let i = left;
    let j = right;
    while (i <= j) {
      while (a[i] > pivot) i++;
      while (a[j] < pivot) j--;
      if (i <= j) {
        const t = a[i];
        a[i] = a[j];
        a[j] = t;
        i++;
        j--;
      }
    }
    if (target <= j) right = j;
    else if (target >= i) left = i;
    else break;
  }
  return a[target];
}

/**
 * Rows [r0, r1) of the chunk, or the one row `only` (a row whose sampled start was too high, redone from scratch).
 * Each row starts from its sample-based threshold (a sequential scan alone would pass N·(1 + ln(keys / N)) keys),
 * keeps every key above it in its buffer, compacting to the N best plus the margin when the buffer fills.
 */
function collectApprox(context: ThreadContext, a: TopKeysI16Args, rows: ApproxRows, r0: number, r1: number, only: number): void {
  const simd = simdOf(context);
  const I = intsOf(context);
  const N = a.topN;
  const tile = a.tile[context.thread];
  const tileInt = tile >>> 2;
  const cand = a.cand[context.thread];
  const candInt = cand >>> 2;
  const countAt = cand + a.colBlock * 4;
  const indices = a.exclIndices;
  const g0 = only >= 0 ? only & ~3 : r0;
  const g1 = only >= 0 ? g0 + 4 : r1;
  for (let r = only >= 0 ? only : r0; r < (only >= 0 ? only + 1 : r1); r++) rows.excl[r - r0] = a.exclIndptr ? a.exclIndptr[r] : 0;
  for (let c0 = 0; c0 < a.numKeys; c0 += a.colBlock) {
    const cols = Math.min(a.colBlock, a.keysPad - c0);
    const real = Math.min(cols, a.numKeys - c0);
    const cEnd = c0 + real;
    for (let g = g0; g < g1; g += 4) {
      simd.gemmI16(tile, cols * 4, a.q16 + (g >> 2) * a.pairs * 16, a.k16 + c0 * 4, a.keysPad * 4, cols, a.pairs);
      const from = only >= 0 ? only : g;
      const to = only >= 0 ? only + 1 : Math.min(g + 4, r1);
      for (let r = from; r < to; r++) {
        const li = r - r0;
        const rowAt = tileInt + (r - g) * cols;
        if (indices) {
          const end = a.exclIndptr![r + 1];
          let p = rows.excl[li];
          while (p < end && indices[p] < cEnd) {
            I[rowAt + indices[p] - c0] = -HALF;
            p++;
          }
          rows.excl[li] = p;
        }
        let thr = rows.threshold[li];
        simd.filterAboveI32(rowAt * 4, real, thr, cand, countAt);
        const passed = I[countAt >>> 2];
        if (passed === 0) continue;
        let buf = rows.buffers[li];
        let n = rows.count[li];
        for (let t = 0; t < passed; t++) {
          const c = I[candInt + t];
          const D = I[rowAt + c];
          if (!(D > thr)) continue;
          if (n === buf.length) {
            const kept = compactApprox(buf, n, N, a.margin[r]);
            n = kept.n;
            if (kept.threshold > thr) thr = kept.threshold;
            // many keys within the margin (near-ties): make room
            if (n > buf.length / 2) {
              const grown = new Float64Array(buf.length * 2);
              grown.set(buf.subarray(0, n));
              buf = rows.buffers[li] = grown;
            }
            if (!(D > thr)) continue;
          }
          buf[n++] = packApprox(D, c0 + c);
        }
        rows.count[li] = n;
        rows.threshold[li] = thr;
      }
    }
  }
}

/**
 * Each row's starting threshold from a fixed sample of keys (every `sampleStride`-th): the j-th best sampled score,
 * with j three standard deviations above the sample's expected count of top-N keys, estimates a score that at least
 * N keys beat; keys within the margin below it are kept. Whether N keys do beat it is checked at the end.
 */
function sampleThresholds(context: ThreadContext, a: TopKeysI16Args, rows: ApproxRows, r0: number, r1: number): void {
  const simd = simdOf(context);
  const I = intsOf(context);
  const N = a.topN;
  const m = a.sampleSize;
  const tile = a.sampleTile[context.thread];
  const tileInt = tile >>> 2;
  const sample = rows.sample;
  for (let g = r0; g < r1; g += 4) {
    if (m > 0) simd.gemmI16(tile, a.samplePad * 4, a.q16 + (g >> 2) * a.pairs * 16, a.sampleK16, a.samplePad * 4, a.samplePad, a.pairs);
    for (let r = g; r < Math.min(g + 4, r1); r++) {
      const li = r - r0;
      rows.count[li] = 0;
      rows.estimate[li] = -HALF;
      rows.threshold[li] = -HALF;
      const excluded = a.exclIndptr ? a.exclIndptr[r + 1] - a.exclIndptr[r] : 0;
      const free = a.numKeys - excluded;
      if (m === 0 || free <= N) continue;
      let n = 0;
      const rowAt = tileInt + (r - g) * a.samplePad;
      const stride = a.sampleStride;
      const excl = a.exclIndices;
      let p = a.exclIndptr ? a.exclIndptr[r] : 0;
      const end = a.exclIndptr ? a.exclIndptr[r + 1] : 0;
      // the next excluded key at or after the current sampled one
      let next = p < end ? excl![p] : a.numKeys;
      for (let k = 0, key = 0; k < m; k++, key += stride) {
        if (next < key) {
          while (p < end && excl![p] < key) p++;
          next = p < end ? excl![p] : a.numKeys;
        }
        if (next === key) continue;
        sample[n++] = I[rowAt + k];
      }
      const expected = (N * n) / free;
      const j = Math.ceil(expected + 3 * Math.sqrt(expected) + 2);
      if (j > n) continue;
      const estimate = kthLargestInt(sample, n, j);
      rows.estimate[li] = estimate;
      rows.threshold[li] = Math.max(-HALF, estimate - a.margin[r] - 1);
    }
  }
}

export function topKeysI16Chunk(context: ThreadContext, a: TopKeysI16Args, chunk: number): void {
  const simd = simdOf(context);
  const F = floatsOf(context);
  const I = intsOf(context);
  const r0 = chunk * a.rowsPerChunk;
  const r1 = Math.min(a.numRows, r0 + a.rowsPerChunk);
  const N = a.topN;
  const rows = approxRowsOf(context, a.rowsPerChunk, N, a.sampleSize);
  sampleThresholds(context, a, rows, r0, r1);
  collectApprox(context, a, rows, r0, r1, -1);
  const idsAt = a.ids[context.thread];
  const scoresAt = a.scores[context.thread];
  const ids = idsAt >>> 2;
  const scores = scoresAt >>> 2;
  for (let r = r0; r < r1; r++) {
    const li = r - r0;
    // did N keys beat the sampled estimate? Then every key within the margin of the N-th best was kept
    if (rows.estimate[li] > -HALF) {
      let above = 0;
      const buf = rows.buffers[li];
      for (let k = 0; k < rows.count[li]; k++) if (approxOf(buf[k]) > rows.estimate[li]) above++;
      if (above < N) {
        rows.count[li] = 0;
        rows.threshold[li] = -HALF;
        collectApprox(context, a, rows, r0, r1, r);
      }
    }
    const buf = rows.buffers[li];
    const { n } = compactApprox(buf, rows.count[li], N, a.margin[r]);
    // the kept keys hold the exact top N: score them exactly and rank
    for (let s = 0; s < n; s += a.rescoreBatch) {
      const m = Math.min(a.rescoreBatch, n - s);
      const padded = Math.ceil(m / 8) * 8;
      for (let k = 0; k < m; k++) I[ids + k] = keyId(buf[s + k]);
      I.fill(I[ids], ids + m, ids + padded);
      simd.dotGather(scoresAt, a.qf + r * a.d * 4, a.kf, idsAt, padded, a.d);
      for (let k = 0; k < m; k++) buf[s + k] = packKey(F[scores + k], I[ids + k]);
    }
    const top = Math.min(n, N);
    if (n > N) selectLargest(buf, 0, n, N);
    const sorted = buf.subarray(0, top).sort();
    const o = r * N;
    for (let k = 0; k < top; k++) a.out[o + k] = keyId(sorted[top - 1 - k]);
    a.out.fill(-1, o + top, o + N);
  }
  Atomics.add(a.progress, 0, r1 - r0);
}
