import type { Dataset } from './dataset.js';
import { evalUsers } from './dataset.js';
import { DEFAULT_CUTOFFS, metricsFromRanks, rankOf, type Metrics } from './metrics.js';

/** Scores `itemsPerUser` items for each user: items is [users.length × itemsPerUser], result the same shape. */
export type ScoreItemsFn = (users: Int32Array, items: Int32Array, itemsPerUser: number) => Float32Array | Promise<Float32Array>;
/** Scores every item for each user: result is [users.length × numItems]. */
export type ScoreAllFn = (users: Int32Array) => Float32Array | Promise<Float32Array>;

export interface EvalResult {
  protocol: 'sampled' | 'full';
  users: number;
  valid: Metrics;
  test: Metrics;
  /** 1-based rank of each evaluated user's held-out item (users in `evalUsers` order), for paired comparisons */
  ranks: { valid: Int32Array; test: Int32Array };
}

export interface EvalOptions {
  cutoffs?: readonly number[];
  /** users scored per call */
  batchUsers?: number;
}

/**
 * The paper's sampled protocol: each evaluated user's test item is ranked against its fixed candidates with the
 * validation item left out, and the validation item likewise without the test item.
 */
export async function evaluateSampled(ds: Dataset, score: ScoreItemsFn, options: EvalOptions = {}): Promise<EvalResult> {
  const cutoffs = options.cutoffs ?? DEFAULT_CUTOFFS;
  const batch = options.batchUsers ?? 512;
  const users = evalUsers(ds);
  const width = 2 + ds.numCandidates;
  const validRanks = new Int32Array(users.length);
  const testRanks = new Int32Array(users.length);
  for (let start = 0; start < users.length; start += batch) {
    const batchUsers = users.subarray(start, Math.min(users.length, start + batch));
    const items = new Int32Array(batchUsers.length * width);
    for (let b = 0; b < batchUsers.length; b++) {
      const u = batchUsers[b];
      items[b * width] = ds.testItem[u];
      items[b * width + 1] = ds.validItem[u];
      items.set(ds.candidates.subarray(u * ds.numCandidates, (u + 1) * ds.numCandidates), b * width + 2);
    }
    const scores = await score(batchUsers, items, width);
    if (scores.length !== items.length) throw new Error(`score function returned ${scores.length} scores for ${items.length} items`);
    for (let b = 0; b < batchUsers.length; b++) {
      const o = b * width;
      testRanks[start + b] = rankOf(scores[o], items[o], scores, items, o + 2, o + width);
      validRanks[start + b] = rankOf(scores[o + 1], items[o + 1], scores, items, o + 2, o + width);
    }
  }
  return evalResultOfRanks('sampled', { valid: validRanks, test: testRanks }, cutoffs);
}

/**
 * The result of per-user ranks (users in `evalUsers` order) under a protocol, with the metrics evaluateSampled and
 * evaluateFull report (the full protocol adds Recall@N): for rankers that compute the ranks themselves.
 */
export function evalResultOfRanks(protocol: EvalResult['protocol'], ranks: EvalResult['ranks'], cutoffs: readonly number[] = DEFAULT_CUTOFFS): EvalResult {
  if (ranks.valid.length !== ranks.test.length) throw new Error(`${ranks.valid.length} validation ranks but ${ranks.test.length} test ranks`);
  const full = protocol === 'full';
  return { protocol, users: ranks.test.length, valid: metricsFromRanks(ranks.valid, cutoffs, full), test: metricsFromRanks(ranks.test, cutoffs, full), ranks };
}

/**
 * Full ranking: the held-out item against every item, with the user's training items and the other held-out
 * item masked.
 */
export async function evaluateFull(ds: Dataset, scoreAll: ScoreAllFn, options: EvalOptions = {}): Promise<EvalResult> {
  const cutoffs = options.cutoffs ?? DEFAULT_CUTOFFS;
  const batch = options.batchUsers ?? 256;
  const users = evalUsers(ds);
  const validRanks = new Int32Array(users.length);
  const testRanks = new Int32Array(users.length);
  const I = ds.numItems;
  for (let start = 0; start < users.length; start += batch) {
    const batchUsers = users.subarray(start, Math.min(users.length, start + batch));
    const scores = await scoreAll(batchUsers);
    if (scores.length !== batchUsers.length * I) throw new Error(`scoreAll returned ${scores.length} scores, expected ${batchUsers.length * I}`);
    for (let b = 0; b < batchUsers.length; b++) {
      const u = batchUsers[b];
      const row = scores.subarray(b * I, (b + 1) * I);
      const test = ds.testItem[u];
      const valid = ds.validItem[u];
      const testScore = row[test];
      const validScore = row[valid];
      for (let k = ds.trainIndptr[u]; k < ds.trainIndptr[u + 1]; k++) row[ds.trainItems[k]] = -Infinity;
      row[valid] = -Infinity;
      testRanks[start + b] = rankFull(testScore, test, row);
      row[valid] = validScore;
      row[test] = -Infinity;
      validRanks[start + b] = rankFull(validScore, valid, row);
    }
  }
  return evalResultOfRanks('full', { valid: validRanks, test: testRanks }, cutoffs);
}

/** rankOf's rule over a whole row: ties to the lower item id, a NaN target is a miss, a NaN competitor ranks ahead. */
function rankFull(targetScore: number, target: number, row: Float32Array): number {
  if (Number.isNaN(targetScore)) return row.length;
  let rank = 1;
  for (let i = 0; i < row.length; i++) {
    if (i === target) continue;
    const s = row[i];
    if (s > targetScore || (s === targetScore && i < target) || Number.isNaN(s)) rank++;
  }
  return rank;
}

/**
 * The authors' model selection: for each cutoff N, the test metrics @N of the epoch with the best validation HR@N.
 * An epoch improves if it beats the best validation HR@N for any N (that drives early stopping).
 */
export class ModelSelector {
  readonly cutoffs: readonly number[];
  private readonly best = new Map<number, { epoch: number; validHr: number; valid: Metrics; test: Metrics }>();

  constructor(cutoffs: readonly number[] = DEFAULT_CUTOFFS) {
    this.cutoffs = cutoffs;
  }

  /** Records an epoch's result; true when it improved validation HR@N for some N. */
  update(epoch: number, result: Pick<EvalResult, 'valid' | 'test'>): boolean {
    let improved = false;
    for (const n of this.cutoffs) {
      const hr = result.valid[`HR@${n}`];
      const current = this.best.get(n);
      if (!current || hr > current.validHr) {
        this.best.set(n, { epoch, validHr: hr, valid: result.valid, test: result.test });
        improved = true;
      }
    }
    return improved;
  }

  /** Test (or validation) metrics assembled per cutoff from each cutoff's best epoch. */
  selected(which: 'test' | 'valid' = 'test'): Metrics {
    const out: Metrics = {};
    for (const n of this.cutoffs) {
      const b = this.best.get(n);
      if (!b) continue;
      for (const [key, value] of Object.entries(b[which])) if (key.endsWith(`@${n}`)) out[key] = value;
    }
    return out;
  }

  /** Best validation HR@N so far (-Infinity before any update). */
  bestValidHr(n: number): number {
    return this.best.get(n)?.validHr ?? -Infinity;
  }

  bestEpochs(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const n of this.cutoffs) {
      const b = this.best.get(n);
      if (b) out[`@${n}`] = b.epoch;
    }
    return out;
  }

  /** Latest epoch that was best for any cutoff (-1 before any update). */
  lastImprovedEpoch(): number {
    let e = -1;
    for (const b of this.best.values()) e = Math.max(e, b.epoch);
    return e;
  }

  toJSON(): { cutoffs: readonly number[]; best: [number, { epoch: number; validHr: number; valid: Metrics; test: Metrics }][] } {
    return { cutoffs: this.cutoffs, best: [...this.best.entries()] };
  }

  static fromJSON(json: ReturnType<ModelSelector['toJSON']>): ModelSelector {
    const s = new ModelSelector(json.cutoffs);
    for (const [n, b] of json.best) s.best.set(n, b);
    return s;
  }
}
