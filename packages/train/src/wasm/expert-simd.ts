/**
 * Two hand-assembled WebAssembly SIMD loops that the DE expert kernel (distill/expert-kernel.ts) is built from:
 *
 *   axpyRows(dst, dstStep, src, srcStep, scales, scaleStep, k, n)
 *     for i < k:  a = scales[i];  if a ≠ 0: dst[0..n) += a · src[0..n);  then each pointer advances by its step
 *     (step 0 keeps a pointer fixed: row-vector × matrix with dstStep 0, an outer-product update with srcStep 0)
 *   dotRows(out, outStep, a, aStep, b, bStep, k, n)
 *     for i < k:  out[0] += a[0..n) · b[0..n);  then each pointer advances by its step (matrix × vector)
 *   dotRowsMasked(out, outStep, a, aStep, b, bStep, k, n, mask, maskStep)
 *     the same, skipping row i where mask[0] ≤ 0 (out[0] unchanged): the ReLU's backward needs only its active rows
 *
 * Pointers and steps are in bytes; n is any float count (f32x4 body, scalar tail). Skipping zero scales makes the
 * ReLU layer's zeros free.
 */
import {
  F32, I32, V128, assembleModule, block, br, brIf, end, f32const, f32load, f32store, fadd, fmul, fne, get, i32add, i32and, i32const, i32geu, i32shl,
  fgt, ifThen, lane, loop, set, splat, tee, v128load, v128store, v128zero, vadd, vmul,
} from './asm.js';

const ptrPlus = (p: number, j: number) => [...get(p), ...get(j), ...i32add];
const advance = (p: number, step: number) => [...get(p), ...get(step), ...i32add, ...set(p)];
const byteCounts = (n: number, nb: number, n4b: number) => [
  ...get(n), ...i32const(2), ...i32shl, ...set(nb),
  ...get(n), ...i32const(-4), ...i32and, ...i32const(2), ...i32shl, ...set(n4b),
];

// axpyRows: params 0 dst 1 dstStep 2 src 3 srcStep 4 scales 5 scaleStep 6 k 7 n; locals 8 i 9 j 10 nb 11 n4b (i32) 12 a (f32) 13 av (v128)
const axpyBody = [
  ...byteCounts(7, 10, 11),
  ...block, ...loop,
  ...get(8), ...get(6), ...i32geu, ...brIf(1),
  ...get(4), ...f32load, ...tee(12), ...f32const(0), ...fne,
  ...ifThen,
  ...get(12), ...splat, ...set(13),
  ...i32const(0), ...set(9),
  ...block, ...loop,
  ...get(9), ...get(11), ...i32geu, ...brIf(1),
  ...ptrPlus(0, 9), ...ptrPlus(0, 9), ...v128load, ...get(13), ...ptrPlus(2, 9), ...v128load, ...vmul, ...vadd, ...v128store,
  ...get(9), ...i32const(16), ...i32add, ...set(9),
  ...br(0), ...end, ...end,
  ...block, ...loop,
  ...get(9), ...get(10), ...i32geu, ...brIf(1),
  ...ptrPlus(0, 9), ...ptrPlus(0, 9), ...f32load, ...get(12), ...ptrPlus(2, 9), ...f32load, ...fmul, ...fadd, ...f32store,
  ...get(9), ...i32const(4), ...i32add, ...set(9),
  ...br(0), ...end, ...end,
  ...end, // if
  ...advance(0, 1), ...advance(2, 3), ...advance(4, 5),
  ...get(8), ...i32const(1), ...i32add, ...set(8),
  ...br(0), ...end, ...end,
];

interface DotLocals { out: number; outStep: number; a: number; aStep: number; b: number; bStep: number; k: number; n: number; i: number; j: number; nb: number; n4b: number; s: number; acc: number; mask?: number; maskStep?: number }

// out[0] += a[0..n) · b[0..n) for k rows; with a mask pointer, rows whose mask is ≤ 0 are skipped
function dotBodyOf(v: DotLocals): number[] {
  const row = [
    ...v128zero, ...set(v.acc),
    ...i32const(0), ...set(v.j),
    ...block, ...loop,
    ...get(v.j), ...get(v.n4b), ...i32geu, ...brIf(1),
    ...get(v.acc), ...ptrPlus(v.a, v.j), ...v128load, ...ptrPlus(v.b, v.j), ...v128load, ...vmul, ...vadd, ...set(v.acc),
    ...get(v.j), ...i32const(16), ...i32add, ...set(v.j),
    ...br(0), ...end, ...end,
    ...get(v.acc), ...lane(0), ...get(v.acc), ...lane(1), ...fadd, ...get(v.acc), ...lane(2), ...get(v.acc), ...lane(3), ...fadd, ...fadd, ...set(v.s),
    ...block, ...loop,
    ...get(v.j), ...get(v.nb), ...i32geu, ...brIf(1),
    ...get(v.s), ...ptrPlus(v.a, v.j), ...f32load, ...ptrPlus(v.b, v.j), ...f32load, ...fmul, ...fadd, ...set(v.s),
    ...get(v.j), ...i32const(4), ...i32add, ...set(v.j),
    ...br(0), ...end, ...end,
    ...get(v.out), ...get(v.out), ...f32load, ...get(v.s), ...fadd, ...f32store,
  ];
  const masked = v.mask !== undefined && v.maskStep !== undefined;
  return [
    ...byteCounts(v.n, v.nb, v.n4b),
    ...block, ...loop,
    ...get(v.i), ...get(v.k), ...i32geu, ...brIf(1),
    ...(masked ? [...get(v.mask!), ...f32load, ...f32const(0), ...fgt, ...ifThen, ...row, ...end, ...advance(v.mask!, v.maskStep!)] : row),
    ...advance(v.out, v.outStep), ...advance(v.a, v.aStep), ...advance(v.b, v.bStep),
    ...get(v.i), ...i32const(1), ...i32add, ...set(v.i),
    ...br(0), ...end, ...end,
  ];
}

// dotRows: params 0 out 1 outStep 2 a 3 aStep 4 b 5 bStep 6 k 7 n; locals 8 i 9 j 10 nb 11 n4b (i32) 12 s (f32) 13 acc (v128)
const dotBody = dotBodyOf({ out: 0, outStep: 1, a: 2, aStep: 3, b: 4, bStep: 5, k: 6, n: 7, i: 8, j: 9, nb: 10, n4b: 11, s: 12, acc: 13 });
// dotRowsMasked: params 0-7 as dotRows, 8 mask 9 maskStep; locals 10 i 11 j 12 nb 13 n4b (i32) 14 s (f32) 15 acc (v128)
const dotMaskedBody = dotBodyOf({ out: 0, outStep: 1, a: 2, aStep: 3, b: 4, bStep: 5, k: 6, n: 7, mask: 8, maskStep: 9, i: 10, j: 11, nb: 12, n4b: 13, s: 14, acc: 15 });

const params = new Array(8).fill(I32);
const locals: [number, number][] = [[4, I32], [1, F32], [1, V128]];
export const EXPERT_WASM = assembleModule([
  { name: 'axpyRows', params, locals, body: axpyBody },
  { name: 'dotRows', params, locals, body: dotBody },
  { name: 'dotRowsMasked', params: new Array(10).fill(I32), locals, body: dotMaskedBody },
]);

export type RowsFn = (dst: number, dstStep: number, src: number, srcStep: number, scales: number, scaleStep: number, k: number, n: number) => void;

export type MaskedRowsFn = (dst: number, dstStep: number, src: number, srcStep: number, b: number, bStep: number, k: number, n: number, mask: number, maskStep: number) => void;

export interface ExpertSimd {
  memory: WebAssembly.Memory;
  axpyRows: RowsFn;
  dotRows: RowsFn;
  dotRowsMasked: MaskedRowsFn;
}

/** A fresh instance with its own memory, or null where WebAssembly SIMD is unavailable. */
export function instantiateExpertSimd(): ExpertSimd | null {
  if (!WebAssembly.validate(EXPERT_WASM)) return null;
  const memory = new WebAssembly.Memory({ initial: 16 });
  const instance = new WebAssembly.Instance(new WebAssembly.Module(EXPERT_WASM), { env: { memory } });
  return { memory, axpyRows: instance.exports.axpyRows as RowsFn, dotRows: instance.exports.dotRows as RowsFn, dotRowsMasked: instance.exports.dotRowsMasked as MaskedRowsFn };
}
