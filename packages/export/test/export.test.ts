import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Rng, generateSynthetic, prepareFromInteractions, saveDataset, type Dataset } from '@derrd/core';
import { TRAIN_DEFAULTS, initBackend, loadCheckpoint, train } from '@derrd/train';
import { exportCheckpoint, verifyParity, GraphBuilder, encodeModel, quantize } from '@derrd/export';
import { createRecommender } from '@derrd/runtime';

const work = mkdtempSync(join(tmpdir(), 'derrd-export-'));
let ds: Dataset;
const dataDir = join(work, 'data');
const ckpt = { bpr: join(work, 'bpr'), neumf: join(work, 'neumf') };

const hasPythonOnnx = spawnSync('python3', ['-c', 'import onnx'], { encoding: 'utf8' }).status === 0;

/** The standard ONNX checker (strict, full) and strict shape inference, through the onnx Python package when present. */
function onnxChecker(path: string): { ok: boolean; output: string } {
  const r = spawnSync('python3', ['-c', `
import onnx, sys
m = onnx.load(sys.argv[1])
onnx.checker.check_model(m, full_check=True)
onnx.shape_inference.infer_shapes(m, check_type=True, strict_mode=True, data_prop=True)
print("ok")`, path], { encoding: 'utf8' });
  return { ok: r.status === 0, output: r.stdout + r.stderr };
}

before(async () => {
  await initBackend('wasm');
  ds = prepareFromInteractions(generateSynthetic({ numUsers: 80, numItems: 300, seed: 31 }), { kind: 'synthetic', path: null, sha256: null }, { numCandidates: 50 });
  saveDataset(ds, dataDir);
  for (const kind of ['bpr', 'neumf'] as const) {
    const r = await train({ dataset: ds, datasetPath: dataDir, out: ckpt[kind], backend: 'wasm', config: { ...TRAIN_DEFAULTS, model: kind, dim: 8, maxEpochs: 2, batchSize: 256, lr: 0.01 } });
    r.model.dispose();
  }
});

for (const kind of ['bpr', 'neumf'] as const) {
  test(`${kind}: exported model equals the trainer (scores atol 1e-5, identical top-k ids), with and without exclusions`, async () => {
    const out = join(work, `${kind}.onnx`);
    const result = await exportCheckpoint({ checkpoint: ckpt[kind], out });
    assert.ok(existsSync(out) && existsSync(result.idMapsPath));
    const { model } = loadCheckpoint(ckpt[kind], ds);
    const scorer = model.createScorer();
    const users = Int32Array.from({ length: 30 }, (_v, k) => (k * 7) % ds.numUsers);
    const plain = await verifyParity(out, (u) => scorer.scoreAll(u), ds.numItems, users, 10);
    assert.ok(plain.ok, JSON.stringify(plain));
    const exclude = Array.from(users, (u) => Array.from(ds.trainItems.subarray(ds.trainIndptr[u], ds.trainIndptr[u + 1])));
    const masked = await verifyParity(out, (u) => scorer.scoreAll(u), ds.numItems, users, 10, { exclude });
    assert.ok(masked.ok, JSON.stringify(masked));
    const wasm = await verifyParity(out, (u) => scorer.scoreAll(u), ds.numItems, users, 10, { exclude, provider: 'wasm' });
    assert.ok(wasm.ok, JSON.stringify(wasm));
    scorer.dispose();
    model.dispose();
    const rec = await createRecommender(out);
    assert.equal(rec.info?.numItems, ds.numItems);
    assert.equal((rec.info?.card as { model: { kind: string } }).model.kind, kind);
    assert.deepEqual(rec.missing, []);
    const ids = JSON.parse(readFileSync(result.idMapsPath, 'utf8'));
    assert.deepEqual(ids.items, ds.itemIds.rawIds());
    await rec.close();
  });

  test(`${kind}: exports pass the standard ONNX checker (strict) and shape inference at opsets 11, 13, 17 and 21`, { skip: !hasPythonOnnx && 'python: the onnx package is not installed (.ci/run installs it from the local wheel when present)' }, async () => {
    for (const opset of [11, 13, 17, 21]) {
      const out = join(work, `${kind}-opset${opset}.onnx`);
      await exportCheckpoint({ checkpoint: ckpt[kind], out, opset });
      const check = onnxChecker(out);
      assert.ok(check.ok, `opset ${opset}: ${check.output}`);
    }
    const out = join(work, `${kind}-int8.onnx`);
    await exportCheckpoint({ checkpoint: ckpt[kind], out, int8: true });
    assert.ok(onnxChecker(out).ok);
  });
}

test('int8 tables: about a quarter of the float size, and top-10 lists close to the float model', async () => {
  const f = join(work, 'bpr-f.onnx'), q = join(work, 'bpr-q.onnx');
  const rf = await exportCheckpoint({ checkpoint: ckpt.bpr, out: f });
  const rq = await exportCheckpoint({ checkpoint: ckpt.bpr, out: q, int8: true });
  // d=8 here: int8 + one fp32 scale per row is (8 + 4) bytes against 32, plus the metadata
  assert.ok(rq.bytes < rf.bytes * 0.6, `${rq.bytes} vs ${rf.bytes}`);
  const a = await createRecommender(f), b = await createRecommender(q);
  const users = Array.from({ length: 40 }, (_v, k) => k);
  const ra = await a.recommendDense(users, 10), rb = await b.recommendDense(users, 10);
  let overlap = 0;
  for (let r = 0; r < users.length; r++) overlap += ra.items[r].filter((i) => rb.items[r].includes(i)).length;
  assert.ok(overlap / (10 * users.length) > 0.8, `overlap ${overlap / (10 * users.length)}`);
  assert.equal(b.info?.quantization, 'int8-symmetric-per-row');
  // each int8 score is within the dequantisation bound of the float score of the same (user, item): with per-row
  // errors |e| ≤ scale/2, |⟨u, i⟩ − ⟨û, î⟩| ≤ Σ_d |u_d|·s_i/2 + |i_d|·s_u/2 + s_u·s_i/4
  const { model } = loadCheckpoint(ckpt.bpr, ds);
  const w = model.getWeights();
  model.dispose();
  const d = w.user.shape[1];
  const su = quantize(w.user.data, ds.numUsers, d, 'row').scale, si = quantize(w.item.data, ds.numItems, d, 'row').scale;
  let worst = 0;
  for (let r = 0; r < users.length; r++) {
    for (let k = 0; k < 10; k++) {
      const u = users[r], i = rb.items[r][k];
      let exact = 0, bound = 0;
      for (let c = 0; c < d; c++) {
        const x = w.user.data[u * d + c], y = w.item.data[i * d + c];
        exact += x * y;
        bound += (Math.abs(x) * si[i]) / 2 + (Math.abs(y) * su[u]) / 2 + (su[u] * si[i]) / 4;
      }
      const err = Math.abs(rb.scores[r][k] - exact);
      assert.ok(err <= bound + 1e-6, `user ${u} item ${i}: int8 score off by ${err}, bound ${bound}`);
      worst = Math.max(worst, err / bound);
    }
  }
  assert.ok(worst > 0, 'the int8 model is actually quantised');
  await a.close(); await b.close();
});

test('int8 quantisation: per-row (and per-column) dequantisation error at most half a step, the largest entry exact', () => {
  const rng = new Rng(3);
  const rows = 7, cols = 5;
  const data = Float32Array.from({ length: rows * cols }, () => rng.normal() * 3);
  data[2 * cols + 1] = 0; // a zero entry stays zero
  data.fill(0, 4 * cols, 5 * cols); // an all-zero row gets scale 1 and zeros
  for (const axis of ['row', 'col'] as const) {
    const { q, scale } = quantize(data, rows, cols, axis);
    assert.equal(scale.length, axis === 'row' ? rows : cols);
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < cols; c++) {
        const s = scale[axis === 'row' ? r : c];
        const x = data[r * cols + c];
        assert.ok(Math.abs(q[r * cols + c] * s - x) <= s / 2 + 1e-6, `${axis} (${r}, ${c}): ${q[r * cols + c]}·${s} vs ${x}`);
        assert.ok(Math.abs(q[r * cols + c]) <= 127);
      }
    }
    for (let g = 0; g < scale.length; g++) {
      const members = Array.from({ length: axis === 'row' ? cols : rows }, (_v, k) => (axis === 'row' ? g * cols + k : k * cols + g));
      const max = Math.max(...members.map((m) => Math.abs(data[m])));
      if (max === 0) { assert.equal(scale[g], 1); continue; }
      assert.ok(Math.abs(scale[g] - max / 127) < 1e-7 * max, `${axis} ${g}: scale ${scale[g]} vs ${max / 127}`);
      const arg = members.find((m) => Math.abs(data[m]) === max)!;
      assert.equal(Math.abs(q[arg]), 127);
    }
  }
  assert.equal(quantize(data, rows, cols, 'row').q[2 * cols + 1], 0);
});

test('bad inputs: missing or corrupt checkpoint, unknown model type, unsupported opset, k over the item count; nothing half-written', async () => {
  const out = join(work, 'bad', 'm.onnx');
  await assert.rejects(exportCheckpoint({ checkpoint: join(work, 'nope'), out }), /checkpoint not found/);
  await assert.rejects(exportCheckpoint({ checkpoint: ckpt.bpr, out, opset: 9 }), /unsupported opset 9 \(derrd exports opsets 11–21/);
  await assert.rejects(exportCheckpoint({ checkpoint: ckpt.bpr, out, defaultK: ds.numItems + 1 }), /must be between 1 and the number of items/);
  const broken = join(work, 'broken');
  spawnSync('cp', ['-r', ckpt.bpr, broken]);
  const card = JSON.parse(readFileSync(join(broken, 'card.json'), 'utf8'));
  writeFileSync(join(broken, 'card.json'), JSON.stringify({ ...card, model: { ...card.model, kind: 'lightgcn' } }));
  await assert.rejects(exportCheckpoint({ checkpoint: broken, out }), /unknown model type "lightgcn"/);
  writeFileSync(join(broken, 'card.json'), JSON.stringify(card));
  writeFileSync(join(broken, 'model.safetensors'), 'garbage');
  await assert.rejects(exportCheckpoint({ checkpoint: broken, out }), /weights do not match the model card/);
  assert.ok(!existsSync(join(work, 'bad')) || readdirSync(join(work, 'bad')).length === 0);
});

test('a model that fails its verify step never reaches the output: the previous export and its id map stay, no temporary is left', async () => {
  const dir = join(work, 'verify');
  const out = join(dir, 'v0.onnx');
  const first = await exportCheckpoint({ checkpoint: ckpt.bpr, out });
  const before = { model: readFileSync(out), ids: readFileSync(first.idMapsPath) };
  let checked = '';
  await assert.rejects(exportCheckpoint({
    checkpoint: ckpt.neumf, out, force: true,
    verify: async (tmp) => { checked = tmp; assert.ok(existsSync(tmp)); throw new Error('parity check failed'); },
  }), /parity check failed/);
  assert.notEqual(checked, out, 'verify ran on a temporary, not on the output path');
  assert.deepEqual(readFileSync(out), before.model);
  assert.deepEqual(readFileSync(first.idMapsPath), before.ids);
  assert.deepEqual(readdirSync(dir).sort(), ['v0.ids.json', 'v0.onnx']);
  const passed = await exportCheckpoint({ checkpoint: ckpt.neumf, out, force: true, verify: async () => undefined });
  assert.equal((passed.card.model as { kind: string }).kind, 'neumf');
});

test('runtime: not-ONNX file, model without derrd metadata (runs, says what is missing), bad ids and k, cuda missing', async () => {
  const garbage = join(work, 'garbage.onnx');
  writeFileSync(garbage, Buffer.from('this is not a model'));
  await assert.rejects(createRecommender(garbage), /not an ONNX model/);
  // a bare model with derrd's inputs and outputs but no metadata
  const g = new GraphBuilder(17);
  const users = g.input('user_ids', 'int64', ['batch']);
  const table = g.initializer('t', 'float32', [3, 2], Float32Array.from([1, 0, 0, 1, 1, 1]));
  const itemsT = g.initializer('it', 'float32', [2, 4], Float32Array.from([1, 2, 0, 1, 0, 1, 3, 1]));
  const scores = g.node('MatMul', [g.node('Gather', [table, users], { axis: 0 })[0], itemsT])[0];
  const k = g.input('k', 'int64', [1]);
  g.node('TopK', [scores, k], { axis: -1, largest: 1, sorted: 1 }, ['scores', 'items']);
  g.output('items');
  g.output('scores');
  const bare = join(work, 'bare.onnx');
  writeFileSync(bare, encodeModel(g.toModel({ producerVersion: 'test', docString: '', metadata: {} })));
  const rec = await createRecommender(bare);
  assert.equal(rec.info, null);
  assert.match(rec.missing.join(' '), /derrd metadata/);
  const r = await rec.recommendDense([0, 2], 2);
  // user 0 scores [1, 2, 0, 1] and user 2 [1, 3, 3, 2]: ties go to the lower item id
  assert.deepEqual(r.items, [[1, 0], [1, 2]]);
  await assert.rejects(rec.recommendDense([0], 2, [[1]]), /model has no "exclude" input/);
  await assert.rejects(rec.recommendDense([-1], 2), /user id -1 is not a valid dense id/);
  await rec.close();
  const full = await createRecommender(join(work, 'bpr.onnx'));
  await assert.rejects(full.recommendDense([ds.numUsers], 5), /user id \d+ is not a valid dense id \(0\.\.\d+\)/);
  await assert.rejects(full.recommendDense([0], 0), /k must be a positive integer/);
  await assert.rejects(full.recommendDense([0], ds.numItems + 1), /exceeds the number of items/);
  await assert.rejects(full.recommendDense([0], 5, [[ds.numItems]]), /excluded item id/);
  await assert.rejects(full.recommendDense([1.5], 5), /not a valid dense id/);
  await full.close();
  await assert.rejects(createRecommender(join(work, 'bpr.onnx'), { provider: 'cuda' }), /CUDA execution provider is not installed: run `npm run setup:cuda`/);
});
