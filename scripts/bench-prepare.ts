/**
 * Times `prepare` of CiteULike from the raw users.dat (read, filter >= 5, split, 499 candidates per user, save)
 * and the load of the prepared directory. Prints a table, writes bench/results/prepare.json.
 *   npm run bench:prepare [-- --repeats 5]
 */
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadDataset, prepareFromInteractions, readUsersDat, saveDataset, sha256File, writeFileAtomic } from '@derrd/core';

const root = join(import.meta.dirname, '..');
const usersDat = join(root, '..', 'shared', 'data', 'citeulike', 'raw', 'users.dat');
if (!existsSync(usersDat)) {
  console.error(`bench:prepare needs ${usersDat}`);
  process.exit(1);
}
const repeatsArg = process.argv.indexOf('--repeats');
const repeats = repeatsArg > 0 ? Number(process.argv[repeatsArg + 1]) : 5;
const rows: { run: number; prepareMs: number; loadMs: number }[] = [];
let counts: unknown;
for (let r = 0; r < repeats; r++) {
  const dir = join(mkdtempSync(join(tmpdir(), 'derrd-bench-')), 'citeulike');
  const t0 = performance.now();
  const raw = readUsersDat(usersDat);
  const ds = prepareFromInteractions(raw, { kind: 'users.dat', path: usersDat, sha256: sha256File(usersDat) }, { minUserInteractions: 5 });
  saveDataset(ds, dir);
  const t1 = performance.now();
  loadDataset(dir);
  const t2 = performance.now();
  counts = ds.manifest.counts;
  rows.push({ run: r, prepareMs: t1 - t0, loadMs: t2 - t1 });
  rmSync(join(dir, '..'), { recursive: true, force: true });
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const summary = {
  benchmark: 'prepare-citeulike',
  node: process.version,
  repeats,
  prepareMsMedian: median(rows.map((r) => r.prepareMs)),
  loadMsMedian: median(rows.map((r) => r.loadMs)),
  counts,
  runs: rows,
};
console.log('| step | median ms |\n|---|---|');
console.log(`| prepare CiteULike users.dat (filter, split, 499 candidates, save) | ${summary.prepareMsMedian.toFixed(0)} |`);
console.log(`| load + verify prepared directory | ${summary.loadMsMedian.toFixed(0)} |`);
writeFileAtomic(join(root, 'bench', 'results', 'prepare.json'), JSON.stringify(summary, null, 2) + '\n');
console.log('wrote bench/results/prepare.json');
