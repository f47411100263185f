import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import test from 'node:test';
import { Rng } from '@derrd/core';
import { ExpertLane, ExpertMixtureKernel, defaultMixtureLoops, nativeMixture, setMixtureLoops, splitPoint, type MixtureInputs, type MixtureLoops } from '@derrd/train';

/** Plain-JS float64 reference of the routed mixture and its gradients. */
function reference(x: MixtureInputs, m: number, ds: number, h: number, dt: number, dRecon: Float32Array) {
  const p = x.pairEntity.length;
  const recon = new Float64Array(x.numEntities * dt);
  const hidden: Float64Array[] = [];
  const outs: Float64Array[] = [];
  for (let q = 0; q < p; q++) {
    const e = x.pairEntity[q], k = x.pairExpert[q];
    const hid = new Float64Array(h);
    for (let j = 0; j < h; j++) {
      let s = x.b1[k * h + j];
      for (let i = 0; i < ds; i++) s += x.hs[e * ds + i] * x.w1[(k * ds + i) * h + j];
      hid[j] = Math.max(0, s);
    }
    const out = new Float64Array(dt);
    for (let c = 0; c < dt; c++) {
      let s = x.b2[k * dt + c];
      for (let j = 0; j < h; j++) s += hid[j] * x.w2[(k * h + j) * dt + c];
      out[c] = s;
      recon[e * dt + c] += x.pairWeight[q] * s;
    }
    hidden.push(hid);
    outs.push(out);
  }
  const g = { hs: new Float64Array(x.numEntities * ds), pairWeight: new Float64Array(p), w1: new Float64Array(m * ds * h), b1: new Float64Array(m * h), w2: new Float64Array(m * h * dt), b2: new Float64Array(m * dt) };
  for (let q = 0; q < p; q++) {
    const e = x.pairEntity[q], k = x.pairExpert[q];
    const dO = new Float64Array(dt);
    for (let c = 0; c < dt; c++) {
      g.pairWeight[q] += dRecon[e * dt + c] * outs[q][c];
      dO[c] = dRecon[e * dt + c] * x.pairWeight[q];
      g.b2[k * dt + c] += dO[c];
      for (let j = 0; j < h; j++) g.w2[(k * h + j) * dt + c] += hidden[q][j] * dO[c];
    }
    for (let j = 0; j < h; j++) {
      if (!(hidden[q][j] > 0)) continue;
      let dH = 0;
      for (let c = 0; c < dt; c++) dH += x.w2[(k * h + j) * dt + c] * dO[c];
      g.b1[k * h + j] += dH;
      for (let i = 0; i < ds; i++) {
        g.w1[(k * ds + i) * h + j] += x.hs[e * ds + i] * dH;
        g.hs[e * ds + i] += x.w1[(k * ds + i) * h + j] * dH;
      }
    }
  }
  return { recon, g };
}

test('expert kernel: forward and every gradient equal a float64 reference, with 32-column blocks, 16-float dots and tails', (t) => {
  // dt = 70: two 32-column register blocks, one 4-wide block and 2 scalar columns; h = 37: 16-float dot body + tails
  const m = 5, ds = 6, h = 37, dt = 70, numEntities = 9;
  const kernel = ExpertMixtureKernel.create(m, ds, h, dt);
  if (!kernel) return t.skip('WebAssembly SIMD unavailable');
  const rng = new Rng(3);
  const rand = (n: number, scale: number) => Float32Array.from({ length: n }, () => (rng.float() * 2 - 1) * scale);
  const pairEntity: number[] = [], pairExpert: number[] = [];
  for (let e = 0; e < numEntities; e++) for (let k = 0; k < m; k++) if (rng.float() < 0.5 || k === e % m) { pairEntity.push(e); pairExpert.push(k); }
  // sorted by expert, plus one out-of-order pair at the end: runs of one expert need not be contiguous
  const order = pairEntity.map((_e, q) => q).sort((a, b) => pairExpert[a] - pairExpert[b]);
  order.push(order.shift()!);
  const x: MixtureInputs = {
    hs: rand(numEntities * ds, 1), w1: rand(m * ds * h, 0.5), b1: rand(m * h, 0.3), w2: rand(m * h * dt, 0.3), b2: rand(m * dt, 0.3),
    pairEntity: Int32Array.from(order.map((q) => pairEntity[q])), pairExpert: Int32Array.from(order.map((q) => pairExpert[q])),
    pairWeight: rand(order.length, 1), numEntities,
  };
  x.hs[2] = 0; // a zero input is skipped, not mis-summed
  const dRecon = rand(numEntities * dt, 1);
  const recon = kernel.forward(x);
  const grads = kernel.backward(dRecon);
  const want = reference(x, m, ds, h, dt, dRecon);
  const close = (got: Float32Array, expected: Float64Array, label: string) => {
    assert.equal(got.length, expected.length, label);
    const scale = Math.max(...Array.from(expected, Math.abs));
    assert.ok(scale > 0, `${label}: zero reference`);
    for (let k = 0; k < got.length; k++) assert.ok(Math.abs(got[k] - expected[k]) <= 2e-5 * scale, `${label}[${k}]: ${got[k]} vs ${expected[k]}`);
  };
  close(recon, want.recon, 'recon');
  for (const key of ['hs', 'pairWeight', 'w1', 'b1', 'w2', 'b2'] as const) close(grads[key], want.g[key], key);
  // a second call with the same inputs gives the same floats (no state carried between calls)
  assert.deepEqual(kernel.forward(x), recon);
  assert.deepEqual(kernel.backward(dRecon).w2, grads.w2);
});

test('expert kernel on two threads (a worker lane) gives the same floats as on one', (t) => {
  const m = 6, ds = 5, h = 37, dt = 70, numEntities = 150;
  const one = ExpertMixtureKernel.create(m, ds, h, dt);
  if (!one) return t.skip('WebAssembly SIMD unavailable');
  const lane = new ExpertLane();
  try {
    const two = ExpertMixtureKernel.create(m, ds, h, dt, lane)!;
    const rng = new Rng(5);
    const rand = (n: number, scale: number) => Float32Array.from({ length: n }, () => (rng.float() * 2 - 1) * scale);
    const pairs: [number, number][] = [];
    for (let e = 0; e < numEntities; e++) for (let k = 0; k < m; k++) if (rng.float() < 0.5) pairs.push([e, k]);
    pairs.sort((a, b) => a[1] - b[1]);
    const x: MixtureInputs = {
      hs: rand(numEntities * ds, 1), w1: rand(m * ds * h, 0.5), b1: rand(m * h, 0.3), w2: rand(m * h * dt, 0.3), b2: rand(m * dt, 0.3),
      pairEntity: Int32Array.from(pairs, (q) => q[0]), pairExpert: Int32Array.from(pairs, (q) => q[1]), pairWeight: rand(pairs.length, 1), numEntities,
    };
    const split = splitPoint(x.pairExpert);
    assert.ok(split > 0 && split < pairs.length && x.pairExpert[split] !== x.pairExpert[split - 1], `split ${split} of ${pairs.length}`);
    const dRecon = rand(numEntities * dt, 1);
    for (let round = 0; round < 2; round++) {
      assert.deepEqual(two.forward(x), one.forward(x));
      assert.deepEqual(two.backward(dRecon), one.backward(dRecon));
    }
  } finally {
    lane.close();
  }
});

/** Routed pairs for every entity (1–3 experts each, sorted by expert, with one pair out of order at the end). */
function routedInputs(rng: Rng, m: number, ds: number, h: number, dt: number, numEntities: number): { x: MixtureInputs; dRecon: Float32Array } {
  const rand = (n: number, scale: number) => Float32Array.from({ length: n }, () => (rng.float() * 2 - 1) * scale);
  const pairs: [number, number][] = [];
  for (let e = 0; e < numEntities; e++) {
    const kept = new Set<number>();
    const want = 1 + Math.floor(rng.float() * Math.min(3, m));
    while (kept.size < want) kept.add(Math.floor(rng.float() * m));
    for (const k of kept) pairs.push([e, k]);
  }
  pairs.sort((a, b) => a[1] - b[1] || a[0] - b[0]);
  pairs.push(pairs.shift()!);
  const x: MixtureInputs = {
    hs: rand(numEntities * ds, 1), w1: rand(m * ds * h, 0.5), b1: rand(m * h, 0.3), w2: rand(m * h * dt, 0.3), b2: rand(m * dt, 0.3),
    pairEntity: Int32Array.from(pairs, (q) => q[0]), pairExpert: Int32Array.from(pairs, (q) => q[1]), pairWeight: rand(pairs.length, 1), numEntities,
  };
  x.hs[1] = 0; // zero inputs and a zero pair weight are skipped by both
  x.hs[ds + 2] = 0;
  x.pairWeight[3] = 0;
  return { x, dRecon: rand(numEntities * dt, 1) };
}

const bits = (a: Float32Array) => new Uint32Array(a.buffer, a.byteOffset, a.length);

test('native DE loops give bit-for-bit the floats of the WebAssembly loops, on one thread and two, at odd and paper sizes', (t) => {
  const { native, reason } = nativeMixture();
  if (!native) return t.skip(`native: the native DE kernel is ${reason}`);
  const lane = new ExpertLane();
  try {
    // tails everywhere (3, 5, 7), every block width (h = 37, dt = 70), the CiteULike student sizes d = 20 and 100,
    // and d_s = d_t (h = d/2); enough pairs that the lane takes half of them
    const shapes = [[3, 3, 5, 7, 40], [5, 6, 37, 70, 120], [30, 20, 110, 200, 150], [30, 100, 150, 200, 60], [8, 24, 12, 24, 200]];
    for (const [m, ds, h, dt, numEntities] of shapes) {
      const { x, dRecon } = routedInputs(new Rng(ds * 7 + h), m, ds, h, dt, numEntities);
      for (const withLane of [false, true]) {
        const results = (['wasm', 'native'] as MixtureLoops[]).map((loops) => {
          setMixtureLoops(loops);
          const kernel = ExpertMixtureKernel.create(m, ds, h, dt, withLane ? lane : null)!;
          assert.equal(kernel.loops, loops);
          return { recon: kernel.forward(x), grads: kernel.backward(dRecon) };
        });
        const label = `m=${m} ds=${ds} h=${h} dt=${dt}${withLane ? ' with a lane' : ''}`;
        assert.deepEqual(bits(results[1].recon), bits(results[0].recon), `${label}: recon`);
        for (const key of ['hs', 'pairWeight', 'w1', 'b1', 'w2', 'b2'] as const) assert.deepEqual(bits(results[1].grads[key]), bits(results[0].grads[key]), `${label}: d${key}`);
        assert.ok(results[0].grads.w2.some((v) => v !== 0), `${label}: gradients are not all zero`);
      }
    }
  } finally {
    setMixtureLoops(undefined);
    lane.close();
  }
});

test('the native build without AVX2 (DERRD_DE_NATIVE_ISA=generic, as on a CPU without it) gives the same floats too', (t) => {
  if (!nativeMixture().native) return t.skip('native: the native DE kernel is not built');
  // a fresh process: the instruction set is chosen when the module loads
  const code = `
    import { ExpertMixtureKernel, nativeMixture, setMixtureLoops } from '@derrd/train';
    const [m, ds, h, dt, e] = [7, 19, 45, 83, 90];
    let s = 7; const r = () => { s = (s * 1103515245 + 12345) >>> 0; return s / 4294967296 - 0.5; };
    const f = (n) => Float32Array.from({ length: n }, r);
    const pairs = []; for (let i = 0; i < e; i++) for (let k = 0; k < m; k++) if (r() > -0.3) pairs.push([k, i]);
    const x = { hs: f(e * ds), w1: f(m * ds * h), b1: f(m * h), w2: f(m * h * dt), b2: f(m * dt), pairEntity: Int32Array.from(pairs, (p) => p[1]),
      pairExpert: Int32Array.from(pairs, (p) => p[0]), pairWeight: f(pairs.length), numEntities: e };
    const dR = f(e * dt);
    const out = ['wasm', 'native'].map((l) => { setMixtureLoops(l); const k = ExpertMixtureKernel.create(m, ds, h, dt); const g = k.backward.bind(k); return [k.forward(x), ...Object.values(g(dR))]; });
    let diff = 0; out[0].forEach((a, i) => { const b = out[1][i]; for (let j = 0; j < a.length; j++) if (!Object.is(a[j], b[j])) diff++; });
    console.log(JSON.stringify({ isa: nativeMixture().native.isa, diff, pairs: pairs.length }));`;
  const run = spawnSync(process.execPath, ['--input-type=module', '-e', code], { encoding: 'utf8', env: { ...process.env, DERRD_DE_NATIVE_ISA: 'generic' } });
  assert.equal(run.status, 0, run.stderr);
  const got = JSON.parse(run.stdout.trim().split('\n').pop()!) as { isa: string; diff: number; pairs: number };
  assert.equal(got.isa, 'generic');
  assert.ok(got.pairs > 400, `${got.pairs} pairs`);
  assert.equal(got.diff, 0, `${got.diff} floats differ between the generic native build and the WebAssembly loops`);
});

test('native DE loops refuse a layout outside the memory or a pair naming an absent entity, without crashing', (t) => {
  const { native } = nativeMixture();
  if (!native) return t.skip('native: the native DE kernel is not built');
  const memory = new Float32Array(2048);
  const args = new Int32Array(9 + 23);
  args.set([2, 3, 4, 2, 5, 6, 0, 6, 0]);
  args.fill(0, 9);
  args[9 + 12] = 2040; // dw1 (12 floats) past the end of the memory
  assert.throws(() => native.backward(memory, args), /layout inside the memory/);
  assert.throws(() => native.forward(memory, new Int32Array(3)), /expected \(Float32Array memory, Int32Array args\)/);
  // a pair whose entity is 7 of 5
  const ok = new Int32Array(9 + 23);
  ok.set([2, 3, 4, 2, 5, 1, 0, 1, 0]);
  for (let i = 0; i < 23; i++) ok[9 + i] = 64 * i;
  const ints = new Int32Array(memory.buffer);
  ints[ok[9 + 6]] = 7;
  assert.throws(() => native.forward(memory, ok), /outside the layout/);
});

test('DERRD_DE_LOOPS: native where built by default; wasm on request; an unknown value or native where not built is refused', () => {
  assert.equal(defaultMixtureLoops('wasm'), 'wasm');
  assert.equal(defaultMixtureLoops(undefined), nativeMixture().native ? 'native' : 'wasm');
  assert.throws(() => defaultMixtureLoops('fast'), /DERRD_DE_LOOPS must be native or wasm \(got "fast"\)/);
  if (nativeMixture().native) assert.equal(defaultMixtureLoops('native'), 'native');
  else assert.throws(() => defaultMixtureLoops('native'), /native DE kernel is not built/);
});

test('splitPoint: an expert boundary near the middle; no split for few, unsorted or single-expert pairs', () => {
  const sorted = Int32Array.from({ length: 400 }, (_v, q) => Math.floor(q / 90)); // runs of 90: boundaries at 90, 180, 270, 360
  assert.equal(splitPoint(sorted), 180);
  assert.equal(splitPoint(sorted.subarray(0, 100)), 100);
  const unsorted = sorted.slice();
  unsorted[399] = 0;
  assert.equal(splitPoint(unsorted), 400);
  assert.equal(splitPoint(new Int32Array(400)), 400);
});

test('ExpertLane: an error in the worker thread comes back to the caller as an error naming it', () => {
  const lane = new ExpertLane();
  try {
    lane.start({ id: 99, phase: 'forward', loops: 'wasm', e: 1, p: 1, q0: 0, q1: 1 });
    assert.throws(() => lane.finish(), /DE worker thread: Error: unknown kernel 99/);
  } finally {
    lane.close();
  }
  assert.throws(() => lane.start({ id: 0, phase: 'forward', loops: 'wasm', e: 1, p: 1, q0: 0, q1: 1 }), /after close/);
});
