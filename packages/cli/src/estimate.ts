/**
 * A rough upper bound on the pipeline's training time from the data's size and the settings, printed before training
 * starts, so that a user sees "hours" before committing to it. Each role is bounded at its epoch cap (early stopping
 * usually ends sooner) at the rates of RATES.
 */
import type { Dataset } from '@derrd/core';
import { methodTerms, type MethodName, type MethodSettings, type TrainConfig } from '@derrd/train';

/**
 * Seconds per unit on an idle 2-core machine, wasm backend, fitted to the README's CiteULike epoch times (BPR d=20 and
 * d=200, NeuMF d=25 and d=250, DE-RRD and RRD students) and the demo data set's (BPR d=8 and d=64): good to about 2x;
 * a shared machine is slower. Per training triple (plus per triple and dimension), per evaluation score and
 * dimension, and for the distillation terms per triple (DE: all its expert sets; RRD/RD/CD: per scored item).
 */
export const RATES = {
  bpr: { perTriple: 2.0e-6, perTripleDim: 2.5e-7, dePerTriple: 1.0e-4 },
  neumf: { perTriple: 2.2e-6, perTripleDim: 6.3e-7, dePerTriple: 4.0e-4 },
  evalPerScore: 1.0e-7,
  evalPerScoreDim: 4.0e-9,
  rankingPerTripleItem: 2.5e-7,
} as const;

export interface RoleEstimate {
  role: string;
  epochs: number;
  secondsPerEpoch: number;
}

function epochSeconds(ds: Dataset, c: TrainConfig, method: MethodName, settings: MethodSettings | null): number {
  const triples = ds.manifest.counts.train * (c.negatives ?? 1);
  const rate = RATES[c.model];
  const scoredPerUser = c.protocol === 'full' || ds.numCandidates === 0 ? ds.numItems : 2 * (ds.numCandidates + 1);
  let s = triples * (rate.perTriple + rate.perTripleDim * c.dim) + ds.manifest.counts.evalUsers * scoredPerUser * (RATES.evalPerScore + RATES.evalPerScoreDim * c.dim);
  if (settings) {
    for (const term of methodTerms(method)) {
      if (term === 'de') s += triples * rate.dePerTriple;
      else if (term === 'rrd') s += triples * (settings.rrd.interesting + settings.rrd.uninteresting) * RATES.rankingPerTripleItem;
      else if (term === 'rd') s += triples * settings.rd.topK * RATES.rankingPerTripleItem;
      else s += triples * settings.cd.samples * RATES.rankingPerTripleItem;
    }
  }
  return s;
}

/** Per-role upper bounds (epoch cap × seconds per epoch) for the roles that will be trained. */
export function estimateTraining(ds: Dataset, roles: { role: string; config: TrainConfig; method?: MethodName; settings?: MethodSettings }[]): RoleEstimate[] {
  return roles.map((r) => ({ role: r.role, epochs: r.config.maxEpochs, secondsPerEpoch: epochSeconds(ds, r.config, r.method ?? 'none', r.settings ?? null) }));
}

export function formatDuration(seconds: number): string {
  if (seconds < 90) return `${Math.max(1, Math.round(seconds))} s`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}
