import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Rng, generateSynthetic, prepareFromInteractions, saveDataset, trainItemsOf, type Dataset } from '@derrd/core';
import { TRAIN_DEFAULTS, initBackend, train, type RecModel } from '@derrd/train';
import { GraphBuilder, encodeModel, exportCheckpoint, referenceTopK } from '@derrd/export';
import { createRecommender, vulkanLoaderPresent, type Recommender } from '@derrd/runtime';

const work = mkdtempSync(join(tmpdir(), 'derrd-runtime-'));
const model = join(work, 'bpr.onnx');
let ds: Dataset;
/** the trained model the export was written from: the reference scores, computed without onnxruntime or the id map */
let trained: RecModel;

before(async () => {
  await initBackend('wasm');
  // raw ids that are not the dense ids: user u is "<π(u)>" (numeric, so numbers are accepted for it, but listed in
  // another order than its dense id), item i is "i<σ(i)>"; a path that skipped the id map would answer for someone else
  const raw = generateSynthetic({ numUsers: 50, numItems: 120, seed: 61 });
  const rng = new Rng(67);
  const userPerm = rng.shuffle(Array.from({ length: 50 }, (_v, k) => k));
  const itemPerm = rng.shuffle(Array.from({ length: 120 }, (_v, k) => k));
  const shuffled = { ...raw, users: raw.users.map((u) => String(userPerm[Number(u)])), items: raw.items.map((i) => `i${itemPerm[Number(i)]}`) };
  ds = prepareFromInteractions(shuffled, { kind: 'synthetic', path: null, sha256: null }, { numCandidates: 30 });
  const dataDir = join(work, 'data');
  saveDataset(ds, dataDir);
  const ckpt = join(work, 'ckpt');
  trained = (await train({ dataset: ds, datasetPath: dataDir, out: ckpt, backend: 'wasm', config: { ...TRAIN_DEFAULTS, dim: 8, maxEpochs: 1, batchSize: 256, lr: 0.01 } })).model;
  await exportCheckpoint({ checkpoint: ckpt, out: model });
});

after(() => trained?.dispose());

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

/** Runtime scores are onnxruntime's, the reference's tfjs': both float32, rounded differently. */
const TOLERANCE = 1e-4;

/** The trained model's top k for dense users (tfjs, no onnxruntime, no id map), in raw ids through the data set's maps. */
function referenceRaw(denseUsers: number[], k: number, excludeDense: number[][]): { items: string[][]; scores: number[][] } {
  const scorer = trained.createScorer();
  try {
    const ref = referenceTopK(scorer.scoreAll(Int32Array.from(denseUsers)), ds.numItems, denseUsers.length, k, excludeDense);
    // referenceTopK marks exclusions -Infinity; they must not count as answers
    return { items: ref.items.map((row, r) => row.filter((_i, c) => ref.scores[r][c] !== -Infinity).map((i) => ds.itemIds.rawId(i))), scores: ref.scores.map((row) => row.filter((x) => x !== -Infinity)) };
  } finally {
    scorer.dispose();
  }
}

/** Same ids in the same order (a swap inside a float tie of TOLERANCE allowed) and scores within TOLERANCE. */
function assertSameRanking(got: { items: string[]; scores: number[] }, want: { items: string[]; scores: number[] }, what: string): void {
  assert.equal(got.items.length, want.items.length, `${what}: ${got.items.length} items, expected ${want.items.length}`);
  const wantScore = new Map(want.items.map((item, c) => [item, want.scores[c]]));
  for (let c = 0; c < got.items.length; c++) {
    assert.ok(Math.abs(got.scores[c] - want.scores[c]) <= TOLERANCE, `${what}: position ${c} score ${got.scores[c]}, reference ${want.scores[c]}`);
    if (got.items[c] === want.items[c]) continue;
    const own = wantScore.get(got.items[c]);
    assert.ok(own !== undefined && Math.abs(own - want.scores[c]) <= TOLERANCE, `${what}: position ${c} is ${got.items[c]}, reference ${want.items[c]}`);
  }
}

test('the fixture\'s raw ids are not its dense ids (so the id map is exercised)', () => {
  const users = ds.userIds.rawIds();
  assert.ok(users.filter((u, dense) => u !== String(dense)).length > 45, 'most users must have a raw id other than their dense id');
  assert.ok(ds.itemIds.rawIds().every((i, dense) => i !== String(dense)));
});

test('a batched recommend() with mixed exclusions: each row equals that user alone, and both equal the trained model\'s own top k', async () => {
  const rec = await createRecommender(model, { threads: 1 });
  try {
    const denseUsers = [9, 0, 33, 17, 48, 9];
    const rawUsers = denseUsers.map((u) => ds.userIds.rawId(u));
    // no exclusions, the user's seen items, seen items plus two more, an item list that overlaps the seen items, ...
    const excludeDense = denseUsers.map((u, r) => {
      const seen = Array.from(trainItemsOf(ds, u));
      return [[], seen, [...seen, 5, 77], [seen[0], 3, 3, 100], seen.slice(1), [119]][r];
    });
    const excludeRaw = excludeDense.map((list) => list.map((i) => ds.itemIds.rawId(i)));
    for (const k of [1, 10, ds.numItems]) {
      const batch = await rec.recommend(rawUsers, k, excludeRaw);
      const want = referenceRaw(denseUsers, k, excludeDense.map((l) => [...new Set(l)]));
      for (let r = 0; r < denseUsers.length; r++) {
        const alone = await rec.recommend([rawUsers[r]], k, [excludeRaw[r]]);
        assert.deepEqual({ items: batch.items[r], scores: batch.scores[r] }, { items: alone.items[0], scores: alone.scores[0] }, `k ${k} row ${r}: batch vs alone`);
        assertSameRanking({ items: batch.items[r], scores: batch.scores[r] }, { items: want.items[r], scores: want.scores[r] }, `k ${k} row ${r} (user ${rawUsers[r]})`);
      }
    }
  } finally {
    await rec.close();
  }
});

/** Whether onnxruntime-node's WebGPU provider finds an adapter here: the tests below each need one case. */
async function openWebgpu(): Promise<Recommender | Error> {
  try {
    return await createRecommender(model, { provider: 'webgpu' });
  } catch (err) {
    return err as Error;
  }
}

// reasons starting "hardware:" are the skips .ci/run allows: no test setup can give a machine a GPU
test('--provider webgpu without an adapter: a clear error naming the fix (never a silent fallback to cpu)', async (t) => {
  const webgpu = await openWebgpu();
  if (!(webgpu instanceof Error)) {
    await webgpu.close();
    t.skip('hardware: this machine has a WebGPU adapter, so the no-adapter error cannot occur here');
    return;
  }
  assert.match(webgpu.message, /no WebGPU adapter: onnxruntime-node's WebGPU provider \(Dawn, over Vulkan on Linux\) found no usable GPU/);
  assert.match(webgpu.message, /Use --provider cpu/);
  if (!vulkanLoaderPresent()) assert.match(webgpu.message, /libvulkan\.so\.1\) is not installed here: `apt-get install libvulkan1`/);
  else assert.doesNotMatch(webgpu.message, /libvulkan\.so\.1\) is not installed/);
});

test('--provider webgpu on a WebGPU adapter: the same top-k as the cpu provider', async (t) => {
  const rec = await openWebgpu();
  if (rec instanceof Error) {
    t.skip('hardware: no WebGPU adapter on this machine, so WebGPU\'s top-k was not compared with the CPU\'s');
    return;
  }
  assert.equal(rec.provider, 'webgpu');
  const cpu = await createRecommender(model, { provider: 'cpu' });
  const users = Array.from({ length: 20 }, (_v, k) => k);
  assert.deepEqual((await rec.recommendDense(users, 10)).items, (await cpu.recommendDense(users, 10)).items);
  await cpu.close();
  await rec.close();
});
