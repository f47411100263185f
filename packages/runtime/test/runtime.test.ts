import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateSynthetic, prepareFromInteractions, saveDataset, trainItemsOf, type Dataset } from '@derrd/core';
import { TRAIN_DEFAULTS, initBackend, train } from '@derrd/train';
import { GraphBuilder, encodeModel, exportCheckpoint } from '@derrd/export';
import { createRecommender, vulkanLoaderPresent } from '@derrd/runtime';

const work = mkdtempSync(join(tmpdir(), 'derrd-runtime-'));
const model = join(work, 'bpr.onnx');
let ds: Dataset;

before(async () => {
  await initBackend('wasm');
  ds = prepareFromInteractions(generateSynthetic({ numUsers: 50, numItems: 120, seed: 61 }), { kind: 'synthetic', path: null, sha256: null }, { numCandidates: 30 });
  const dataDir = join(work, 'data');
  saveDataset(ds, dataDir);
  const ckpt = join(work, 'ckpt');
  (await train({ dataset: ds, datasetPath: dataDir, out: ckpt, backend: 'wasm', config: { ...TRAIN_DEFAULTS, dim: 8, maxEpochs: 1, batchSize: 256, lr: 0.01 } })).model.dispose();
  await exportCheckpoint({ checkpoint: ckpt, out: model });
});

/** A copy of the model with its id map rewritten by `edit` (the model file itself unchanged). */
function withIdMap(name: string, edit: (maps: { datasetHash?: string; users: string[]; items: string[] }) => unknown): string {
  const maps = JSON.parse(readFileSync(model.replace('.onnx', '.ids.json'), 'utf8'));
  // the model's metadata names bpr.ids.json: a copy in its own directory keeps that name
  const dir = mkdtempSync(join(work, `${name}-`));
  copyFileSync(model, join(dir, 'bpr.onnx'));
  writeFileSync(join(dir, 'bpr.ids.json'), JSON.stringify(edit(maps)));
  return join(dir, 'bpr.onnx');
}

test('recommend() speaks raw ids (from the id map next to the model) and matches recommendDense()', async () => {
  const rec = await createRecommender(model);
  const denseUsers = [0, 7, 19];
  const rawUsers = denseUsers.map((u) => ds.userIds.rawId(u));
  const dense = await rec.recommendDense(denseUsers, 5);
  const raw = await rec.recommend(rawUsers, 5);
  assert.deepEqual(raw.items, dense.items.map((row) => row.map((i) => ds.itemIds.rawId(i))));
  assert.deepEqual(raw.scores, dense.scores);
  // numeric raw ids may be given as numbers; items come back as raw ids, which here differ from the dense indices
  assert.deepEqual(await rec.recommend([Number(rawUsers[1])], 5), await rec.recommend([rawUsers[1]], 5));
  assert.notDeepEqual(raw.items[0], dense.items[0].map(String));
  await assert.rejects(rec.recommend(['no-such-user'], 5), /unknown user "no-such-user" \(not among the model's 50 users\)/);
  await assert.rejects(rec.recommend([rawUsers[0]], 5, [['no-such-item']]), /unknown item "no-such-item" in exclude/);
  await assert.rejects(rec.recommend([-3], 5), /is not a raw id/);
  await rec.close();
});

test('exclusions hold in recommendDense(): excluded items never come back, fewer than k when too few are left, no -Infinity scores', async () => {
  const rec = await createRecommender(model);
  const all = Array.from({ length: ds.numItems }, (_v, i) => i);
  assert.deepEqual(await rec.recommendDense([0], 3, [all]), { items: [[]], scores: [[]] });
  const users = [1, 2, 3];
  const seen = users.map((u) => Array.from(trainItemsOf(ds, u)));
  const r = await rec.recommendDense(users, ds.numItems, seen);
  users.forEach((_u, row) => {
    assert.equal(r.items[row].length, ds.numItems - new Set(seen[row]).size);
    assert.ok(r.items[row].every((i) => !seen[row].includes(i)));
    assert.ok(r.scores[row].every((s) => Number.isFinite(s)));
  });
  // the top of the list is the model's ranking of what is left
  const plain = await rec.recommendDense([1], 10);
  const top = plain.items[0][0];
  const without = await rec.recommendDense([1], 10, [[top]]);
  assert.deepEqual(without.items[0].slice(0, 9), plain.items[0].slice(1, 10));
  await rec.close();
});

test('exclusions hold in recommend() with raw ids', async () => {
  const rec = await createRecommender(model);
  const user = ds.userIds.rawId(4);
  const seen = Array.from(trainItemsOf(ds, 4), (i) => ds.itemIds.rawId(i));
  const r = await rec.recommend([user], ds.numItems, [seen]);
  assert.equal(r.items[0].length, ds.numItems - seen.length);
  assert.ok(r.items[0].every((i) => !seen.includes(i)));
  assert.ok(r.scores[0].every((s) => Number.isFinite(s)));
  assert.deepEqual((await rec.recommend([user], 2, [ds.itemIds.rawIds()])).items, [[]]);
  await rec.close();
});

test('an id map is bound to its model by the data set hash: another data set\'s map, a map without hash or of another size is refused', async () => {
  const other = withIdMap('other', (m) => ({ ...m, datasetHash: 'f'.repeat(64), users: [...m.users].reverse() }));
  await assert.rejects(createRecommender(other), /the id map is for data set ffffffffffff…, but the model was trained on [0-9a-f]{12}…; it belongs to another export/);
  const noHash = withIdMap('nohash', (m) => ({ users: m.users, items: m.items }));
  await assert.rejects(createRecommender(noHash), /carries no data set hash/);
  const short = withIdMap('short', (m) => ({ ...m, items: m.items.slice(1) }));
  await assert.rejects(createRecommender(short), /50 users × 119 items, but the model has 50 × 120/);
  const dup = withIdMap('dup', (m) => ({ ...m, users: [m.users[1], ...m.users.slice(1)] }));
  await assert.rejects(createRecommender(dup), /user id "[^"]+" appears twice/);
  // dense ids still work without any map
  const dense = await createRecommender(other, { idMaps: 'none' });
  assert.equal(dense.idMaps, null);
  assert.equal((await dense.recommendDense([0], 3)).items[0].length, 3);
  await assert.rejects(dense.recommend(['1'], 3), /no id map loaded/);
  await dense.close();
});

test('a model whose metadata points its id map outside its directory is refused', async () => {
  const g = new GraphBuilder(17);
  const users = g.input('user_ids', 'int64', ['batch']);
  const table = g.initializer('t', 'float32', [2, 2], Float32Array.from([1, 0, 0, 1]));
  const scores = g.node('MatMul', [g.node('Gather', [table, users], { axis: 0 })[0], table])[0];
  g.node('TopK', [scores, g.input('k', 'int64', [1])], { axis: -1, largest: 1, sorted: 1 }, ['scores', 'items']);
  g.output('items');
  g.output('scores');
  const path = join(work, 'escape.onnx');
  const card = JSON.stringify({ name: 'x', dataset: { hash: 'a'.repeat(64) } });
  writeFileSync(path, encodeModel(g.toModel({ producerVersion: 't', docString: '', metadata: { 'derrd.format': 'derrd-onnx/1', 'derrd.num_users': '2', 'derrd.num_items': '2', 'derrd.dim': '2', 'derrd.id_maps': '../../etc/passwd.json', 'derrd.card': card } })));
  await assert.rejects(createRecommender(path, { idMaps: 'required' }), /id-map name "\.\.\/\.\.\/etc\/passwd\.json" is not a plain \.json file name next to the model/);
});

test('reading a model: only regular files, under the size cap', async () => {
  await assert.rejects(createRecommender(work), /is a directory, expected a regular file/);
  await assert.rejects(createRecommender('/dev/zero'), /is a character device, expected a regular file/);
  await assert.rejects(createRecommender(model, { maxModelBytes: 1000 }), /bytes, over the limit of 1,000 bytes/);
  await assert.rejects(createRecommender(join(work, 'nope.onnx')), /model file not found/);
});

test('--provider webgpu: runs on a WebGPU adapter when there is one, else a clear error (never a silent fallback to cpu)', async () => {
  let rec;
  try {
    rec = await createRecommender(model, { provider: 'webgpu' });
  } catch (err) {
    const message = (err as Error).message;
    assert.match(message, /no WebGPU adapter: onnxruntime-node's WebGPU provider \(Dawn, over Vulkan on Linux\) found no usable GPU/);
    assert.match(message, /Use --provider cpu/);
    if (!vulkanLoaderPresent()) assert.match(message, /libvulkan\.so\.1\) is not installed here: `apt-get install libvulkan1`/);
    return;
  }
  // a machine with a GPU: the same top-k as the cpu provider
  assert.equal(rec.provider, 'webgpu');
  const cpu = await createRecommender(model, { provider: 'cpu' });
  const users = Array.from({ length: 20 }, (_v, k) => k);
  assert.deepEqual((await rec.recommendDense(users, 10)).items, (await cpu.recommendDense(users, 10)).items);
  await cpu.close();
  await rec.close();
});
