/**
 * Hand-assembled WebAssembly SIMD kernels for the native BPR step (models/bpr-step.ts), on row-major tables in a
 * shared memory; ids, pointers and strides as in wasm/score-simd.ts (bytes):
 *
 *   bprScores(out, U, I, users, pos, neg, n, d)
 *     out[t] = Σ_k U[users[t]][k] · (I[pos[t]][k] − I[neg[t]][k]) for t < n (four partial sums per row)
 *   bprGrads(gU, gI, U, I, users, pos, neg, coeff, n, d)
 *     for t < n in order: gU[users[t]] += c·(I[pos[t]] − I[neg[t]]); gI[pos[t]] += c·U[users[t]];
 *     gI[neg[t]] −= c·U[users[t]], c = coeff[t]: the row gradients of Σ_t loss(out[t]) with dloss/dout = coeff
 *
 *   adamRows(p, g, m, v, touched, rowStart, rowEnd, d, step, inv, eps, b1, 1−b1, b2, 1−b2, wd)
 *     wasm/adam-simd.ts's Adam with coupled L2, in place, for rows [rowStart, rowEnd) of d floats: a row whose
 *     touched byte is set reads its gradient row, then zeroes it and its byte; any other row's gradient is zero, so
 *     it is not read (0 + wd·p, the same floats). Most rows of an embedding table have no gradient in a batch.
 *
 * Rows repeated in a batch accumulate in batch order, so a step's gradient does not depend on threads.
 */
import { F32, I32, V128, assembleModule, block, br, brIf, end, f32load, f32store, fadd, fmul, get, i32add, i32const, i32geu, i32loadAt, i32mul, i32shl, i32and, lane, loop, set, simd, splat, tee, v128loadAt, v128storeAt, v128zero, vadd, vmul, vsub } from './asm.js';

const incr = (local: number, by: number): number[] => [...get(local), ...i32const(by), ...i32add, ...set(local)];
const fsub = [0x93];
/** row pointer: table + ids[t]·rowBytes */
const rowOf = (ids: number, t: number, table: number, rowBytes: number): number[] => [...get(ids), ...get(t), ...i32add, ...i32loadAt(0), ...get(rowBytes), ...i32mul, ...get(table), ...i32add];

// bprScores: params 0 out 1 U 2 I 3 users 4 pos 5 neg 6 n 7 d;
// locals 8 t (byte offset into the id arrays) 9 tEnd 10 k 11 k4 12 kb 13 rowBytes 14 pu 15 pi 16 pj (i32) 17 s (f32) 18 acc (v128)
const S = { out: 0, U: 1, I: 2, users: 3, pos: 4, neg: 5, n: 6, d: 7, t: 8, tEnd: 9, k: 10, k4: 11, kb: 12, rowBytes: 13, pu: 14, pi: 15, pj: 16, s: 17, acc: 18 };
const at = (p: number, k: number): number[] => [...get(p), ...get(k), ...i32add];
const counts = (d: number, rowBytes: number, k4: number, kb: number): number[] => [
  ...get(d), ...i32const(2), ...i32shl, ...tee(rowBytes), ...set(kb),
  ...get(d), ...i32const(-4), ...i32and, ...i32const(2), ...i32shl, ...set(k4),
];
const scoresBody: number[] = [
  ...counts(S.d, S.rowBytes, S.k4, S.kb),
  ...get(S.n), ...i32const(2), ...i32shl, ...set(S.tEnd),
  ...block, ...loop,
  ...get(S.t), ...get(S.tEnd), ...i32geu, ...brIf(1),
  ...rowOf(S.users, S.t, S.U, S.rowBytes), ...set(S.pu),
  ...rowOf(S.pos, S.t, S.I, S.rowBytes), ...set(S.pi),
  ...rowOf(S.neg, S.t, S.I, S.rowBytes), ...set(S.pj),
  ...v128zero, ...set(S.acc),
  ...i32const(0), ...set(S.k),
  ...block, ...loop,
  ...get(S.k), ...get(S.k4), ...i32geu, ...brIf(1),
  ...get(S.acc), ...at(S.pu, S.k), ...v128loadAt(0), ...at(S.pi, S.k), ...v128loadAt(0), ...at(S.pj, S.k), ...v128loadAt(0), ...vsub, ...vmul, ...vadd, ...set(S.acc),
  ...incr(S.k, 16),
  ...br(0), ...end, ...end,
  ...get(S.acc), ...lane(0), ...get(S.acc), ...lane(1), ...fadd, ...get(S.acc), ...lane(2), ...get(S.acc), ...lane(3), ...fadd, ...fadd, ...set(S.s),
  ...block, ...loop,
  ...get(S.k), ...get(S.kb), ...i32geu, ...brIf(1),
  ...get(S.s), ...at(S.pu, S.k), ...f32load, ...at(S.pi, S.k), ...f32load, ...at(S.pj, S.k), ...f32load, ...fsub, ...fmul, ...fadd, ...set(S.s),
  ...incr(S.k, 4),
  ...br(0), ...end, ...end,
  ...get(S.out), ...get(S.t), ...i32add, ...get(S.s), ...f32store,
  ...incr(S.t, 4),
  ...br(0), ...end, ...end,
];

// bprGrads: params 0 gU 1 gI 2 U 3 I 4 users 5 pos 6 neg 7 coeff 8 n 9 d;
// locals 10 t 11 tEnd 12 k 13 k4 14 kb 15 rowBytes 16 pu 17 pi 18 pj 19 gu 20 gi 21 gj (i32) 22 c (f32)
// 23 cv 24 cu 25 dv (v128)
const G = { gU: 0, gI: 1, U: 2, I: 3, users: 4, pos: 5, neg: 6, coeff: 7, n: 8, d: 9, t: 10, tEnd: 11, k: 12, k4: 13, kb: 14, rowBytes: 15, pu: 16, pi: 17, pj: 18, gu: 19, gi: 20, gj: 21, c: 22, cv: 23, cu: 24, dv: 25 };
// one SIMD step (v128 ops) or one scalar step (f32 ops) of the three row updates at byte offset k
const gradStep = (v: boolean): number[] => {
  const ld = v ? v128loadAt(0) : f32load;
  const st = v ? v128storeAt(0) : f32store;
  const [add, sub, mul] = v ? [vadd, vsub, vmul] : [fadd, fsub, fmul];
  const c = v ? G.cv : G.c;
  return [
    // d = I[pos] − I[neg]; gU[user] += c·d
    ...at(G.pi, G.k), ...ld, ...at(G.pj, G.k), ...ld, ...sub, ...set(v ? G.dv : 26),
    ...at(G.gu, G.k), ...at(G.gu, G.k), ...ld, ...get(c), ...get(v ? G.dv : 26), ...mul, ...add, ...st,
    // cu = c·U[user]; gI[pos] += cu; gI[neg] −= cu
    ...get(c), ...at(G.pu, G.k), ...ld, ...mul, ...set(v ? G.cu : 27),
    ...at(G.gi, G.k), ...at(G.gi, G.k), ...ld, ...get(v ? G.cu : 27), ...add, ...st,
    ...at(G.gj, G.k), ...at(G.gj, G.k), ...ld, ...get(v ? G.cu : 27), ...sub, ...st,
  ];
};
const gradsBody: number[] = [
  ...counts(G.d, G.rowBytes, G.k4, G.kb),
  ...get(G.n), ...i32const(2), ...i32shl, ...set(G.tEnd),
  ...block, ...loop,
  ...get(G.t), ...get(G.tEnd), ...i32geu, ...brIf(1),
  ...rowOf(G.users, G.t, G.U, G.rowBytes), ...set(G.pu),
  ...rowOf(G.pos, G.t, G.I, G.rowBytes), ...set(G.pi),
  ...rowOf(G.neg, G.t, G.I, G.rowBytes), ...set(G.pj),
  ...rowOf(G.users, G.t, G.gU, G.rowBytes), ...set(G.gu),
  ...rowOf(G.pos, G.t, G.gI, G.rowBytes), ...set(G.gi),
  ...rowOf(G.neg, G.t, G.gI, G.rowBytes), ...set(G.gj),
  ...get(G.coeff), ...get(G.t), ...i32add, ...f32load, ...tee(G.c), ...splat, ...set(G.cv),
  ...i32const(0), ...set(G.k),
  ...block, ...loop,
  ...get(G.k), ...get(G.k4), ...i32geu, ...brIf(1),
  ...gradStep(true),
  ...incr(G.k, 16),
  ...br(0), ...end, ...end,
  ...block, ...loop,
  ...get(G.k), ...get(G.kb), ...i32geu, ...brIf(1),
  ...gradStep(false),
  ...incr(G.k, 4),
  ...br(0), ...end, ...end,
  ...incr(G.t, 4),
  ...br(0), ...end, ...end,
];

// adamRows: params 0 p 1 g 2 m 3 v 4 touched 5 rowStart 6 rowEnd 7 d (i32), 8..15 step inv eps b1 ob1 b2 ob2 wd (f32);
// locals 16 r 17 i 18 end4 19 endB 20 flag (i32) 21..28 splats of params 8..15 29 pk 30 gk 31 mk 32 vk 33 zero (v128)
// 34 ps 35 gs 36 ms 37 vs (f32)
const A = { p: 0, g: 1, m: 2, v: 3, touched: 4, r0: 5, r1: 6, d: 7, r: 16, i: 17, end4: 18, endB: 19, flag: 20, splat: 21, pk: 29, gk: 30, mk: 31, vk: 32, zero: 33, ps: 34, gs: 35, ms: 36, vs: 37 };
const sp = (param: number) => A.splat + (param - 8);
// one element group at address offset i: SIMD (v = true) or scalar; withGrad reads (then zeroes) the gradient
function adamStep(v: boolean, withGrad: boolean): number[] {
  const ld = v ? v128loadAt(0) : f32load;
  const st = v ? v128storeAt(0) : f32store;
  const [add, sub, mul, div, sqrt] = v ? [vadd, vsub, vmul, simd(0xe7), simd(0xe3)] : [fadd, fsub, fmul, [0x95], [0x91]];
  const h = (param: number) => (v ? get(sp(param)) : get(param));
  const [pk, gk, mk, vk] = v ? [A.pk, A.gk, A.mk, A.vk] : [A.ps, A.gs, A.ms, A.vs];
  const addr = (base: number) => [...get(base), ...get(A.i), ...i32add];
  return [
    ...addr(A.p), ...ld, ...set(pk),
    // gk = g + wd·p (the gradient of a row without one is 0)
    ...(withGrad ? [...addr(A.g), ...ld] : v ? get(A.zero) : [0x43, 0, 0, 0, 0]), ...h(15), ...get(pk), ...mul, ...add, ...set(gk),
    ...(withGrad ? [...addr(A.g), ...(v ? get(A.zero) : [0x43, 0, 0, 0, 0]), ...st] : []),
    ...h(11), ...addr(A.m), ...ld, ...mul, ...h(12), ...get(gk), ...mul, ...add, ...set(mk),
    ...h(13), ...addr(A.v), ...ld, ...mul, ...h(14), ...get(gk), ...get(gk), ...mul, ...mul, ...add, ...set(vk),
    ...addr(A.m), ...get(mk), ...st,
    ...addr(A.v), ...get(vk), ...st,
    ...addr(A.p), ...get(pk), ...h(8), ...get(mk), ...mul, ...get(vk), ...sqrt, ...h(9), ...mul, ...h(10), ...add, ...div, ...sub, ...st,
  ];
}
const rowLoops = (withGrad: boolean): number[] => [
  ...block, ...loop,
  ...get(A.i), ...get(A.end4), ...i32geu, ...brIf(1),
  ...adamStep(true, withGrad),
  ...incr(A.i, 16),
  ...br(0), ...end, ...end,
  ...block, ...loop,
  ...get(A.i), ...get(A.endB), ...i32geu, ...brIf(1),
  ...adamStep(false, withGrad),
  ...incr(A.i, 4),
  ...br(0), ...end, ...end,
];
const adamRowsBody: number[] = [
  ...[8, 9, 10, 11, 12, 13, 14, 15].flatMap((param) => [...get(param), ...splat, ...set(sp(param))]),
  ...v128zero, ...set(A.zero),
  ...get(A.r0), ...set(A.r),
  ...block, ...loop,
  ...get(A.r), ...get(A.r1), ...i32geu, ...brIf(1),
  ...get(A.r), ...get(A.d), ...i32mul, ...i32const(2), ...i32shl, ...tee(A.i),
  ...get(A.d), ...i32const(-4), ...i32and, ...i32const(2), ...i32shl, ...i32add, ...set(A.end4),
  ...get(A.i), ...get(A.d), ...i32const(2), ...i32shl, ...i32add, ...set(A.endB),
  ...get(A.touched), ...get(A.r), ...i32add, ...[0x2d, 0x00, 0x00], ...tee(A.flag),
  ...[0x04, 0x40], // if touched
  ...rowLoops(true),
  ...get(A.touched), ...get(A.r), ...i32add, ...i32const(0), ...[0x3a, 0x00, 0x00],
  ...[0x05], // else
  ...rowLoops(false),
  ...end,
  ...incr(A.r, 1),
  ...br(0), ...end, ...end,
];

const FUNCTIONS = [
  { name: 'bprScores', params: new Array(8).fill(I32), locals: [[9, I32], [1, F32], [1, V128]] as [number, number][], body: scoresBody },
  // locals 10-21 i32, 22 f32, 23-25 v128, 26-27 f32 (the scalar tail's d and cu)
  { name: 'bprGrads', params: new Array(10).fill(I32), locals: [[12, I32], [1, F32], [3, V128], [2, F32]] as [number, number][], body: gradsBody },
  { name: 'adamRows', params: [...new Array(8).fill(I32), ...new Array(8).fill(F32)], locals: [[5, I32], [13, V128], [4, F32]] as [number, number][], body: adamRowsBody },
];

export type BprScoresFn = (out: number, U: number, I: number, users: number, pos: number, neg: number, n: number, d: number) => void;
export type BprGradsFn = (gU: number, gI: number, U: number, I: number, users: number, pos: number, neg: number, coeff: number, n: number, d: number) => void;

export type AdamRowsFn = (
  p: number, g: number, m: number, v: number, touched: number, rowStart: number, rowEnd: number, d: number,
  step: number, inv: number, eps: number, b1: number, ob1: number, b2: number, ob2: number, wd: number,
) => void;

export interface BprSimd {
  bprScores: BprScoresFn;
  bprGrads: BprGradsFn;
  adamRows: AdamRowsFn;
}

/** The kernels on a shared memory of at most `maxPages` pages, or null where WebAssembly SIMD is unavailable. */
export function instantiateBprSimd(memory: WebAssembly.Memory, maxPages: number): BprSimd | null {
  const bytes = assembleModule(FUNCTIONS, { sharedMaxPages: maxPages });
  if (!WebAssembly.validate(bytes)) return null;
  const e = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory } }).exports;
  return { bprScores: e.bprScores as BprScoresFn, bprGrads: e.bprGrads as BprGradsFn, adamRows: e.adamRows as AdamRowsFn };
}
