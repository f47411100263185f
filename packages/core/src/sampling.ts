import type { Dataset } from './dataset.js';
import { isTrainPositive } from './dataset.js';
import type { Rng } from './rng.js';

export interface Triples {
  users: Int32Array;
  pos: Int32Array;
  neg: Int32Array;
}

/**
 * One epoch of training triples, as the authors' `negative_sampling`: every training pair (u, i) gets `negatives`
 * (their `num_ns`, default 1) negatives j, each drawn uniformly from all items and re-drawn while j is a training
 * positive of u (validation and test items may be drawn); the triples are then shuffled.
 */
export function sampleTriples(ds: Pick<Dataset, 'trainIndptr' | 'trainItems' | 'numItems'>, rng: Rng, negatives = 1): Triples {
  if (!Number.isInteger(negatives) || negatives < 1) throw new RangeError(`negatives must be a positive integer, got ${negatives}`);
  const pairs = ds.trainItems.length;
  const n = pairs * negatives;
  const order = new Int32Array(n);
  for (let k = 0; k < n; k++) order[k] = k;
  rng.shuffle(order);
  const users = new Int32Array(n);
  const pos = new Int32Array(n);
  const neg = new Int32Array(n);
  const owner = new Int32Array(pairs);
  for (let u = 0; u + 1 < ds.trainIndptr.length; u++) owner.fill(u, ds.trainIndptr[u], ds.trainIndptr[u + 1]);
  for (let k = 0; k < n; k++) {
    const row = order[k] % pairs;
    const u = owner[row];
    users[k] = u;
    pos[k] = ds.trainItems[row];
    let j = rng.int(ds.numItems);
    while (isTrainPositive(ds, u, j)) j = rng.int(ds.numItems);
    neg[k] = j;
  }
  return { users, pos, neg };
}

/** Distinct values in first-appearance order. */
export function uniqueInt32(values: Int32Array, upperBound: number): Int32Array {
  const seen = new Uint8Array(upperBound);
  const out: number[] = [];
  for (const v of values) {
    if (!seen[v]) {
      seen[v] = 1;
      out.push(v);
    }
  }
  return Int32Array.from(out);
}
