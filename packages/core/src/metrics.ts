/** Ranking metrics for one held-out item per user, p = its 1-based rank. All truncated at N. */
export const DEFAULT_CUTOFFS = [5, 10, 20] as const;

/** e.g. { 'HR@5': 0.51, 'NDCG@5': 0.39, 'MRR@5': 0.35, ... } */
export type Metrics = Record<string, number>;

export function hitRate(rank: number, n: number): number {
  return rank >= 1 && rank <= n ? 1 : 0;
}

export function ndcg(rank: number, n: number): number {
  return rank >= 1 && rank <= n ? Math.LN2 / Math.log(rank + 1) : 0;
}

export function reciprocalRank(rank: number, n: number): number {
  return rank >= 1 && rank <= n ? 1 / rank : 0;
}

/** Mean HR/NDCG/MRR (and Recall, equal to HR with one held-out item) at each cutoff over the given ranks. */
export function metricsFromRanks(ranks: ArrayLike<number>, cutoffs: readonly number[] = DEFAULT_CUTOFFS, withRecall = false): Metrics {
  const out: Metrics = {};
  const count = ranks.length;
  for (const n of cutoffs) {
    let hr = 0;
    let nd = 0;
    let mrr = 0;
    for (let k = 0; k < count; k++) {
      hr += hitRate(ranks[k], n);
      nd += ndcg(ranks[k], n);
      mrr += reciprocalRank(ranks[k], n);
    }
    out[`HR@${n}`] = count ? hr / count : 0;
    out[`MRR@${n}`] = count ? mrr / count : 0;
    out[`NDCG@${n}`] = count ? nd / count : 0;
    if (withRecall) out[`Recall@${n}`] = count ? hr / count : 0;
  }
  return out;
}

/**
 * 1-based rank of `target` among `scores[others]` plus itself. Ties go to the lower item id, the same rule as
 * ONNX TopK over an item axis (lower index first), so the evaluator and exported models agree.
 */
export function rankOf(targetScore: number, targetItem: number, scores: ArrayLike<number>, items: ArrayLike<number>, from: number, to: number): number {
  // a NaN never helps a model: a NaN target is a miss, and a NaN competitor ranks ahead of the target
  if (Number.isNaN(targetScore)) return to - from + 1;
  let rank = 1;
  for (let k = from; k < to; k++) {
    const s = scores[k];
    if (s > targetScore || (s === targetScore && items[k] < targetItem) || Number.isNaN(s)) rank++;
  }
  return rank;
}

/** Round to 4 decimals as the paper reports. */
export function round4(x: number): number {
  return Math.round(x * 1e4) / 1e4;
}
