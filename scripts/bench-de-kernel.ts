/**
 * The DE mixture kernel alone (forward + backward of routed pairs, no tfjs): the WebAssembly loops against the native
 * ones, interleaved, on synthetic routed pairs of CiteULike's shape (M = 30 experts, teacher d = 200, E entities with
 * `--experts` experts each, sorted by expert as the DE term routes them). Checks that both give the same floats bit for
 * bit, prints a table with the ratio and writes bench/results/de-kernel.json.
 *   npm run bench:de-kernel [-- --dims 20,100,200 --experts 2 --entities 2900 --threads 1 --rounds 3 --reps 12]
 */
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Rng, writeFileAtomic } from '@derrd/core';
import { ExpertLane, ExpertMixtureKernel, expertHiddenDim, nativeMixture, setMixtureLoops, type MixtureInputs, type MixtureLoops } from '@derrd/train';

const root = resolve(import.meta.dirname, '..');
const arg = (name: string, fallback: string) => { const k = process.argv.indexOf(`--${name}`); return k > 0 ? process.argv[k + 1] : fallback; };
const dims = arg('dims', '20,100,200').split(',').map(Number);
const perEntity = Number(arg('experts', '2'));
const numEntities = Number(arg('entities', '2900'));
const threads = Number(arg('threads', '1'));
const rounds = Number(arg('rounds', '3'));
const reps = Number(arg('reps', '12'));
const [m, dt] = [30, 200];
const { native, reason } = nativeMixture();
if (!native) { console.error(`the native DE kernel is ${reason}: nothing to compare (npm run build:native)`); process.exit(1); }

const median = (a: number[]) => { const s = [...a].sort((x, y) => x - y); return s[s.length >> 1]; };
const lane = threads === 2 ? new ExpertLane() : null;
interface Row { ds: number; h: number; pairs: number; loops: MixtureLoops; forwardMs: number; backwardMs: number }
const rows: Row[] = [];
for (const ds of dims) {
  const h = expertHiddenDim(ds, dt);
  const rng = new Rng(ds);
  const rand = (n: number) => Float32Array.from({ length: n }, () => rng.float() - 0.5);
  const pairs: [number, number][] = [];
  for (let e = 0; e < numEntities; e++) {
    const kept = new Set<number>();
    while (kept.size < perEntity) kept.add(rng.int(m));
    for (const k of kept) pairs.push([k, e]);
  }
  pairs.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  const x: MixtureInputs = {
    hs: rand(numEntities * ds), w1: rand(m * ds * h), b1: rand(m * h), w2: rand(m * h * dt), b2: rand(m * dt),
    pairEntity: Int32Array.from(pairs, (p) => p[1]), pairExpert: Int32Array.from(pairs, (p) => p[0]), pairWeight: rand(pairs.length), numEntities,
  };
  const dRecon = rand(numEntities * dt);
  const outputs = new Map<MixtureLoops, Float32Array[]>();
  const times = new Map<MixtureLoops, { f: number[]; b: number[] }>([['wasm', { f: [], b: [] }], ['native', { f: [], b: [] }]]);
  for (let round = 0; round < rounds; round++) for (const loops of ['wasm', 'native'] as MixtureLoops[]) {
    setMixtureLoops(loops);
    const kernel = ExpertMixtureKernel.create(m, ds, h, dt, lane)!;
    for (let r = 0; r <= reps; r++) {
      const t0 = performance.now();
      const recon = kernel.forward(x);
      const t1 = performance.now();
      const g = kernel.backward(dRecon);
      const t2 = performance.now();
      if (r === 0) { outputs.set(loops, [recon, g.hs, g.pairWeight, g.w1, g.b1, g.w2, g.b2]); continue; } // warm-up
      times.get(loops)!.f.push(t1 - t0);
      times.get(loops)!.b.push(t2 - t1);
    }
  }
  const [a, b] = [outputs.get('wasm')!, outputs.get('native')!];
  const differing = a.reduce((n, arr, i) => n + arr.filter((v, j) => !Object.is(v, b[i][j])).length, 0);
  if (differing > 0) { console.error(`d=${ds}: ${differing} floats differ between the loops`); process.exit(1); }
  for (const loops of ['wasm', 'native'] as MixtureLoops[]) rows.push({ ds, h, pairs: pairs.length, loops, forwardMs: median(times.get(loops)!.f), backwardMs: median(times.get(loops)!.b) });
}
setMixtureLoops(undefined);
lane?.close();
console.log(`DE mixture kernel, ${perEntity} experts per entity, ${numEntities} entities, ${threads} thread${threads > 1 ? 's' : ''}, native ${native.isa}; medians of ${rounds} × ${reps} interleaved (floats identical)`);
console.log('| d_s | h | pairs | WebAssembly fwd / bwd ms | native fwd / bwd ms | native / WebAssembly (f+b) |');
console.log('|---|---|---|---|---|---|');
for (const ds of dims) {
  const [w, n] = (['wasm', 'native'] as const).map((l) => rows.find((r) => r.ds === ds && r.loops === l)!);
  console.log(`| ${ds} | ${w.h} | ${w.pairs} | ${w.forwardMs.toFixed(1)} / ${w.backwardMs.toFixed(1)} | ${n.forwardMs.toFixed(1)} / ${n.backwardMs.toFixed(1)} | ${((n.forwardMs + n.backwardMs) / (w.forwardMs + w.backwardMs)).toFixed(2)} |`);
}
mkdirSync(join(root, 'bench', 'results'), { recursive: true });
writeFileAtomic(join(root, 'bench', 'results', 'de-kernel.json'), JSON.stringify({ benchmark: 'de-kernel', node: process.version, isa: native.isa, perEntity, numEntities, threads, rounds, reps, rows }, null, 2) + '\n');
