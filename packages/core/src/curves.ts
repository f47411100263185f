/**
 * Learning curves of several runs side by side, from their model cards' per-epoch history: what `derrd curves` prints
 * to compare variants of one run (exact against sparse DE, one λ against another) at matched epochs, including runs
 * still in progress.
 */
import type { EpochRecord } from './checkpoint.js';

/**
 * A curve's quantity: a ranking metric of a split (`HR@5`, `NDCG@10`, `MRR@20` with split valid|test), the total
 * training loss (`loss`), or one unweighted loss term (`loss:base`, `loss:de`, `loss:rrd`).
 */
export type CurveQuantity = { kind: 'metric'; metric: string; split: 'valid' | 'test' } | { kind: 'loss'; term: string | null };

export function parseCurveQuantity(name: string, split: 'valid' | 'test'): CurveQuantity {
  if (name === 'loss') return { kind: 'loss', term: null };
  const term = /^loss:([A-Za-z][\w-]*)$/.exec(name);
  if (term) return { kind: 'loss', term: term[1] };
  if (/^(HR|NDCG|MRR)@(5|10|20)$/.test(name)) return { kind: 'metric', metric: name, split };
  throw new Error(`unknown quantity "${name}" (expected HR@N, NDCG@N or MRR@N with N 5|10|20, loss, or loss:<term> such as loss:de)`);
}

/** The quantity at one epoch's record, or null when the record lacks it (e.g. a term the run did not train with). */
export function curveValue(record: EpochRecord, quantity: CurveQuantity): number | null {
  if (quantity.kind === 'metric') return record[quantity.split][quantity.metric] ?? null;
  if (quantity.term === null) return record.loss;
  return record.terms?.[quantity.term] ?? null;
}

/**
 * Epochs to show: the given list, or every `every`-th epoch from 0 plus each run's last epoch, ascending and unique.
 * Only epochs that at least one run reached are kept.
 */
export function curveEpochs(histories: readonly (readonly EpochRecord[])[], options: { epochs?: readonly number[]; every?: number }): number[] {
  const reached = new Set(histories.flatMap((h) => h.map((r) => r.epoch)));
  let wanted: number[];
  if (options.epochs) {
    wanted = [...options.epochs];
  } else {
    const every = options.every ?? 10;
    if (!(Number.isInteger(every) && every >= 1)) throw new Error(`every must be a positive integer (got ${every})`);
    const last = Math.max(-1, ...reached);
    wanted = [];
    for (let e = 0; e <= last; e += every) wanted.push(e);
    for (const h of histories) if (h.length > 0) wanted.push(h[h.length - 1].epoch);
  }
  return [...new Set(wanted)].filter((e) => reached.has(e)).sort((a, b) => a - b);
}

/** One row per epoch: each run's value at that epoch (null where the run did not reach it or lacks the quantity). */
export function curveTable(histories: readonly (readonly EpochRecord[])[], quantity: CurveQuantity, epochs: readonly number[]): { epoch: number; values: (number | null)[] }[] {
  const byEpoch = histories.map((h) => new Map(h.map((r) => [r.epoch, r])));
  return epochs.map((epoch) => ({
    epoch,
    values: byEpoch.map((m) => {
      const record = m.get(epoch);
      return record ? curveValue(record, quantity) : null;
    }),
  }));
}
