/**
 * Issue-4 speed benchmark: the cost of one DE / DE-RRD training step on the authors' CiteULike split (BPR teacher
 * d=200 from bench:reproduce, student d=20), at the temperatures of several epochs, for the sparse (default) and
 * exact expert mixtures, on the same seed and the same batches. Prints a table and writes bench/results/de-speed.json.
 *   npm run bench:de [-- --teacher runs/cu-bpr-teacher --epochs 0,25,50,100,200,400 --steps 8 --modes sparse,exact --method de-rrd --dim 20]
 *   npm run bench:de -- --teacher runs/cu-neumf-teacher --dim 25 --modes sparse     # NeuMF (batch 512, L2 1e-4 as bench:reproduce)
 *   npm run bench:de -- --modes sparse --threads 1,2     # sparse kernel on one thread, then with a worker lane
 *   npm run bench:de -- --modes sparse --loops wasm,native --rounds 2   # the WebAssembly against the native loops, interleaved
 * --threads defaults to what training would use (DERRD_DE_THREADS, else 2 on a machine with two cores).
 * The student has the teacher's model kind; its batch size and L2 follow bench:reproduce's recipe for that kind
 * (--batch-size, --weight-decay override). Results go to bench/results/de-speed[-neumf].json.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { loadDataset, Rng, sampleTriples, writeFileAtomic } from '@derrd/core';
import {
  AdamL2, DeTerm, defaultMixtureLoops, setMixtureLoops, type MixtureLoops, MODEL_RECIPES, TRAIN_DEFAULTS, createModel, deThreads, deTemperature, initBackend, setDeThreads, loadCheckpoint, methodDefaults, parseMethod, prepareDistillation, tf,
  trainableOf, trainingStep, type Batch, type LossTerm,
} from '@derrd/train';

const root = resolve(import.meta.dirname, '..');
const arg = (name: string, fallback: string) => { const k = process.argv.indexOf(`--${name}`); return k > 0 ? process.argv[k + 1] : fallback; };
const teacherDir = resolve(arg('teacher', join(root, 'runs', 'cu-bpr-teacher')));
const dataDir = resolve(arg('data', join(root, 'runs', 'citeulike-data')));
const epochs = arg('epochs', '0,25,50,100,200,400').split(',').map(Number);
const steps = Number(arg('steps', '8'));
const modes = arg('modes', 'sparse,exact').split(',') as ('sparse' | 'exact')[];
const method = parseMethod(arg('method', 'de-rrd'));
const studentDim = Number(arg('dim', '20'));
const threadCounts = arg('threads', String(deThreads())).split(',').map((t) => {
  if (t !== '1' && t !== '2') throw new Error(`--threads takes 1 and/or 2 (got "${t}")`);
  return Number(t) as 1 | 2;
});
const loopsList = arg('loops', defaultMixtureLoops()).split(',').map((l) => defaultMixtureLoops(l));
const rounds = Number(arg('rounds', '1'));
for (const p of [teacherDir, dataDir]) if (!existsSync(p)) { console.error(`needs ${p} (run npm run bench:reproduce -- --only teacher first)`); process.exit(1); }

const backend = await initBackend('auto');
const ds = loadDataset(dataDir);
const teacher = loadCheckpoint(teacherDir, ds);
const kind = teacher.card.model.kind as 'bpr' | 'neumf';
const batchSize = Number(arg('batch-size', String(MODEL_RECIPES[kind].batchSize)));
const weightDecay = Number(arg('weight-decay', String(MODEL_RECIPES[kind].weightDecay)));
const batchesPerEpoch = Math.ceil(ds.trainItems.length / batchSize);

interface Row { mode: string; loops: MixtureLoops; round: number; threads: number; epoch: number; tau: number; msPerStep: number; deMsPerStep: number; expertsPerEntity: number; deLoss: number; epochSeconds: number }
const rows: Row[] = [];
// rounds × epochs outside the loops, so that the contenders of one configuration run one after the other
for (const mode of modes) for (const threads of threadCounts) {
  setDeThreads(threads); // one lane (worker thread) for all of this thread count's runs
  for (let round = 0; round < rounds; round++) for (const epoch of epochs) for (const loops of loopsList) {
    setMixtureLoops(loops);
    const settings = methodDefaults(teacher.card.model.kind, method);
    settings.de.mode = mode;
    const setup = prepareDistillation({ teacherDir, teacher, dataset: ds, method, settings, seed: 0 });
    const student = createModel(kind, { numUsers: ds.numUsers, numItems: ds.numItems, dim: studentDim }, 0);
    const terms: LossTerm[] = setup.buildTerms(student);
    const rng = new Rng(0).fork(1000 + epoch);
    const triples = sampleTriples(ds, rng, 1);
    terms.forEach((t, k) => t.onEpochStart?.(epoch, rng.fork(100 + k)));
    const de = terms.find((t): t is DeTerm => t instanceof DeTerm);
    const optimizer = new AdamL2({ lr: TRAIN_DEFAULTS.lr, weightDecay });
    const trainable = trainableOf(student, terms);
    let stepMs = 0;
    let deMs = 0;
    let experts = 0;
    let deLoss = 0;
    for (let b = 0; b <= steps; b++) {
      const s = b * batchSize;
      const userIds = triples.users.subarray(s, s + batchSize);
      const posIds = triples.pos.subarray(s, s + batchSize);
      const negIds = triples.neg.subarray(s, s + batchSize);
      const batch: Batch = { users: tf.tensor1d(userIds, 'int32'), pos: tf.tensor1d(posIds, 'int32'), neg: tf.tensor1d(negIds, 'int32'), userIds, posIds, negIds, epoch, index: b };
      // DE alone, forward + backward (no update), then the full step as the trainer runs it
      if (de) {
        const t0 = performance.now();
        const { value, grads } = tf.variableGrads(() => de.loss(batch), Object.values(de.variables()).concat(Object.values(student.variables)));
        const v = value.dataSync()[0];
        for (const g of Object.values(grads)) g.dispose();
        value.dispose();
        if (b > 0) { deMs += performance.now() - t0; experts += de.lastExpertsPerEntity; deLoss += v; }
      }
      const t0 = performance.now();
      trainingStep(student, terms, trainable, optimizer, batch);
      batch.users.dispose(); batch.pos.dispose(); batch.neg.dispose();
      if (b > 0) stepMs += performance.now() - t0; // the first step warms up kernels and caches
    }
    const row: Row = {
      mode, loops, round, threads, epoch, tau: deTemperature(epoch, settings.de), msPerStep: stepMs / steps, deMsPerStep: deMs / steps,
      expertsPerEntity: experts / steps, deLoss: deLoss / steps, epochSeconds: (stepMs / steps) * batchesPerEpoch / 1000,
    };
    rows.push(row);
    console.log(`${mode.padEnd(6)} ${loops.padEnd(6)} ${threads} thread${threads > 1 ? 's' : ' '} epoch ${String(epoch).padStart(4)} τ=${row.tau.toPrecision(3).padEnd(9)} step ${row.msPerStep.toFixed(1).padStart(7)} ms  DE f+b ${row.deMsPerStep.toFixed(1).padStart(7)} ms  experts/entity ${row.expertsPerEntity.toFixed(2).padStart(5)}  DE loss ${row.deLoss.toFixed(1).padStart(10)}  ≈ ${row.epochSeconds.toFixed(1)} s/epoch (train only)`);
    optimizer.dispose();
    for (const t of terms) t.dispose();
    student.dispose();
  }
}
setDeThreads(undefined);
setMixtureLoops(undefined);
if (loopsList.length > 1) {
  console.log('\nmedian ms per step, native / WebAssembly:');
  const median = (a: number[]) => { const s = [...a].sort((x, y) => x - y); return s[s.length >> 1]; };
  for (const mode of modes) for (const threads of threadCounts) for (const epoch of epochs) {
    const of = (l: MixtureLoops) => median(rows.filter((r) => r.mode === mode && r.threads === threads && r.epoch === epoch && r.loops === l).map((r) => r.msPerStep));
    const [w, n] = [of('wasm'), of('native')];
    console.log(`  ${mode} ${threads} thread${threads > 1 ? 's' : ' '} epoch ${String(epoch).padStart(4)}: step ${w.toFixed(1)} → ${n.toFixed(1)} ms (×${(n / w).toFixed(2)})`);
  }
}
mkdirSync(join(root, 'bench', 'results'), { recursive: true });
writeFileAtomic(join(root, 'bench', 'results', kind === 'bpr' ? 'de-speed.json' : `de-speed-${kind}.json`), JSON.stringify({ benchmark: 'de-speed', node: process.version, backend, kind, method, studentDim, batchSize, weightDecay, steps, rows }, null, 2) + '\n');
