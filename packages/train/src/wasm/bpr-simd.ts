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
 * Rows repeated in a batch accumulate in batch order, so a step's gradient does not depend on threads.
 */
import { F32, I32, V128, assembleModule, block, br, brIf, end, f32load, f32store, fadd, fmul, get, i32add, i32const, i32geu, i32loadAt, i32mul, i32shl, i32and, lane, loop, set, splat, tee, v128loadAt, v128storeAt, v128zero, vadd, vmul, vsub } from './asm.js';

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

const FUNCTIONS = [
  { name: 'bprScores', params: new Array(8).fill(I32), locals: [[9, I32], [1, F32], [1, V128]] as [number, number][], body: scoresBody },
  // locals 10-21 i32, 22 f32, 23-25 v128, 26-27 f32 (the scalar tail's d and cu)
  { name: 'bprGrads', params: new Array(10).fill(I32), locals: [[12, I32], [1, F32], [3, V128], [2, F32]] as [number, number][], body: gradsBody },
];

export type BprScoresFn = (out: number, U: number, I: number, users: number, pos: number, neg: number, n: number, d: number) => void;
export type BprGradsFn = (gU: number, gI: number, U: number, I: number, users: number, pos: number, neg: number, coeff: number, n: number, d: number) => void;

export interface BprSimd {
  bprScores: BprScoresFn;
  bprGrads: BprGradsFn;
}

/** The kernels on a shared memory of at most `maxPages` pages, or null where WebAssembly SIMD is unavailable. */
export function instantiateBprSimd(memory: WebAssembly.Memory, maxPages: number): BprSimd | null {
  const bytes = assembleModule(FUNCTIONS, { sharedMaxPages: maxPages });
  if (!WebAssembly.validate(bytes)) return null;
  const e = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory } }).exports;
  return { bprScores: e.bprScores as BprScoresFn, bprGrads: e.bprGrads as BprGradsFn };
}
