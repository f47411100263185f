/**
 * Hand-assembled WebAssembly SIMD loops that the DE expert kernel (distill/expert-kernel.ts) is built from:
 *
 *   axpyRows(dst, dstStep, src, srcStep, scales, scaleStep, k, n)
 *     for i < k:  a = scales[i];  if a ≠ 0: dst[0..n) += a · src[0..n);  then each pointer advances by its step
 *     (step 0 keeps a pointer fixed: row-vector × matrix with dstStep 0, an outer-product update with srcStep 0)
 *   dotRows(out, outStep, a, aStep, b, bStep, k, n)
 *     for i < k:  out[0] += a[0..n) · b[0..n);  then each pointer advances by its step (matrix × vector)
 *   dotRowsMasked(out, outStep, a, aStep, b, bStep, k, n, mask, maskStep)
 *     the same, skipping row i where mask[0] ≤ 0 (out[0] unchanged): the ReLU's backward needs only its active rows
 *   vecMatAcc(out, x, xStep, w, wStride, k, n, scratch)
 *     out[0..n) += Σ_{j<k, x_j ≠ 0} x_j · w_j[0..n), x_j at x + j·xStep, row w_j at w + j·wStride: a row vector times a
 *     matrix, or with xStep = one row of A and w = the rows of B, one row of Aᵀ·B. Columns go in blocks of 32 held in
 *     eight registers, so out is read and written once per block instead of once per row as with axpyRows; each
 *     element still sums its terms in row order, the same floats as axpyRows gives. scratch: 8·k bytes of work space.
 *
 * Pointers and steps are in bytes; n is any float count (f32x4 body, scalar tail). Skipping zero scales makes the
 * ReLU layer's zeros free.
 */
import {
  F32, I32, V128, assembleModule, block, br, brIf, end, f32const, f32load, f32store, fadd, fmul, fne, get, i32add, i32and, i32const, i32geu, i32shl,
  fgt, i32loadAt, i32storeAt, ifThen, lane, loop, set, splat, tee, v128load, v128loadAt, v128store, v128storeAt, v128zero, vadd, vmul,
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

interface DotLocals { out: number; outStep: number; a: number; aStep: number; b: number; bStep: number; k: number; n: number; i: number; j: number; nb: number; n4b: number; n16b: number; s: number; acc: number; mask?: number; maskStep?: number }

// out[0] += a[0..n) · b[0..n) for k rows; with a mask pointer, rows whose mask is ≤ 0 are skipped. Four accumulators
// (16 floats per iteration) so that consecutive adds do not wait on each other.
function dotBodyOf(v: DotLocals): number[] {
  const accs = [0, 1, 2, 3].map((t) => v.acc + t);
  const row = [
    ...accs.flatMap((a) => [...v128zero, ...set(a)]),
    ...i32const(0), ...set(v.j),
    ...block, ...loop,
    ...get(v.j), ...get(v.n16b), ...i32geu, ...brIf(1),
    ...accs.flatMap((a, t) => [...get(a), ...ptrPlus(v.a, v.j), ...v128loadAt(16 * t), ...ptrPlus(v.b, v.j), ...v128loadAt(16 * t), ...vmul, ...vadd, ...set(a)]),
    ...get(v.j), ...i32const(64), ...i32add, ...set(v.j),
    ...br(0), ...end, ...end,
    ...block, ...loop,
    ...get(v.j), ...get(v.n4b), ...i32geu, ...brIf(1),
    ...get(accs[0]), ...ptrPlus(v.a, v.j), ...v128load, ...ptrPlus(v.b, v.j), ...v128load, ...vmul, ...vadd, ...set(accs[0]),
    ...get(v.j), ...i32const(16), ...i32add, ...set(v.j),
    ...br(0), ...end, ...end,
    ...get(accs[0]), ...get(accs[1]), ...vadd, ...get(accs[2]), ...get(accs[3]), ...vadd, ...vadd, ...set(v.acc),
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
    ...get(v.n), ...i32const(-16), ...i32and, ...i32const(2), ...i32shl, ...set(v.n16b),
    ...block, ...loop,
    ...get(v.i), ...get(v.k), ...i32geu, ...brIf(1),
    ...(masked ? [...get(v.mask!), ...f32load, ...f32const(0), ...fgt, ...ifThen, ...row, ...end, ...advance(v.mask!, v.maskStep!)] : row),
    ...advance(v.out, v.outStep), ...advance(v.a, v.aStep), ...advance(v.b, v.bStep),
    ...get(v.i), ...i32const(1), ...i32add, ...set(v.i),
    ...br(0), ...end, ...end,
  ];
}

// dotRows: params 0 out 1 outStep 2 a 3 aStep 4 b 5 bStep 6 k 7 n; locals 8 i 9 j 10 nb 11 n4b 12 n16b (i32) 13 s (f32) 14-17 acc (v128)
const dotBody = dotBodyOf({ out: 0, outStep: 1, a: 2, aStep: 3, b: 4, bStep: 5, k: 6, n: 7, i: 8, j: 9, nb: 10, n4b: 11, n16b: 12, s: 13, acc: 14 });
// dotRowsMasked: params 0-7 as dotRows, 8 mask 9 maskStep; locals 10 i 11 j 12 nb 13 n4b 14 n16b (i32) 15 s (f32) 16-19 acc (v128)
const dotMaskedBody = dotBodyOf({ out: 0, outStep: 1, a: 2, aStep: 3, b: 4, bStep: 5, k: 6, n: 7, mask: 8, maskStep: 9, i: 10, j: 11, nb: 12, n4b: 13, n16b: 14, s: 15, acc: 16 });

// vecMatAcc: params 0 out 1 x 2 xStep 3 w 4 wStride 5 k 6 n 7 scratch;
// locals 8 c 9 j 10 xp 11 wp 12 n32b 13 n4b 14 nb 15 cnt 16 t 17 sp (i32) 18 s 19 sum (f32) 20 sv 21-28 acc (v128)
const VM = { out: 0, x: 1, xStep: 2, w: 3, wStride: 4, k: 5, n: 6, scratch: 7, c: 8, j: 9, xp: 10, wp: 11, n32b: 12, n4b: 13, nb: 14, cnt: 15, t: 16, sp: 17, s: 18, sum: 19, sv: 20, acc: 21 };
const WIDE = [0, 1, 2, 3, 4, 5, 6, 7]; // accumulators of one 32-column block

// Branch-free compaction of the nonzero x_j into scratch as (x_j, address of row j) pairs, 8 bytes each. A zero test
// per row inside every column block would mispredict on the ReLU's random zeros once per block; here it is once.
const compact = [
  ...i32const(0), ...set(VM.cnt), ...i32const(0), ...set(VM.j), ...get(VM.x), ...set(VM.xp), ...get(VM.w), ...set(VM.wp),
  ...block, ...loop,
  ...get(VM.j), ...get(VM.k), ...i32geu, ...brIf(1),
  ...get(VM.scratch), ...get(VM.cnt), ...i32const(3), ...i32shl, ...i32add, ...tee(VM.sp), ...get(VM.xp), ...f32load, ...tee(VM.s), ...f32store,
  ...get(VM.sp), ...get(VM.wp), ...i32storeAt(4),
  ...get(VM.cnt), ...get(VM.s), ...f32const(0), ...fne, ...i32add, ...set(VM.cnt),
  ...advance(VM.xp, VM.xStep), ...advance(VM.wp, VM.wStride),
  ...get(VM.j), ...i32const(1), ...i32add, ...set(VM.j),
  ...br(0), ...end, ...end,
];
// for each compacted row: s = x_j, wp = its row's address + c; body
const overRows = (body: number[]) => [
  ...i32const(0), ...set(VM.t), ...get(VM.scratch), ...set(VM.sp),
  ...block, ...loop,
  ...get(VM.t), ...get(VM.cnt), ...i32geu, ...brIf(1),
  ...get(VM.sp), ...f32load, ...set(VM.s), ...get(VM.sp), ...i32loadAt(4), ...get(VM.c), ...i32add, ...set(VM.wp),
  ...body,
  ...get(VM.sp), ...i32const(8), ...i32add, ...set(VM.sp),
  ...get(VM.t), ...i32const(1), ...i32add, ...set(VM.t),
  ...br(0), ...end, ...end,
];
// while c < limit: load the block of out, run every row into it, store it, c += widthBytes
const overColumns = (limit: number, widthBytes: number, load: number[], body: number[], store: number[]) => [
  ...block, ...loop,
  ...get(VM.c), ...get(limit), ...i32geu, ...brIf(1),
  ...load, ...overRows(body), ...store,
  ...get(VM.c), ...i32const(widthBytes), ...i32add, ...set(VM.c),
  ...br(0), ...end, ...end,
];
const outAtC = [...get(VM.out), ...get(VM.c), ...i32add];
const vecMatBody = [
  ...byteCounts(VM.n, VM.nb, VM.n4b),
  ...get(VM.n), ...i32const(-32), ...i32and, ...i32const(2), ...i32shl, ...set(VM.n32b),
  ...compact,
  ...i32const(0), ...set(VM.c),
  ...overColumns(VM.n32b, 128,
    WIDE.flatMap((t) => [...outAtC, ...v128loadAt(16 * t), ...set(VM.acc + t)]),
    [...get(VM.s), ...splat, ...set(VM.sv), ...WIDE.flatMap((t) => [...get(VM.acc + t), ...get(VM.sv), ...get(VM.wp), ...v128loadAt(16 * t), ...vmul, ...vadd, ...set(VM.acc + t)])],
    WIDE.flatMap((t) => [...outAtC, ...get(VM.acc + t), ...v128storeAt(16 * t)])),
  ...overColumns(VM.n4b, 16,
    [...outAtC, ...v128load, ...set(VM.acc)],
    [...get(VM.acc), ...get(VM.s), ...splat, ...get(VM.wp), ...v128load, ...vmul, ...vadd, ...set(VM.acc)],
    [...outAtC, ...get(VM.acc), ...v128store]),
  ...overColumns(VM.nb, 4,
    [...outAtC, ...f32load, ...set(VM.sum)],
    [...get(VM.sum), ...get(VM.s), ...get(VM.wp), ...f32load, ...fmul, ...fadd, ...set(VM.sum)],
    [...outAtC, ...get(VM.sum), ...f32store]),
];

const params = new Array(8).fill(I32);
const dotLocals: [number, number][] = [[5, I32], [1, F32], [4, V128]];
const EXPERT_FUNCTIONS = [
  { name: 'axpyRows', params, locals: [[4, I32], [1, F32], [1, V128]] as [number, number][], body: axpyBody },
  { name: 'dotRows', params, locals: dotLocals, body: dotBody },
  { name: 'dotRowsMasked', params: new Array(10).fill(I32), locals: dotLocals, body: dotMaskedBody },
  { name: 'vecMatAcc', params: new Array(8).fill(I32), locals: [[10, I32], [2, F32], [9, V128]] as [number, number][], body: vecMatBody },
];
export const EXPERT_WASM = assembleModule(EXPERT_FUNCTIONS);
/** 2 GiB at most: the address space a shared memory reserves up front */
export const SHARED_MAX_PAGES = 32768;
const EXPERT_WASM_SHARED = assembleModule(EXPERT_FUNCTIONS, { sharedMaxPages: SHARED_MAX_PAGES });

export type RowsFn = (dst: number, dstStep: number, src: number, srcStep: number, scales: number, scaleStep: number, k: number, n: number) => void;

export type MaskedRowsFn = (dst: number, dstStep: number, src: number, srcStep: number, b: number, bStep: number, k: number, n: number, mask: number, maskStep: number) => void;

export type VecMatFn = (out: number, x: number, xStep: number, w: number, wStride: number, k: number, n: number, scratch: number) => void;

export interface ExpertSimd {
  memory: WebAssembly.Memory;
  axpyRows: RowsFn;
  dotRows: RowsFn;
  dotRowsMasked: MaskedRowsFn;
  vecMatAcc: VecMatFn;
}

/**
 * An instance on `memory` (a fresh private one when omitted; a shared one from newSharedMemory() for kernels that a
 * worker thread also runs on), or null where WebAssembly SIMD is unavailable.
 */
export function instantiateExpertSimd(memory?: WebAssembly.Memory): ExpertSimd | null {
  const shared = memory !== undefined && typeof SharedArrayBuffer !== 'undefined' && memory.buffer instanceof SharedArrayBuffer;
  const bytes = shared ? EXPERT_WASM_SHARED : EXPERT_WASM;
  if (!WebAssembly.validate(bytes)) return null;
  const mem = memory ?? new WebAssembly.Memory({ initial: 16 });
  const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory: mem } });
  const e = instance.exports;
  return { memory: mem, axpyRows: e.axpyRows as RowsFn, dotRows: e.dotRows as RowsFn, dotRowsMasked: e.dotRowsMasked as MaskedRowsFn, vecMatAcc: e.vecMatAcc as VecMatFn };
}

export function newSharedMemory(): WebAssembly.Memory {
  return new WebAssembly.Memory({ initial: 16, maximum: SHARED_MAX_PAGES, shared: true });
}
