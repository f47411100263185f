/** Table layouts the SIMD gemm kernels read (wasm/score-simd.ts), and their cache blocking. */

/** Columns per cache block: the block of Kᵀ (d × cols floats) stays in L2 while every row of a chunk passes it. */
export function colBlockFor(d: number, keysPad: number): number {
  return Math.min(keysPad, Math.max(8, Math.floor((192 * 1024) / (4 * d) / 8) * 8));
}

/** Rows [numRows × d] packed in groups of 4 interleaved rows, q4[g][k][r] (missing rows zero), as gemm4x8 reads them. */
export function packGroups(rows: Float32Array, numRows: number, d: number, out: Float32Array): void {
  for (let g = 0; g < numRows; g += 4) {
    const base = g * d;
    for (let r = 0; r < 4; r++) {
      const from = (g + r) * d;
      if (g + r < numRows) for (let k = 0; k < d; k++) out[base + 4 * k + r] = rows[from + k];
      else for (let k = 0; k < d; k++) out[base + 4 * k + r] = 0;
    }
  }
}

/** Kᵀ padded to keysPad columns (zeros beyond numKeys). */
export function transposeInto(keys: Float32Array, numKeys: number, d: number, keysPad: number, out: Float32Array): void {
  for (let i = 0; i < numKeys; i++) {
    const from = i * d;
    for (let k = 0; k < d; k++) out[k * keysPad + i] = keys[from + k];
  }
  for (let k = 0; k < d; k++) out.fill(0, k * keysPad + numKeys, (k + 1) * keysPad);
}
