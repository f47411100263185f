import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Page } from 'playwright-core';
import { generateSynthetic, prepareFromInteractions, saveDataset, type Dataset } from '@derrd/core';
import { TRAIN_DEFAULTS, initBackend, loadCheckpoint, methodDefaults, prepareDistillation, train } from '@derrd/train';
import { exportCheckpoint } from '@derrd/export';
import { createRecommender, type Recommender } from '@derrd/runtime';
import { serveDemo } from '@derrd/serve-web';

const CHROMIUM = '/usr/bin/chromium';
const OUTPUT = join(import.meta.dirname, '..', '..', '..', 'test-output', 'browser');

/** Dense-id top-k from the Node runtime. */
const denseTopK = (rec: Recommender) => rec.recommendDense.bind(rec);

const seenOf = (ds: Dataset, u: number) => Array.from(ds.trainItems.subarray(ds.trainIndptr[u], ds.trainIndptr[u + 1]));

type DemoGlobal = { derrdDemo: Record<string, { recommendDense(u: number[], k: number): Promise<{ items: number[][] }> }> };

async function listed(page: Page, id: string): Promise<string[]> {
  return page.$$eval(`#${id} li`, (lis) => lis.map((li) => (li.textContent ?? '').replace(/^item (\S+).*$/, '$1')));
}

test('browser demo in headless Chromium on a distilled de-rrd.onnx: loads its id map by the name in its metadata, labels from the model cards, any of 600 users found by search, seen items shown and excluded, top-10 equals the Node runtime, latency table, cross-origin isolated', { skip: !existsSync(CHROMIUM) && 'Debian chromium is not installed (.ci/run installs it with apt)' }, async () => {
  await initBackend('wasm');
  const work = mkdtempSync(join(tmpdir(), 'derrd-browser-'));
  const ds = prepareFromInteractions(generateSynthetic({ numUsers: 600, numItems: 300, seed: 51 }), { kind: 'synthetic', path: null, sha256: null }, { numCandidates: 50 });
  const dataDir = join(work, 'data');
  saveDataset(ds, dataDir);
  const teacherDir = join(work, 'teacher');
  const config = { ...TRAIN_DEFAULTS, dim: 16, maxEpochs: 2, batchSize: 512, lr: 0.01 };
  (await train({ dataset: ds, datasetPath: dataDir, out: teacherDir, backend: 'wasm', config })).model.dispose();
  const teacher = loadCheckpoint(teacherDir, ds);
  const settings = methodDefaults('bpr', 'de-rrd');
  settings.de.numExperts = 3;
  Object.assign(settings.rrd, { topN: 50, interesting: 5, uninteresting: 5 });
  const setup = prepareDistillation({ teacherDir, teacher, dataset: ds, method: 'de-rrd', settings, seed: 0 });
  const studentDir = join(work, 'de-rrd');
  (await train({ dataset: ds, datasetPath: dataDir, out: studentDir, backend: 'wasm', config: { ...config, dim: 4, maxEpochs: 1 }, method: setup.method, buildTerms: setup.buildTerms })).model.dispose();
  teacher.model.dispose();
  // the pipeline's file names: teacher.onnx + teacher.ids.json, de-rrd.onnx + de-rrd.ids.json
  const paths = {
    teacher: (await exportCheckpoint({ checkpoint: teacherDir, out: join(work, 'onnx', 'teacher.onnx') })).path,
    student: (await exportCheckpoint({ checkpoint: studentDir, out: join(work, 'onnx', 'de-rrd.onnx') })).path,
  };
  const seen = (raw: string) => {
    const u = ds.userIds.dense(raw);
    return u === undefined ? undefined : seenOf(ds, u).map((i) => ds.itemIds.rawId(i));
  };
  const demo = await serveDemo({ models: paths, port: 0, threads: 2, seen: { items: seen, source: dataDir } });
  const context = await chromium.launchPersistentContext(mkdtempSync(join(tmpdir(), 'derrd-chromium-')), {
    executablePath: CHROMIUM, headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  try {
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(demo.url);
    await page.waitForSelector('body[data-ready="true"]', { timeout: 120_000 });
    assert.deepEqual(errors, []);
    assert.equal(await page.textContent('#teacher-title'), 'Teacher: bpr d=16, not distilled');
    assert.equal(await page.textContent('#student-title'), 'Student: bpr d=4, distilled with de-rrd');
    assert.equal(await page.textContent('#heading'), 'Teacher vs distilled student, computed in this browser');

    const users = Array.from({ length: 20 }, (_v, k) => k * 29);
    const node: Record<string, Recommender> = { teacher: await createRecommender(paths.teacher), student: await createRecommender(paths.student) };
    for (const role of ['teacher', 'student'] as const) {
      const inPage = await page.evaluate(async ([r, us]) => (globalThis as unknown as DemoGlobal).derrdDemo[r as string].recommendDense(us as number[], 10), [role, users] as const);
      assert.deepEqual(inPage.items, (await denseTopK(node[role])(users, 10)).items, `${role}: browser and Node top-10 differ`);
    }

    // a user far past the first 500, found by typing its id: its seen items are listed and kept out of both lists
    const u = 577;
    const raw = ds.userIds.rawId(u);
    await page.fill('#user-search', raw);
    await page.waitForSelector(`body[data-user="${raw}"]`);
    const seenRaw = seenOf(ds, u).map((i) => ds.itemIds.rawId(i));
    assert.ok(seenRaw.length > 0);
    assert.deepEqual(await listed(page, 'seen-list'), seenRaw);
    for (const [role, list] of [['teacher', 'teacher-list'], ['student', 'student-list']] as const) {
      const shown = await listed(page, list);
      assert.equal(shown.length, 10);
      assert.ok(shown.every((item) => !seenRaw.includes(item)), `${role} recommends a seen item`);
      const expected = (await denseTopK(node[role])([u], 10, [seenOf(ds, u)])).items[0].map((i) => ds.itemIds.rawId(i));
      assert.deepEqual(shown, expected, `${role}: the page's list differs from the Node runtime's with the seen items excluded`);
    }
    // unticked, the lists are the unfiltered top-10
    await page.evaluate(() => { document.body.dataset.user = ''; });
    await page.click('#exclude-seen');
    await page.waitForSelector(`body[data-user="${raw}"]`);
    assert.deepEqual(await listed(page, 'teacher-list'), (await denseTopK(node.teacher)([u], 10)).items[0].map((i) => ds.itemIds.rawId(i)));
    for (const r of Object.values(node)) await r.close();

    const status = await page.textContent('#status');
    assert.match(status ?? '', /crossOriginIsolated: true; onnxruntime-web WASM threads: 2/);
    const rows = await page.$$eval('#latency tbody tr', (trs) => trs.map((tr) => Array.from(tr.querySelectorAll('td'), (td) => td.textContent)));
    assert.equal(rows.length, 2);
    for (const row of rows) assert.ok(Number(row[3]) > 0 && Number(row[4]) >= Number(row[3]));
    mkdirSync(OUTPUT, { recursive: true });
    await page.screenshot({ path: join(OUTPUT, 'demo.png'), fullPage: true });
    assert.ok(existsSync(join(OUTPUT, 'demo.png')));
  } finally {
    await context.close();
    await demo.close();
  }
});

test('demo server: refuses a model whose id map (named in its metadata) is missing, and answers seen items only with a data set', async () => {
  await initBackend('wasm');
  const work = mkdtempSync(join(tmpdir(), 'derrd-demo-'));
  const ds = prepareFromInteractions(generateSynthetic({ numUsers: 40, numItems: 60, seed: 3 }), { kind: 'synthetic', path: null, sha256: null }, { numCandidates: 10 });
  saveDataset(ds, join(work, 'data'));
  (await train({ dataset: ds, datasetPath: join(work, 'data'), out: join(work, 'm'), backend: 'wasm', config: { ...TRAIN_DEFAULTS, dim: 4, maxEpochs: 1 } })).model.dispose();
  const model = (await exportCheckpoint({ checkpoint: join(work, 'm'), out: join(work, 'x.onnx') })).path;
  const demo = await serveDemo({ models: { teacher: model, student: model }, port: 0 });
  try {
    const config = await (await fetch(new URL('/config.json', demo.url))).json() as { student: string; seen: string | null };
    assert.equal(config.seen, null);
    assert.equal((await fetch(new URL(config.student, demo.url))).status, 200);
    assert.equal((await fetch(new URL('/models/student/x.ids.json', demo.url))).status, 200);
    assert.equal((await fetch(new URL('/seen?user=0', demo.url))).status, 404);
  } finally {
    await demo.close();
  }
  const { rmSync } = await import('node:fs');
  rmSync(join(work, 'x.ids.json'));
  await assert.rejects(serveDemo({ models: { teacher: model, student: model }, port: 0 }), /its id map x\.ids\.json \(named in the model's metadata\) is missing next to it/);
});
