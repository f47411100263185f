/**
 * Request validation and the int64 feeds of a derrd model, shared by the Node runtime and the browser library
 * (browser-safe: no Node or onnxruntime imports). ONNX Gather accepts negative ids, so every id is range-checked here.
 * Excluded items are scored -Infinity by the graph; they are dropped from the answer here, so a row holds fewer than k
 * items when fewer than k are left, never an excluded item.
 */
export class RuntimeError extends Error {
  readonly derrdUserError = true;
  constructor(message: string) {
    super(message);
    this.name = 'RuntimeError';
  }
}

export interface FeedArrays {
  users: BigInt64Array;
  k: BigInt64Array;
  /** [users × width], padded with -1 */
  exclude: BigInt64Array;
  width: number;
}

/** Limits from the model's metadata; absent for models without derrd metadata (only non-negativity is checked). */
export interface FeedLimits {
  numUsers?: number;
  numItems?: number;
}

/** Per-row exclusions in CSR form: row r excludes items[offsets[r] .. offsets[r + 1]). */
export interface FlatExclude {
  offsets: Int32Array;
  items: Int32Array;
}

/** A batch answer in flat form: row r holds counts[r] items at items[r * width ..], best first. */
export interface FlatResult {
  items: Int32Array;
  scores: Float32Array;
  counts: Int32Array;
  width: number;
}

const checkK = (k: number, limits: FeedLimits): void => {
  if (!Number.isInteger(k) || k < 1) throw new RuntimeError(`k must be a positive integer, got ${k}`);
  if (limits.numItems !== undefined && k > limits.numItems) throw new RuntimeError(`k = ${k} exceeds the number of items (${limits.numItems})`);
};

const badUser = (u: number, limits: FeedLimits) =>
  new RuntimeError(`user id ${u} is not a valid dense id${limits.numUsers !== undefined ? ` (0..${limits.numUsers - 1})` : ' (non-negative integer)'}`);
const badItem = (i: number, limits: FeedLimits) =>
  new RuntimeError(`excluded item id ${i} is not a valid dense id${limits.numItems !== undefined ? ` (0..${limits.numItems - 1})` : ''}`);

/** Per-user id lists (one array per user) in CSR form. */
export function flattenExclude(exclude: ArrayLike<ArrayLike<number>>): FlatExclude {
  const offsets = new Int32Array(exclude.length + 1);
  for (let r = 0; r < exclude.length; r++) offsets[r + 1] = offsets[r] + exclude[r].length;
  const items = new Int32Array(offsets[exclude.length]);
  for (let r = 0; r < exclude.length; r++) {
    const list = exclude[r];
    const base = offsets[r];
    for (let c = 0; c < list.length; c++) {
      const i = list[c];
      // -1 is left for buildFlatFeeds to reject with the model's range in the message
      if (!Number.isInteger(i) || i < -1 || i > 0x7fffffff) throw badItem(i, {});
      items[base + c] = i;
    }
  }
  return { offsets, items };
}

/**
 * The int64 feeds for a batch. int64 values are written through an Int32Array view of the same buffer (low word, then
 * the sign word), which avoids a BigInt per id.
 */
export function buildFlatFeeds(users: Int32Array, k: number, exclude: FlatExclude | undefined, limits: FeedLimits): FeedArrays {
  const b = users.length;
  if (b === 0) throw new RuntimeError('no user ids given');
  checkK(k, limits);
  const u64 = new BigInt64Array(b);
  const u32 = new Int32Array(u64.buffer);
  for (let r = 0; r < b; r++) {
    const u = users[r];
    if (u < 0 || (limits.numUsers !== undefined && u >= limits.numUsers)) throw badUser(u, limits);
    u32[2 * r] = u;
  }
  let width = 0;
  if (exclude) {
    if (exclude.offsets.length !== b + 1) throw new RuntimeError(`exclude has ${exclude.offsets.length - 1} lists for ${b} users`);
    for (let r = 0; r < b; r++) width = Math.max(width, exclude.offsets[r + 1] - exclude.offsets[r]);
  }
  const ex = new BigInt64Array(b * width).fill(-1n);
  if (exclude && width > 0) {
    const e32 = new Int32Array(ex.buffer);
    for (let r = 0; r < b; r++) {
      for (let p = exclude.offsets[r], c = 0; p < exclude.offsets[r + 1]; p++, c++) {
        const i = exclude.items[p];
        if (i < 0 || (limits.numItems !== undefined && i >= limits.numItems)) throw badItem(i, limits);
        e32[2 * (r * width + c)] = i;
        e32[2 * (r * width + c) + 1] = 0;
      }
    }
  }
  return { users: u64, k: BigInt64Array.from([BigInt(k)]), exclude: ex, width };
}

/** Feeds from plain arrays (one exclusion list per user); the browser library's entry point. */
export function buildFeeds(userIds: ArrayLike<number>, k: number, exclude: ArrayLike<number>[] | undefined, limits: FeedLimits): FeedArrays {
  const b = userIds.length;
  if (b === 0) throw new RuntimeError('no user ids given');
  const users = new Int32Array(b);
  for (let r = 0; r < b; r++) {
    const u = userIds[r];
    if (!Number.isInteger(u) || u < 0 || u > 0x7fffffff) throw badUser(u, limits);
    users[r] = u;
  }
  if (exclude && exclude.length !== b) throw new RuntimeError(`exclude has ${exclude.length} lists for ${b} users`);
  return buildFlatFeeds(users, k, exclude ? flattenExclude(exclude) : undefined, limits);
}

/**
 * Flat TopK outputs ([rows × width] int64 items and float scores) to a FlatResult without the excluded entries: the
 * graph scores an excluded item -Infinity, so it sorts last and is dropped here; membership in the row's exclusions is
 * checked too (a marker array when the item count is known), for models that ignore the mask. At most `k` entries are
 * kept per row.
 */
export function compactResults(items: BigInt64Array, scores: Float32Array, rows: number, k: number, exclude?: FlatExclude, numItems?: number): FlatResult {
  const width = rows > 0 ? items.length / rows : 0;
  const keep = Math.min(k, width);
  const i32 = new Int32Array(items.buffer, items.byteOffset, items.length * 2);
  const outItems = new Int32Array(rows * keep);
  const outScores = new Float32Array(rows * keep);
  const counts = new Int32Array(rows);
  const marker = exclude && numItems !== undefined && exclude.items.length > 0 ? new Uint8Array(numItems) : null;
  for (let r = 0; r < rows; r++) {
    const from = exclude ? exclude.offsets[r] : 0;
    const to = exclude ? exclude.offsets[r + 1] : 0;
    if (marker) for (let p = from; p < to; p++) marker[exclude!.items[p]] = 1;
    let n = 0;
    for (let c = 0; c < width && n < keep; c++) {
      const s = scores[r * width + c];
      if (s === -Infinity) continue;
      const item = i32[2 * (r * width + c)];
      if (marker) {
        if (marker[item] === 1) continue;
      } else if (to > from) {
        let excluded = false;
        for (let p = from; p < to; p++) if (exclude!.items[p] === item) { excluded = true; break; }
        if (excluded) continue;
      }
      outItems[r * keep + n] = item;
      outScores[r * keep + n] = s;
      n++;
    }
    if (marker) for (let p = from; p < to; p++) marker[exclude!.items[p]] = 0;
    counts[r] = n;
  }
  return { items: outItems, scores: outScores, counts, width: keep };
}

/** A FlatResult as per-user lists. */
export function splitFlat(result: FlatResult): { items: number[][]; scores: number[][] } {
  const out = { items: [] as number[][], scores: [] as number[][] };
  for (let r = 0; r < result.counts.length; r++) {
    const start = r * result.width;
    out.items.push(Array.from(result.items.subarray(start, start + result.counts[r])));
    out.scores.push(Array.from(result.scores.subarray(start, start + result.counts[r])));
  }
  return out;
}

/** Splits flat TopK outputs into per-user lists, dropping excluded (-Infinity) entries. */
export function splitResults(items: BigInt64Array, scores: Float32Array, rows: number, k: number): { items: number[][]; scores: number[][] } {
  return splitFlat(compactResults(items, scores, rows, k));
}
