/**
 * Two hand-assembled WebAssembly SIMD loops that the DE expert kernel (distill/expert-kernel.ts) is built from:
 *
 *   axpyRows(dst, dstStep, src, srcStep, scales, scaleStep, k, n)
 *     for i < k:  a = scales[i];  if a ≠ 0: dst[0..n) += a · src[0..n);  then each pointer advances by its step
 *     (step 0 keeps a pointer fixed: row-vector × matrix with dstStep 0, an outer-product update with srcStep 0)
 *   dotRows(out, outStep, a, aStep, b, bStep, k, n)
 *     for i < k:  out[0] += a[0..n) · b[0..n);  then each pointer advances by its step (matrix × vector)
 *
 * Pointers and steps are in bytes; n is any float count (f32x4 body, scalar tail). Skipping zero scales makes the
 * ReLU layer's zeros free.
 */
import {
  F32, I32, V128, assembleModule, block, br, brIf, end, f32const, f32load, f32store, fadd, fmul, fne, get, i32add, i32and, i32const, i32geu, i32shl,
  ifThen, lane, loop, set, splat, tee, v128load, v128store, v128zero, vadd, vmul,
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

// dotRows: params 0 out 1 outStep 2 a 3 aStep 4 b 5 bStep 6 k 7 n; locals 8 i 9 j 10 nb 11 n4b (i32) 12 s (f32) 13 acc (v128)
const dotBody = [
  ...byteCounts(7, 10, 11),
  ...block, ...loop,
  ...get(8), ...get(6), ...i32geu, ...brIf(1),
  ...v128zero, ...set(13),
  ...i32const(0), ...set(9),
  ...block, ...loop,
  ...get(9), ...get(11), ...i32geu, ...brIf(1),
  ...get(13), ...ptrPlus(2, 9), ...v128load, ...ptrPlus(4, 9), ...v128load, ...vmul, ...vadd, ...set(13),
  ...get(9), ...i32const(16), ...i32add, ...set(9),
  ...br(0), ...end, ...end,
  ...get(13), ...lane(0), ...get(13), ...lane(1), ...fadd, ...get(13), ...lane(2), ...get(13), ...lane(3), ...fadd, ...fadd, ...set(12),
  ...block, ...loop,
  ...get(9), ...get(10), ...i32geu, ...brIf(1),
  ...get(12), ...ptrPlus(2, 9), ...f32load, ...ptrPlus(4, 9), ...f32load, ...fmul, ...fadd, ...set(12),
  ...get(9), ...i32const(4), ...i32add, ...set(9),
  ...br(0), ...end, ...end,
  ...get(0), ...get(0), ...f32load, ...get(12), ...fadd, ...f32store,
  ...advance(0, 1), ...advance(2, 3), ...advance(4, 5),
  ...get(8), ...i32const(1), ...i32add, ...set(8),
  ...br(0), ...end, ...end,
];

const params = new Array(8).fill(I32);
const locals: [number, number][] = [[4, I32], [1, F32], [1, V128]];
export const EXPERT_WASM = assembleModule([
  { name: 'axpyRows', params, locals, body: axpyBody },
  { name: 'dotRows', params, locals, body: dotBody },
]);

export type RowsFn = (dst: number, dstStep: number, src: number, srcStep: number, scales: number, scaleStep: number, k: number, n: number) => void;

export interface ExpertSimd {
  memory: WebAssembly.Memory;
  axpyRows: RowsFn;
  dotRows: RowsFn;
}

/** A fresh instance with its own memory, or null where WebAssembly SIMD is unavailable. */
export function instantiateExpertSimd(): ExpertSimd | null {
  if (!WebAssembly.validate(EXPERT_WASM)) return null;
  const memory = new WebAssembly.Memory({ initial: 16 });
  const instance = new WebAssembly.Instance(new WebAssembly.Module(EXPERT_WASM), { env: { memory } });
  return { memory, axpyRows: instance.exports.axpyRows as RowsFn, dotRows: instance.exports.dotRows as RowsFn };
}
