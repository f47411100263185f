/**
 * Issue-6 benchmark: teacher vs student model latency on every runtime here — onnxruntime-node CPU, onnxruntime-web
 * WASM in Node, tfjs (wasm backend) — at B = 1 and 64 (k = 10). Writes bench/results/latency.{json,md}. The HTTP load
 * test of `derrd serve` is `npm run bench:serve`.
 *   npm run bench:latency [-- --teacher runs/cu-bpr-teacher --student runs/cu-bpr-student]
 */
import { existsSync, mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { loadDataset, writeFileAtomic } from '@derrd/core';
import { exportCheckpoint } from '@derrd/export';
import { createRecommender, type Provider } from '@derrd/runtime';
import { initBackend, loadCheckpoint, tf } from '@derrd/train';

const root = resolve(import.meta.dirname, '..');
const arg = (name: string, fallback: string) => { const k = process.argv.indexOf(`--${name}`); return k > 0 ? process.argv[k + 1] : fallback; };
const checkpoints = { teacher: resolve(arg('teacher', join(root, 'runs', 'cu-bpr-teacher'))), student: resolve(arg('student', join(root, 'runs', 'cu-bpr-student'))) };
for (const d of Object.values(checkpoints)) if (!existsSync(join(d, 'card.json'))) { console.error(`${d}: no checkpoint (run npm run bench:train first, or pass --teacher/--student)`); process.exit(1); }
const K = 10;

const pct = (xs: number[], p: number) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(p * s.length))]; };
async function timeIt(reps: number, f: (r: number) => Promise<unknown> | unknown): Promise<{ p50: number; p95: number }> {
  const times: number[] = [];
  for (let r = 0; r < reps + 20; r++) {
    const t0 = process.hrtime.bigint();
    await f(r);
    if (r >= 20) times.push(Number(process.hrtime.bigint() - t0) / 1000);
  }
  return { p50: pct(times, 0.5), p95: pct(times, 0.95) };
}

const dir = mkdtempSync(join(tmpdir(), 'derrd-latency-'));
const models: Record<string, { path: string; bytes: number; numUsers: number }> = {};
for (const [name, ckpt] of Object.entries(checkpoints)) {
  const e = await exportCheckpoint({ checkpoint: ckpt, out: join(dir, `${name}.onnx`) });
  models[name] = { path: e.path, bytes: e.bytes, numUsers: e.card.model.numUsers };
}
const usersFor = (n: number, r: number, b: number) => Array.from({ length: b }, (_v, k) => (r * 131 + k * 17) % n);

const runtimeRows: Record<string, unknown>[] = [];
for (const [provider, threads] of [['cpu', 2], ['wasm', 1], ['wasm', 2]] as [Provider, number][]) {
  for (const [name, m] of Object.entries(models)) {
    const rec = await createRecommender(m.path, { provider, threads });
    const row: Record<string, unknown> = { runtime: provider === 'cpu' ? 'onnxruntime-node' : 'onnxruntime-web (Node)', provider, threads, model: name, bytes: m.bytes };
    for (const b of [1, 64]) {
      const t = await timeIt(b === 1 ? 2000 : 200, (r) => rec.recommendDense(usersFor(m.numUsers, r, b), K));
      row[`B${b}_p50_us`] = t.p50; row[`B${b}_p95_us`] = t.p95;
    }
    await rec.close();
    runtimeRows.push(row);
    console.error(JSON.stringify(row));
  }
}
// tfjs: the trainer's own scorer path (gather, matMul with the item table transposed once, topk)
const backend = await initBackend('wasm');
for (const [name, ckpt] of Object.entries(checkpoints)) {
  const ds = loadDataset((await import('@derrd/core')).readCard(ckpt).dataset.path);
  const { model, card } = loadCheckpoint(ckpt, ds);
  const user = model.variables.user, itemT = tf.transpose(model.variables.item);
  const row: Record<string, unknown> = { runtime: 'tfjs', provider: backend.name, threads: 1, model: name, bytes: card.model.parameters * 4 };
  for (const b of [1, 64]) {
    const t = await timeIt(b === 1 ? 1000 : 100, (r) => {
      const { values, indices } = tf.tidy(() => tf.topk(tf.matMul(tf.gather(user, tf.tensor1d(usersFor(ds.numUsers, r, b), 'int32')), itemT), K));
      values.dataSync(); indices.dataSync(); values.dispose(); indices.dispose();
    });
    row[`B${b}_p50_us`] = t.p50; row[`B${b}_p95_us`] = t.p95;
  }
  itemT.dispose(); model.dispose();
  runtimeRows.push(row);
  console.error(JSON.stringify(row));
}

const f0 = (x: unknown) => (x as number).toFixed(0);
const lines = [
  `Teacher (BPR d=200) vs student (BPR d=20) on CiteULike (5,219 users × 25,181 items), k = ${K}. Model bytes: ONNX file (tfjs: float32 parameters).`,
  '',
  '| runtime | provider | threads | model | bytes | B=1 p50 µs | B=1 p95 µs | B=64 p50 µs | B=64 p95 µs |',
  '|---|---|---|---|---|---|---|---|---|',
  ...runtimeRows.map((r) => `| ${r.runtime} | ${r.provider} | ${r.threads} | ${r.model} | ${(r.bytes as number).toLocaleString('en-US')} | ${f0(r.B1_p50_us)} | ${f0(r.B1_p95_us)} | ${f0(r.B64_p50_us)} | ${f0(r.B64_p95_us)} |`),
];
console.log(lines.join('\n'));
mkdirSync(join(root, 'bench', 'results'), { recursive: true });
writeFileAtomic(join(root, 'bench', 'results', 'latency.json'), JSON.stringify({ benchmark: 'latency', node: process.version, runtimes: runtimeRows }, null, 2) + '\n');
writeFileAtomic(join(root, 'bench', 'results', 'latency.md'), lines.join('\n') + '\n');
