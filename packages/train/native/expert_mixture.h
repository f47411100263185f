/*
 * The DE mixture's loops (distill/expert-kernel.ts: mixtureForward, mixtureBackward, mixtureAddRecon, mixtureAddDhs),
 * included once per instruction set by expert_mixture.c with TARGET and SFX defined. Every output element sums its
 * terms in the order the WebAssembly loops of wasm/expert-simd.ts use, one float32 multiply and one float32 add per
 * term (built with -ffp-contract=off: no fused multiply-add), so the floats are the same as the WebAssembly kernel's:
 *   column loops (vecmat, axpy): out[c] = ((out[c] + x0·w0[c]) + x1·w1[c]) + …, over the rows whose x is not 0;
 *   dot products (dot16): four 4-lane accumulators over 16-float chunks, one over the 4-float chunks left,
 *   (a0 + a1) + (a2 + a3), then (l0 + l1) + (l2 + l3), then the scalar tail.
 * Wider vectors only run more columns at once; they never change an element's order.
 */
#define FN_PASTE(name, sfx) name##sfx
#define FN_EXPAND(name, sfx) FN_PASTE(name, sfx)
#define FN(name) FN_EXPAND(name, SFX)

/* nonzero rows of x (x_j ≠ 0, NaN kept, as the WebAssembly compaction), compacted per thread */
static __thread float *FN(tls_x);
static __thread const float **FN(tls_rows);
static __thread size_t *FN(tls_active);
static __thread size_t *FN(tls_all);
static __thread size_t FN(tls_cap);
static __thread float *FN(tls_chunk);
static __thread size_t FN(tls_chunk_cap);

TARGET static int FN(reserve_chunk)(size_t n) {
  if (n <= FN(tls_chunk_cap)) return 1;
  float *c = realloc(FN(tls_chunk), n * sizeof(float));
  if (!c) return 0;
  FN(tls_chunk) = c;
  FN(tls_chunk_cap) = n;
  return 1;
}

TARGET static int FN(reserve)(size_t n) {
  if (n <= FN(tls_cap)) return 1;
  float *x = realloc(FN(tls_x), n * sizeof(float));
  if (!x) return 0;
  FN(tls_x) = x;
  const float **r = realloc((void *)FN(tls_rows), n * sizeof(float *));
  if (!r) return 0;
  FN(tls_rows) = r;
  size_t *a = realloc(FN(tls_active), n * sizeof(size_t));
  if (!a) return 0;
  FN(tls_active) = a;
  size_t *all = realloc(FN(tls_all), n * sizeof(size_t));
  if (!all) return 0;
  FN(tls_all) = all;
  FN(tls_cap) = n;
  return 1;
}

/* out[0..n) += Σ_{j<k, x_j ≠ 0} x_j · w_j[0..n), x_j = x[j·xstep], w_j = w + j·wstride, in row order */
TARGET static void FN(vecmat_rows)(float *out, const float *xs, const float *const *rows, size_t cnt, size_t n);

TARGET static void FN(vecmat)(float *out, const float *x, size_t xstep, const float *w, size_t wstride, size_t k, size_t n) {
  float *xs = FN(tls_x);
  const float **rows = FN(tls_rows);
  size_t cnt = 0;
  /* branch-free: the ReLU's zeros fall at random, and a branch per row mispredicts on half of them */
  for (size_t j = 0; j < k; j++) {
    const float v = x[j * xstep];
    xs[cnt] = v;
    rows[cnt] = w + j * wstride;
    cnt += v != 0.0f;
  }
  FN(vecmat_rows)(out, xs, rows, cnt, n);
}

/* out[0..n) += Σ_t xs[t] · rows[t][0..n) in t order (the rows already compacted) */
TARGET static void FN(vecmat_rows)(float *out, const float *xs, const float *const *rows, size_t cnt, size_t n) {
  size_t c = 0;
  for (; c + 64 <= n; c += 64) {
    v8 a0 = LD8(out + c), a1 = LD8(out + c + 8), a2 = LD8(out + c + 16), a3 = LD8(out + c + 24);
    v8 a4 = LD8(out + c + 32), a5 = LD8(out + c + 40), a6 = LD8(out + c + 48), a7 = LD8(out + c + 56);
    for (size_t t = 0; t < cnt; t++) {
      const float s = xs[t];
      const v8 sv = {s, s, s, s, s, s, s, s};
      const float *p = rows[t] + c;
      a0 = a0 + sv * LD8(p); a1 = a1 + sv * LD8(p + 8); a2 = a2 + sv * LD8(p + 16); a3 = a3 + sv * LD8(p + 24);
      a4 = a4 + sv * LD8(p + 32); a5 = a5 + sv * LD8(p + 40); a6 = a6 + sv * LD8(p + 48); a7 = a7 + sv * LD8(p + 56);
    }
    ST8(out + c, a0); ST8(out + c + 8, a1); ST8(out + c + 16, a2); ST8(out + c + 24, a3);
    ST8(out + c + 32, a4); ST8(out + c + 40, a5); ST8(out + c + 48, a6); ST8(out + c + 56, a7);
  }
  for (; c + 8 <= n; c += 8) {
    v8 a = LD8(out + c);
    for (size_t t = 0; t < cnt; t++) {
      const float s = xs[t];
      const v8 sv = {s, s, s, s, s, s, s, s};
      a = a + sv * LD8(rows[t] + c);
    }
    ST8(out + c, a);
  }
  for (; c + 4 <= n; c += 4) {
    v4 a = LD4(out + c);
    for (size_t t = 0; t < cnt; t++) {
      const float s = xs[t];
      const v4 sv = {s, s, s, s};
      a = a + sv * LD4(rows[t] + c);
    }
    ST4(out + c, a);
  }
  for (; c < n; c++) {
    float a = out[c];
    for (size_t t = 0; t < cnt; t++) a = a + xs[t] * rows[t][c];
    out[c] = a;
  }
}

/* dst[0..n) += a · src[0..n), skipped when a is 0 */
TARGET static void FN(axpy)(float *dst, const float *src, float a, size_t n) {
  if (!(a != 0.0f)) return;
  const v8 sv = {a, a, a, a, a, a, a, a};
  size_t c = 0;
  for (; c + 8 <= n; c += 8) ST8(dst + c, LD8(dst + c) + sv * LD8(src + c));
  if (c + 4 <= n) {
    const v4 s4 = {a, a, a, a};
    ST4(dst + c, LD4(dst + c) + s4 * LD4(src + c));
    c += 4;
  }
  for (; c < n; c++) dst[c] = dst[c] + a * src[c];
}

/* a[0..n) · b[0..n) in the WebAssembly dotRows order */
TARGET static float FN(dot16)(const float *a, const float *b, size_t n) {
  v4 c0 = {0, 0, 0, 0}, c1 = c0, c2 = c0, c3 = c0;
  const size_t n16 = n & ~(size_t)15, n4 = n & ~(size_t)3;
  size_t j = 0;
  for (; j < n16; j += 16) {
    c0 = c0 + LD4(a + j) * LD4(b + j);
    c1 = c1 + LD4(a + j + 4) * LD4(b + j + 4);
    c2 = c2 + LD4(a + j + 8) * LD4(b + j + 8);
    c3 = c3 + LD4(a + j + 12) * LD4(b + j + 12);
  }
  for (; j < n4; j += 4) c0 = c0 + LD4(a + j) * LD4(b + j);
  const v4 t = (c0 + c1) + (c2 + c3);
  float s = (t[0] + t[1]) + (t[2] + t[3]);
  for (; j < n; j++) s = s + a[j] * b[j];
  return s;
}

/*
 * Four dot16s at once, a[r] · b[r] (r < 4), in step so that their adds do not wait on each other; each sum is dot16's:
 * lanes 0–7 of a row's first accumulator are dot16's c0 and c1, of its second c2 and c3.
 */
TARGET static void FN(dot16x4)(float *res, const float *const a[4], const float *const b[4], size_t n) {
  v8 lo[4], hi[4];
  for (int r = 0; r < 4; r++) { lo[r] = (v8){0, 0, 0, 0, 0, 0, 0, 0}; hi[r] = lo[r]; }
  const size_t n16 = n & ~(size_t)15, n4 = n & ~(size_t)3;
  size_t j = 0;
  for (; j < n16; j += 16)
    for (int r = 0; r < 4; r++) { lo[r] = lo[r] + LD8(a[r] + j) * LD8(b[r] + j); hi[r] = hi[r] + LD8(a[r] + j + 8) * LD8(b[r] + j + 8); }
  for (int r = 0; r < 4; r++) {
    v4 c0 = {lo[r][0], lo[r][1], lo[r][2], lo[r][3]}, c1 = {lo[r][4], lo[r][5], lo[r][6], lo[r][7]};
    const v4 c2 = {hi[r][0], hi[r][1], hi[r][2], hi[r][3]}, c3 = {hi[r][4], hi[r][5], hi[r][6], hi[r][7]};
    size_t jj = j;
    for (; jj < n4; jj += 4) c0 = c0 + LD4(a[r] + jj) * LD4(b[r] + jj);
    const v4 t = (c0 + c1) + (c2 + c3);
    float s = (t[0] + t[1]) + (t[2] + t[3]);
    for (; jj < n; jj++) s = s + a[r][jj] * b[r][jj];
    res[r] = s;
  }
}

/*
 * Four vecmats sharing w: out[r][0..n) += Σ_{j<k} x[r][j] · w_j[0..n) for r < 4, in row order. For x rows without a 0
 * only (vecmat skips zero x_j, and 0 · w is not always +0): each w row is loaded once for the four.
 */
TARGET static void FN(vecmat4)(float *const out[4], const float *const x[4], const float *w, size_t wstride, size_t k, size_t n) {
  size_t c = 0;
  for (; c + 16 <= n; c += 16) {
    v8 a[4][2];
    for (int r = 0; r < 4; r++) { a[r][0] = LD8(out[r] + c); a[r][1] = LD8(out[r] + c + 8); }
    for (size_t j = 0; j < k; j++) {
      const v8 w0 = LD8(w + j * wstride + c), w1 = LD8(w + j * wstride + c + 8);
      for (int r = 0; r < 4; r++) {
        const float s = x[r][j];
        const v8 sv = {s, s, s, s, s, s, s, s};
        a[r][0] = a[r][0] + sv * w0;
        a[r][1] = a[r][1] + sv * w1;
      }
    }
    for (int r = 0; r < 4; r++) { ST8(out[r] + c, a[r][0]); ST8(out[r] + c + 8, a[r][1]); }
  }
  for (; c + 8 <= n; c += 8) {
    v8 a[4];
    for (int r = 0; r < 4; r++) a[r] = LD8(out[r] + c);
    for (size_t j = 0; j < k; j++) {
      const v8 w0 = LD8(w + j * wstride + c);
      for (int r = 0; r < 4; r++) { const float s = x[r][j]; const v8 sv = {s, s, s, s, s, s, s, s}; a[r] = a[r] + sv * w0; }
    }
    for (int r = 0; r < 4; r++) ST8(out[r] + c, a[r]);
  }
  for (; c + 4 <= n; c += 4) {
    v4 a[4];
    for (int r = 0; r < 4; r++) a[r] = LD4(out[r] + c);
    for (size_t j = 0; j < k; j++) {
      const v4 w0 = LD4(w + j * wstride + c);
      for (int r = 0; r < 4; r++) { const float s = x[r][j]; const v4 sv = {s, s, s, s}; a[r] = a[r] + sv * w0; }
    }
    for (int r = 0; r < 4; r++) ST4(out[r] + c, a[r]);
  }
  for (; c < n; c++)
    for (int r = 0; r < 4; r++) {
      float a = out[r][c];
      for (size_t j = 0; j < k; j++) a = a + x[r][j] * w[j * wstride + c];
      out[r][c] = a;
    }
}

TARGET static int FN(has_zero)(const float *v, size_t n) {
  int z = 0;
  for (size_t i = 0; i < n; i++) z |= v[i] == 0.0f;
  return z;
}

/* out[idx[t]] += dot16(rows + idx[t]·stride, b) for t < cnt (idx: row numbers), four rows at a time */
TARGET static void FN(dots)(float *out, const float *rows, size_t stride, const size_t *idx, size_t cnt, const float *b, size_t n) {
  size_t t = 0;
  const float *const bs[4] = {b, b, b, b};
  for (; t + 4 <= cnt; t += 4) {
    const float *a[4] = {rows + idx[t] * stride, rows + idx[t + 1] * stride, rows + idx[t + 2] * stride, rows + idx[t + 3] * stride};
    float r[4];
    FN(dot16x4)(r, a, bs, n);
    for (int u = 0; u < 4; u++) out[idx[t + u]] = out[idx[t + u]] + r[u];
  }
  for (; t < cnt; t++) out[idx[t]] = out[idx[t]] + FN(dot16)(rows + idx[t] * stride, b, n);
}

/* hid = relu(b1 + hs·W1), out = b2 + hid·W2 and (thread 0) recon += w·out for pair q, whose hid already holds b1 + hs·W1 */
TARGET static void FN(forward_rest)(const struct mix *x, size_t q, size_t ent, size_t k) {
  float *F = x->f;
  const size_t h = x->h, dt = x->dt;
  float *hid = F + x->at[A_HIDDEN] + q * h;
  float *out = F + x->at[A_OUT] + q * dt;
  for (size_t j = 0; j < h; j++) if (!(hid[j] > 0.0f)) hid[j] = 0.0f;
  memcpy(out, F + x->at[A_B2] + k * dt, dt * sizeof(float));
  FN(vecmat)(out, hid, 1, F + x->at[A_W2] + k * h * dt, dt, h, dt);
  if (x->thread == 0) FN(axpy)(F + x->at[A_RECON] + ent * dt, out, F[x->at[A_PW] + q], dt);
}

TARGET static int FN(forward)(const struct mix *x) {
  float *F = x->f;
  const int32_t *I = (const int32_t *)x->f;
  const size_t ds = x->ds, h = x->h;
  if (!FN(reserve)(ds > h ? ds : h)) return 0;
  const int32_t *ents = I + x->at[A_PAIR_ENTITY], *experts = I + x->at[A_PAIR_EXPERT];
  for (size_t q = x->q0; q < x->q1;) {
    const size_t k = (size_t)experts[q];
    if (k >= x->m) return -1;
    /* four pairs of one expert whose inputs have no 0 share each W1 row load; others go one by one */
    if (q + 4 <= x->q1 && experts[q + 1] == experts[q] && experts[q + 2] == experts[q] && experts[q + 3] == experts[q]) {
      float *outs[4];
      const float *xs[4];
      int zero = 0;
      for (int r = 0; r < 4; r++) {
        const size_t ent = (size_t)ents[q + r];
        if (ent >= x->e) return -1;
        xs[r] = F + x->at[A_HS] + ent * ds;
        zero |= FN(has_zero)(xs[r], ds);
        outs[r] = F + x->at[A_HIDDEN] + (q + r) * h;
      }
      if (!zero) {
        for (int r = 0; r < 4; r++) memcpy(outs[r], F + x->at[A_B1] + k * h, h * sizeof(float));
        FN(vecmat4)(outs, xs, F + x->at[A_W1] + k * ds * h, h, ds, h);
        for (int r = 0; r < 4; r++) FN(forward_rest)(x, q + r, (size_t)ents[q + r], k);
        q += 4;
        continue;
      }
    }
    const size_t ent = (size_t)ents[q];
    if (ent >= x->e) return -1;
    float *hid = F + x->at[A_HIDDEN] + q * h;
    memcpy(hid, F + x->at[A_B1] + k * h, h * sizeof(float));
    FN(vecmat)(hid, F + x->at[A_HS] + ent * ds, 1, F + x->at[A_W1] + k * ds * h, h, ds, h);
    FN(forward_rest)(x, q, ent, k);
    q++;
  }
  return 1;
}

/* the pairs of one expert run in chunks this long: their dO and dH rows stay in cache for dW1 and dW2 */
#define CHUNK 32

TARGET static int FN(backward)(const struct mix *x) {
  float *F = x->f;
  const int32_t *I = (const int32_t *)x->f;
  const size_t ds = x->ds, h = x->h, dt = x->dt;
  size_t need = ds > h ? ds : h;
  if (need < CHUNK) need = CHUNK;
  if (!FN(reserve)(need) || !FN(reserve_chunk)(CHUNK * h)) return 0;
  float *xs = FN(tls_x);
  const float **rows = FN(tls_rows);
  size_t *active = FN(tls_active);
  size_t *all = FN(tls_all);
  for (size_t i = 0; i < ds; i++) all[i] = i;
  float *dHc = FN(tls_chunk);
  const float one = F[x->at[A_ONE]];
  for (size_t q0 = x->q0; q0 < x->q1;) {
    const int32_t k = I[x->at[A_PAIR_EXPERT] + q0];
    if (k < 0 || (size_t)k >= x->m) return -1;
    size_t q1 = q0 + 1;
    while (q1 < x->q1 && I[x->at[A_PAIR_EXPERT] + q1] == k) q1++;
    const float *w1 = F + x->at[A_W1] + (size_t)k * ds * h, *w2 = F + x->at[A_W2] + (size_t)k * h * dt;
    for (size_t c0 = q0; c0 < q1; c0 += CHUNK) {
      const size_t cn = q1 - c0 < CHUNK ? q1 - c0 : CHUNK;
      for (size_t t = 0; t < cn; t++) {
        const size_t q = c0 + t;
        const size_t ent = (size_t)I[x->at[A_PAIR_ENTITY] + q];
        if (ent >= x->e) return -1;
        const float *hid = F + x->at[A_HIDDEN] + q * h;
        const float *dRow = F + x->at[A_DRECON] + ent * dt;
        float *dO = F + x->at[A_DO] + q * dt;
        float *dH = dHc + t * h;
        float *dpw = F + x->at[A_DPW] + q;
        *dpw = *dpw + FN(dot16)(dRow, F + x->at[A_OUT] + q * dt, dt);
        FN(axpy)(dO, dRow, F[x->at[A_PW] + q], dt);
        /* dH = W2 · dO through the ReLU: the active hidden units, compacted branch-free */
        memset(dH, 0, h * sizeof(float));
        size_t na = 0;
        for (size_t j = 0; j < h; j++) { active[na] = j; na += hid[j] > 0.0f; }
        FN(dots)(dH, w2, dt, active, na, dO, dt);
        FN(axpy)(F + x->at[A_DB1] + (size_t)k * h, dH, one, h);
      }
      /* dhs_q += W1 · dH_q, four pairs at a time sharing each W1 row (an entity has one pair per expert, so the
         order in which its dhs row gets its pairs' terms is the pair order, as one pair at a time) */
      for (size_t t = 0; t < cn;) {
        float *dhs[4];
        const float *dHs[4];
        const size_t g = cn - t >= 4 ? 4 : 1;
        for (size_t u = 0; u < g; u++) {
          const size_t q = c0 + t + u;
          const size_t ent = (size_t)I[x->at[A_PAIR_ENTITY] + q];
          dhs[u] = x->thread == 0 ? F + x->at[A_DHS] + ent * ds : F + x->at[A_DHS_PAIR] + q * ds;
          dHs[u] = dHc + (t + u) * h;
        }
        if (g == 4) {
          for (size_t i = 0; i < ds; i++) {
            const float *row = w1 + i * h;
            const float *const rows4[4] = {row, row, row, row};
            float r[4];
            FN(dot16x4)(r, rows4, dHs, h);
            for (int u = 0; u < 4; u++) dhs[u][i] = dhs[u][i] + r[u];
          }
        } else {
          FN(dots)(dhs[0], w1, h, all, ds, dHs[0], h);
        }
        t += g;
      }
      /* dW1_m[i] += Σ_q hs_q[i] · dH_q, dW2_m[j] += Σ_q hidden_q[j] · dO_q, db2_m += Σ_q dO_q over the chunk, in pair order */
      for (size_t i = 0; i < ds; i++) {
        size_t cnt = 0;
        for (size_t t = 0; t < cn; t++) {
          const float v = F[x->at[A_HS] + (size_t)I[x->at[A_PAIR_ENTITY] + c0 + t] * ds + i];
          xs[cnt] = v;
          rows[cnt] = dHc + t * h;
          cnt += v != 0.0f;
        }
        FN(vecmat_rows)(F + x->at[A_DW1] + ((size_t)k * ds + i) * h, xs, rows, cnt, h);
      }
      const float *dOs = F + x->at[A_DO] + c0 * dt;
      FN(vecmat)(F + x->at[A_DB2] + (size_t)k * dt, &F[x->at[A_ONE]], 0, dOs, dt, cn, dt);
      for (size_t j = 0; j < h; j++) FN(vecmat)(F + x->at[A_DW2] + ((size_t)k * h + j) * dt, F + x->at[A_HIDDEN] + c0 * h + j, h, dOs, dt, cn, dt);
    }
    q0 = q1;
  }
  return 1;
}

TARGET static int FN(add_recon)(const struct mix *x) {
  float *F = x->f;
  const int32_t *I = (const int32_t *)x->f;
  for (size_t q = x->q0; q < x->q1; q++) {
    const size_t ent = (size_t)I[x->at[A_PAIR_ENTITY] + q];
    if (ent >= x->e) return -1;
    FN(axpy)(F + x->at[A_RECON] + ent * x->dt, F + x->at[A_OUT] + q * x->dt, F[x->at[A_PW] + q], x->dt);
  }
  return 1;
}

TARGET static int FN(add_dhs)(const struct mix *x) {
  float *F = x->f;
  const int32_t *I = (const int32_t *)x->f;
  const float one = F[x->at[A_ONE]];
  for (size_t q = x->q0; q < x->q1; q++) {
    const size_t ent = (size_t)I[x->at[A_PAIR_ENTITY] + q];
    if (ent >= x->e) return -1;
    FN(axpy)(F + x->at[A_DHS] + ent * x->ds, F + x->at[A_DHS_PAIR] + q * x->ds, one, x->ds);
  }
  return 1;
}

#undef FN
#undef FN_EXPAND
#undef FN_PASTE
