/**
 * A new user's path, end to end across packages: the README's own-data commands, run as written on a generated
 * ratings CSV, give a report, and the demo they start serves the pipeline's de-rrd.onnx to headless Chromium.
 * In CI this runs on a fresh clone (.ci/run clones, installs and runs `npm test`).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { chromium } from 'playwright-core';
import { generateSynthetic } from '@derrd/core';

const ROOT = join(import.meta.dirname, '..');
const CLI = join(ROOT, 'packages', 'cli', 'dist', 'main.js');
const CHROMIUM = '/usr/bin/chromium';
const MARKER = '<!-- own-data commands:';

/** The `npx derrd …` lines of the README's own-data block, comments stripped. */
function readmeCommands(): string[] {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const start = readme.indexOf(MARKER);
  assert.ok(start >= 0, `README.md has no "${MARKER}" block`);
  const open = readme.indexOf('```sh\n', start);
  const block = readme.slice(open + 6, readme.indexOf('```', open + 6));
  return block.split('\n').map((l) => l.replace(/\s+#.*$/, '').trim()).filter((l) => l.startsWith('npx derrd '));
}

/** A ratings CSV as a user would have one: a header, user and item ids that are not dense, ratings and timestamps. */
function writeRatings(path: string): number {
  const s = generateSynthetic({ numUsers: 400, numItems: 700, meanInteractions: 15, seed: 11 });
  const rows = ['user_id,item_id,rating,timestamp'];
  for (let k = 0; k < s.users.length; k++) rows.push(`u${s.users[k]},item-${Number(s.items[k]) * 7 + 3},${1 + (k % 5)},${1_600_000_000 + k}`);
  writeFileSync(path, rows.join('\n') + '\n');
  return rows.length - 1;
}

const argv = (line: string) => line.replace(/^npx derrd /, '').split(/\s+/);

test('the README\'s own-data commands on a generated ratings CSV: config --print, the pipeline, a report; the demo serves its de-rrd.onnx to headless Chromium', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'derrd-own-data-'));
  const rows = writeRatings(join(dir, 'ratings.csv'));
  assert.ok(rows > 4000 && rows < 8000, `${rows} rows`);
  const commands = readmeCommands();
  assert.deepEqual(commands.map((c) => argv(c)[0]), ['config', 'pipeline', 'demo']);

  let pipelineStderr = '';
  for (const line of commands.filter((c) => !c.startsWith('npx derrd demo'))) {
    const [command, redirect] = line.split(/\s+>\s+/);
    const r = spawnSync(process.execPath, [CLI, ...argv(command)], { cwd: dir, encoding: 'utf8', timeout: 900_000, env: { ...process.env, CI: '1' } });
    assert.equal(r.status, 0, `${line}\n${r.stderr}`);
    if (redirect) writeFileSync(join(dir, redirect), r.stdout);
    if (argv(command)[0] === 'pipeline') pipelineStderr = r.stderr;
  }
  assert.match(pipelineStderr, /recipe demo \("recipe" in my-config\.json\)/);
  assert.match(pipelineStderr, /estimated training time: at most ~/);
  const report = JSON.parse(readFileSync(join(dir, 'runs', 'mine', 'report.json'), 'utf8'));
  assert.deepEqual(report.models.map((m: { name: string }) => m.name), ['teacher', 'student', 'de-rrd']);
  assert.equal(report.settings.recipe, 'demo');
  assert.equal(report.dataset.source, join('..', '..', 'ratings.csv'));
  assert.ok(report.dataset.counts.users > 300);
  for (const m of report.models) assert.ok(m.test['HR@10'] > 0 && m.test['HR@10'] <= 1);
  assert.match(readFileSync(join(dir, 'runs', 'mine', 'report.html'), 'utf8'), /<table id="accuracy">/);

  // the same pipeline with a misspelled key fails at once, naming the key and its nearest valid name
  writeFileSync(join(dir, 'typo.json'), JSON.stringify({ teacher: { dimm: 16 } }));
  const typo = spawnSync(process.execPath, [CLI, 'pipeline', '--data', 'ratings.csv', '--config', 'typo.json', '--out', 'runs/typo'], { cwd: dir, encoding: 'utf8' });
  assert.equal(typo.status, 1);
  assert.match(typo.stderr, /typo\.json: unknown config key "teacher\.dimm" \(did you mean "teacher\.dim"\?/);

  if (!existsSync(CHROMIUM)) {
    t.skip('Debian chromium is not installed (.ci/run installs it with apt): the demo part did not run');
    return;
  }
  const demoLine = commands.find((c) => c.startsWith('npx derrd demo'))!;
  const demo = spawn(process.execPath, [CLI, ...argv(demoLine).map((a, k, all) => (all[k - 1] === '--port' ? '0' : a))], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let demoStderr = '';
  demo.stderr.on('data', (b: Buffer) => { demoStderr += b.toString(); });
  try {
    const url = await new Promise<string>((resolveUrl, reject) => {
      createInterface({ input: demo.stdout }).once('line', (l) => resolveUrl((JSON.parse(l) as { url: string }).url));
      demo.once('exit', (code) => reject(new Error(`demo exited with ${code}: ${demoStderr}`)));
    });
    assert.match(demoStderr, /seen items from .*runs\/mine\/data/);
    const context = await chromium.launchPersistentContext(mkdtempSync(join(tmpdir(), 'derrd-chromium-')), {
      executablePath: CHROMIUM, headless: true, args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    try {
      const page = await context.newPage();
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      await page.goto(url);
      await page.waitForSelector('body[data-ready="true"]', { timeout: 120_000 });
      assert.deepEqual(errors, []);
      assert.equal(await page.textContent('#student-title'), 'Student: bpr d=8, distilled with de-rrd');
      const user = (JSON.parse(readFileSync(join(dir, 'runs', 'mine', 'data', 'user_ids.json'), 'utf8')) as string[])[350];
      await page.fill('#user-search', user);
      await page.waitForSelector(`body[data-user="${user}"]`);
      const seen = await page.$$eval('#seen-list li', (lis) => lis.map((li) => li.textContent));
      const recommended = await page.$$eval('#student-list li', (lis) => lis.map((li) => (li.textContent ?? '').replace(/ \(.*$/, '')));
      assert.ok(seen.length >= 3);
      assert.equal(recommended.length, 10);
      assert.ok(recommended.every((r) => !seen.includes(r)));
    } finally {
      await context.close();
    }
  } finally {
    demo.kill('SIGTERM');
  }
});
