/**
 * The browser library's contract, run in Node (onnxruntime-web's WASM backend runs there too; the page in headless
 * Chromium is test/browser.test.ts and test/packaging.test.ts): models and id maps fetched over HTTP, the same top-k as
 * the Node runtime, raw ids and exclusions, the id map bound to its model by the data-set hash, plain errors, and the
 * asset copy step.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateSynthetic, prepareFromInteractions, saveDataset, type Dataset } from '@derrd/core';
import { TRAIN_DEFAULTS, initBackend, train } from '@derrd/train';
import { exportCheckpoint } from '@derrd/export';
import { createRecommender } from '@derrd/runtime';
import { loadRecommender, type BrowserRecommender } from '@derrd/web';
import { ORT_WASM_FILES, copyOrtAssets, ortDistDir } from '@derrd/web/assets';

const work = mkdtempSync(join(tmpdir(), 'derrd-web-'));
const site = join(work, 'site');
let ds: Dataset;
let server: Server;
let base: string;
const wasmPaths = ortDistDir() + '/';

before(async () => {
  await initBackend('wasm');
  ds = prepareFromInteractions(generateSynthetic({ numUsers: 80, numItems: 150, seed: 23 }), { kind: 'synthetic', path: null, sha256: null }, { numCandidates: 30 });
  saveDataset(ds, join(work, 'data'));
  (await train({ dataset: ds, datasetPath: join(work, 'data'), out: join(work, 'ckpt'), backend: 'wasm', config: { ...TRAIN_DEFAULTS, dim: 8, maxEpochs: 1, batchSize: 256, lr: 0.01 } })).model.dispose();
  await exportCheckpoint({ checkpoint: join(work, 'ckpt'), out: join(site, 'model.onnx') });
  // a copy whose id map comes from another data set of the same size
  mkdirSync(join(site, 'other'));
  copyFileSync(join(site, 'model.onnx'), join(site, 'other', 'model.onnx'));
  const maps = JSON.parse(readFileSync(join(site, 'model.ids.json'), 'utf8'));
  writeFileSync(join(site, 'other', 'model.ids.json'), JSON.stringify({ ...maps, datasetHash: 'f'.repeat(64) }));
  mkdirSync(join(site, 'nomaps'));
  copyFileSync(join(site, 'model.onnx'), join(site, 'nomaps', 'model.onnx'));
  writeFileSync(join(site, 'not-onnx.onnx'), 'hello');
  server = createServer((req, res) => {
    try {
      res.end(readFileSync(join(site, new URL(req.url ?? '/', 'http://x').pathname)));
    } catch {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}/`;
});

after(() => server.close());

test('loadRecommender: the same top-10 as the Node runtime, in dense and raw ids; exclusions never recommended; model facts from its metadata', async () => {
  const rec: BrowserRecommender = await loadRecommender(new URL('model.onnx', base).href, { wasmPaths, numThreads: 1 });
  const node = await createRecommender(join(site, 'model.onnx'));
  try {
    assert.equal(rec.numUsers, ds.numUsers);
    assert.equal(rec.numItems, ds.numItems);
    assert.equal(rec.threads, 1);
    assert.equal(rec.info.kind, 'bpr');
    assert.equal((rec.card?.model as { dim: number }).dim, 8);
    assert.deepEqual(rec.userIds, ds.userIds.rawIds());
    const users = Array.from({ length: 16 }, (_v, k) => k * 5);
    const exclude = users.map((u) => Array.from(ds.trainItems.subarray(ds.trainIndptr[u], ds.trainIndptr[u + 1])));
    assert.deepEqual((await rec.recommendDense(users, 10)).items, (await node.recommendDense(users, 10)).items);
    assert.deepEqual((await rec.recommendDense(users, 10, exclude)).items, (await node.recommendDense(users, 10, exclude)).items);
    const raw = rec.userIds[users[1]];
    const seen = exclude[1].map((i) => rec.itemIds[i]);
    assert.ok(seen.length > 0);
    const mine = await rec.recommend(raw, 10, seen);
    const expected = await node.recommend([raw], 10, [seen]);
    assert.deepEqual(mine.items.map((x) => x.item), expected.items[0]);
    assert.ok(mine.items.every((x) => !seen.includes(x.item)));
    await assert.rejects(rec.recommend('no-such-user', 10), /unknown user "no-such-user"/);
    await assert.rejects(rec.recommend(raw, 10, ['no-such-item']), /unknown item "no-such-item" in exclude/);
    await assert.rejects(rec.recommendDense([ds.numUsers], 10), new RegExp(`user id ${ds.numUsers} is not a valid dense id`));
    await assert.rejects(rec.recommendDense([0], ds.numItems + 1), /exceeds the number of items/);
  } finally {
    await rec.release();
    await node.close();
  }
});

test('loadRecommender refuses an id map from another data set, a missing id map and a file that is not ONNX, with what to do', async () => {
  await assert.rejects(loadRecommender(new URL('other/model.onnx', base).href, { wasmPaths }), /the id map is for data set f{12}…, but the model was trained on .*re-export the model/);
  await assert.rejects(loadRecommender(new URL('nomaps/model.onnx', base).href, { wasmPaths }), /nomaps\/model\.ids\.json: the id map \(written next to the model by `derrd export`\) could not be fetched \(HTTP 404\)/);
  await assert.rejects(loadRecommender(new URL('not-onnx.onnx', base).href, { wasmPaths }), /not-onnx\.onnx: not an ONNX model/);
  await assert.rejects(loadRecommender(new URL('missing.onnx', base).href, { wasmPaths }), /missing\.onnx: the model could not be fetched \(HTTP 404\)/);
});

test('copyOrtAssets and `derrd-web-assets <dir>` copy exactly the files onnxruntime-web loads; bad usage is refused', () => {
  const dir = join(work, 'public', 'ort');
  const copied = copyOrtAssets(dir);
  assert.deepEqual(copied.map((c) => c.file), ORT_WASM_FILES.map((f) => join(dir, f)));
  for (const c of copied) assert.equal(c.bytes, statSync(join(ortDistDir(), c.file.slice(dir.length + 1))).size);
  const bin = join(import.meta.dirname, '..', 'bin', 'derrd-web-assets.js');
  const cli = spawnSync(process.execPath, [bin, join(work, 'cli-ort')], { encoding: 'utf8' });
  assert.equal(cli.status, 0, cli.stderr);
  assert.match(cli.stdout, /ort-wasm-simd-threaded\.wasm \(\d+\.\d\d MB\)/);
  assert.equal(spawnSync(process.execPath, [bin, '--help'], { encoding: 'utf8' }).status, 0);
  const none = spawnSync(process.execPath, [bin], { encoding: 'utf8' });
  assert.equal(none.status, 2);
  assert.match(none.stderr, /give one target directory/);
  writeFileSync(join(work, 'a-file'), '');
  const notDir = spawnSync(process.execPath, [bin, join(work, 'a-file')], { encoding: 'utf8' });
  assert.equal(notDir.status, 1);
  assert.match(notDir.stderr, /exists and is not a directory/);
  assert.doesNotMatch(notDir.stderr, /\n\s+at /);
});

test('the browser entry imports only onnxruntime-web and @derrd/runtime-common (the Node-only asset helper is a separate entry)', () => {
  const source = readFileSync(join(import.meta.dirname, '..', 'dist', 'index.js'), 'utf8');
  const specifiers = [...source.matchAll(/(?:^|\s)(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]/gm)].map((m) => m[1] ?? m[2]);
  assert.deepEqual([...new Set(specifiers)].sort(), ['@derrd/runtime-common', 'onnxruntime-web/wasm']);
});
