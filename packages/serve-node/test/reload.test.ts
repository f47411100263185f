import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createServer, type RecommendServer } from '@derrd/serve-node';
import { makeFixture, type Fixture } from './fixtures.js';

let f: Fixture;
let server: RecommendServer;
const logs: string[] = [];
const options = { provider: 'cpu' as const, threads: 1, workers: 1 };

before(async () => {
  f = await makeFixture('reload', { models: 2, otherDataset: true });
  server = await createServer({ ...options, model: f.models[0], log: (line) => logs.push(line) });
});

after(async () => {
  await server?.close();
});

const reload = async (s: RecommendServer, payload?: unknown, contentType = 'application/json') => {
  const r = await s.admin.inject({ method: 'POST', url: '/admin/reload', ...(payload === undefined ? {} : { payload: typeof payload === 'string' ? payload : JSON.stringify(payload), headers: { 'content-type': contentType } }) });
  return { status: r.statusCode, body: r.json() };
};
const servesPath = async (s: RecommendServer) => (await s.app.inject({ method: 'GET', url: '/v1/models' })).json().path;
const answers = async (s: RecommendServer) => (await s.app.inject({ method: 'GET', url: '/v1/recommend?user=2&k=3' })).statusCode === 200;

test('reload refuses what is not a regular file (a FIFO, /dev/zero) at once, and every route keeps answering', { timeout: 30_000 }, async () => {
  const fifo = join(f.work, 'pipe.onnx');
  assert.equal(spawnSync('mkfifo', [fifo]).status, 0);
  const r = await reload(server, { model: fifo });
  assert.equal(r.status, 422);
  assert.match(r.body.error, /is a FIFO \(named pipe\), expected a regular file/);
  const zero = await reload(server, { model: '/dev/zero' });
  assert.equal(zero.status, 422);
  assert.match(zero.body.error, /is a character device, expected a regular file/);
  assert.ok(await answers(server));
  assert.equal(await servesPath(server), f.models[0]);
});

test('reload refuses a model over the size cap before reading it', async () => {
  const s = await createServer({ ...options, model: f.models[0], maxModelBytes: 64 * 1024 });
  try {
    const big = join(f.work, 'big.onnx');
    writeFileSync(big, Buffer.alloc(100 * 1024, 1));
    const r = await reload(s, { model: big });
    assert.match(r.body.error, /102,400 bytes, over the limit of 65,536 bytes/);
    assert.equal(r.status, 422);
    assert.ok(await answers(s));
  } finally {
    await s.close();
  }
});

test('reload reads asynchronously: requests are answered while a large file is being read', async () => {
  const large = join(f.work, 'large.onnx');
  writeFileSync(large, '');
  truncateSync(large, 256 * 2 ** 20);
  let done = false;
  const pending = reload(server, { model: large }).then((r) => { done = true; return r; });
  // wait until the server reports the reload in progress, then ask it something else
  let reloading: { model?: string } | null = null;
  for (let t = 0; t < 2000 && !reloading && !done; t++) {
    // yield a turn of the event loop, so the reload request itself gets processed
    await new Promise((r) => setTimeout(r, 1));
    reloading = (await server.app.inject({ method: 'GET', url: '/v1/models' })).json().reloading ?? null;
  }
  assert.equal(reloading?.model, large, 'the reload was never seen in progress');
  const live = await server.app.inject({ method: 'GET', url: '/health/live' });
  const answeredDuringReload = !done;
  assert.equal(live.statusCode, 200);
  assert.ok(answeredDuringReload, 'the health check waited for the reload to read the file');
  assert.ok(await answers(server));
  const r = await pending;
  assert.match(r.body.error, /not an ONNX model/);
  assert.equal(r.status, 422);
  assert.equal((await server.app.inject({ method: 'GET', url: '/v1/models' })).json().reloading, null);
});

test('bad reload bodies are 400 (not 500) and change nothing', async () => {
  const cases: [unknown, RegExp, string?][] = [
    [{ model: 42 }, /"model" must be a non-empty path string/],
    [{ model: '' }, /"model" must be a non-empty path string/],
    [[1, 2], /body must be a JSON object/],
    ['"m.onnx"', /body must be a JSON object/],
    [{ modle: 'x.onnx' }, /unknown key "modle" \(expected "model" and "allow_other_dataset"\)/],
    [{ model: f.models[1], allow_other_dataset: 'yes' }, /"allow_other_dataset" must be true or false/],
    ['{"model": ', /JSON/i],
  ];
  for (const [payload, message] of cases) {
    const r = await reload(server, payload);
    assert.equal(r.status, 400, `${JSON.stringify(payload)}: ${r.status} ${JSON.stringify(r.body)}`);
    assert.match(r.body.error, message);
  }
  assert.equal(await servesPath(server), f.models[0]);
});

test('--model-dir: reload paths must stay inside it (symlinks resolved); relative paths start there', async () => {
  const dir = join(f.work, 'models');
  mkdirSync(dir);
  for (const m of f.models) {
    const name = m.split('/').pop()!;
    copyFileSync(m, join(dir, name));
    copyFileSync(m.replace('.onnx', '.ids.json'), join(dir, name.replace('.onnx', '.ids.json')));
  }
  const s = await createServer({ ...options, model: join(dir, 'm1.onnx'), modelDir: dir });
  try {
    const inside = await reload(s, { model: 'm2.onnx' });
    assert.equal(inside.status, 200, JSON.stringify(inside.body));
    const outside = await reload(s, { model: f.models[0] });
    assert.equal(outside.status, 403);
    assert.match(outside.body.error, /outside --model-dir/);
    symlinkSync(f.models[0], join(dir, 'link.onnx'));
    const link = await reload(s, { model: 'link.onnx' });
    assert.equal(link.status, 403);
    const up = await reload(s, { model: '../m1.onnx' });
    assert.equal(up.status, 403);
    assert.equal(await servesPath(s), 'm2.onnx');
    assert.ok(await answers(s));
  } finally {
    await s.close();
  }
  await assert.rejects(createServer({ ...options, model: f.models[0], modelDir: dir }), /outside --model-dir/);
});

test('a model trained on another data set is refused unless asked for; with --data it is always refused', async () => {
  const refused = await reload(server, { model: f.otherDataset });
  assert.equal(refused.status, 409);
  assert.match(refused.body.error, /trained on data set [0-9a-f]{12}…, but the served model's is [0-9a-f]{12}…/);
  assert.equal(await servesPath(server), f.models[0]);
  const s = await createServer({ ...options, model: f.models[0], data: f.dataDir });
  try {
    const withData = await reload(s, { model: f.otherDataset, allow_other_dataset: true });
    assert.equal(withData.status, 409);
    assert.match(withData.body.error, /not on --data/);
  } finally {
    await s.close();
  }
  const asked = await reload(server, { model: f.otherDataset, allow_other_dataset: true });
  assert.equal(asked.status, 200, JSON.stringify(asked.body));
  assert.equal(await servesPath(server), f.otherDataset);
  assert.equal((await reload(server, { model: f.models[0], allow_other_dataset: true })).status, 200);
});

test('a model whose id map comes from another data set is refused at start and at reload', async () => {
  const dir = join(f.work, 'swapped');
  mkdirSync(dir);
  copyFileSync(f.models[1], join(dir, 'm2.onnx'));
  // same size, users shuffled and another data set's hash: served silently, users would get other users' lists
  const maps = JSON.parse(readFileSync(f.models[1].replace('.onnx', '.ids.json'), 'utf8'));
  writeFileSync(join(dir, 'm2.ids.json'), JSON.stringify({ ...maps, datasetHash: 'e'.repeat(64), users: [...maps.users].reverse() }));
  await assert.rejects(createServer({ ...options, model: join(dir, 'm2.onnx') }), /the id map is for data set eeeeeeeeeeee…, but the model was trained on/);
  const r = await reload(server, { model: join(dir, 'm2.onnx') });
  assert.equal(r.status, 422);
  assert.match(r.body.error, /the id map is for data set eeeeeeeeeeee…/);
  assert.ok(await answers(server));
});

test('every reload is logged, with its outcome and where it came from', async () => {
  const before = logs.length;
  await reload(server, { model: f.models[1] });
  await reload(server, { model: join(f.work, 'missing.onnx') });
  await server.reload(f.models[0], { source: 'SIGHUP' });
  const lines = logs.slice(before);
  assert.equal(lines.length, 3, lines.join('\n'));
  assert.match(lines[0], /^reloaded .*m2\.onnx \(admin 127\.0\.0\.1; bpr d=8, 1 worker, warm-up/);
  assert.match(lines[1], /^reload failed, still serving .*m2\.onnx: .*missing\.onnx: model file not found \(admin 127\.0\.0\.1\)/);
  assert.match(lines[2], /^reloaded .*m1\.onnx \(SIGHUP;/);
  // the earlier tests' reloads were logged too: one line per attempt that got past the body check
  assert.ok(logs.some((l) => /FIFO/.test(l)) && logs.some((l) => /character device/.test(l)));
});
