/**
 * Paired comparison of two models on the same users: is B's mean metric different from A's by more than the
 * per-user noise explains? Per user d = metric(rank_B) − metric(rank_A), two-sided, normal approximation (thousands
 * of users). HR is a paired binary outcome, so HR@N uses McNemar's test (no continuity correction): with b users hit
 * by B only and c by A only, z = (b − c)/√(b + c), whose square is McNemar's χ². NDCG and MRR are graded, so they use
 * the paired t on d. This is what a paper's significance marks mean; one split and one seed still say nothing about
 * variation across splits or training seeds.
 */
import { hitRate, ndcg, reciprocalRank } from './metrics.js';

export interface PairedResult {
  metric: string;
  /** McNemar's for HR@N, the paired t (normal approximation) for NDCG@N and MRR@N */
  test: 'mcnemar' | 'paired-t';
  meanA: number;
  meanB: number;
  /** meanB − meanA */
  diff: number;
  /** standard error of diff: √(b + c)/n under McNemar's null, the sample sd of d over √n for the paired t */
  stdErr: number;
  z: number;
  /** two-sided p-value; 1 when every user's difference is 0 */
  pValue: number;
  /** users where B scores higher / lower than A */
  better: number;
  worse: number;
}

const METRIC_FNS: Record<string, (rank: number, n: number) => number> = { HR: hitRate, NDCG: ndcg, MRR: reciprocalRank };

/** Parses "HR@5", "NDCG@10", "MRR@20" into a per-rank function. */
export function metricOfRank(metric: string): (rank: number) => number {
  const m = /^(HR|NDCG|MRR)@([1-9]\d*)$/.exec(metric);
  if (!m) throw new Error(`unknown metric "${metric}" (expected HR@N, NDCG@N or MRR@N)`);
  const fn = METRIC_FNS[m[1]];
  const n = Number(m[2]);
  return (rank) => fn(rank, n);
}

export function pairedTest(ranksA: ArrayLike<number>, ranksB: ArrayLike<number>, metric: string): PairedResult {
  if (ranksA.length !== ranksB.length) throw new Error(`paired test needs the same users: ${ranksA.length} vs ${ranksB.length} ranks`);
  const f = metricOfRank(metric);
  const n = ranksA.length;
  let sumA = 0;
  let sumB = 0;
  let sumD = 0;
  let sumD2 = 0;
  let better = 0;
  let worse = 0;
  for (let k = 0; k < n; k++) {
    const a = f(ranksA[k]);
    const b = f(ranksB[k]);
    const d = b - a;
    sumA += a;
    sumB += b;
    sumD += d;
    sumD2 += d * d;
    if (d > 0) better++;
    else if (d < 0) worse++;
  }
  const mean = n ? sumD / n : 0;
  const test = metric.startsWith('HR@') ? 'mcnemar' : 'paired-t';
  let stdErr: number;
  if (test === 'mcnemar') {
    stdErr = n ? Math.sqrt(better + worse) / n : 0;
  } else {
    const variance = n > 1 ? Math.max(0, (sumD2 - n * mean * mean) / (n - 1)) : 0;
    stdErr = n ? Math.sqrt(variance / n) : 0;
  }
  const z = stdErr > 0 ? mean / stdErr : 0;
  return { metric, test, meanA: n ? sumA / n : 0, meanB: n ? sumB / n : 0, diff: mean, stdErr, z, pValue: stdErr > 0 ? twoSidedNormalP(z) : 1, better, worse };
}

/** Mean and sample standard deviation (n − 1; NaN below two values) of a handful of numbers, e.g. one metric over seeds. */
export function meanAndSd(xs: readonly number[]): { mean: number; sd: number } {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const sd = xs.length < 2 ? NaN : Math.sqrt(xs.reduce((a, x) => a + (x - mean) ** 2, 0) / (xs.length - 1));
  return { mean, sd };
}

/** A p-value for tables: "< 1e-4" below that, else fixed with `digits` decimals. */
export function formatPValue(p: number, digits = 4): string {
  return p < 1e-4 ? '< 1e-4' : p.toFixed(digits);
}

/** P(|Z| ≥ |z|) for a standard normal Z. */
export function twoSidedNormalP(z: number): number {
  return Math.min(1, erfc(Math.abs(z) / Math.SQRT2));
}

/** Complementary error function (Numerical Recipes' erfcc, relative error < 1.2e-7). */
function erfc(x: number): number {
  const t = 1 / (1 + 0.5 * Math.abs(x));
  const y = t * Math.exp(-x * x - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806
    + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))));
  return x >= 0 ? y : 2 - y;
}
