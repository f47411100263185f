/**
 * The sparse DE mixture as one fused kernel per expert set: for the routed (entity, expert) pairs,
 *   recon[e] = Σ_pairs w_p · (relu(hs[e]·W1_m + b1_m)·W2_m + b2_m)
 * and its exact gradients with respect to hs, the pair weights and every expert parameter, computed by the
 * WebAssembly SIMD row loops of wasm/expert-simd.ts on a private memory.
 *
 * Why: at low temperature each entity keeps one or two experts, so the tfjs version runs ~30 small products per
 * layer and direction, whose per-op and packing overhead cost several times their arithmetic (73 ms of DE
 * forward+backward per CiteULike batch, 32 ms of it in BatchMatMul). Row loops over the pairs, sorted by expert so
 * that an expert's weights stay in cache, have no per-op cost and skip the ReLU's zeros.
 */
import { instantiateExpertSimd, type ExpertSimd } from '../wasm/expert-simd.js';

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

export class ExpertMixtureKernel {
  private readonly simd: ExpertSimd;
  private f32: Float32Array;
  private layout: Record<string, number> = {};
  private inputs: MixtureInputs | null = null;

  private constructor(simd: ExpertSimd, readonly m: number, readonly ds: number, readonly h: number, readonly dt: number) {
    this.simd = simd;
    this.f32 = new Float32Array(simd.memory.buffer);
  }

  /** A kernel for M experts ds → h → dt, or null where WebAssembly SIMD is unavailable. */
  static create(m: number, ds: number, h: number, dt: number): ExpertMixtureKernel | null {
    const simd = instantiateExpertSimd();
    return simd ? new ExpertMixtureKernel(simd, m, ds, h, dt) : null;
  }

  /** Float offsets of every array for E entities and P pairs; grows the memory to fit. */
  private allocate(e: number, p: number): Record<string, number> {
    const { m, ds, h, dt } = this;
    const sizes: [string, number][] = [
      ['w1', m * ds * h], ['b1', m * h], ['w2', m * h * dt], ['b2', m * dt], ['hs', e * ds], ['pw', p], ['hidden', p * h], ['out', p * dt],
      ['recon', e * dt], ['dRecon', e * dt], ['dw1', m * ds * h], ['db1', m * h], ['dw2', m * h * dt], ['db2', m * dt], ['dhs', e * ds],
      ['dpw', p], ['dO', dt], ['dH', h], ['one', 1],
    ];
    const layout: Record<string, number> = {};
    let offset = 0;
    for (const [key, size] of sizes) {
      layout[key] = offset;
      offset += (size + 3) & ~3; // 16-byte aligned starts
    }
    const bytes = offset * 4;
    if (bytes > this.simd.memory.buffer.byteLength) this.simd.memory.grow(Math.ceil((bytes - this.simd.memory.buffer.byteLength) / 65536));
    this.f32 = new Float32Array(this.simd.memory.buffer);
    return layout;
  }

  forward(x: MixtureInputs): Float32Array {
    const { ds, h, dt } = this;
    const e = x.numEntities;
    const p = x.pairEntity.length;
    const L = (this.layout = this.allocate(e, p));
    const f = this.f32;
    f.set(x.w1, L.w1); f.set(x.b1, L.b1); f.set(x.w2, L.w2); f.set(x.b2, L.b2); f.set(x.hs, L.hs); f.set(x.pairWeight, L.pw);
    f.fill(0, L.recon, L.recon + e * dt);
    const { axpyRows } = this.simd;
    for (let q = 0; q < p; q++) {
      const ent = x.pairEntity[q];
      const k = x.pairExpert[q];
      const hid = L.hidden + q * h;
      const out = L.out + q * dt;
      f.copyWithin(hid, L.b1 + k * h, L.b1 + (k + 1) * h);
      axpyRows(hid * 4, 0, (L.w1 + k * ds * h) * 4, h * 4, (L.hs + ent * ds) * 4, 4, ds, h);
      for (let j = hid; j < hid + h; j++) if (!(f[j] > 0)) f[j] = 0;
      f.copyWithin(out, L.b2 + k * dt, L.b2 + (k + 1) * dt);
      axpyRows(out * 4, 0, (L.w2 + k * h * dt) * 4, dt * 4, hid * 4, 4, h, dt);
      axpyRows((L.recon + ent * dt) * 4, 0, out * 4, 0, (L.pw + q) * 4, 0, 1, dt);
    }
    this.inputs = x;
    return f.slice(L.recon, L.recon + e * dt);
  }

  /** Gradients for the upstream gradient dRecon [E, dt] of the last forward call. */
  backward(dRecon: Float32Array): MixtureGradients {
    const x = this.inputs;
    if (!x) throw new Error('ExpertMixtureKernel.backward before forward');
    const { m, ds, h, dt } = this;
    const e = x.numEntities;
    const p = x.pairEntity.length;
    const L = this.layout;
    const f = this.f32;
    f.set(dRecon, L.dRecon);
    f.fill(0, L.dw1, L.dw1 + m * ds * h); f.fill(0, L.db1, L.db1 + m * h); f.fill(0, L.dw2, L.dw2 + m * h * dt); f.fill(0, L.db2, L.db2 + m * dt);
    f.fill(0, L.dhs, L.dhs + e * ds); f.fill(0, L.dpw, L.dpw + p);
    f[L.one] = 1;
    const { axpyRows, dotRows, dotRowsMasked } = this.simd;
    for (let q = 0; q < p; q++) {
      const ent = x.pairEntity[q];
      const k = x.pairExpert[q];
      const hid = L.hidden + q * h;
      const dRow = (L.dRecon + ent * dt) * 4;
      dotRows((L.dpw + q) * 4, 0, dRow, 0, (L.out + q * dt) * 4, 0, 1, dt);
      f.fill(0, L.dO, L.dO + dt);
      axpyRows(L.dO * 4, 0, dRow, 0, (L.pw + q) * 4, 0, 1, dt);
      axpyRows((L.db2 + k * dt) * 4, 0, L.dO * 4, 0, L.one * 4, 0, 1, dt);
      axpyRows((L.dw2 + k * h * dt) * 4, dt * 4, L.dO * 4, 0, hid * 4, 4, h, dt);
      // dH = W2 · dO through the ReLU: only the active hidden units (about half) need their row of W2
      f.fill(0, L.dH, L.dH + h);
      dotRowsMasked(L.dH * 4, 4, (L.w2 + k * h * dt) * 4, dt * 4, L.dO * 4, 0, h, dt, hid * 4, 4);
      axpyRows((L.db1 + k * h) * 4, 0, L.dH * 4, 0, L.one * 4, 0, 1, h);
      axpyRows((L.dw1 + k * ds * h) * 4, h * 4, L.dH * 4, 0, (L.hs + ent * ds) * 4, 4, ds, h);
      dotRows((L.dhs + ent * ds) * 4, 4, (L.w1 + k * ds * h) * 4, h * 4, L.dH * 4, 0, ds, h);
    }
    return {
      hs: f.slice(L.dhs, L.dhs + e * ds),
      pairWeight: f.slice(L.dpw, L.dpw + p),
      w1: f.slice(L.dw1, L.dw1 + m * ds * h),
      b1: f.slice(L.db1, L.db1 + m * h),
      w2: f.slice(L.dw2, L.dw2 + m * h * dt),
      b2: f.slice(L.db2, L.db2 + m * dt),
    };
  }
}
