import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { generateSynthetic, prepareFromInteractions, saveDataset } from '@derrd/core';
import { TRAIN_DEFAULTS, initBackend, train } from '@derrd/train';
import { exportCheckpoint } from '@derrd/export';
import { createRecommender } from '@derrd/runtime';
import { serveDemo } from '@derrd/serve-web';

const CHROMIUM = '/usr/bin/chromium';
const OUTPUT = join(import.meta.dirname, '..', '..', '..', 'test-output', 'browser');

test('browser demo in headless Chromium: both models load, top-10 equals the Node runtime for 20 users, latency table renders, page is cross-origin isolated', { skip: !existsSync(CHROMIUM) && 'Debian chromium is not installed (.ci/run installs it with apt)' }, async () => {
  await initBackend('wasm');
  const work = mkdtempSync(join(tmpdir(), 'derrd-browser-'));
  const ds = prepareFromInteractions(generateSynthetic({ numUsers: 80, numItems: 300, seed: 51 }), { kind: 'synthetic', path: null, sha256: null }, { numCandidates: 50 });
  const dataDir = join(work, 'data');
  saveDataset(ds, dataDir);
  const paths: Record<string, string> = {};
  for (const [role, dim] of [['teacher', 16], ['student', 4]] as const) {
    const dir = join(work, role);
    (await train({ dataset: ds, datasetPath: dataDir, out: dir, backend: 'wasm', config: { ...TRAIN_DEFAULTS, dim, maxEpochs: 2, batchSize: 256, lr: 0.01 } })).model.dispose();
    paths[role] = (await exportCheckpoint({ checkpoint: dir, out: join(work, `${role}.onnx`) })).path;
  }
  const demo = await serveDemo({ models: { teacher: paths.teacher, student: paths.student }, port: 0, threads: 2 });
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
    const users = Array.from({ length: 20 }, (_v, k) => k * 3);
    for (const role of ['teacher', 'student'] as const) {
      const inPage = await page.evaluate(async ([r, us]) => (globalThis as unknown as { derrdDemo: Record<string, { recommendDense(u: number[], k: number): Promise<{ items: number[][] }> }> }).derrdDemo[r as string].recommendDense(us as number[], 10), [role, users] as const);
      const node = await createRecommender(paths[role]);
      const expected = await node.recommendDense(users, 10);
      await node.close();
      assert.deepEqual(inPage.items, expected.items, `${role}: browser and Node top-10 differ`);
    }
    const status = await page.textContent('#status');
    assert.match(status ?? '', /crossOriginIsolated: true; onnxruntime-web WASM threads: 2/);
    const rows = await page.$$eval('#latency tbody tr', (trs) => trs.map((tr) => Array.from(tr.querySelectorAll('td'), (td) => td.textContent)));
    assert.equal(rows.length, 2);
    for (const row of rows) assert.ok(Number(row[3]) > 0 && Number(row[4]) >= Number(row[3]));
    assert.equal(await page.$$eval('#teacher-list li', (lis) => lis.length), 10);
    mkdirSync(OUTPUT, { recursive: true });
    await page.screenshot({ path: join(OUTPUT, 'demo.png'), fullPage: true });
    assert.ok(existsSync(join(OUTPUT, 'demo.png')));
  } finally {
    await context.close();
    await demo.close();
  }
});
