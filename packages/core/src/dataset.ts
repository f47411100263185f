import { IdMap } from './idmap.js';

/** Counts and settings recorded with a prepared data set. */
export interface DatasetManifest {
  format: 'derrd-prepared';
  formatVersion: number;
  createdAt: string;
  /** sha256 over the settings, counts and every array's sha256: the data set's identity for model cards */
  hash: string;
  source: { kind: 'users.dat' | 'delimited' | 'split' | 'synthetic'; path: string | null; sha256: string | null };
  settings: PrepareSettings;
  counts: DatasetCounts;
  arrays: Record<string, { file: string; dtype: 'int32' | 'json'; length: number; sha256: string }>;
}

export interface PrepareSettings {
  seed: number;
  minUserInteractions: number;
  minItemInteractions: number;
  split: 'random-loo' | 'last-loo' | 'given';
  numCandidates: number;
  idOrder: 'appearance' | 'numeric';
  minRating?: number;
  /** generator settings when the source is the synthetic generator */
  synthetic?: Record<string, number>;
}

export interface DatasetCounts {
  users: number;
  items: number;
  /** train + valid + test after de-duplication and filtering */
  interactions: number;
  train: number;
  valid: number;
  test: number;
  /** users that have a held-out item and candidates, i.e. that are evaluated */
  evalUsers: number;
  duplicatesRemoved: number;
  /** users with fewer than 3 interactions: kept for training, not evaluated */
  usersTooSmallToSplit: number;
  filteredUsers: number;
  filteredItems: number;
}

/** A prepared data set in memory: CSR training matrix, one held-out item per user for valid/test, fixed eval candidates. */
export interface Dataset {
  manifest: DatasetManifest;
  numUsers: number;
  numItems: number;
  /** CSR over users: items of user u are trainItems[trainIndptr[u] .. trainIndptr[u+1]), sorted ascending */
  trainIndptr: Int32Array;
  trainItems: Int32Array;
  /** held-out item per user, -1 when the user has none */
  validItem: Int32Array;
  testItem: Int32Array;
  /** numCandidates sampled negatives per user (row -1-filled for users without held-out items) */
  candidates: Int32Array;
  numCandidates: number;
  userIds: IdMap;
  itemIds: IdMap;
}

export function trainItemsOf(ds: Pick<Dataset, 'trainIndptr' | 'trainItems'>, user: number): Int32Array {
  return ds.trainItems.subarray(ds.trainIndptr[user], ds.trainIndptr[user + 1]);
}

/** Binary search in the user's sorted training items. */
export function isTrainPositive(ds: Pick<Dataset, 'trainIndptr' | 'trainItems'>, user: number, item: number): boolean {
  let lo = ds.trainIndptr[user];
  let hi = ds.trainIndptr[user + 1] - 1;
  const items = ds.trainItems;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const v = items[mid];
    if (v === item) return true;
    if (v < item) lo = mid + 1;
    else hi = mid - 1;
  }
  return false;
}

/** Users that have both a validation and a test item (and so candidates). */
export function evalUsers(ds: Pick<Dataset, 'validItem' | 'testItem'>): Int32Array {
  const users: number[] = [];
  for (let u = 0; u < ds.testItem.length; u++) if (ds.testItem[u] >= 0 && ds.validItem[u] >= 0) users.push(u);
  return Int32Array.from(users);
}

/** Training interactions as parallel (user, item) arrays, in CSR order. */
export function trainPairs(ds: Pick<Dataset, 'trainIndptr' | 'trainItems'>): { users: Int32Array; items: Int32Array } {
  const n = ds.trainItems.length;
  const users = new Int32Array(n);
  for (let u = 0; u + 1 < ds.trainIndptr.length; u++) users.fill(u, ds.trainIndptr[u], ds.trainIndptr[u + 1]);
  return { users, items: ds.trainItems };
}

/** Number of training interactions per item. */
export function itemPopularity(ds: Pick<Dataset, 'trainItems' | 'numItems'>): Int32Array {
  const counts = new Int32Array(ds.numItems);
  for (const i of ds.trainItems) counts[i]++;
  return counts;
}
