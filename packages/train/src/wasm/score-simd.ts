/**
 * Hand-assembled WebAssembly SIMD kernels for scoring dot-product models, each summing every score in dimension
 * order (s = ((q₀k₀ + q₁k₁) + q₂k₂) + …, a float32 rounding after each multiply and each add): the order in which
 * tfjs-wasm's matMul and batched matMul sum, so that the scores, and every rank and top-N list built on them, are
 * the floats the tfjs evaluation path gave. The SIMD lanes run over different keys, never over the dimension.
 *
 *   gemm4x8(out, outStride, q4, kt, ktStride, cols, d)
 *     out[r][c] = Σ_k q_r[k] · kt[k][c] for the 4 rows r of a packed group and columns c < cols (cols % 8 == 0).
 *     q4: the group's rows interleaved, q4[4k + r] = q_r[k]; kt: the keys transposed, row k at kt + k·ktStride.
 *     Rows of out at out + r·outStride. A 4 × 8 register tile: per k two loads of keys, four splats of queries.
 *   dotGather(out, u, table, ids, count, d)
 *     out[j] = Σ_k u[k] · table[ids[j]][k] for j < count (count % 4 == 0): scores of gathered rows (row-major,
 *     d floats each). Eight rows at a time as two groups of four (a last group of four alone); each group's four rows are transposed 4 × 4 in
 *     registers so that a lane holds one row and the sum runs down the dimension.
 *   dotBucketsRank(counts, 0, table, entries, numBuckets, d, items, buckets, shift, targetScores, targetIds)
 *     dotGather for many rows u at once: bucket b = (item i, n) scores row i of `items` against table[e >> shift] for
 *     its n entries e (n % 4 == 0) and, per user e >> shift, counts the candidates that beat its two targets: the
 *     sampled evaluation's item-major pass in one call.
 *   gatherRows(dst, table, ids, count, rowBytes)
 *     copies rows table[ids[j]] (rowBytes each, a multiple of 16) to dst, one after another: independent loads, so
 *     many cache misses are in flight at once; dotGather then reads the rows from cache. For a random gather from a
 *     table larger than the cache, scoring the rows where they lie waits on one miss after another.
 *   filterAbove(src, n, thr, outIdx, countPtr)
 *     writes the indices j < n with src[j] > thr (never NaN) to outIdx, and their count to countPtr: the top-N
 *     selection then looks only at the few scores that beat its current N-th best. 16 floats per test.
 *
 * Pointers and strides are in bytes.
 */
import {
  F32, I32, V128, assembleModule, block, br, brIf, end, f32load, f32store, fgt, f32loadAt, get, i32add, i32and, i32const, i32geu, i32loadAt, i32mul, i32shl, i32storeAt, ifThen,
  lane, loop, set, simd, splat, tee, uleb, v128loadAt, v128storeAt, v128zero, vadd, vmul,
} from './asm.js';

/** v128.load32_splat at a constant byte offset */
const load32Splat = (offset: number): number[] => [...simd(0x09), 0x02, ...uleb(offset)];
const shuffle = (lanes: number[]): number[] => [...simd(0x0d), ...lanes];
const replaceLane = (k: number): number[] => [...simd(0x20), k];
const f32lanes = (...l: number[]): number[] => l.flatMap((x) => [4 * x, 4 * x + 1, 4 * x + 2, 4 * x + 3]);
// float lanes of the concatenation a ++ b (b's lanes are 4..7)
const INTERLEAVE_LO = f32lanes(0, 4, 1, 5);
const INTERLEAVE_HI = f32lanes(2, 6, 3, 7);
const HALVES_LO = f32lanes(0, 1, 4, 5);
const HALVES_HI = f32lanes(2, 3, 6, 7);
const incr = (local: number, by: number): number[] => [...get(local), ...i32const(by), ...i32add, ...set(local)];

// gemm4x8: params 0 out 1 outStride 2 q4 3 kt 4 ktStride 5 cols 6 d;
// locals 7 c (column byte offset) 8 colEnd 9 k 10 qp 11 kp 12 op (i32) 13 b0 14 b1 15 a 16-23 acc (v128)
const G = { out: 0, outStride: 1, q4: 2, kt: 3, ktStride: 4, cols: 5, d: 6, c: 7, colEnd: 8, k: 9, qp: 10, kp: 11, op: 12, b0: 13, b1: 14, a: 15, acc: 16 };
const ROWS = [0, 1, 2, 3];
function gemmBodyOf(mul: number[], add: number[]): number[] {
  return [
  ...get(G.cols), ...i32const(2), ...i32shl, ...set(G.colEnd),
  ...block, ...loop,
  ...get(G.c), ...get(G.colEnd), ...i32geu, ...brIf(1),
  ...ROWS.flatMap((r) => [...v128zero, ...set(G.acc + 2 * r), ...v128zero, ...set(G.acc + 2 * r + 1)]),
  ...i32const(0), ...set(G.k), ...get(G.q4), ...set(G.qp), ...get(G.kt), ...get(G.c), ...i32add, ...set(G.kp),
  ...block, ...loop,
  ...get(G.k), ...get(G.d), ...i32geu, ...brIf(1),
  ...get(G.kp), ...v128loadAt(0), ...set(G.b0),
  ...get(G.kp), ...v128loadAt(16), ...set(G.b1),
  ...ROWS.flatMap((r) => [
    ...get(G.qp), ...load32Splat(4 * r), ...set(G.a),
    ...get(G.acc + 2 * r), ...get(G.a), ...get(G.b0), ...mul, ...add, ...set(G.acc + 2 * r),
    ...get(G.acc + 2 * r + 1), ...get(G.a), ...get(G.b1), ...mul, ...add, ...set(G.acc + 2 * r + 1),
  ]),
  ...incr(G.qp, 16),
  ...get(G.kp), ...get(G.ktStride), ...i32add, ...set(G.kp),
  ...incr(G.k, 1),
  ...br(0), ...end, ...end,
  ...get(G.out), ...get(G.c), ...i32add, ...set(G.op),
  ...ROWS.flatMap((r) => [
    ...get(G.op), ...get(G.acc + 2 * r), ...v128storeAt(0),
    ...get(G.op), ...get(G.acc + 2 * r + 1), ...v128storeAt(16),
    ...(r < 3 ? [...get(G.op), ...get(G.outStride), ...i32add, ...set(G.op)] : []),
  ]),
  ...incr(G.c, 32),
  ...br(0), ...end, ...end,
];
}
const gemmBody = gemmBodyOf(vmul, vadd);

// dotGather: params 0 out 1 u 2 table 3 ids 4 count 5 d; dotBucketsRank adds 6 items 7 buckets 8 shift (and uses count
// as the number of buckets). Locals after the parameters: j (byte offset into ids and out) jEnd k (byte offset
// into a row) k16End kEnd rowBytes p0..p7 (i32), rows A..H, T, acc (v128)
interface DotLocals { out: number; u: number; table: number; ids: number; count: number; d: number; items: number; buckets: number; targets: number; b: number; bEnd: number; j: number; jEnd: number; k: number; k16End: number; kEnd: number; rowBytes: number; p: number; row: number; t: number; acc: number }
const dotLocals = (params: number): DotLocals => {
  const j = params;
  return { out: 0, u: 1, table: 2, ids: 3, count: 4, d: 5, items: 6, buckets: 7, targets: 8, b: j + 14, bEnd: j + 15, j, jEnd: j + 1, k: j + 2, k16End: j + 3, kEnd: j + 4, rowBytes: j + 5, p: j + 6, row: j + 16, t: j + 24, acc: j + 32 };
};
// one 4 × 4 block of group g at dimension byte offset k: transpose and accumulate, lane r = row r of the group
const transposeStep = (L: DotLocals, g: number): number[] => {
  const A = L.row + 4 * g;
  const T = L.t + 4 * g;
  return [
    ...[0, 1, 2, 3].flatMap((r) => [...get(L.p + 4 * g + r), ...get(L.k), ...i32add, ...v128loadAt(0), ...set(A + r)]),
    ...get(A), ...get(A + 1), ...shuffle(INTERLEAVE_LO), ...set(T),
    ...get(A + 2), ...get(A + 3), ...shuffle(INTERLEAVE_LO), ...set(T + 1),
    ...get(A), ...get(A + 1), ...shuffle(INTERLEAVE_HI), ...set(T + 2),
    ...get(A + 2), ...get(A + 3), ...shuffle(INTERLEAVE_HI), ...set(T + 3),
  ];
};
const accumulate = (L: DotLocals, g: number, column: number[], uOffset: number): number[] => [
  ...get(L.acc + g), ...column, ...get(L.u), ...get(L.k), ...i32add, ...load32Splat(uOffset), ...vmul, ...vadd, ...set(L.acc + g),
];
const columnsOf = (L: DotLocals, g: number): number[][] => {
  const T = L.t + 4 * g;
  return [
    [...get(T), ...get(T + 1), ...shuffle(HALVES_LO)],
    [...get(T), ...get(T + 1), ...shuffle(HALVES_HI)],
    [...get(T + 2), ...get(T + 3), ...shuffle(HALVES_LO)],
    [...get(T + 2), ...get(T + 3), ...shuffle(HALVES_HI)],
  ];
};
const tailColumn = (L: DotLocals, g: number): number[] => [
  ...get(L.p + 4 * g), ...get(L.k), ...i32add, ...f32load, ...splat,
  ...[1, 2, 3].flatMap((r) => [...get(L.p + 4 * g + r), ...get(L.k), ...i32add, ...f32load, ...replaceLane(r)]),
];
const i32gtu = [0x4b];
// rows in groups of 4·groups.length per iteration while that many are left; rowOf(entry) maps an entry of ids to its
// table row, store(g) puts group g's four scores
const rowsLoop = (L: DotLocals, groups: number[], store: (g: number) => number[], rowOf: number[] = []): number[] => [
  ...block, ...loop,
  ...get(L.j), ...i32const(16 * groups.length), ...i32add, ...get(L.jEnd), ...i32gtu, ...brIf(1),
  ...groups.flatMap((g) => [0, 1, 2, 3].flatMap((r) => [
    ...get(L.ids), ...get(L.j), ...i32add, ...i32loadAt(16 * g + 4 * r), ...rowOf, ...get(L.rowBytes), ...i32mul, ...get(L.table), ...i32add, ...set(L.p + 4 * g + r),
  ])),
  ...groups.flatMap((g) => [...v128zero, ...set(L.acc + g)]),
  ...i32const(0), ...set(L.k),
  ...block, ...loop,
  ...get(L.k), ...get(L.k16End), ...i32geu, ...brIf(1),
  ...groups.flatMap((g) => transposeStep(L, g)),
  // the two groups' chains alternate so that neither waits on its own previous add
  ...[0, 1, 2, 3].flatMap((c) => groups.flatMap((g) => accumulate(L, g, columnsOf(L, g)[c], 4 * c))),
  ...incr(L.k, 16),
  ...br(0), ...end, ...end,
  ...block, ...loop,
  ...get(L.k), ...get(L.kEnd), ...i32geu, ...brIf(1),
  ...groups.flatMap((g) => accumulate(L, g, tailColumn(L, g), 0)),
  ...incr(L.k, 4),
  ...br(0), ...end, ...end,
  ...groups.flatMap(store),
  ...incr(L.j, 16 * groups.length),
  ...br(0), ...end, ...end,
];
const dimensionCounts = (L: DotLocals): number[] => [
  ...get(L.d), ...i32const(2), ...i32shl, ...tee(L.rowBytes), ...set(L.kEnd),
  ...get(L.d), ...i32const(-4), ...i32and, ...i32const(2), ...i32shl, ...set(L.k16End),
];
const DG = dotLocals(6);
const dotBody: number[] = [
  ...dimensionCounts(DG),
  ...get(DG.count), ...i32const(2), ...i32shl, ...set(DG.jEnd),
  ...[[0, 1], [0]].flatMap((groups) => rowsLoop(DG, groups, (g) => [...get(DG.out), ...get(DG.j), ...i32add, ...get(DG.acc + g), ...v128storeAt(16 * g)])),
];

const i32shrU32 = [0x76];

// dotBucketsRank: for each of `count` buckets (item id, entries) at `buckets`, the item's row (row-major `items`)
// against the rows table[e >> shift] of its entries e (one bucket's after another; a multiple of 4 per bucket), each
// score counted, not stored: params 0 counts 1 u 2 table 3 entries 4 numBuckets 5 d 6 items 7 buckets 8 shift
// 9 targetScores 10 targetIds. For an entry e = (lu << shift) | slot with
// slot ≥ 2 (a candidate) of item i scoring s, counts[2·lu + w] += s > t_w || (s == t_w && i < id_w) for w = 0, 1
// (the test and the validation target of user lu: targetScores[2·lu + w], targetIds[2·lu + w]): the ranks of
// core's rankOf, less one. Extra locals: item, e, off (i32), s (f32).
const DR = dotLocals(11);
const R = { counts: 0, targetScores: 9, targetIds: 10, item: DR.acc + 2, e: DR.acc + 3, off: DR.acc + 4, s: DR.acc + 5 };
const f32eq = [0x5b];
const i32ltS = [0x48];
const i32or = [0x72];
const i32sub = [0x6b];
const i32geS = [0x4e];
// counts[off + 4w] += s > target_w || (s == target_w && item < id_w)
const countTarget = (w: number): number[] => [
  ...get(R.counts), ...get(R.off), ...i32add,
  ...get(R.counts), ...get(R.off), ...i32add, ...i32loadAt(4 * w),
  ...get(R.s), ...get(R.targetScores), ...get(R.off), ...i32add, ...f32loadAt(4 * w), ...fgt,
  ...get(R.s), ...get(R.targetScores), ...get(R.off), ...i32add, ...f32loadAt(4 * w), ...f32eq,
  ...get(R.item), ...get(R.targetIds), ...get(R.off), ...i32add, ...i32loadAt(4 * w), ...i32ltS, ...i32and, ...i32or,
  ...i32add, ...i32storeAt(4 * w),
];
const countStore = (g: number): number[] => [0, 1, 2, 3].flatMap((l) => [
  ...get(DR.ids), ...get(DR.j), ...i32add, ...i32loadAt(16 * g + 4 * l), ...set(R.e),
  // slot = e − ((e >> shift) << shift) ≥ 2: a candidate (slots 0 and 1 are the targets themselves)
  ...get(R.e), ...get(R.e), ...get(DR.targets), ...i32shrU32, ...get(DR.targets), ...i32shl, ...i32sub, ...i32const(2), ...i32geS,
  ...ifThen,
  ...get(R.e), ...get(DR.targets), ...i32shrU32, ...i32const(3), ...i32shl, ...set(R.off),
  ...get(DR.acc + g), ...lane(l), ...set(R.s),
  ...countTarget(0), ...countTarget(1),
  ...end,
]);
const bucketsRankBody: number[] = [
  ...dimensionCounts(DR),
  ...get(DR.count), ...i32const(3), ...i32shl, ...get(DR.buckets), ...i32add, ...set(DR.bEnd),
  ...get(DR.buckets), ...set(DR.b),
  ...block, ...loop,
  ...get(DR.b), ...get(DR.bEnd), ...i32geu, ...brIf(1),
  ...get(DR.b), ...i32loadAt(0), ...tee(R.item), ...get(DR.rowBytes), ...i32mul, ...get(DR.items), ...i32add, ...set(DR.u),
  ...get(DR.j), ...get(DR.b), ...i32loadAt(4), ...i32const(2), ...i32shl, ...i32add, ...set(DR.jEnd),
  ...[[0, 1], [0]].flatMap((groups) => rowsLoop(DR, groups, countStore, [...get(DR.targets), ...i32shrU32])),
  ...incr(DR.b, 8),
  ...br(0), ...end, ...end,
];

// filterAbove / filterAboveI32: params 0 src 1 n (i32) 2 thr (f32 / i32) 3 outIdx 4 countPtr (i32);
// locals 5 i (byte offset) 6 end16 7 endB 8 cnt (i32) 9 s (f32 / i32) 10 t 11-14 v (v128)
const FA = { src: 0, n: 1, thr: 2, outIdx: 3, countPtr: 4, i: 5, end16: 6, endB: 7, cnt: 8, s: 9, t: 10, v: 11 };
const or = simd(0x50);
const anyTrue = simd(0x53);
const i32shrU = [0x76];
interface LaneOps { gt: number[]; scalarGt: number[]; splat: number[]; extract: (l: number) => number[]; load: number[] }
const F32_OPS: LaneOps = { gt: simd(0x44), scalarGt: fgt, splat, extract: lane, load: f32load };
const I32_OPS: LaneOps = { gt: simd(0x3b), scalarGt: [0x4a], splat: simd(0x11), extract: (l) => [...simd(0x1b), l], load: i32loadAt(0) };
function filterBodyOf(ops: LaneOps): number[] {
  // if s > thr: outIdx[cnt++] = index
  const keepIf = (index: number[]): number[] => [
    ...get(FA.s), ...get(FA.thr), ...ops.scalarGt, ...ifThen,
    ...get(FA.outIdx), ...get(FA.cnt), ...i32const(2), ...i32shl, ...i32add, ...index, ...i32storeAt(0),
    ...incr(FA.cnt, 1),
    ...end,
  ];
  return [
    ...get(FA.thr), ...ops.splat, ...set(FA.t),
    ...get(FA.n), ...i32const(-16), ...i32and, ...i32const(2), ...i32shl, ...set(FA.end16),
    ...get(FA.n), ...i32const(2), ...i32shl, ...set(FA.endB),
    ...block, ...loop,
    ...get(FA.i), ...get(FA.end16), ...i32geu, ...brIf(1),
    ...[0, 1, 2, 3].flatMap((q) => [...get(FA.src), ...get(FA.i), ...i32add, ...v128loadAt(16 * q), ...set(FA.v + q)]),
    ...get(FA.v), ...get(FA.t), ...ops.gt, ...get(FA.v + 1), ...get(FA.t), ...ops.gt, ...or,
    ...get(FA.v + 2), ...get(FA.t), ...ops.gt, ...get(FA.v + 3), ...get(FA.t), ...ops.gt, ...or, ...or,
    ...anyTrue, ...ifThen,
    ...[0, 1, 2, 3].flatMap((q) => [0, 1, 2, 3].flatMap((l) => [
      ...get(FA.v + q), ...ops.extract(l), ...set(FA.s),
      ...keepIf([...get(FA.i), ...i32const(2), ...i32shrU, ...i32const(4 * q + l), ...i32add]),
    ])),
    ...end,
    ...incr(FA.i, 64),
    ...br(0), ...end, ...end,
    ...block, ...loop,
    ...get(FA.i), ...get(FA.endB), ...i32geu, ...brIf(1),
    ...get(FA.src), ...get(FA.i), ...i32add, ...ops.load, ...set(FA.s),
    ...keepIf([...get(FA.i), ...i32const(2), ...i32shrU]),
    ...incr(FA.i, 4),
    ...br(0), ...end, ...end,
    ...get(FA.countPtr), ...get(FA.cnt), ...i32storeAt(0),
  ];
}

// gemmI16: gemm4x8's tile over int16 pairs: params 0 out 1 outStride 2 q16 3 k16 4 k16Stride 5 cols 6 pairs;
// i32x4.dot_i16x8_s multiplies a splatted (q[2p], q[2p+1]) with four keys' (k[2p], k[2p+1]) and adds each pair
const dotI16 = simd(0xba);
const addI32 = simd(0xae);
const gemmI16Body = gemmBodyOf(dotI16, addI32);

// gatherRows: params 0 dst 1 table 2 ids 3 count 4 rowBytes; locals 5 j 6 src 7 k 8 end (i32)
const GR = { dst: 0, table: 1, ids: 2, count: 3, rowBytes: 4, j: 5, src: 6, k: 7, end: 8 };
const gatherBody: number[] = [
  ...get(GR.count), ...i32const(2), ...i32shl, ...set(GR.end),
  ...block, ...loop,
  ...get(GR.j), ...get(GR.end), ...i32geu, ...brIf(1),
  ...get(GR.ids), ...get(GR.j), ...i32add, ...i32loadAt(0), ...get(GR.rowBytes), ...i32mul, ...get(GR.table), ...i32add, ...set(GR.src),
  ...i32const(0), ...set(GR.k),
  ...block, ...loop,
  ...get(GR.k), ...get(GR.rowBytes), ...i32geu, ...brIf(1),
  ...get(GR.dst), ...get(GR.k), ...i32add, ...get(GR.src), ...get(GR.k), ...i32add, ...v128loadAt(0), ...v128storeAt(0),
  ...incr(GR.k, 16),
  ...br(0), ...end, ...end,
  ...get(GR.dst), ...get(GR.rowBytes), ...i32add, ...set(GR.dst),
  ...incr(GR.j, 4),
  ...br(0), ...end, ...end,
];

const FUNCTIONS = [
  { name: 'gemm4x8', params: new Array(7).fill(I32), locals: [[6, I32], [11, V128]] as [number, number][], body: gemmBody },
  { name: 'dotGather', params: new Array(6).fill(I32), locals: [[16, I32], [18, V128]] as [number, number][], body: dotBody },
  { name: 'dotBucketsRank', params: new Array(11).fill(I32), locals: [[16, I32], [18, V128], [3, I32], [1, F32]] as [number, number][], body: bucketsRankBody },
  { name: 'filterAbove', params: [I32, I32, F32, I32, I32], locals: [[4, I32], [1, F32], [5, V128]] as [number, number][], body: filterBodyOf(F32_OPS) },
  { name: 'filterAboveI32', params: [I32, I32, I32, I32, I32], locals: [[4, I32], [1, I32], [5, V128]] as [number, number][], body: filterBodyOf(I32_OPS) },
  { name: 'gatherRows', params: new Array(5).fill(I32), locals: [[4, I32]] as [number, number][], body: gatherBody },
  { name: 'gemmI16', params: new Array(7).fill(I32), locals: [[6, I32], [11, V128]] as [number, number][], body: gemmI16Body },
];

/** 4 GiB at most: the address space a shared memory reserves up front */
export const SCORE_MAX_PAGES = 65536;
const SCORE_WASM_SHARED = assembleModule(FUNCTIONS, { sharedMaxPages: SCORE_MAX_PAGES });
export const SCORE_WASM = assembleModule(FUNCTIONS);

export type Gemm4x8Fn = (out: number, outStride: number, q4: number, kt: number, ktStride: number, cols: number, d: number) => void;
export type DotGatherFn = (out: number, u: number, table: number, ids: number, count: number, d: number) => void;
export type FilterAboveFn = (src: number, n: number, thr: number, outIdx: number, countPtr: number) => void;
export type DotBucketsRankFn = (counts: number, unused: number, table: number, entries: number, numBuckets: number, d: number, items: number, buckets: number, shift: number, targetScores: number, targetIds: number) => void;
export type GatherRowsFn = (dst: number, table: number, ids: number, count: number, rowBytes: number) => void;
export type GemmI16Fn = (out: number, outStride: number, q16: number, k16: number, k16Stride: number, cols: number, pairs: number) => void;

export interface ScoreSimd {
  memory: WebAssembly.Memory;
  gemm4x8: Gemm4x8Fn;
  dotGather: DotGatherFn;
  filterAbove: FilterAboveFn;
  filterAboveI32: FilterAboveFn;
  gemmI16: GemmI16Fn;
  gatherRows: GatherRowsFn;
  dotBucketsRank: DotBucketsRankFn;
}

/** The kernels bound to `memory` (shared or not), or null where WebAssembly SIMD is unavailable. */
export function instantiateScoreSimd(memory: WebAssembly.Memory): ScoreSimd | null {
  const shared = typeof SharedArrayBuffer !== 'undefined' && memory.buffer instanceof SharedArrayBuffer;
  const bytes = shared ? SCORE_WASM_SHARED : SCORE_WASM;
  if (!WebAssembly.validate(bytes)) return null;
  const e = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory } }).exports;
  return {
    memory, gemm4x8: e.gemm4x8 as Gemm4x8Fn, dotGather: e.dotGather as DotGatherFn, filterAbove: e.filterAbove as FilterAboveFn,
    filterAboveI32: e.filterAboveI32 as FilterAboveFn, gemmI16: e.gemmI16 as GemmI16Fn, gatherRows: e.gatherRows as GatherRowsFn, dotBucketsRank: e.dotBucketsRank as DotBucketsRankFn,
  };
}

