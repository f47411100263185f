import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { copyFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { generateSynthetic, prepareFromInteractions, saveDataset, trainItemsOf, type Dataset } from '@derrd/core';
import { TRAIN_DEFAULTS, initBackend, train } from '@derrd/train';
import { exportCheckpoint } from '@derrd/export';
import { createServer, type RecommendServer } from '@derrd/serve-node';

const work = mkdtempSync(join(tmpdir(), 'derrd-serve-'));
const dataDir = join(work, 'data');
const modelA = join(work, 'a.onnx');
const modelB = join(work, 'b.onnx');
let ds: Dataset;
let server: RecommendServer;
const CLI = join(import.meta.dirname, '..', '..', 'cli', 'dist', 'main.js');

before(async () => {
  await initBackend('wasm');
  ds = prepareFromInteractions(generateSynthetic({ numUsers: 60, numItems: 200, seed: 41 }), { kind: 'synthetic', path: null, sha256: null }, { numCandidates: 30 });
  saveDataset(ds, dataDir);
  for (const [seed, out] of [[1, modelA], [2, modelB]] as const) {
    const dir = join(work, `ckpt${seed}`);
    (await train({ dataset: ds, datasetPath: dataDir, out: dir, backend: 'wasm', config: { ...TRAIN_DEFAULTS, dim: 8, maxEpochs: 1, batchSize: 256, lr: 0.01, seed } })).model.dispose();
    await exportCheckpoint({ checkpoint: dir, out });
  }
  server = await createServer({ model: modelA, provider: 'cpu', threads: 1, data: dataDir, coldStart: 'error', maxBatch: 16, maxWaitUs: 300, maxQueue: 512, deadlineMs: 2000, maxRequestUsers: 8, maxK: 1000, bodyLimitBytes: 2048 });
});

after(async () => {
  await server?.close();
});

const get = (url: string) => server.app.inject({ method: 'GET', url });
const post = (payload: unknown, headers: Record<string, string> = { 'content-type': 'application/json' }) =>
  server.app.inject({ method: 'POST', url: '/v1/recommend', payload: typeof payload === 'string' ? payload : JSON.stringify(payload), headers });

test('GET and POST answer in raw ids with k scored items, best first; exclude_seen drops training items', async () => {
  const r = await get('/v1/recommend?user=3&k=7');
  assert.equal(r.statusCode, 200);
  const body = r.json();
  assert.equal(body.user, '3');
  assert.equal(body.items.length, 7);
  for (let c = 1; c < 7; c++) assert.ok(body.items[c - 1].score >= body.items[c].score);
  const p = await post({ users: ['3', '5'], k: 5, exclude_seen: true });
  assert.equal(p.statusCode, 200);
  const [first, second] = p.json().results;
  const seen = new Set(Array.from(trainItemsOf(ds, ds.userIds.dense('3')!), (i) => ds.itemIds.rawId(i)));
  for (const it of first.items) assert.ok(!seen.has(it.item));
  assert.equal(second.user, '5');
});

test('bad requests: each gets a clear status and message, and the server keeps serving', async () => {
  const cases: [string, () => Promise<{ statusCode: number; json(): { error: { code: string; message: string } } }>, number, RegExp][] = [
    ['unknown user', () => get('/v1/recommend?user=4000'), 404, /unknown user "4000"/],
    ['negative id', () => get('/v1/recommend?user=-1'), 400, /not a non-negative integer/],
    ['non-integer id', () => get('/v1/recommend?user=1.5'), 400, /not a non-negative integer/],
    ['huge id', () => get('/v1/recommend?user=99999999999999999999'), 400, /not a non-negative integer/],
    ['missing user', () => get('/v1/recommend?k=3'), 400, /missing query parameter user/],
    ['k = 0', () => get('/v1/recommend?user=1&k=0'), 400, /k must be between 1 and/],
    ['k > items', () => get(`/v1/recommend?user=1&k=${ds.numItems + 1}`), 400, /k must be between 1 and \d+/],
    ['k not a number', () => get('/v1/recommend?user=1&k=ten'), 400, /k must be a positive integer/],
    ['bad exclude_seen', () => get('/v1/recommend?user=1&exclude_seen=maybe'), 400, /exclude_seen must be true or false/],
    ['batch over the limit', () => post({ users: Array.from({ length: 9 }, (_v, k) => String(k)), k: 3 }), 400, /9 users in one request; the limit is 8/],
    ['negative id in a batch', () => post({ users: [1, -2], k: 3 }), 400, /user id -2 is not a non-negative integer/],
    ['malformed JSON', () => post('{"users": [1,'), 400, /JSON/i],
    ['wrong content type', () => post('users=1', { 'content-type': 'text/plain' }), 415, /content-type|Unsupported Media Type/i],
    ['body over the limit', () => post({ users: ['1'], k: 3, pad: 'x'.repeat(4096) }), 413, /too large/i],
    ['not an object', () => post([1, 2]), 400, /body must be/],
    ['unknown route', () => get('/v2/nothing'), 404, /no route/],
  ];
  for (const [name, send, status, message] of cases) {
    const r = await send();
    assert.equal(r.statusCode, status, `${name}: ${r.statusCode} ${JSON.stringify(r.json())}`);
    assert.match(r.json().error.message, message, name);
  }
  assert.equal((await get('/v1/recommend?user=1&k=3')).statusCode, 200);
  const metrics = (await get('/metrics')).body;
  assert.match(metrics, /derrd_errors_total\{class="4xx"\} \d+/);
  assert.match(metrics, /derrd_requests_total\{route="get_recommend",status="404"\} 1/);
});

test('cold start: popular items for unknown users when asked; exclude_seen without data is refused', async () => {
  const popular = await createServer({ model: modelA, provider: 'cpu', threads: 1, data: dataDir, coldStart: 'popular', maxBatch: 8, maxWaitUs: 100, maxQueue: 64, deadlineMs: 1000, maxRequestUsers: 8, maxK: 100, bodyLimitBytes: 4096 });
  const r = await popular.app.inject({ method: 'GET', url: '/v1/recommend?user=4000&k=5' });
  assert.equal(r.statusCode, 200);
  assert.equal(r.json().coldStart, true);
  assert.equal(r.json().items.length, 5);
  await popular.close();
  const bare = await createServer({ model: modelA, provider: 'cpu', threads: 1, coldStart: 'error', maxBatch: 8, maxWaitUs: 100, maxQueue: 64, deadlineMs: 1000, maxRequestUsers: 8, maxK: 100, bodyLimitBytes: 4096 });
  const e = await bare.app.inject({ method: 'GET', url: '/v1/recommend?user=1&exclude_seen=true' });
  assert.equal(e.statusCode, 400);
  assert.match(e.json().error.message, /needs the server started with --data/);
  await bare.close();
});

test('micro-batching: concurrent requests share model runs', async () => {
  const before = await server.registry.getSingleMetric('derrd_batch_users')!.get();
  const countBefore = before.values.find((v) => v.metricName === 'derrd_batch_users_count')?.value ?? 0;
  const responses = await Promise.all(Array.from({ length: 64 }, (_v, k) => get(`/v1/recommend?user=${k % 50}&k=5`)));
  assert.ok(responses.every((r) => r.statusCode === 200));
  const after = await server.registry.getSingleMetric('derrd_batch_users')!.get();
  const runs = (after.values.find((v) => v.metricName === 'derrd_batch_users_count')?.value ?? 0) - countBefore;
  assert.ok(runs < 64 && runs >= 4, `64 requests ran in ${runs} model runs`);
});

test('overload: flooding past the queue gives 503 + Retry-After, memory stays bounded, the server stays healthy', async () => {
  const small = await createServer({ model: modelA, provider: 'cpu', threads: 1, coldStart: 'error', maxBatch: 4, maxWaitUs: 100, maxQueue: 16, deadlineMs: 5000, maxRequestUsers: 8, maxK: 100, bodyLimitBytes: 4096 });
  const heapBefore = process.memoryUsage().heapUsed;
  let overloaded = 0;
  let ok = 0;
  for (let wave = 0; wave < 5; wave++) {
    const rs = await Promise.all(Array.from({ length: 1000 }, (_v, k) => small.app.inject({ method: 'GET', url: `/v1/recommend?user=${k % 50}&k=5` })));
    for (const r of rs) {
      if (r.statusCode === 503) {
        overloaded++;
        assert.equal(r.headers['retry-after'], '1');
        assert.equal(r.json().error.code, 'overloaded');
      } else {
        assert.equal(r.statusCode, 200);
        ok++;
      }
    }
  }
  assert.ok(overloaded > 0 && ok > 0, `ok ${ok}, 503 ${overloaded}`);
  const growth = (process.memoryUsage().heapUsed - heapBefore) / 2 ** 20;
  assert.ok(growth < 200, `heap grew ${growth.toFixed(0)} MiB`);
  assert.equal((await small.app.inject({ method: 'GET', url: '/health/ready' })).statusCode, 200);
  assert.equal((await small.app.inject({ method: 'GET', url: '/v1/recommend?user=2&k=5' })).statusCode, 200);
  assert.match((await small.app.inject({ method: 'GET', url: '/metrics' })).body, /derrd_errors_total\{class="overloaded"\} [1-9]/);
  await small.close();
});

test('hot reload: a good model replaces the old one with requests served throughout; a garbage file is refused and the old model keeps serving', async () => {
  const before = (await get('/v1/models')).json();
  assert.equal(before.path, modelA);
  const traffic = Promise.all(Array.from({ length: 40 }, (_v, k) => get(`/v1/recommend?user=${k}&k=5`)));
  const reloaded = await server.admin.inject({ method: 'POST', url: '/admin/reload', payload: { model: modelB } });
  assert.equal(reloaded.statusCode, 200);
  assert.ok((await traffic).every((r) => r.statusCode === 200));
  assert.equal((await get('/v1/models')).json().path, modelB);
  const garbage = join(work, 'garbage.onnx');
  writeFileSync(garbage, 'not a model');
  const failed = await server.admin.inject({ method: 'POST', url: '/admin/reload', payload: { model: garbage } });
  assert.equal(failed.statusCode, 422);
  assert.match(failed.json().error, /not an ONNX model/);
  const models = (await get('/v1/models')).json();
  assert.equal(models.path, modelB);
  assert.match(models.lastReloadError, /not an ONNX model/);
  assert.equal((await get('/v1/recommend?user=1&k=3')).statusCode, 200);
  assert.match((await get('/metrics')).body, /derrd_model_reloads_total\{result="failed"\} 1/);
  await server.admin.inject({ method: 'POST', url: '/admin/reload', payload: { model: modelA } });
});

test('graceful shutdown: in-flight requests finish, then the server stops', async () => {
  // a long batching wait keeps the requests queued inside the server while it closes
  const s = await createServer({ model: modelA, provider: 'cpu', threads: 1, coldStart: 'error', maxBatch: 64, maxWaitUs: 300_000, maxQueue: 256, deadlineMs: 5000, maxRequestUsers: 8, maxK: 100, bodyLimitBytes: 4096 });
  const url = await s.app.listen({ host: '127.0.0.1', port: 0 });
  const inflight = Promise.all(Array.from({ length: 20 }, (_v, k) => fetch(`${url}/v1/recommend?user=${k}&k=3`).then((r) => r.status)));
  for (let t = 0; t < 200 && s.inflight() < 20; t++) await new Promise((r) => setTimeout(r, 5));
  assert.equal(s.inflight(), 20);
  await s.close();
  assert.deepEqual(await inflight, new Array(20).fill(200));
  await assert.rejects(fetch(`${url}/health/live`));
});

test('derrd serve: ready over HTTP, SIGHUP with a garbage model keeps the old one serving, SIGTERM exits 0', async () => {
  const file = join(work, 'served.onnx');
  copyFileSync(modelA, file);
  copyFileSync(modelA.replace('.onnx', '.ids.json'), join(work, 'served.ids.json'));
  const child = spawn(process.execPath, [CLI, 'serve', '--model', file, '--port', '0', '--threads', '1', '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (b) => { stderr += String(b); });
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once('line', resolve);
    child.once('exit', () => reject(new Error(`serve exited: ${stderr}`)));
  });
  const { url } = JSON.parse(line) as { url: string };
  assert.equal((await fetch(`${url}/health/ready`)).status, 200);
  assert.equal((await fetch(`${url}/v1/recommend?user=2&k=4`)).status, 200);
  writeFileSync(file, 'garbage');
  child.kill('SIGHUP');
  for (let t = 0; t < 100 && !/reload failed/.test(stderr); t++) await new Promise((r) => setTimeout(r, 50));
  assert.match(stderr, /reload failed, still serving .*not an ONNX model/);
  assert.equal((await fetch(`${url}/v1/recommend?user=2&k=4`)).status, 200);
  const code = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  assert.equal(await code, 0);
});

test('workers: two worker threads each warmed up, concurrent requests spread over them, reported in /v1/models and /metrics', async () => {
  const s = await createServer({ model: modelA, provider: 'cpu', threads: 1, workers: 2, data: dataDir, maxBatch: 4 });
  try {
    const rs = await Promise.all(Array.from({ length: 48 }, (_v, k) => s.app.inject({ method: 'GET', url: `/v1/recommend?user=${k % 50}&k=5` })));
    assert.ok(rs.every((r) => r.statusCode === 200));
    const models = (await s.app.inject({ method: 'GET', url: '/v1/models' })).json();
    assert.equal(models.workers, 2);
    assert.equal(models.excludeSeenByDefault, true);
    const metrics = (await s.app.inject({ method: 'GET', url: '/metrics' })).body;
    assert.match(metrics, /derrd_workers 2/);
    assert.match(metrics, /derrd_model_run_seconds_count (1[2-9]|[2-9]\d)/);
  } finally {
    await s.close();
  }
});
