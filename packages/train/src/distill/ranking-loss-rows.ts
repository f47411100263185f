/**
 * The row loop of the lean relaxed Plackett-Luce loss (rrd.ts `leanRelaxedRankingLoss`) over plain float arrays,
 * without tfjs: the op runs it on the calling thread, or splits the rows with the helper thread (parallel/jobs.ts
 * 'rankingLoss'). Each row's loss and gradients depend on that row alone, so the floats do not depend on the split.
 *
 * For rows r0 ≤ r < r1 of a ([rows × k], in teacher order) and b ([rows × l]), all float offsets into `f`:
 * loss[r] = Σ_q (C_q − a_q) with C_q = log(Σ_{p≥q} e^{a_p} + Σ_j e^{b_j}), ga = ∂loss/∂a, gb = ∂loss/∂b.
 */
export interface RankingLossOffsets {
  a: number;
  b: number;
  loss: number;
  ga: number;
  gb: number;
}

export function rankingLossRows(f: Float32Array, o: RankingLossOffsets, k: number, l: number, r0: number, r1: number): void {
  const ratio = new Float64Array(k);
  const tail = new Float64Array(k);
  const eb = new Float64Array(l);
  for (let r = r0; r < r1; r++) {
    const ar = o.a + r * k;
    const br = o.b + r * l;
    const gar = o.ga + r * k;
    const gbr = o.gb + r * l;
    let maxB = -Infinity;
    for (let j = 0; j < l; j++) maxB = Math.max(maxB, f[br + j]);
    let sumB = 0;
    let acc = -Infinity;
    if (maxB > -Infinity) {
      for (let j = 0; j < l; j++) sumB += (eb[j] = Math.exp(f[br + j] - maxB));
      acc = maxB + Math.log(sumB);
    }
    // acc = C_{q+1} (C_K = logsumexp b); ratio_q = e^{a_q − C_q}, tail_q = e^{C_{q+1} − C_q}
    let total = 0;
    for (let q = k - 1; q >= 0; q--) {
      const x = f[ar + q];
      if (acc === -Infinity) {
        ratio[q] = 1;
        tail[q] = 0;
        acc = x;
      } else {
        const e = Math.exp(-Math.abs(acc - x));
        const big = 1 / (1 + e);
        const small = e * big;
        if (x >= acc) { ratio[q] = big; tail[q] = small; } else { ratio[q] = small; tail[q] = big; }
        acc = Math.max(acc, x) + Math.log1p(e);
      }
      total += acc - x;
    }
    f[o.loss + r] = total;
    // prefix_q = Σ_{p≤q} e^{C_q − C_p} = prefix_{q−1}·e^{C_q − C_{q−1}} + 1, and e^{C_q − C_{q−1}} = tail_{q−1}
    let prefix = 0;
    for (let q = 0; q < k; q++) {
      prefix = q === 0 ? 1 : prefix * tail[q - 1] + 1;
      f[gar + q] = ratio[q] * prefix - 1;
    }
    // ∂/∂b_j = e^{b_j − C_{K−1}} · prefix_{K−1}, and e^{b_j − C_{K−1}} = eb_j / sumB · tail_{K−1}
    if (k > 0 && sumB > 0) {
      const scale = (tail[k - 1] / sumB) * prefix;
      for (let j = 0; j < l; j++) f[gbr + j] = eb[j] * scale;
    } else {
      for (let j = 0; j < l; j++) f[gbr + j] = 0;
    }
  }
}
