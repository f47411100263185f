/**
 * Request validation and the int64 feeds of a derrd model, shared by the Node runtime and the browser library
 * (browser-safe: no Node or onnxruntime imports). ONNX Gather accepts negative ids, so every id is range-checked here.
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

export function buildFeeds(userIds: ArrayLike<number>, k: number, exclude: ArrayLike<number>[] | undefined, limits: FeedLimits): FeedArrays {
  const b = userIds.length;
  if (b === 0) throw new RuntimeError('no user ids given');
  if (!Number.isInteger(k) || k < 1) throw new RuntimeError(`k must be a positive integer, got ${k}`);
  if (limits.numItems !== undefined && k > limits.numItems) throw new RuntimeError(`k = ${k} exceeds the number of items (${limits.numItems})`);
  const users = new BigInt64Array(b);
  for (let r = 0; r < b; r++) {
    const u = userIds[r];
    if (!Number.isInteger(u) || u < 0 || (limits.numUsers !== undefined && u >= limits.numUsers)) {
      throw new RuntimeError(`user id ${u} is not a valid dense id${limits.numUsers !== undefined ? ` (0..${limits.numUsers - 1})` : ' (non-negative integer)'}`);
    }
    users[r] = BigInt(u);
  }
  if (exclude && exclude.length !== b) throw new RuntimeError(`exclude has ${exclude.length} lists for ${b} users`);
  const width = exclude ? Math.max(0, ...Array.from(exclude, (l) => l.length)) : 0;
  const ex = new BigInt64Array(b * width).fill(-1n);
  exclude?.forEach((list, r) => {
    for (let c = 0; c < list.length; c++) {
      const i = list[c];
      if (!Number.isInteger(i) || i < 0 || (limits.numItems !== undefined && i >= limits.numItems)) {
        throw new RuntimeError(`excluded item id ${i} is not a valid dense id${limits.numItems !== undefined ? ` (0..${limits.numItems - 1})` : ''}`);
      }
      ex[r * width + c] = BigInt(i);
    }
  });
  return { users, k: BigInt64Array.from([BigInt(k)]), exclude: ex, width };
}

/** Splits flat TopK outputs into per-user lists. */
export function splitResults(items: BigInt64Array, scores: Float32Array, rows: number, k: number): { items: number[][]; scores: number[][] } {
  const out = { items: [] as number[][], scores: [] as number[][] };
  for (let r = 0; r < rows; r++) {
    out.items.push(Array.from(items.subarray(r * k, (r + 1) * k), Number));
    out.scores.push(Array.from(scores.subarray(r * k, (r + 1) * k)));
  }
  return out;
}
