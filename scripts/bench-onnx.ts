/**
 * Issue-5 benchmark: onnxruntime-node CPU latency of exported CiteULike BPR models (teacher d=200, student d=20, int8
 * student) at B = 1 and 64, k = 10: p50/p95 µs per session.run, model bytes, and the int8 student's sampled-protocol
 * test H@5 next to the float student's. Writes bench/results/onnx-latency.{json,md}.
 *   npm run bench:onnx [-- --teacher runs/cu-bpr-teacher --student runs/cu-bpr-student --threads 2]
 */
import { existsSync, mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { evaluateSampled, loadDataset, readCard, readWeights, round4, writeFileAtomic, type Dataset } from '@derrd/core';
import { exportCheckpoint, quantize } from '@derrd/export';
import { createRecommender } from '@derrd/runtime';

const root = resolve(import.meta.dirname, '..');
const arg = (name: string, fallback: string) => { const k = process.argv.indexOf(`--${name}`); return k > 0 ? process.argv[k + 1] : fallback; };
const teacherDir = resolve(arg('teacher', join(root, 'runs', 'cu-bpr-teacher')));
const studentDir = resolve(arg('student', join(root, 'runs', 'cu-bpr-student')));
const threads = Number(arg('threads', '2'));
for (const d of [teacherDir, studentDir]) if (!existsSync(join(d, 'card.json'))) { console.error(`${d}: no checkpoint (run npm run bench:train first, or pass --teacher/--student)`); process.exit(1); }

const out = mkdtempSync(join(tmpdir(), 'derrd-bench-onnx-'));
const models = [
  { name: 'teacher d=200', checkpoint: teacherDir, int8: false },
  { name: 'student d=20', checkpoint: studentDir, int8: false },
  { name: 'student d=20 int8', checkpoint: studentDir, int8: true },
];

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))];
}

/** H@5 (and the rest) of BPR weights on the sampled protocol, optionally through int8 round-trip of both tables. */
async function sampledMetrics(checkpoint: string, ds: Dataset, int8: boolean) {
  const { tensors } = readWeights(checkpoint);
  const card = readCard(checkpoint);
  const d = card.model.dim;
  let user = tensors.user.data as Float32Array;
  let item = tensors.item.data as Float32Array;
  if (int8) {
    const deq = (data: Float32Array, rows: number) => {
      const { q, scale } = quantize(data, rows, d, 'row');
      return Float32Array.from(q, (v, k) => v * scale[Math.floor(k / d)]);
    };
    user = deq(user, ds.numUsers);
    item = deq(item, ds.numItems);
  }
  return evaluateSampled(ds, (users, items, w) => {
    const outScores = new Float32Array(items.length);
    for (let b = 0; b < users.length; b++) for (let c = 0; c < w; c++) {
      let s = 0;
      const uo = users[b] * d, io = items[b * w + c] * d;
      for (let x = 0; x < d; x++) s += user[uo + x] * item[io + x];
      outScores[b * w + c] = s;
    }
    return outScores;
  });
}

const results: Record<string, unknown>[] = [];
for (const m of models) {
  const path = join(out, `${m.name.replace(/[^a-z0-9]+/gi, '-')}.onnx`);
  const exported = await exportCheckpoint({ checkpoint: m.checkpoint, out: path, int8: m.int8 });
  const ds = loadDataset(exported.card.dataset.path);
  const rec = await createRecommender(path, { provider: 'cpu', threads });
  const row: Record<string, unknown> = { model: m.name, bytes: exported.bytes, provider: rec.provider, threads: rec.threads };
  for (const [batch, reps] of [[1, 3000], [64, 300]] as const) {
    const times: number[] = [];
    for (let r = 0; r < reps + 50; r++) {
      const users = Array.from({ length: batch }, (_v, k) => (r * 131 + k * 17) % ds.numUsers);
      const t0 = process.hrtime.bigint();
      await rec.recommendDense(users, 10);
      const us = Number(process.hrtime.bigint() - t0) / 1000;
      if (r >= 50) times.push(us);
    }
    row[`B${batch}_p50_us`] = percentile(times, 0.5);
    row[`B${batch}_p95_us`] = percentile(times, 0.95);
  }
  await rec.close();
  const metrics = await sampledMetrics(m.checkpoint, ds, m.int8);
  row.testHR5 = metrics.test['HR@5'];
  row.testNDCG10 = metrics.test['NDCG@10'];
  results.push(row);
  console.error(`${m.name}: ${JSON.stringify(row)}`);
}
const byName = (n: string) => results.find((r) => r.model === n)!;
const ratio64 = (byName('student d=20').B64_p50_us as number) / (byName('teacher d=200').B64_p50_us as number);
const lines = [
  `onnxruntime-node ${threads}-thread CPU session.run (recommend() incl. input checks), k = 10, CiteULike BPR (5,219 users × 25,181 items). H@5/NDCG@10: sampled protocol, test, weights of the saved epoch.`,
  '',
  '| model | bytes | B=1 p50 µs | B=1 p95 µs | B=64 p50 µs | B=64 p95 µs | test H@5 | test N@10 |',
  '|---|---|---|---|---|---|---|---|',
  ...results.map((r) => `| ${r.model} | ${(r.bytes as number).toLocaleString('en-US')} | ${(r.B1_p50_us as number).toFixed(0)} | ${(r.B1_p95_us as number).toFixed(0)} | ${(r.B64_p50_us as number).toFixed(0)} | ${(r.B64_p95_us as number).toFixed(0)} | ${round4(r.testHR5 as number)} | ${round4(r.testNDCG10 as number)} |`),
  '',
  `student/teacher p50 ratio at B=64: ${ratio64.toFixed(3)} (target <= 0.15); student B=1 p50 ${(byName('student d=20').B1_p50_us as number).toFixed(0)} µs (target <= 50).`,
];
console.log(lines.join('\n'));
mkdirSync(join(root, 'bench', 'results'), { recursive: true });
writeFileAtomic(join(root, 'bench', 'results', 'onnx-latency.json'), JSON.stringify({ benchmark: 'onnx-latency', node: process.version, threads, results, studentTeacherRatioB64: ratio64 }, null, 2) + '\n');
writeFileAtomic(join(root, 'bench', 'results', 'onnx-latency.md'), lines.join('\n') + '\n');
