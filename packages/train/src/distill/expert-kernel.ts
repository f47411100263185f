/**
 * The sparse DE mixture as one fused kernel per expert set: for the routed (entity, expert) pairs,
 *   recon[e] = Σ_pairs w_p · (relu(hs[e]·W1_m + b1_m)·W2_m + b2_m)
 * and its exact gradients with respect to hs, the pair weights and every expert parameter, computed by the
 * WebAssembly SIMD row loops of wasm/expert-simd.ts on the kernel's own memory.
 *
 * Why: at low temperature each entity keeps one or two experts, so the tfjs version runs ~30 small products per
 * layer and direction, whose per-op and packing overhead cost several times their arithmetic (73 ms of DE
 * forward+backward per CiteULike batch, 32 ms of it in BatchMatMul). Row loops over the pairs, sorted by expert so
 * that an expert's weights stay in cache, have no per-op cost and skip the ReLU's zeros.
 *
 * With an ExpertLane (distill/expert-lane.ts) the kernel's memory is shared with a worker thread, which runs the second
 * half of the pairs (split at an expert boundary) while the calling thread runs the first; the ordered sums after the
 * join make the floats the same as on one thread (see PairRange).
 */
import { instantiateExpertSimd, newSharedMemory, type ExpertSimd } from '../wasm/expert-simd.js';
import type { ExpertLane } from './expert-lane.js';
import { NATIVE_LAYOUT_KEYS, defaultMixtureLoops, nativeMixture, type MixtureLoops } from './native-mixture.js';

export interface MixtureInputs {
  hs: Float32Array; // [E, ds]
  w1: Float32Array; // [M, ds, h]
  b1: Float32Array; // [M, h]
  w2: Float32Array; // [M, h, dt]
  b2: Float32Array; // [M, dt]
  pairEntity: Int32Array; // [P], best sorted by expert
  pairExpert: Int32Array; // [P]
  pairWeight: Float32Array; // [P]
  numEntities: number;
}

export interface MixtureGradients {
  hs: Float32Array;
  pairWeight: Float32Array;
  w1: Float32Array;
  b1: Float32Array;
  w2: Float32Array;
  b2: Float32Array;
}

export interface MixtureDims {
  m: number;
  ds: number;
  h: number;
  dt: number;
}

/** Float offsets (16-byte aligned) of every array for E entities and P pairs, and the floats needed in all. */
export function mixtureLayout({ m, ds, h, dt }: MixtureDims, e: number, p: number): { at: Record<string, number>; floats: number } {
  const scratch = 2 * Math.max(ds, h, p);
  const sizes: [string, number][] = [
    ['w1', m * ds * h], ['b1', m * h], ['w2', m * h * dt], ['b2', m * dt], ['hs', e * ds], ['pw', p], ['pairEntity', p], ['pairExpert', p],
    ['hidden', p * h], ['out', p * dt], ['recon', e * dt], ['dRecon', e * dt], ['dw1', m * ds * h], ['db1', m * h], ['dw2', m * h * dt],
    ['db2', m * dt], ['dhs', e * ds], ['dhsPair', p * ds], ['dpw', p], ['dO', p * dt], ['one', 1],
    // per-thread work space: the calling thread's, then a lane's
    ['dH0', h], ['scratch0', scratch], ['dH1', h], ['scratch1', scratch],
  ];
  const at: Record<string, number> = {};
  let floats = 0;
  for (const [key, size] of sizes) {
    at[key] = floats;
    floats += (size + 3) & ~3;
  }
  return { at, floats };
}

/**
 * Pairs [q0, q1) of one thread. The two threads' ranges split the pairs at an expert boundary, so every expert
 * parameter's gradient sums its pairs in one thread in pair order. What several experts add into per entity (recon,
 * dhs) the second range leaves in per-pair form (out, dhsPair), for the calling thread to add in pair order after the
 * join: the floats are the same as one thread gives.
 */
export interface PairRange {
  q0: number;
  q1: number;
  /** 0 = the calling thread (accumulates recon and dhs itself), 1 = a lane (leaves them per pair) */
  thread: 0 | 1;
}

/** The forward loops on inputs already in memory at `at`: hidden, out and (thread 0) recon. recon must be zeroed. */
export function mixtureForward(simd: ExpertSimd, { ds, h, dt }: MixtureDims, at: Record<string, number>, r: PairRange): void {
  const f = new Float32Array(simd.memory.buffer);
  const ints = new Int32Array(simd.memory.buffer);
  const { axpyRows, vecMatAcc } = simd;
  const scratch = at[`scratch${r.thread}`] * 4;
  for (let q = r.q0; q < r.q1; q++) {
    const ent = ints[at.pairEntity + q];
    const k = ints[at.pairExpert + q];
    const hid = at.hidden + q * h;
    const out = at.out + q * dt;
    f.copyWithin(hid, at.b1 + k * h, at.b1 + (k + 1) * h);
    vecMatAcc(hid * 4, (at.hs + ent * ds) * 4, 4, (at.w1 + k * ds * h) * 4, h * 4, ds, h, scratch);
    for (let j = hid; j < hid + h; j++) if (!(f[j] > 0)) f[j] = 0;
    f.copyWithin(out, at.b2 + k * dt, at.b2 + (k + 1) * dt);
    vecMatAcc(out * 4, hid * 4, 4, (at.w2 + k * h * dt) * 4, dt * 4, h, dt, scratch);
    if (r.thread === 0) axpyRows((at.recon + ent * dt) * 4, 0, out * 4, 0, (at.pw + q) * 4, 0, 1, dt);
  }
}

/** recon[e] += w_q · out_q for pairs [q0, q1), in pair order (after a lane's forward range). */
export function mixtureAddRecon(simd: ExpertSimd, { dt }: MixtureDims, at: Record<string, number>, q0: number, q1: number): void {
  const ints = new Int32Array(simd.memory.buffer);
  for (let q = q0; q < q1; q++) simd.axpyRows((at.recon + ints[at.pairEntity + q] * dt) * 4, 0, (at.out + q * dt) * 4, 0, (at.pw + q) * 4, 0, 1, dt);
}

/** dhs[e] += dhsPair_q for pairs [q0, q1), in pair order (after a lane's backward range). */
export function mixtureAddDhs(simd: ExpertSimd, { ds }: MixtureDims, at: Record<string, number>, q0: number, q1: number): void {
  const ints = new Int32Array(simd.memory.buffer);
  for (let q = q0; q < q1; q++) simd.axpyRows((at.dhs + ints[at.pairEntity + q] * ds) * 4, 0, (at.dhsPair + q * ds) * 4, 0, at.one * 4, 0, 1, ds);
}

/**
 * The backward loops for the upstream gradient already in memory at `at.dRecon`, over pairs of one range. The
 * gradient arrays must be zeroed first (zeroGradients).
 */
export function mixtureBackward(simd: ExpertSimd, { ds, h, dt }: MixtureDims, at: Record<string, number>, r: PairRange): void {
  const f = new Float32Array(simd.memory.buffer);
  const ints = new Int32Array(simd.memory.buffer);
  const { axpyRows, dotRows, dotRowsMasked, vecMatAcc } = simd;
  const scratch = at[`scratch${r.thread}`] * 4;
  const dH = at[`dH${r.thread}`];
  for (let q = r.q0; q < r.q1; q++) {
    const ent = ints[at.pairEntity + q];
    const k = ints[at.pairExpert + q];
    const hid = at.hidden + q * h;
    const dRow = (at.dRecon + ent * dt) * 4;
    const dO = at.dO + q * dt;
    dotRows((at.dpw + q) * 4, 0, dRow, 0, (at.out + q * dt) * 4, 0, 1, dt);
    axpyRows(dO * 4, 0, dRow, 0, (at.pw + q) * 4, 0, 1, dt);
    // dH = W2 · dO through the ReLU: only the active hidden units (about half) need their row of W2
    f.fill(0, dH, dH + h);
    dotRowsMasked(dH * 4, 4, (at.w2 + k * h * dt) * 4, dt * 4, dO * 4, 0, h, dt, hid * 4, 4);
    axpyRows((at.db1 + k * h) * 4, 0, dH * 4, 0, at.one * 4, 0, 1, h);
    axpyRows((at.dw1 + k * ds * h) * 4, h * 4, dH * 4, 0, (at.hs + ent * ds) * 4, 4, ds, h);
    const dhsRow = r.thread === 0 ? at.dhs + ent * ds : at.dhsPair + q * ds;
    dotRows(dhsRow * 4, 4, (at.w1 + k * ds * h) * 4, h * 4, dH * 4, 0, ds, h);
  }
  // dW2_m = Hiddenᵀ · dO and db2_m = Σ dO over each run of pairs routed to one expert (one run per expert when sorted):
  // every row of dW2 is written once per run instead of once per pair
  for (let q0 = r.q0; q0 < r.q1; ) {
    const k = ints[at.pairExpert + q0];
    let q1 = q0 + 1;
    while (q1 < r.q1 && ints[at.pairExpert + q1] === k) q1++;
    const run = q1 - q0;
    const dOs = (at.dO + q0 * dt) * 4;
    vecMatAcc((at.db2 + k * dt) * 4, at.one * 4, 0, dOs, dt * 4, run, dt, scratch);
    for (let j = 0; j < h; j++) vecMatAcc((at.dw2 + (k * h + j) * dt) * 4, (at.hidden + q0 * h + j) * 4, h * 4, dOs, dt * 4, run, dt, scratch);
    q0 = q1;
  }
}

let chosenLoops: MixtureLoops | undefined;

/** The loops new kernels run: setMixtureLoops's, else DERRD_DE_LOOPS (read each time), else native where built. */
export function mixtureLoops(): MixtureLoops {
  return chosenLoops ?? defaultMixtureLoops();
}

/** What the DE kernel runs on, for the training log: the native build and its instruction set, or why not. */
export function describeMixtureLoops(): string {
  if (mixtureLoops() === 'native') return `native loops (${nativeMixture().native!.isa})`;
  const { native, reason } = nativeMixture();
  return native ? 'WebAssembly loops (DERRD_DE_LOOPS=wasm)' : `WebAssembly loops (the native kernel is ${reason})`;
}

/** Picks the loops for kernels created from now on (undefined: back to the default); for tests and benchmarks. */
export function setMixtureLoops(loops: MixtureLoops | undefined): void {
  if (loops === 'native' && !nativeMixture().native) throw new Error(`the native DE kernel is ${nativeMixture().reason}`);
  chosenLoops = loops;
}

/**
 * The whole memory as floats. A shared memory grown by another thread can still show this thread its old length
 * (its buffer object is refreshed lazily); grow(0) refreshes it.
 */
function memoryView(simd: ExpertSimd): Float32Array {
  if (typeof SharedArrayBuffer !== 'undefined' && simd.memory.buffer instanceof SharedArrayBuffer) simd.memory.grow(0);
  return new Float32Array(simd.memory.buffer);
}

/** The arguments of a native call: dimensions, sizes, the pair range and the layout's offsets. */
function nativeArgs({ m, ds, h, dt }: MixtureDims, at: Record<string, number>, e: number, p: number, q0: number, q1: number, thread: 0 | 1): Int32Array {
  const args = new Int32Array(9 + NATIVE_LAYOUT_KEYS.length);
  args.set([ds, h, dt, m, e, p, q0, q1, thread]);
  NATIVE_LAYOUT_KEYS.forEach((key, i) => (args[9 + i] = at[key]));
  return args;
}

/**
 * One phase's loops over a pair range, on `loops` (native or WebAssembly: the same floats). e and p are the layout's
 * entity and pair counts.
 */
export function runMixturePhase(loops: MixtureLoops, phase: 'forward' | 'backward', simd: ExpertSimd, dims: MixtureDims, at: Record<string, number>, e: number, p: number, r: PairRange): void {
  if (loops === 'native') {
    const native = nativeMixture().native!;
    native[phase](memoryView(simd), nativeArgs(dims, at, e, p, r.q0, r.q1, r.thread));
  } else {
    (phase === 'forward' ? mixtureForward : mixtureBackward)(simd, dims, at, r);
  }
}

/** After a lane's range [q0, q1): recon (forward) or dhs (backward) gets that range's per-pair terms, in pair order. */
function addLaneRange(loops: MixtureLoops, phase: 'forward' | 'backward', simd: ExpertSimd, dims: MixtureDims, at: Record<string, number>, e: number, p: number, q0: number, q1: number): void {
  if (loops === 'native') {
    const native = nativeMixture().native!;
    const args = nativeArgs(dims, at, e, p, q0, q1, 0);
    if (phase === 'forward') native.addRecon(memoryView(simd), args);
    else native.addDhs(memoryView(simd), args);
  } else {
    (phase === 'forward' ? mixtureAddRecon : mixtureAddDhs)(simd, dims, at, q0, q1);
  }
}

/** Pairs below this many stay on one thread: the hand-off costs more than it saves. */
const MIN_SPLIT_PAIRS = 256;

/**
 * The expert boundary nearest the middle of the pairs (sorted by expert), or p where the pairs are too few, not sorted
 * by expert, or all of one expert: the pairs [split, p) go to the lane.
 */
export function splitPoint(pairExpert: Int32Array): number {
  const p = pairExpert.length;
  if (p < MIN_SPLIT_PAIRS) return p;
  for (let q = 1; q < p; q++) if (pairExpert[q] < pairExpert[q - 1]) return p;
  const mid = p >> 1;
  let lo = mid;
  while (lo > 0 && pairExpert[lo] === pairExpert[lo - 1]) lo--;
  let hi = mid;
  while (hi < p && pairExpert[hi] === pairExpert[hi - 1]) hi++;
  const best = mid - lo <= hi - mid ? lo : hi;
  return best > 0 && best < p ? best : p;
}

export class ExpertMixtureKernel {
  readonly simd: ExpertSimd;
  readonly dims: MixtureDims;
  /** where the loops run: null = the calling thread */
  readonly lane: ExpertLane | null;
  /** the lane's handle for this kernel (−1 without a lane) */
  readonly laneId: number;
  /** native or WebAssembly loops, fixed at creation */
  readonly loops: MixtureLoops;
  private at: Record<string, number> = {};
  private e = 0;
  private p = 0;
  /** pairs [split, p) run on the lane */
  private split = 0;
  private forwarded = false;

  private constructor(simd: ExpertSimd, dims: MixtureDims, lane: ExpertLane | null) {
    this.simd = simd;
    this.dims = dims;
    this.lane = lane;
    this.loops = mixtureLoops();
    this.laneId = lane ? lane.register(simd.memory, dims) : -1;
  }

  /**
   * A kernel for M experts ds → h → dt, or null where WebAssembly SIMD is unavailable. With a lane, its memory is
   * shared and the lane's worker thread runs its loops.
   */
  static create(m: number, ds: number, h: number, dt: number, lane: ExpertLane | null = null): ExpertMixtureKernel | null {
    const simd = instantiateExpertSimd(lane ? newSharedMemory() : undefined);
    if (!simd) return null;
    return new ExpertMixtureKernel(simd, { m, ds, h, dt }, lane);
  }

  private view(): Float32Array {
    return new Float32Array(this.simd.memory.buffer);
  }

  /** Copies the inputs into memory (grown to fit), zeroes recon and picks the lane's share of the pairs. */
  private prepareForward(x: MixtureInputs): void {
    const e = x.numEntities;
    const p = x.pairEntity.length;
    const { at, floats } = mixtureLayout(this.dims, e, p);
    const memory = this.simd.memory;
    if (floats * 4 > memory.buffer.byteLength) memory.grow(Math.ceil((floats * 4 - memory.buffer.byteLength) / 65536));
    const f = this.view();
    const ints = new Int32Array(memory.buffer);
    f.set(x.w1, at.w1); f.set(x.b1, at.b1); f.set(x.w2, at.w2); f.set(x.b2, at.b2); f.set(x.hs, at.hs); f.set(x.pairWeight, at.pw);
    ints.set(x.pairEntity, at.pairEntity); ints.set(x.pairExpert, at.pairExpert);
    f.fill(0, at.recon, at.recon + e * this.dims.dt);
    this.at = at;
    this.e = e;
    this.p = p;
    this.split = this.lane ? splitPoint(x.pairExpert) : p;
    this.forwarded = true;
  }

  private prepareBackward(dRecon: Float32Array): void {
    if (!this.forwarded) throw new Error('ExpertMixtureKernel.backward before forward');
    const f = this.view();
    const { at, e, p } = this;
    const { m, ds, h, dt } = this.dims;
    f.set(dRecon, at.dRecon);
    f.fill(0, at.dw1, at.dw1 + m * ds * h); f.fill(0, at.db1, at.db1 + m * h); f.fill(0, at.dw2, at.dw2 + m * h * dt); f.fill(0, at.db2, at.db2 + m * dt);
    f.fill(0, at.dhs, at.dhs + e * ds); f.fill(0, at.dhsPair + this.split * ds, at.dhsPair + p * ds); f.fill(0, at.dpw, at.dpw + p);
    f.fill(0, at.dO, at.dO + p * dt);
    f[at.one] = 1;
  }

  private readRecon(): Float32Array {
    return this.view().slice(this.at.recon, this.at.recon + this.e * this.dims.dt);
  }

  private readGradients(): MixtureGradients {
    const f = this.view();
    const { at, e, p } = this;
    const { m, ds, h, dt } = this.dims;
    return {
      hs: f.slice(at.dhs, at.dhs + e * ds),
      pairWeight: f.slice(at.dpw, at.dpw + p),
      w1: f.slice(at.dw1, at.dw1 + m * ds * h),
      b1: f.slice(at.db1, at.db1 + m * h),
      w2: f.slice(at.dw2, at.dw2 + m * h * dt),
      b2: f.slice(at.db2, at.db2 + m * dt),
    };
  }

  /** Runs one phase: the lane's share of the pairs on its thread while this thread does the rest, then the ordered sums. */
  private run(phase: 'forward' | 'backward'): void {
    const { at, e, p, split, loops } = this;
    if (this.lane && split < p) this.lane.start({ id: this.laneId, phase, loops, e, p, q0: split, q1: p });
    runMixturePhase(loops, phase, this.simd, this.dims, at, e, p, { q0: 0, q1: split, thread: 0 });
    if (this.lane && split < p) {
      this.lane.finish();
      addLaneRange(loops, phase, this.simd, this.dims, at, e, p, split, p);
    }
  }

  forward(x: MixtureInputs): Float32Array {
    this.prepareForward(x);
    this.run('forward');
    return this.readRecon();
  }

  /** Gradients for the upstream gradient dRecon [E, dt] of the last forward call. */
  backward(dRecon: Float32Array): MixtureGradients {
    this.prepareBackward(dRecon);
    this.run('backward');
    return this.readGradients();
  }
}
