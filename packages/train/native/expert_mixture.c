/*
 * derrd's native DE mixture kernel: the loops of the WebAssembly kernel (distill/expert-kernel.ts), compiled by the C
 * compiler for this CPU, on the same shared WebAssembly memory and layout, with the same floats (expert_mixture.h
 * says how). WebAssembly SIMD in V8 is 4 lanes wide without fused multiply-add and reached ~1.5 multiply-adds a cycle
 * on these loops; AVX2 runs 8 lanes. Loaded by src/distill/native-mixture.ts when built (`npm run build:native`);
 * without it training runs the WebAssembly kernel.
 */
#include <node_api.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef float v8 __attribute__((vector_size(32)));
typedef float v8u __attribute__((vector_size(32), aligned(4), may_alias));
typedef float v4 __attribute__((vector_size(16)));
typedef float v4u __attribute__((vector_size(16), aligned(4), may_alias));
#define LD8(p) (*(const v8u *)(p))
#define ST8(p, v) (*(v8u *)(p) = (v))
#define LD4(p) (*(const v4u *)(p))
#define ST4(p, v) (*(v4u *)(p) = (v))

/* float offsets of the layout's arrays, in the order src/distill/native-mixture.ts passes them */
enum {
  A_W1, A_B1, A_W2, A_B2, A_HS, A_PW, A_PAIR_ENTITY, A_PAIR_EXPERT, A_HIDDEN, A_OUT, A_RECON, A_DRECON, A_DW1, A_DB1, A_DW2,
  A_DB2, A_DHS, A_DHS_PAIR, A_DPW, A_DO, A_ONE, A_DH0, A_DH1, A_COUNT
};

struct mix {
  float *f;
  size_t ds, h, dt, m, e, p, q0, q1;
  int thread;
  size_t at[A_COUNT];
};

#if defined(__x86_64__) || defined(__i386__)
#define TARGET __attribute__((target("avx2")))
#define SFX _avx2
#include "expert_mixture.h"
#undef TARGET
#undef SFX
#endif
#define TARGET
#define SFX _generic
#include "expert_mixture.h"
#undef TARGET
#undef SFX

typedef int (*loop_fn)(const struct mix *);
struct isa { const char *name; loop_fn forward, backward, add_recon, add_dhs; };
static struct isa chosen;

/* AVX2 where the CPU has it; DERRD_DE_NATIVE_ISA=generic picks the plain build (to test it on any machine) */
static void choose_isa(void) {
#if defined(__x86_64__) || defined(__i386__)
  const char *want = getenv("DERRD_DE_NATIVE_ISA");
  __builtin_cpu_init();
  if (!(want && strcmp(want, "generic") == 0) && __builtin_cpu_supports("avx2")) {
    chosen = (struct isa){"avx2", forward_avx2, backward_avx2, add_recon_avx2, add_dhs_avx2};
    return;
  }
#endif
  chosen = (struct isa){"generic", forward_generic, backward_generic, add_recon_generic, add_dhs_generic};
}

/* (memory: Float32Array over the whole WebAssembly memory, args: Int32Array [ds, h, dt, m, e, p, q0, q1, thread, offsets…]) */
static napi_value call(napi_env env, napi_callback_info info, int which) {
  size_t argc = 2;
  napi_value argv[2];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 2) goto bad;
  napi_typedarray_type t0, t1;
  size_t len0, len1;
  void *d0, *d1;
  if (napi_get_typedarray_info(env, argv[0], &t0, &len0, &d0, NULL, NULL) != napi_ok || t0 != napi_float32_array) goto bad;
  if (napi_get_typedarray_info(env, argv[1], &t1, &len1, &d1, NULL, NULL) != napi_ok || t1 != napi_int32_array || len1 != 9 + A_COUNT) goto bad;
  const int32_t *a = d1;
  for (size_t i = 0; i < len1; i++) if (a[i] < 0) goto bad;
  struct mix x = {.f = d0, .ds = a[0], .h = a[1], .dt = a[2], .m = a[3], .e = a[4], .p = a[5], .q0 = a[6], .q1 = a[7], .thread = a[8]};
  for (int i = 0; i < A_COUNT; i++) x.at[i] = a[9 + i];
  if (x.q0 > x.q1 || x.q1 > x.p) goto bad;
  /* every array must lie inside the memory: the sizes of mixtureLayout */
  const size_t m = x.m, ds = x.ds, h = x.h, dt = x.dt, e = x.e, p = x.p;
  const size_t sizes[A_COUNT] = {m * ds * h, m * h, m * h * dt, m * dt, e * ds, p, p, p, p * h, p * dt, e * dt, e * dt, m * ds * h, m * h,
                                 m * h * dt, m * dt, e * ds, p * ds, p, p * dt, 1, h, h};
  for (int i = 0; i < A_COUNT; i++) if (x.at[i] + sizes[i] > len0) goto bad;
  loop_fn fn = which == 0 ? chosen.forward : which == 1 ? chosen.backward : which == 2 ? chosen.add_recon : chosen.add_dhs;
  const int r = fn(&x);
  if (r == 0) { napi_throw_error(env, NULL, "derrd native DE kernel: out of memory"); return NULL; }
  if (r < 0) { napi_throw_range_error(env, NULL, "derrd native DE kernel: a pair names an entity or expert outside the layout"); return NULL; }
  return NULL;
bad:
  napi_throw_type_error(env, NULL, "derrd native DE kernel: expected (Float32Array memory, Int32Array args) describing a layout inside the memory");
  return NULL;
}

static napi_value forward(napi_env env, napi_callback_info info) { return call(env, info, 0); }
static napi_value backward(napi_env env, napi_callback_info info) { return call(env, info, 1); }
static napi_value add_recon(napi_env env, napi_callback_info info) { return call(env, info, 2); }
static napi_value add_dhs(napi_env env, napi_callback_info info) { return call(env, info, 3); }

NAPI_MODULE_INIT() {
  if (!chosen.name) choose_isa();
  const struct { const char *name; napi_callback cb; } fns[] = {{"forward", forward}, {"backward", backward}, {"addRecon", add_recon}, {"addDhs", add_dhs}};
  for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++) {
    napi_value fn;
    napi_create_function(env, fns[i].name, NAPI_AUTO_LENGTH, fns[i].cb, NULL, &fn);
    napi_set_named_property(env, exports, fns[i].name, fn);
  }
  napi_value isa;
  napi_create_string_utf8(env, chosen.name, NAPI_AUTO_LENGTH, &isa);
  napi_set_named_property(env, exports, "isa", isa);
  return exports;
}
