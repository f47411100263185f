import { Rng } from './rng.js';
import { InputError } from './errors.js';
import { buildIdMap, IdMap, type IdOrder } from './idmap.js';
import type { RawInteractions, RawSplit } from './readers.js';
import type { Dataset, DatasetCounts, DatasetManifest, PrepareSettings } from './dataset.js';
import { computeManifest } from './prepared.js';

export interface PrepareOptions {
  /** seeds the split and the candidate sampling (default 0) */
  seed?: number;
  /** drop users with fewer interactions (after de-duplication); iterated with the item filter to a fixed point */
  minUserInteractions?: number;
  minItemInteractions?: number;
  /** random-loo: one random validation and test item per user (the paper); last-loo: the two latest by timestamp */
  split?: 'random-loo' | 'last-loo';
  /** sampled negatives per user for the sampled evaluation protocol (default 499) */
  numCandidates?: number;
  idOrder?: IdOrder;
  minRating?: number;
  /** recorded in the manifest when the data comes from the synthetic generator */
  synthetic?: Record<string, number>;
}

export const PREPARE_DEFAULTS = {
  seed: 0,
  minUserInteractions: 0,
  minItemInteractions: 0,
  split: 'random-loo',
  numCandidates: 499,
  idOrder: 'appearance',
} as const;

export interface SourceInfo {
  kind: DatasetManifest['source']['kind'];
  path: string | null;
  sha256: string | null;
}

interface Deduped {
  users: string[];
  items: string[];
  timestamps?: number[];
  duplicates: number;
}

/** Removes repeated (user, item) pairs, keeping the first occurrence. */
export function dedupe(raw: Pick<RawInteractions, 'users' | 'items' | 'timestamps'>): Deduped {
  const seen = new Set<string>();
  const out: Deduped = { users: [], items: [], timestamps: raw.timestamps ? [] : undefined, duplicates: 0 };
  for (let r = 0; r < raw.users.length; r++) {
    const key = raw.users[r] + '\u0001' + raw.items[r];
    if (seen.has(key)) {
      out.duplicates++;
      continue;
    }
    seen.add(key);
    out.users.push(raw.users[r]);
    out.items.push(raw.items[r]);
    if (raw.timestamps) out.timestamps!.push(raw.timestamps[r]);
  }
  return out;
}

/** Keeps rows whose user and item have enough interactions, repeating until nothing more is removed. */
export function filterMinInteractions(rows: Deduped, minUser: number, minItem: number): { rows: Deduped; removedUsers: number; removedItems: number } {
  let current = rows;
  const usersBefore = new Set(rows.users).size;
  const itemsBefore = new Set(rows.items).size;
  for (;;) {
    const userCount = new Map<string, number>();
    const itemCount = new Map<string, number>();
    for (let r = 0; r < current.users.length; r++) {
      userCount.set(current.users[r], (userCount.get(current.users[r]) ?? 0) + 1);
      itemCount.set(current.items[r], (itemCount.get(current.items[r]) ?? 0) + 1);
    }
    const next: Deduped = { users: [], items: [], timestamps: current.timestamps ? [] : undefined, duplicates: current.duplicates };
    for (let r = 0; r < current.users.length; r++) {
      if (userCount.get(current.users[r])! < minUser || itemCount.get(current.items[r])! < minItem) continue;
      next.users.push(current.users[r]);
      next.items.push(current.items[r]);
      if (current.timestamps) next.timestamps!.push(current.timestamps[r]);
    }
    const removed = next.users.length !== current.users.length;
    current = next;
    if (!removed) break;
  }
  return { rows: current, removedUsers: usersBefore - new Set(current.users).size, removedItems: itemsBefore - new Set(current.items).size };
}

/** Sorts a user's items ascending into CSR form. */
function buildCsr(numUsers: number, perUser: number[][]): { indptr: Int32Array; items: Int32Array } {
  const indptr = new Int32Array(numUsers + 1);
  for (let u = 0; u < numUsers; u++) indptr[u + 1] = indptr[u] + perUser[u].length;
  const items = new Int32Array(indptr[numUsers]);
  for (let u = 0; u < numUsers; u++) {
    const sorted = Int32Array.from(perUser[u]).sort();
    items.set(sorted, indptr[u]);
  }
  return { indptr, items };
}

/**
 * For each user with held-out items, `numCandidates` items drawn uniformly without replacement from the items
 * the user never interacted with (train, valid and test).
 */
export function sampleCandidates(
  numItems: number,
  interacted: readonly (readonly number[] | Int32Array)[],
  hasHeldOut: (user: number) => boolean,
  numCandidates: number,
  rng: Rng,
  userIds?: IdMap,
): Int32Array {
  const numUsers = interacted.length;
  const out = new Int32Array(numUsers * numCandidates).fill(-1);
  const stamp = new Int32Array(numItems).fill(-1);
  for (let u = 0; u < numUsers; u++) {
    if (!hasHeldOut(u)) continue;
    const seen = interacted[u];
    let distinct = 0;
    for (const i of seen) if (stamp[i] !== u) { stamp[i] = u; distinct++; }
    const eligible = numItems - distinct;
    if (eligible < numCandidates) {
      throw new InputError(`user ${userIds ? userIds.rawId(u) : u} has only ${eligible} items never interacted with, fewer than the ${numCandidates} candidates asked (lower --candidates)`);
    }
    const row = u * numCandidates;
    if (numCandidates * 2 > eligible) {
      // dense case (tiny data sets): partial Fisher-Yates over the eligible list
      const pool: number[] = [];
      for (let i = 0; i < numItems; i++) if (stamp[i] !== u) pool.push(i);
      for (let k = 0; k < numCandidates; k++) {
        const j = k + rng.int(pool.length - k);
        const tmp = pool[k]; pool[k] = pool[j]; pool[j] = tmp;
        out[row + k] = pool[k];
      }
      continue;
    }
    // sparse case: rejection sampling; drawn items are stamped with -(u+2) so they are not drawn twice
    for (let k = 0; k < numCandidates; ) {
      const i = rng.int(numItems);
      if (stamp[i] === u || stamp[i] === -(u + 2)) continue;
      stamp[i] = -(u + 2);
      out[row + k++] = i;
    }
  }
  return out;
}

function assemble(
  source: SourceInfo,
  settings: PrepareSettings,
  userIds: IdMap,
  itemIds: IdMap,
  trainPerUser: number[][],
  validItem: Int32Array,
  testItem: Int32Array,
  extraCounts: Pick<DatasetCounts, 'duplicatesRemoved' | 'usersTooSmallToSplit' | 'filteredUsers' | 'filteredItems'>,
): Dataset {
  const numUsers = userIds.size;
  const numItems = itemIds.size;
  const { indptr, items } = buildCsr(numUsers, trainPerUser);
  const interacted = trainPerUser.map((list, u) => {
    const all = list.slice();
    if (validItem[u] >= 0) all.push(validItem[u]);
    if (testItem[u] >= 0) all.push(testItem[u]);
    return all;
  });
  const rng = new Rng(settings.seed).fork(2);
  const candidates = sampleCandidates(numItems, interacted, (u) => validItem[u] >= 0 && testItem[u] >= 0, settings.numCandidates, rng, userIds);
  let valid = 0;
  let test = 0;
  let evalCount = 0;
  for (let u = 0; u < numUsers; u++) {
    if (validItem[u] >= 0) valid++;
    if (testItem[u] >= 0) test++;
    if (validItem[u] >= 0 && testItem[u] >= 0) evalCount++;
  }
  const counts: DatasetCounts = {
    users: numUsers,
    items: numItems,
    interactions: items.length + valid + test,
    train: items.length,
    valid,
    test,
    evalUsers: evalCount,
    ...extraCounts,
  };
  const partial = {
    numUsers, numItems, trainIndptr: indptr, trainItems: items, validItem, testItem, candidates,
    numCandidates: settings.numCandidates, userIds, itemIds,
  };
  return { ...partial, manifest: computeManifest(partial, source, settings, counts) };
}

function resolve(options: PrepareOptions): PrepareSettings {
  const s: PrepareSettings = {
    seed: options.seed ?? PREPARE_DEFAULTS.seed,
    minUserInteractions: options.minUserInteractions ?? PREPARE_DEFAULTS.minUserInteractions,
    minItemInteractions: options.minItemInteractions ?? PREPARE_DEFAULTS.minItemInteractions,
    split: options.split ?? PREPARE_DEFAULTS.split,
    numCandidates: options.numCandidates ?? PREPARE_DEFAULTS.numCandidates,
    idOrder: options.idOrder ?? PREPARE_DEFAULTS.idOrder,
  };
  if (options.minRating !== undefined) s.minRating = options.minRating;
  if (options.synthetic !== undefined) s.synthetic = options.synthetic;
  for (const key of ['seed', 'minUserInteractions', 'minItemInteractions', 'numCandidates'] as const) {
    if (!Number.isInteger(s[key]) || s[key] < 0) throw new InputError(`${key} must be a non-negative integer, got ${s[key]}`);
  }
  return s;
}

const INTEGER_ID = /^-?\d+$/;

/**
 * Numeric id order sorts ids by value only when every id is an integer; a mix would silently fall back to order of
 * appearance and renumber every id, so it is refused, naming the first id of the rarer kind and where it is.
 */
function checkNumericIds(parts: readonly RawInteractions[], side: 'users' | 'items', explicit: boolean): void {
  let integers = 0;
  let others = 0;
  const seen = new Set<string>();
  for (const part of parts) {
    for (const id of part[side]) {
      if (seen.has(id)) continue;
      seen.add(id);
      if (INTEGER_ID.test(id)) integers++;
      else others++;
    }
  }
  const what = side === 'users' ? 'user' : 'item';
  const why = explicit ? 'with --id-order numeric' : 'a split keeps integer ids by default (--id-order numeric)';
  if (integers > 0 && others > 0) {
    const strayIsInteger = integers < others;
    for (const part of parts) {
      const r = part[side].findIndex((id) => INTEGER_ID.test(id) === strayIsInteger);
      if (r >= 0) {
        throw new InputError(`${what} id "${part[side][r]}" is ${strayIsInteger ? 'an integer' : 'not an integer'}, unlike ${strayIsInteger ? others : integers} other ${what} ids: ${why}, so every id must be an integer; fix this id, or pass --id-order appearance`, { file: part.source, line: part.lines[r] });
      }
    }
  }
}

/** Interactions → de-duplicated, filtered, id-mapped, split data set with evaluation candidates. */
export function prepareFromInteractions(raw: RawInteractions, source: SourceInfo, options: PrepareOptions = {}): Dataset {
  const settings = resolve(options);
  if (settings.idOrder === 'numeric') for (const side of ['users', 'items'] as const) checkNumericIds([raw], side, true);
  const deduped = dedupe(raw);
  const { rows, removedUsers, removedItems } = filterMinInteractions(deduped, settings.minUserInteractions, settings.minItemInteractions);
  if (rows.users.length === 0) {
    throw new InputError(
      `the filter removes every user (min user interactions ${settings.minUserInteractions}, min item interactions ${settings.minItemInteractions})`,
      { file: raw.source },
    );
  }
  if (settings.split === 'last-loo' && !rows.timestamps) {
    throw new InputError('split last-loo needs a timestamp column', { file: raw.source });
  }
  const userIds = buildIdMap(rows.users, settings.idOrder);
  const itemIds = buildIdMap(rows.items, settings.idOrder);
  const numUsers = userIds.size;
  const perUserRows: number[][] = Array.from({ length: numUsers }, () => []);
  const itemOf = new Int32Array(rows.users.length);
  for (let r = 0; r < rows.users.length; r++) {
    perUserRows[userIds.dense(rows.users[r])!].push(r);
    itemOf[r] = itemIds.dense(rows.items[r])!;
  }
  const validItem = new Int32Array(numUsers).fill(-1);
  const testItem = new Int32Array(numUsers).fill(-1);
  const train: number[][] = [];
  const rng = new Rng(settings.seed).fork(1);
  let tooSmall = 0;
  for (let u = 0; u < numUsers; u++) {
    const userRows = perUserRows[u];
    const n = userRows.length;
    if (n < 3) {
      tooSmall++;
      train.push(userRows.map((r) => itemOf[r]));
      continue;
    }
    let validPos: number;
    let testPos: number;
    if (settings.split === 'last-loo') {
      // stable by input order among equal timestamps
      const order = userRows.map((r, k) => k).sort((a, b) => rows.timestamps![userRows[a]] - rows.timestamps![userRows[b]] || a - b);
      testPos = order[n - 1];
      validPos = order[n - 2];
    } else {
      validPos = rng.int(n);
      testPos = rng.int(n - 1);
      if (testPos >= validPos) testPos++;
    }
    validItem[u] = itemOf[userRows[validPos]];
    testItem[u] = itemOf[userRows[testPos]];
    train.push(userRows.filter((_r, k) => k !== validPos && k !== testPos).map((r) => itemOf[r]));
  }
  return assemble(source, settings, userIds, itemIds, train, validItem, testItem, {
    duplicatesRemoved: deduped.duplicates,
    usersTooSmallToSplit: tooSmall,
    filteredUsers: removedUsers,
    filteredItems: removedItems,
  });
}

/** A given train/valid/test split: ids are mapped over the union (numeric order by default keeps dense ids unchanged). */
export function prepareFromSplit(split: RawSplit, source: SourceInfo, options: PrepareOptions = {}): Dataset {
  const settings = resolve({ ...options, idOrder: options.idOrder ?? 'numeric' });
  settings.split = 'given';
  if (settings.idOrder === 'numeric') for (const side of ['users', 'items'] as const) checkNumericIds([split.train, split.valid, split.test], side, options.idOrder !== undefined);
  const train = dedupe(split.train);
  const users = [...train.users, ...split.valid.users, ...split.test.users];
  const items = [...train.items, ...split.valid.items, ...split.test.items];
  const userIds = buildIdMap(users, settings.idOrder);
  const itemIds = buildIdMap(items, settings.idOrder);
  const numUsers = userIds.size;
  const perUser: number[][] = Array.from({ length: numUsers }, () => []);
  for (let r = 0; r < train.users.length; r++) perUser[userIds.dense(train.users[r])!].push(itemIds.dense(train.items[r])!);
  const heldOut = (part: RawInteractions, name: string): Int32Array => {
    const out = new Int32Array(numUsers).fill(-1);
    for (let r = 0; r < part.users.length; r++) {
      const u = userIds.dense(part.users[r])!;
      const i = itemIds.dense(part.items[r])!;
      if (out[u] >= 0 && out[u] !== i) {
        throw new InputError(`user "${part.users[r]}" has more than one ${name} item (the leave-one-out protocol holds out one)`, { file: part.source, line: part.lines[r] });
      }
      out[u] = i;
    }
    return out;
  };
  const validItem = heldOut(split.valid, 'validation');
  const testItem = heldOut(split.test, 'test');
  return assemble(source, settings, userIds, itemIds, perUser, validItem, testItem, {
    duplicatesRemoved: train.duplicates,
    usersTooSmallToSplit: 0,
    filteredUsers: 0,
    filteredItems: 0,
  });
}
