/**
 * The held-out ranks of a block of evaluated users under the sampled and the full protocol, with evaluate.ts's rules
 * (ties → lower item id, a NaN target ranks last), from scores summed in dimension order as tfjs-wasm's matMul sums.
 */
import { floatsOf, intsOf, simdOf, type ThreadContext } from './context.js';

/** The held-out ranks of evaluated users, by evaluation order. */
interface RankArgsBase {
  d: number;
  /** row-major [numUsers × d] */
  users: number;
  usersPerChunk: number;
  evalUsers: Int32Array;
  testItem: Int32Array;
  validItem: Int32Array;
  outTest: Int32Array;
  outValid: Int32Array;
}

export interface SampledRanksArgs extends RankArgsBase {
  /** row-major [numItems × d] */
  items: number;
  numCandidates: number;
  candidates: Int32Array;
  /**
   * per chunk, the pairs (user lu of the chunk, slot s: 0 test, 1 valid, 2.. candidates) as entries (lu << shift) | s
   * grouped by item (buckets of (item, entries), entries padded to a multiple of 4 with the scratch entry nu << shift):
   * byte offsets
   */
  shift: number;
  chunkEntries: Int32Array;
  chunkBuckets: Int32Array;
  chunkNumBuckets: Int32Array;
  /** per thread: (usersPerChunk + 4) × d floats for the chunk's user rows, their ids, and 2·(usersPerChunk + 1) target scores, target ids and counts */
  userBlock: [number, number];
  userIds: [number, number];
  targets: [number, number];
  targetIds: [number, number];
  counts: [number, number];
}

export interface FullRanksArgs extends RankArgsBase {
  kt: number;
  numItems: number;
  keysPad: number;
  colBlock: number;
  trainIndptr: Int32Array;
  trainItems: Int32Array;
  /** per thread: usersPerChunk × d packed queries and usersPerChunk × keysPad scores */
  q4: [number, number];
  rows: [number, number];
}

/**
 * Item-major: the chunk's (user, item) pairs are grouped by item (once, see sampledBuckets), and each item's row is
 * scored against its users' rows (a block that stays in cache) by one dotBucketsRank call, which counts for every
 * user the candidates that beat its two targets, so the item table is read in order once per chunk and no score is
 * stored. Scoring user by user read 500 random item rows per user and waited on memory (~80 µs a user at 100k × 40k).
 */
export function sampledRanksChunk(context: ThreadContext, a: SampledRanksArgs, chunk: number): void {
  const simd = simdOf(context);
  const F = floatsOf(context);
  const I = intsOf(context);
  const j0 = chunk * a.usersPerChunk;
  const j1 = Math.min(a.evalUsers.length, j0 + a.usersPerChunk);
  const nu = j1 - j0;
  const C = a.numCandidates;
  const d = a.d;
  // the chunk's user rows, one after another (and one more for the padding entries)
  const userBlock = a.userBlock[context.thread];
  const userIds = a.userIds[context.thread] >>> 2;
  const rows = Math.ceil((nu + 1) / 4) * 4;
  for (let k = 0; k < rows; k++) I[userIds + k] = a.evalUsers[j0 + Math.min(k, nu - 1)];
  if (d % 4 === 0) simd.gatherRows(userBlock, a.users, userIds * 4, rows, d * 4);
  else for (let k = 0; k < rows; k++) F.copyWithin((userBlock >>> 2) + k * d, (a.users >>> 2) + I[userIds + k] * d, (a.users >>> 2) + (I[userIds + k] + 1) * d);
  // each user's two targets, scored as the buckets score them (Σ_k in dimension order; a·b = b·a in float32)
  const targets = a.targets[context.thread];
  const targetIds = a.targetIds[context.thread];
  const counts = a.counts[context.thread];
  const tIds = targetIds >>> 2;
  for (let lu = 0; lu < nu; lu++) {
    const u = a.evalUsers[j0 + lu];
    I[tIds + 2 * lu] = a.testItem[u];
    I[tIds + 2 * lu + 1] = a.validItem[u];
    I[tIds + 2 * lu + 2] = a.testItem[u];
    I[tIds + 2 * lu + 3] = a.validItem[u];
    simd.dotGather(targets + 8 * lu, userBlock + lu * d * 4, a.items, targetIds + 8 * lu, 4, d);
  }
  I.fill(0, counts >>> 2, (counts >>> 2) + 2 * (nu + 1));
  simd.dotBucketsRank(counts, 0, userBlock, a.chunkEntries[chunk], a.chunkNumBuckets[chunk], d, a.items, a.chunkBuckets[chunk], a.shift, targets, targetIds);
  const c = counts >>> 2;
  const t = targets >>> 2;
  for (let lu = 0; lu < nu; lu++) {
    // core's rankOf: 1 + the candidates above (ties: lower id); a NaN target ranks last
    a.outTest[j0 + lu] = Number.isNaN(F[t + 2 * lu]) ? C + 1 : 1 + I[c + 2 * lu];
    a.outValid[j0 + lu] = Number.isNaN(F[t + 2 * lu + 1]) ? C + 1 : 1 + I[c + 2 * lu + 1];
  }
}

/** Bits for a slot of a user's row of 2 + numCandidates scores. */
export const slotBits = (numCandidates: number): number => Math.max(1, Math.ceil(Math.log2(2 + numCandidates)));

/**
 * For each chunk of `usersPerChunk` evaluated users, its pairs grouped by item: entries ((lu << shift) | slot) and
 * buckets (item, entries padded to 4), as sampledRanksChunk reads them. The candidates never change: done once.
 */
export function sampledBuckets(evalUsers: Int32Array, testItem: Int32Array, validItem: Int32Array, candidates: Int32Array, numCandidates: number, numItems: number, usersPerChunk: number): { entries: Int32Array[]; buckets: Int32Array[] } {
  const W = 2 + numCandidates;
  const shift = slotBits(numCandidates);
  const counts = new Int32Array(numItems + 1);
  const itemOf = new Int32Array(usersPerChunk * W);
  const entriesOut: Int32Array[] = [];
  const bucketsOut: Int32Array[] = [];
  for (let j0 = 0; j0 < evalUsers.length; j0 += usersPerChunk) {
    const nu = Math.min(usersPerChunk, evalUsers.length - j0);
    const pairs = nu * W;
    for (let lu = 0; lu < nu; lu++) {
      const u = evalUsers[j0 + lu];
      itemOf[lu * W] = testItem[u];
      itemOf[lu * W + 1] = validItem[u];
      itemOf.set(candidates.subarray(u * numCandidates, (u + 1) * numCandidates), lu * W + 2);
    }
    counts.fill(0);
    for (let p = 0; p < pairs; p++) counts[itemOf[p] + 1]++;
    let numBuckets = 0;
    let padded = 0;
    for (let i = 1; i <= numItems; i++) {
      if (counts[i] > 0) {
        numBuckets++;
        padded += (counts[i] + 3) & ~3;
      }
    }
    // start of each item's padded run
    const start = new Int32Array(numItems);
    const buckets = new Int32Array(2 * numBuckets);
    let at = 0;
    let b = 0;
    for (let i = 0; i < numItems; i++) {
      const n = counts[i + 1];
      if (n === 0) continue;
      start[i] = at;
      buckets[2 * b] = i;
      buckets[2 * b + 1] = (n + 3) & ~3;
      b++;
      at += (n + 3) & ~3;
    }
    const entries = new Int32Array(padded).fill(nu << shift);
    for (let p = 0; p < pairs; p++) {
      const lu = (p / W) | 0;
      entries[start[itemOf[p]]++] = (lu << shift) | (p - lu * W);
    }
    entriesOut.push(entries);
    bucketsOut.push(buckets);
  }
  return { entries: entriesOut, buckets: bucketsOut };
}

export function fullRanksChunk(context: ThreadContext, a: FullRanksArgs, chunk: number): void {
  const simd = simdOf(context);
  const F = floatsOf(context);
  const j0 = chunk * a.usersPerChunk;
  const j1 = Math.min(a.evalUsers.length, j0 + a.usersPerChunk);
  const q4 = a.q4[context.thread];
  const rows = a.rows[context.thread];
  const d = a.d;
  // pack the chunk's users in groups of 4 (missing rows zero)
  const q4f = q4 >>> 2;
  for (let g = 0; g < a.usersPerChunk; g += 4) {
    for (let r = 0; r < 4; r++) {
      const j = j0 + g + r;
      const at = q4f + g * d + r;
      if (j < j1) {
        const from = (a.users >>> 2) + a.evalUsers[j] * d;
        for (let k = 0; k < d; k++) F[at + 4 * k] = F[from + k];
      } else {
        for (let k = 0; k < d; k++) F[at + 4 * k] = 0;
      }
    }
  }
  const stride = a.keysPad * 4;
  for (let c0 = 0; c0 < a.keysPad; c0 += a.colBlock) {
    const cols = Math.min(a.colBlock, a.keysPad - c0);
    for (let g = 0; g < j1 - j0; g += 4) simd.gemm4x8(rows + g * stride + c0 * 4, stride, q4 + g * d * 4, a.kt + c0 * 4, stride, cols, d);
  }
  const I = a.numItems;
  for (let j = j0; j < j1; j++) {
    const u = a.evalUsers[j];
    const at = (rows >>> 2) + (j - j0) * a.keysPad;
    const row = F.subarray(at, at + I);
    const test = a.testItem[u];
    const valid = a.validItem[u];
    const testScore = row[test];
    const validScore = row[valid];
    for (let k = a.trainIndptr[u]; k < a.trainIndptr[u + 1]; k++) row[a.trainItems[k]] = -Infinity;
    row[valid] = -Infinity;
    a.outTest[j] = rankFull(testScore, test, row);
    row[valid] = validScore;
    row[test] = -Infinity;
    a.outValid[j] = rankFull(validScore, valid, row);
  }
}

/** core's evaluateFull rule: rank among every item but the target, ties → lower id, NaN target last. */
function rankFull(targetScore: number, target: number, row: Float32Array): number {
  if (Number.isNaN(targetScore)) return row.length;
  let rank = 1;
  for (let i = 0; i < row.length; i++) {
    if (i === target) continue;
    const s = row[i];
    if (s > targetScore || (s === targetScore && i < target)) rank++;
  }
  return rank;
}
