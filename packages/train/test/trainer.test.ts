import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeSafetensors, readCard, sampleTriples, Rng, WEIGHTS_FILE, type Dataset } from '@derrd/core';
import { AdamL2, BprMf, NativeBprStep, NeuMf, TRAIN_DEFAULTS, initBackend, loadCheckpoint, setHelperThreads, tf, train, trainingStep, type LossTerm, type RecModel, type TrainConfig } from '@derrd/train';
import { maxAbsDiff, tinyDataset } from './helpers.js';

const tmp = () => mkdtempSync(join(tmpdir(), 'derrd-train-'));
const small = (over: Partial<TrainConfig> = {}): TrainConfig => ({ ...TRAIN_DEFAULTS, dim: 8, maxEpochs: 3, batchSize: 128, lr: 0.01, ...over });

for (const kind of ['bpr', 'neumf'] as const) {
  test(`${kind}: a training step on wasm equals the same step on cpu within float tolerance`, async () => {
    const ds = tinyDataset(3);
    const t = sampleTriples(ds, new Rng(0));
    const step = async (backend: 'wasm' | 'cpu') => {
      await initBackend(backend);
      const m = kind === 'bpr' ? new BprMf({ numUsers: ds.numUsers, numItems: ds.numItems, dim: 8 }, 7) : new NeuMf({ numUsers: ds.numUsers, numItems: ds.numItems, dim: 8 }, 7);
      const opt = new AdamL2({ lr: 0.01 });
      for (let s = 0; s < 2; s++) {
        const u = tf.tensor1d(t.users.subarray(s * 256, (s + 1) * 256), 'int32');
        const p = tf.tensor1d(t.pos.subarray(s * 256, (s + 1) * 256), 'int32');
        const n = tf.tensor1d(t.neg.subarray(s * 256, (s + 1) * 256), 'int32');
        const { value, grads } = tf.variableGrads(() => m.baseLoss(u, p, n), Object.values(m.variables));
        value.dispose();
        const byName: Record<string, tf.Tensor> = {};
        for (const [k, v] of Object.entries(m.variables)) byName[k] = grads[v.name];
        opt.apply(m.variables, byName);
      }
      const w = m.getWeights();
      m.dispose();
      return w;
    };
    const wasm = await step('wasm');
    const cpu = await step('cpu');
    for (const name of Object.keys(wasm)) {
      const diff = maxAbsDiff(wasm[name].data, cpu[name].data);
      assert.ok(diff < 1e-5, `${name}: wasm and cpu differ by ${diff}`);
    }
  });
}

test('same seed and backend give an identical loss curve and weights; another seed does not', async () => {
  const ds = tinyDataset(4);
  const run = async (seed: number) => {
    const out = tmp();
    const { card, model } = await train({ dataset: ds, datasetPath: 'tiny', config: small({ seed }), out, backend: 'wasm' });
    const weights = model.getWeights();
    model.dispose();
    return { losses: card.history.map((h) => h.loss), weights };
  };
  const a = await run(1);
  const b = await run(1);
  const c = await run(2);
  assert.deepEqual(a.losses, b.losses);
  assert.deepEqual(a.weights.user.data, b.weights.user.data);
  assert.notDeepEqual(a.losses, c.losses);
});

test('checkpoint: card records model, data hash, backend and per-N metrics; weights reload to the same scores', async () => {
  const ds = tinyDataset(5);
  const out = tmp();
  const probe = (m: RecModel) => tf.tidy(() => m.scorePairs(tf.tensor1d([0, 1], 'int32'), tf.tensor1d([2, 3], 'int32')).dataSync());
  // the scores of the model as it was at each saved epoch: the checkpoint must reload the last of them, whichever it is
  let savedProbe: Float32Array | null = null;
  let lastSaved = -1;
  let live: RecModel | null = null;
  const { card, model } = await train({
    dataset: ds, datasetPath: 'tiny', config: small({ model: 'neumf' }), out, backend: 'wasm',
    buildTerms: (m) => { live = m; return []; },
    onEvent: (e) => { if (e.type === 'epoch' && e.saved) { savedProbe = probe(live!) as Float32Array; lastSaved = e.record.epoch; } },
  });
  assert.equal(card.model.kind, 'neumf');
  assert.equal(card.dataset.hash, ds.manifest.hash);
  assert.equal(card.backend.name, 'wasm');
  assert.equal(card.history.length, 3);
  for (const n of [5, 10, 20]) assert.ok(typeof card.metrics.selected[`HR@${n}`] === 'number');
  const loaded = loadCheckpoint(out, ds);
  assert.equal(card.savedEpoch, lastSaved);
  assert.ok(savedProbe, 'epoch 0 always improves on nothing, so some epoch was saved');
  assert.deepEqual(probe(loaded.model), savedProbe);
  loaded.model.dispose();
  model.dispose();
});

test('bad checkpoints: other dims or data set, corrupt or truncated safetensors', async () => {
  const ds = tinyDataset(6);
  const out = tmp();
  (await train({ dataset: ds, datasetPath: 'tiny', config: small({ maxEpochs: 1 }), out, backend: 'wasm' })).model.dispose();
  const other = tinyDataset(7, 61);
  assert.throws(() => loadCheckpoint(out, other), /checkpoint is for 60 users × \d+ items but the data set has 61/);
  const sameShapeOtherData = tinyDataset(8);
  if (sameShapeOtherData.numItems === ds.numItems) assert.throws(() => loadCheckpoint(out, sameShapeOtherData), /trained on data set/);
  const weights = join(out, WEIGHTS_FILE);
  const bytes = readFileSync(weights);
  writeFileSync(weights, bytes.subarray(0, bytes.length - 100));
  assert.throws(() => loadCheckpoint(out, ds), /weights do not match the model card/);
  // a consistent card with a truncated file: the safetensors reader names the problem
  const card = JSON.parse(readFileSync(join(out, 'card.json'), 'utf8'));
  const { sha256 } = await import('@derrd/core');
  card.weights.sha256 = sha256(readFileSync(weights));
  writeFileSync(join(out, 'card.json'), JSON.stringify(card));
  assert.throws(() => loadCheckpoint(out, ds), /truncated|data section/);
  writeFileSync(weights, Buffer.from('not a safetensors file at all'));
  card.weights.sha256 = sha256(readFileSync(weights));
  writeFileSync(join(out, 'card.json'), JSON.stringify(card));
  assert.throws(() => loadCheckpoint(out, ds), /safetensors/);
});

test('an existing checkpoint is kept unless --resume or --force; resume refuses another config', async () => {
  const ds = tinyDataset(9);
  const out = tmp();
  (await train({ dataset: ds, datasetPath: 'tiny', config: small({ maxEpochs: 2 }), out, backend: 'wasm' })).model.dispose();
  await assert.rejects(train({ dataset: ds, datasetPath: 'tiny', config: small({ maxEpochs: 2 }), out, backend: 'wasm' }), /a checkpoint exists \(use --resume/);
  await assert.rejects(train({ dataset: ds, datasetPath: 'tiny', config: small({ maxEpochs: 4, lr: 0.02 }), out, backend: 'wasm', resume: true }), /--resume with a different configuration \(changed: config\.lr\)/);
  const resumed = await train({ dataset: ds, datasetPath: 'tiny', config: small({ maxEpochs: 4 }), out, backend: 'wasm', resume: true });
  assert.equal(resumed.card.history.length, 4);
  resumed.model.dispose();
  await assert.rejects(train({ dataset: ds, datasetPath: 'tiny', config: small(), out: tmp(), backend: 'wasm', resume: true }), /nothing to resume/);
});

test('NaN loss stops training, names epoch and batch, and keeps the last good checkpoint', async () => {
  const ds = tinyDataset(10);
  const out = tmp();
  const poison: LossTerm = {
    name: 'poison', weight: 1,
    variables: () => ({}),
    loss: (b) => (b.epoch === 1 && b.index === 2 ? tf.scalar(NaN) : tf.scalar(0)),
    settings: () => ({}),
    dispose: () => {},
  };
  await assert.rejects(train({ dataset: ds, datasetPath: 'tiny', config: small(), out, backend: 'wasm', terms: [poison] }), /loss became NaN at epoch 1, batch 2 .*last good checkpoint \(epoch 0/);
  const card = readCard(out);
  assert.equal(card.status, 'failed');
  assert.equal(card.savedEpoch, 0);
  assert.ok(existsSync(join(out, WEIGHTS_FILE)));
  assert.ok(loadCheckpoint(out, ds));
});

test('unknown model, unknown backend and a missing tensorflow backend give clear errors', async () => {
  const ds: Dataset = tinyDataset(11);
  await assert.rejects(train({ dataset: ds, datasetPath: 'tiny', config: small({ model: 'lightfm' as 'bpr' }), out: tmp(), backend: 'wasm' }), /unknown model "lightfm" \(expected one of bpr\|neumf\)/);
  await assert.rejects(initBackend('gpu' as 'wasm'), /unknown backend "gpu"/);
  let hasTfNode = true;
  try { await import('@tensorflow/tfjs-node' as string); } catch { hasTfNode = false; }
  if (!hasTfNode) await assert.rejects(initBackend('tensorflow'), /needs @tensorflow\/tfjs-node.*npm install @tensorflow\/tfjs-node/);
});

test('2 threads (native BPR step on both cores, evaluation overlapped with the next epoch) give the run of 1 thread bit for bit: history, saved weights, early stop, resume file', async () => {
  const ds = tinyDataset(6);
  const run = async (threads: 1 | 2) => {
    setHelperThreads(threads);
    try {
      const out = tmp();
      // patience 2 with a large learning rate: the run stops early, after an epoch that the overlapped run has already trained
      const { card, model } = await train({ dataset: ds, datasetPath: 'tiny', config: small({ seed: 3, maxEpochs: 30, patience: 2, lr: 0.05 }), out, backend: 'wasm' });
      const weights = model.getWeights();
      model.dispose();
      return { card, weights, saved: readFileSync(join(out, WEIGHTS_FILE)), resume: readFileSync(join(out, 'resume.safetensors')) };
    } finally {
      setHelperThreads(undefined);
    }
  };
  const inline = await run(1);
  const overlapped = await run(2);
  assert.equal(inline.card.status, 'early-stopped');
  assert.ok(inline.card.epochsRun < 30);
  assert.deepEqual([inline.card.backend.threads, overlapped.card.backend.threads], [1, 2]);
  const strip = (c: typeof inline.card) => ({ ...c, backend: { ...c.backend, threads: 0 }, history: c.history.map(({ trainSeconds: _t, evalSeconds: _e, ...h }) => h), wallSeconds: 0, createdAt: '', updatedAt: '', name: '' });
  assert.deepEqual(strip(overlapped.card), strip(inline.card));
  assert.deepEqual(overlapped.saved, inline.saved);
  // the model a stopped run returns is its last completed epoch's, not the one trained ahead
  assert.deepEqual(overlapped.weights.user.data, inline.weights.user.data);
  const state = (b: Buffer) => { const { metadata } = decodeSafetensors(b, 'resume'); const s = JSON.parse(metadata.state); delete s.wallSeconds; delete s.createdAt; s.history = s.history.map(({ trainSeconds: _t, evalSeconds: _e, ...h }: Record<string, unknown>) => h); return s; };
  assert.deepEqual(state(overlapped.resume), state(inline.resume));
  assert.deepEqual(decodeSafetensors(overlapped.resume, 'r').tensors['param.user'].data, decodeSafetensors(inline.resume, 'r').tensors['param.user'].data);
});

test('the native BPR step takes the tfjs step\'s update (loss, gradients, Adam with coupled L2) up to float rounding', async () => {
  await initBackend('wasm');
  const ds = tinyDataset(7);
  const t = sampleTriples(ds, new Rng(2));
  const make = () => new BprMf({ numUsers: ds.numUsers, numItems: ds.numItems, dim: 12 }, 5);
  const a = make();
  const b = make();
  const optA = new AdamL2({ lr: 0.01, weightDecay: 1e-3 });
  const optB = new AdamL2({ lr: 0.01, weightDecay: 1e-3 });
  const native = new NativeBprStep(b, optB, 256);
  for (let s = 0; s < 3; s++) {
    const ids = (x: Int32Array) => x.subarray(s * 256, (s + 1) * 256);
    const batch = { users: tf.tensor1d(ids(t.users), 'int32'), pos: tf.tensor1d(ids(t.pos), 'int32'), neg: tf.tensor1d(ids(t.neg), 'int32'), userIds: ids(t.users), posIds: ids(t.pos), negIds: ids(t.neg), epoch: 0, index: s };
    const tfjs = trainingStep(a, [], { ...a.variables }, optA, batch);
    const loss = native.run(ids(t.users), ids(t.pos), ids(t.neg));
    assert.ok(Math.abs(loss - tfjs.loss) < 1e-4 * Math.abs(tfjs.loss), `loss ${loss} vs ${tfjs.loss}`);
  }
  native.syncToModel();
  native.dispose();
  assert.equal(optB.step, 3);
  for (const name of ['user', 'item']) {
    const diff = maxAbsDiff(a.getWeights()[name].data, b.getWeights()[name].data);
    assert.ok(diff < 1e-6, `${name} differs by ${diff}`);
  }
  const ma = optA.state().tensors['v.item'].dataSync();
  const mb = optB.state().tensors['v.item'].dataSync();
  assert.ok(maxAbsDiff(ma, mb) < 1e-9, 'second moments');
});

test('lazy-adam: a step moves exactly the batch\'s rows (each once, duplicates included) and those as the dense step does; every other row and its moments stay', async () => {
  await initBackend('wasm');
  const ds = tinyDataset(7);
  const t = sampleTriples(ds, new Rng(4));
  const make = () => new BprMf({ numUsers: ds.numUsers, numItems: ds.numItems, dim: 12 }, 5);
  const [a, b] = [make(), make()];
  const before = a.getWeights();
  const optA = new AdamL2({ lr: 0.01, weightDecay: 1e-3 });
  const optB = new AdamL2({ lr: 0.01, weightDecay: 1e-3 });
  const dense = new NativeBprStep(a, optA, 64);
  const lazy = new NativeBprStep(b, optB, 64, { lazy: true });
  // a batch with repeated users and items
  const users = t.users.subarray(0, 64), pos = t.pos.subarray(0, 64), neg = t.neg.subarray(0, 64);
  assert.ok(new Set(users).size < 64, 'the batch repeats users');
  assert.equal(lazy.run(users, pos, neg), dense.run(users, pos, neg));
  for (const x of [dense, lazy]) { x.syncToModel(); x.dispose(); }
  const moved = { user: new Set(users), item: new Set([...pos, ...neg]) };
  for (const name of ['user', 'item'] as const) {
    const wa = a.getWeights()[name].data, wb = b.getWeights()[name].data, w0 = before[name].data;
    const va = optA.state().tensors[`v.${name}`].dataSync(), vb = optB.state().tensors[`v.${name}`].dataSync();
    const rows = name === 'user' ? ds.numUsers : ds.numItems;
    for (let r = 0; r < rows; r++) {
      for (let k = 0; k < 12; k++) {
        const i = r * 12 + k;
        if (moved[name].has(r)) {
          assert.equal(wb[i], wa[i], `${name} row ${r}: the dense step's value`);
          assert.equal(vb[i], va[i], `${name} row ${r}: the dense step's second moment`);
        } else {
          assert.equal(wb[i], w0[i], `${name} row ${r} stays`);
          assert.equal(vb[i], 0, `${name} row ${r}: no moment`);
          if (w0[i] !== 0) assert.notEqual(wa[i], w0[i], `${name} row ${r}: the dense step decays it`);
        }
      }
    }
  }
});

test('adamRows (rows without a gradient skip reading it) gives the dense SIMD Adam\'s floats, zeroes the gradient rows it read', async () => {
  const { instantiateBprSimd } = await import('../src/wasm/bpr-simd.js');
  const { ADAM_WASM_SHARED } = await import('../src/wasm/adam-simd.js');
  const memory = new WebAssembly.Memory({ initial: 16, maximum: 1024, shared: true });
  const rows = instantiateBprSimd(memory, 1024)!;
  const dense = new WebAssembly.Instance(new WebAssembly.Module(ADAM_WASM_SHARED(1024)), { env: { memory } }).exports.adam as (...a: number[]) => void;
  const F = new Float32Array(memory.buffer);
  const flags = new Uint8Array(memory.buffer);
  const rng = new Rng(9);
  for (const d of [1, 3, 4, 13]) {
    const n = 40 * d;
    const pad = Math.ceil(n / 4) * 4 + 16;
    const [p, g, m, v, p2, g2, m2, v2] = Array.from({ length: 8 }, (_x, k) => 256 + k * pad);
    const touched = (256 + 8 * pad) * 4;
    for (let i = 0; i < pad; i++) {
      F[p + i] = F[p2 + i] = i % 11 === 0 ? 0 : rng.normal();
      F[m + i] = F[m2 + i] = rng.normal() * 1e-3;
      F[v + i] = F[v2 + i] = rng.float() * 1e-5;
      F[g + i] = F[g2 + i] = 0;
    }
    for (let r = 0; r < 40; r++) {
      flags[touched + r] = r % 3 === 0 ? 1 : 0;
      if (r % 3 === 0) for (let k = 0; k < d; k++) F[g + r * d + k] = F[g2 + r * d + k] = rng.normal();
    }
    const hyper = [0.01, 1 / Math.sqrt(0.002), 1e-8, 0.9, 0.1, 0.999, 0.001, 1e-3];
    dense(p * 4, g * 4, m * 4, v * 4, p * 4, m * 4, v * 4, Math.ceil(n / 4) * 4, ...hyper);
    rows.adamRows(p2 * 4, g2 * 4, m2 * 4, v2 * 4, touched, 0, 40, d, ...hyper);
    for (let i = 0; i < n; i++) {
      assert.ok(Object.is(F[p + i], F[p2 + i]) && Object.is(F[m + i], F[m2 + i]) && Object.is(F[v + i], F[v2 + i]), `d=${d} element ${i}`);
      assert.equal(F[g2 + i], 0);
    }
    for (let r = 0; r < 40; r++) assert.equal(flags[touched + r], 0);
  }
});
