/**
 * Hand-assembled WebAssembly SIMD loops for the inner products of an inner-product model (BPR) between n rows of one
 * table, each meeting `width` rows of the other picked by index (models/inner-products.ts: RRD's users × their sampled
 * items, IR-RRD's items × their sampled users). Named for the item side (idx: [n × width] user ids, items: [n] item
 * ids, tables [rows × d]); the user side passes the tables the other way round:
 *
 *   scoresByItem(out, U, idx, V, items, n, width, d)     out[r·width + w] = U[idx[r·width + w]] · V[items[r]]
 *   userGradByItem(GU, idx, V, items, g, n, width, d)    GU[idx[r·width + w]] += g[r·width + w] · V[items[r]]
 *   itemGradByItem(GV, U, idx, items, g, n, width, d)    GV[items[r]] += g[r·width + w] · U[idx[r·width + w]]
 *
 * Pointers in bytes, d any float count (f32x4 body, scalar tail); zero g entries are skipped. One call covers a whole
 * batch: a call per item cost more in the JS-to-wasm wrapper than its arithmetic. A scalar JS loop over CiteULike's
 * ~880k (user, item) pairs a batch took ~0.6 s for scores and gradients; these loops take a fraction of it.
 */
import {
  F32, I32, V128, assembleModule, block, br, brIf, end, f32const, f32load, f32store, fadd, fmul, fne, get, i32add, i32and, i32const, i32geu, i32mul,
  i32shl, i32loadAt, ifThen, lane, loop, set, splat, tee, v128load, v128store, v128zero, vadd, vmul,
} from './asm.js';

const plus = (p: number, j: number) => [...get(p), ...get(j), ...i32add];
const bump = (p: number, bytes: number) => [...get(p), ...i32const(bytes), ...i32add, ...set(p)];
/** for (i = 0; i < k; i++) { body; } */
const times = (i: number, k: number, body: number[]) => [
  ...i32const(0), ...set(i),
  ...block, ...loop,
  ...get(i), ...get(k), ...i32geu, ...brIf(1),
  ...body,
  ...get(i), ...i32const(1), ...i32add, ...set(i),
  ...br(0), ...end, ...end,
];
/** while (j < limit) { body; j += step; } with j in bytes */
const cols = (j: number, limit: number, step: number, body: number[]) => [
  ...block, ...loop,
  ...get(j), ...get(limit), ...i32geu, ...brIf(1),
  ...body,
  ...bump(j, step),
  ...br(0), ...end, ...end,
];

// params 0 p0 1 p1 2 p2 3 p3 4 p4 5 n 6 width 7 d; locals 8 r 9 w 10 j 11 nb 12 n4b 13 rowBytes 14 itemRow 15 userRow
// (i32) 16 s (f32) 17 acc (v128). Every function walks idx (and out or g) 4 bytes per pair and items 4 bytes per item.
const L = { n: 5, width: 6, d: 7, r: 8, w: 9, j: 10, nb: 11, n4b: 12, rowBytes: 13, itemRow: 14, userRow: 15, s: 16, acc: 17 };
const prologue = [
  ...get(L.d), ...i32const(2), ...i32shl, ...tee(L.rowBytes), ...set(L.nb),
  ...get(L.d), ...i32const(-4), ...i32and, ...i32const(2), ...i32shl, ...set(L.n4b),
];
/** base + (i32 at ptr) · rowBytes */
const rowOf = (base: number, ptr: number) => [...get(base), ...get(ptr), ...i32loadAt(0), ...get(L.rowBytes), ...i32mul, ...i32add];
/** for every item r: itemRow = its row; for every pair w of it: pairBody; then advance the pair pointers */
const byItem = (itemBase: number, items: number, pairPtrs: number[], pairBody: number[]) => [
  ...prologue,
  ...times(L.r, L.n, [
    ...rowOf(itemBase, items), ...set(L.itemRow),
    ...times(L.w, L.width, [...pairBody, ...pairPtrs.flatMap((p) => bump(p, 4))]),
    ...bump(items, 4),
  ]),
];

// scoresByItem: 0 out 1 U 2 idx 3 V 4 items
const scoresBody = byItem(3, 4, [0, 2], [
  ...rowOf(1, 2), ...set(L.userRow),
  ...v128zero, ...set(L.acc), ...i32const(0), ...set(L.j),
  ...cols(L.j, L.n4b, 16, [...get(L.acc), ...plus(L.userRow, L.j), ...v128load, ...plus(L.itemRow, L.j), ...v128load, ...vmul, ...vadd, ...set(L.acc)]),
  ...get(L.acc), ...lane(0), ...get(L.acc), ...lane(1), ...fadd, ...get(L.acc), ...lane(2), ...get(L.acc), ...lane(3), ...fadd, ...fadd, ...set(L.s),
  ...cols(L.j, L.nb, 4, [...get(L.s), ...plus(L.userRow, L.j), ...f32load, ...plus(L.itemRow, L.j), ...f32load, ...fmul, ...fadd, ...set(L.s)]),
  ...get(0), ...get(L.s), ...f32store,
]);

/** dst[0..d) += s · src[0..d), if the pair's g (at gPtr) is nonzero */
const axpy = (gPtr: number, dst: number, src: number) => [
  ...get(gPtr), ...f32load, ...tee(L.s), ...f32const(0), ...fne,
  ...ifThen,
  ...get(L.s), ...splat, ...set(L.acc), ...i32const(0), ...set(L.j),
  ...cols(L.j, L.n4b, 16, [...plus(dst, L.j), ...plus(dst, L.j), ...v128load, ...get(L.acc), ...plus(src, L.j), ...v128load, ...vmul, ...vadd, ...v128store]),
  ...cols(L.j, L.nb, 4, [...plus(dst, L.j), ...plus(dst, L.j), ...f32load, ...get(L.s), ...plus(src, L.j), ...f32load, ...fmul, ...fadd, ...f32store]),
  ...end,
];
// userGradByItem: 0 GU 1 idx 2 V 3 items 4 g
const userGradBody = byItem(2, 3, [1, 4], [...rowOf(0, 1), ...set(L.userRow), ...axpy(4, L.userRow, L.itemRow)]);
// itemGradByItem: 0 GV 1 U 2 idx 3 items 4 g
const itemGradBody = byItem(0, 3, [2, 4], [...rowOf(1, 2), ...set(L.userRow), ...axpy(4, L.itemRow, L.userRow)]);

const locals: [number, number][] = [[8, I32], [1, F32], [1, V128]];
const params = new Array(8).fill(I32);
export const INNER_PRODUCTS_WASM = assembleModule([
  { name: 'scoresByItem', params, locals, body: scoresBody },
  { name: 'userGradByItem', params, locals, body: userGradBody },
  { name: 'itemGradByItem', params, locals, body: itemGradBody },
]);

export type ByItemFn = (p0: number, p1: number, p2: number, p3: number, p4: number, n: number, width: number, d: number) => void;

export interface InnerProductsSimd {
  memory: WebAssembly.Memory;
  scoresByItem: ByItemFn;
  userGradByItem: ByItemFn;
  itemGradByItem: ByItemFn;
  /** grows the memory to at least `bytes`; views of the old buffer are detached when it grows */
  reserve(bytes: number): void;
}

let instance: InnerProductsSimd | null | undefined;

/** The kernel on a private memory (one per process), or null where WebAssembly SIMD is unavailable. */
export function innerProductsSimd(): InnerProductsSimd | null {
  if (instance !== undefined) return instance;
  if (!WebAssembly.validate(INNER_PRODUCTS_WASM)) return (instance = null);
  const memory = new WebAssembly.Memory({ initial: 16 });
  const e = new WebAssembly.Instance(new WebAssembly.Module(INNER_PRODUCTS_WASM), { env: { memory } }).exports;
  instance = {
    memory,
    scoresByItem: e.scoresByItem as ByItemFn,
    userGradByItem: e.userGradByItem as ByItemFn,
    itemGradByItem: e.itemGradByItem as ByItemFn,
    reserve: (bytes) => {
      const missing = bytes - memory.buffer.byteLength;
      if (missing > 0) memory.grow(Math.ceil(missing / 65536));
    },
  };
  return instance;
}

/** Float offsets (16-byte aligned) of consecutive arrays of the given float counts, and the bytes they need. */
export function layout(sizes: number[]): { at: number[]; bytes: number } {
  const at: number[] = [];
  let floats = 0;
  for (const size of sizes) {
    at.push(floats);
    floats += (size + 3) & ~3;
  }
  return { at, bytes: floats * 4 };
}
