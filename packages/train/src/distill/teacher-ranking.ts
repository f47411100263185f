/**
 * The teacher's top-N unobserved items per user (training positives excluded), in rank order: what RRD, RD and CD
 * distil. Computed once and cached next to the teacher, keyed by the teacher's weights and the data set; a stale or
 * corrupt cache is rebuilt. A dot-product teacher (BPR) is ranked by topKeysPerRow, fused and on both cores; others
 * score blocks of users with their tfjs scorer. The item side (IR-RRD) likewise: topKeysPerRow with items as queries.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { bytesOf, sha256, topIndices, writeFileAtomic, type Dataset } from '@derrd/core';
import type { RecModel } from '../models/model.js';
import { topKeysPerRow } from '../parallel/top-keys-per-row.js';

export interface TeacherRanking {
  topN: number;
  numUsers: number;
  /** [numUsers × topN] item ids, best first; -1 pads users with fewer unobserved items */
  items: Int32Array;
}

export function computeTeacherRanking(teacher: RecModel, ds: Dataset, topN: number, onProgress?: (done: number, total: number) => void): TeacherRanking {
  const tables = teacher.dotTables?.();
  if (tables) {
    const items = topKeysPerRow({ queries: tables.users, keys: tables.items, dim: teacher.config.dim, topN, exclude: { indptr: ds.trainIndptr, indices: ds.trainItems }, onProgress });
    return { topN, numUsers: ds.numUsers, items };
  }
  return computeTeacherRankingWithScorer(teacher, ds, topN, onProgress);
}

/** The ranking from the model's tfjs scorer, a block of users at a time (any model; the reference for the fused path). */
export function computeTeacherRankingWithScorer(teacher: RecModel, ds: Dataset, topN: number, onProgress?: (done: number, total: number) => void): TeacherRanking {
  const scorer = teacher.createScorer();
  const items = new Int32Array(ds.numUsers * topN).fill(-1);
  const block = 256;
  try {
    for (let s = 0; s < ds.numUsers; s += block) {
      const users = new Int32Array(Math.min(block, ds.numUsers - s)).map((_v, k) => s + k);
      const scores = scorer.scoreAll(users);
      for (let b = 0; b < users.length; b++) {
        const u = users[b];
        const row = scores.subarray(b * ds.numItems, (b + 1) * ds.numItems);
        for (let k = ds.trainIndptr[u]; k < ds.trainIndptr[u + 1]; k++) row[ds.trainItems[k]] = -Infinity;
        const top = topIndices(row, topN);
        items.set(top, u * topN);
      }
      onProgress?.(Math.min(ds.numUsers, s + block), ds.numUsers);
    }
  } finally {
    scorer.dispose();
  }
  return { topN, numUsers: ds.numUsers, items };
}

/**
 * An Int32Array cached in `file` with its metadata in `file.json`: read back when every key of `expected` matches
 * and the bytes match their sha256 and `length`; otherwise (missing, stale or unreadable) computed and saved.
 */
function cachedInt32(file: string, expected: Record<string, string | number>, length: number, compute: () => Int32Array): { data: Int32Array; cached: boolean } {
  const metaFile = `${file}.json`;
  if (existsSync(file) && existsSync(metaFile)) {
    try {
      const meta = JSON.parse(readFileSync(metaFile, 'utf8')) as Record<string, unknown>;
      const bytes = readFileSync(file);
      if (Object.keys(expected).every((k) => meta[k] === expected[k]) && sha256(bytes) === meta.sha256 && bytes.byteLength === length * 4) {
        const data = new Int32Array(length);
        bytesOf(data).set(bytes);
        return { data, cached: true };
      }
    } catch {
      // unreadable cache: rebuild below
    }
  }
  const data = compute();
  const bytes = bytesOf(data);
  writeFileAtomic(file, bytes);
  writeFileAtomic(metaFile, JSON.stringify({ ...expected, sha256: sha256(bytes) }, null, 2) + '\n');
  return { data, cached: false };
}

/** Loads the cached ranking when it matches teacher, data and N; otherwise computes and saves it. */
export function teacherRanking(
  teacherDir: string, teacher: RecModel, teacherWeightsSha256: string, ds: Dataset, topN: number,
  onProgress?: (done: number, total: number) => void,
): { ranking: TeacherRanking; cached: boolean } {
  const expected = { teacherWeightsSha256, datasetHash: ds.manifest.hash, topN, numUsers: ds.numUsers };
  const { data, cached } = cachedInt32(join(teacherDir, `ranking-top${topN}.i32`), expected, ds.numUsers * topN,
    () => computeTeacherRanking(teacher, ds, topN, onProgress).items);
  return { ranking: { topN, numUsers: ds.numUsers, items: data }, cached };
}

/**
 * The item side (IR-RRD): the teacher's top-N users per item, the item's training users excluded, best first
 * (ties: the lower user id first, as topIndices orders items).
 */
export interface TeacherItemRanking {
  topN: number;
  numItems: number;
  /** [numItems × topN] user ids, best first; -1 pads items with fewer than N users outside their training users */
  users: Int32Array;
}

/** The k-th largest value of `x` (0-based; x is reordered): Hoare selection, expected O(length). */
function kthLargest(x: Float32Array, k: number): number {
  let lo = 0;
  let hi = x.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    // median of three as the pivot
    const a = x[lo], b = x[mid], c = x[hi];
    const pivot = a < b ? (b < c ? b : a < c ? c : a) : a < c ? a : b < c ? c : b;
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (x[i] > pivot) i++;
      while (x[j] < pivot) j--;
      if (i <= j) {
        const t = x[i]; x[i] = x[j]; x[j] = t;
        i++;
        j--;
      }
    }
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else return x[k];
  }
  return x[k];
}

/**
 * The item side's ranking. A dot-product teacher: topKeysPerRow with the item table as queries and the user table as
 * keys, each item's training users excluded (the same float32 dot products in dimension order as the scorer's
 * matMul, ties to the lower user id, so the same lists); others: the tfjs scorer, read by columns.
 */
export function computeTeacherItemRanking(teacher: RecModel, ds: Dataset, topN: number, onProgress?: (done: number, total: number) => void): TeacherItemRanking {
  const tables = teacher.dotTables?.();
  if (tables) {
    const users = topKeysPerRow({ queries: tables.items, keys: tables.users, dim: teacher.config.dim, topN, exclude: trainingUsersByItem(ds), onProgress });
    return { topN, numItems: ds.numItems, users };
  }
  return computeTeacherItemRankingWithScorer(teacher, ds, topN, onProgress);
}

/** The training pairs by item: indices[indptr[i] .. indptr[i+1]) are item i's training users (ascending). */
function trainingUsersByItem(ds: Dataset): { indptr: Int32Array; indices: Int32Array } {
  const indptr = new Int32Array(ds.numItems + 1);
  for (let k = 0; k < ds.trainItems.length; k++) indptr[ds.trainItems[k] + 1]++;
  for (let i = 0; i < ds.numItems; i++) indptr[i + 1] += indptr[i];
  const fill = indptr.slice(0, ds.numItems);
  const indices = new Int32Array(ds.trainItems.length);
  for (let u = 0; u < ds.numUsers; u++) for (let k = ds.trainIndptr[u]; k < ds.trainIndptr[u + 1]; k++) indices[fill[ds.trainItems[k]]++] = u;
  return { indptr, indices };
}

/**
 * Any model (the reference for the fused path): same block scoring as the user side (one `scoreAll` per block of users, training pairs masked), read by columns:
 * each item appends the users that can still enter its top N to a buffer of 1.5·N, kept in ascending user order;
 * when the buffer fills, its N-th best score v is selected, the buffer cut (stably) to the N best — ties at v go to
 * the lower user ids — and from then on only scores above v enter (a later equal score loses the tie). Amortised
 * O(1) per user-item pair; memory numItems × 1.5·N pairs, not the users × items matrix. Items are scanned in bands
 * so that a band's buffers stay in cache.
 */
export function computeTeacherItemRankingWithScorer(teacher: RecModel, ds: Dataset, topN: number, onProgress?: (done: number, total: number) => void): TeacherItemRanking {
  const block = 256;
  const itemBand = 64;
  const capacity = topN + Math.max(16, topN >> 1);
  const { numItems, numUsers } = ds;
  const bufScore = new Float32Array(numItems * capacity);
  const bufUser = new Int32Array(numItems * capacity);
  const count = new Int32Array(numItems);
  const floor = new Float32Array(numItems).fill(-Infinity);
  const scratch = new Float32Array(capacity);
  /** cuts item j's buffer to its N best, in place and in order; returns the N-th best score */
  const cut = (j: number): number => {
    const base = j * capacity;
    const n = count[j];
    scratch.set(bufScore.subarray(base, base + n));
    const v = kthLargest(scratch.subarray(0, n), topN - 1);
    let above = 0;
    for (let k = 0; k < n; k++) if (bufScore[base + k] > v) above++;
    let ties = topN - above;
    let w = 0;
    for (let k = 0; k < n; k++) {
      const x = bufScore[base + k];
      if (x > v || (x === v && ties-- > 0)) {
        bufScore[base + w] = x;
        bufUser[base + w] = bufUser[base + k];
        w++;
      }
    }
    count[j] = w;
    return v;
  };
  const scorer = teacher.createScorer();
  try {
    for (let s = 0; s < numUsers; s += block) {
      const users = new Int32Array(Math.min(block, numUsers - s)).map((_v, k) => s + k);
      const scores = scorer.scoreAll(users);
      for (let b = 0; b < users.length; b++) {
        const u = users[b];
        for (let k = ds.trainIndptr[u]; k < ds.trainIndptr[u + 1]; k++) scores[b * numItems + ds.trainItems[k]] = -Infinity;
      }
      for (let j0 = 0; j0 < numItems; j0 += itemBand) {
        const j1 = Math.min(numItems, j0 + itemBand);
        for (let b = 0; b < users.length; b++) {
          const u = users[b];
          const row = b * numItems;
          for (let j = j0; j < j1; j++) {
            const x = scores[row + j];
            // NaN, masked pairs (−∞) and scores that can no longer enter fail this test
            if (!(x > floor[j])) continue;
            const at = j * capacity + count[j]++;
            // + 0 turns −0 into 0, which the sort keys below must not tell apart
            bufScore[at] = x + 0;
            bufUser[at] = u;
            if (count[j] === capacity) floor[j] = cut(j);
          }
        }
      }
      onProgress?.(Math.min(numUsers, s + block), numUsers);
    }
  } finally {
    scorer.dispose();
  }
  // Best first by one native numeric sort per item (a comparator sort cost ~10 s on CiteULike): the key is the score's
  // bits mapped to descending unsigned order, times 2^s, plus the buffer position — the buffer is in ascending user
  // order, so equal scores keep the lower user id first. Exact in float64 (at most 32 + s ≤ 53 bits).
  const bits = new Uint32Array(bufScore.buffer, bufScore.byteOffset, bufScore.length);
  const shift = 2 ** Math.ceil(Math.log2(capacity));
  const keys = new Float64Array(capacity);
  const out = new Int32Array(numItems * topN).fill(-1);
  for (let j = 0; j < numItems; j++) {
    if (count[j] > topN) cut(j);
    const base = j * capacity;
    const n = count[j];
    for (let k = 0; k < n; k++) {
      const b = bits[base + k];
      // ascending float order as unsigned: flip all bits of negatives, set the sign bit of the others; then reverse
      const ascending = b & 0x80000000 ? ~b >>> 0 : (b | 0x80000000) >>> 0;
      keys[k] = (0xffffffff - ascending) * shift + k;
    }
    const sorted = keys.subarray(0, n).sort();
    for (let k = 0; k < n; k++) out[j * topN + k] = bufUser[base + (sorted[k] % shift)];
  }
  return { topN, numItems, users: out };
}

/** The item side's cache, `item-ranking-top<N>.i32` next to the teacher: same rules as `teacherRanking`. */
export function teacherItemRanking(
  teacherDir: string, teacher: RecModel, teacherWeightsSha256: string, ds: Dataset, topN: number,
  onProgress?: (done: number, total: number) => void,
): { ranking: TeacherItemRanking; cached: boolean } {
  const expected = { side: 'item', teacherWeightsSha256, datasetHash: ds.manifest.hash, topN, numItems: ds.numItems };
  const { data, cached } = cachedInt32(join(teacherDir, `item-ranking-top${topN}.i32`), expected, ds.numItems * topN,
    () => computeTeacherItemRanking(teacher, ds, topN, onProgress).users);
  return { ranking: { topN, numItems: ds.numItems, users: data }, cached };
}
