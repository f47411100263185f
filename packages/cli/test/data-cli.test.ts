import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { derrd, CITEULIKE, ROOT } from './helpers.js';

const fixtures = join(import.meta.dirname, '..', '..', 'core', 'test', 'fixtures');
const tmp = () => mkdtempSync(join(tmpdir(), 'derrd-cli-'));

/** A bad input: one line on stderr naming the problem, non-zero exit, no output directory, no temp leftovers. */
function expectCleanFailure(args: string[], outParent: string, pattern: RegExp): void {
  const r = derrd(args);
  assert.notEqual(r.status, 0, `expected failure for ${args.join(' ')}`);
  assert.match(r.stderr, pattern);
  assert.equal(r.stderr.trim().split('\n').length, 1, `one line expected, got: ${r.stderr}`);
  assert.deepEqual(readdirSync(outParent).filter((f) => f !== 'existing'), []);
}

test('prepare a TSV with duplicates: counts, JSON output and stats agree', () => {
  const dir = tmp();
  const out = join(dir, 'ds');
  const r = derrd(['data', 'prepare', '-i', join(fixtures, 'with-header-and-duplicate.tsv'), '-o', out, '--candidates', '0', '--json']);
  assert.equal(r.status, 0, r.stderr);
  const result = JSON.parse(r.stdout);
  assert.equal(result.counts.duplicatesRemoved, 1);
  assert.equal(result.counts.users, 3);
  assert.equal(result.counts.usersTooSmallToSplit, 1);
  assert.match(r.stderr, /1 users have fewer than 3 interactions/);
  const stats = JSON.parse(derrd(['data', 'stats', out, '--json']).stdout);
  assert.equal(stats.hash, result.hash);
  assert.deepEqual(JSON.parse(readFileSync(join(out, 'user_ids.json'), 'utf8')), ['alice', 'bob', 'carol']);
});

test('bad inputs: one-line error naming file, line and problem; non-zero exit; nothing written', () => {
  const dir = tmp();
  const out = join(dir, 'ds');
  expectCleanFailure(['data', 'prepare', '-i', join(dir, 'missing.tsv'), '-o', out], dir, /missing\.tsv: file not found/);
  expectCleanFailure(['data', 'prepare', '-i', join(fixtures, 'empty.tsv'), '-o', out], dir, /empty\.tsv: file is empty/);
  expectCleanFailure(['data', 'prepare', '-i', join(fixtures, 'too-few-columns.tsv'), '-o', out], dir, /too-few-columns\.tsv:3: too few columns/);
  expectCleanFailure(['data', 'prepare', '-i', join(fixtures, 'bad-count.users.dat'), '--format', 'users.dat', '-o', out], dir, /bad-count\.users\.dat:2: count "three" is not a non-negative integer/);
  expectCleanFailure(['data', 'prepare', '-i', join(fixtures, 'count-mismatch.users.dat'), '--format', 'users.dat', '-o', out], dir, /count-mismatch\.users\.dat:2: count says 3 items but the line has 2/);
  expectCleanFailure(['data', 'prepare', '-i', join(fixtures, 'tiny-users.dat'), '--min-user', '10', '-o', out], dir, /filter removes every user/);
  expectCleanFailure(['data', 'prepare', '-i', join(fixtures, 'tiny-users.dat'), '--seed', 'x', '-o', out], dir, /--seed must be an integer/);
  expectCleanFailure(['data', 'prepare', '-i', join(fixtures, 'tiny-users.dat'), '--split', 'sideways', '-o', out], dir, /--split must be one of random-loo\|last-loo/);
  expectCleanFailure(['data', 'prepare', '-i', join(fixtures, 'tiny-users.dat'), '-o', out], dir, /has only \d+ items never interacted with/);
});

test('an existing output directory is kept unless --force', () => {
  const dir = tmp();
  const out = join(dir, 'existing');
  assert.equal(derrd(['data', 'prepare', '-i', join(fixtures, 'tiny-users.dat'), '-o', out, '--candidates', '0']).status, 0);
  const before = readFileSync(join(out, 'manifest.json'), 'utf8');
  expectCleanFailure(['data', 'prepare', '-i', join(fixtures, 'tiny-users.dat'), '-o', out, '--candidates', '0'], dir, /existing: output directory exists \(use --force/);
  assert.equal(readFileSync(join(out, 'manifest.json'), 'utf8'), before);
  assert.equal(derrd(['data', 'prepare', '-i', join(fixtures, 'tiny-users.dat'), '-o', out, '--candidates', '0', '--seed', '3', '--force']).status, 0);
  assert.notEqual(readFileSync(join(out, 'manifest.json'), 'utf8'), before);
});

test('stats refuses a prepared directory whose arrays were modified', () => {
  const dir = tmp();
  const out = join(dir, 'ds');
  assert.equal(derrd(['data', 'prepare', '-o', out]).status, 0);
  const file = join(out, 'train_items.i32');
  const bytes = readFileSync(file);
  bytes[0] ^= 0xff;
  writeFileSync(file, bytes);
  const r = derrd(['data', 'stats', out]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /train_items\.i32: file does not match the manifest/);
});

test('data synth writes a TSV that prepares; --help shows defaults', () => {
  const dir = tmp();
  const file = join(dir, 's.tsv');
  const r = derrd(['data', 'synth', '-o', file, '--users', '50', '--items', '700', '--json']);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(JSON.parse(r.stdout).users, 50);
  const p = derrd(['data', 'prepare', '-i', file, '-o', join(dir, 'ds'), '--split', 'last-loo', '--candidates', '99', '--json']);
  assert.equal(p.status, 0, p.stderr);
  assert.equal(JSON.parse(p.stdout).counts.evalUsers, 50);
  assert.match(derrd(['data', 'prepare', '--help']).stdout, /--candidates <n>.*\(an integer >= 0; default: 499\)/s);
});

test('CiteULike (shared data): users.dat with >= 5 interactions and the authors\' split give the paper\'s counts', { skip: !existsSync(CITEULIKE) && 'shared CiteULike data not present' }, () => {
  const dir = tmp();
  const raw = derrd(['data', 'prepare', '-i', join(CITEULIKE, 'raw', 'users.dat'), '--min-user', '5', '-o', join(dir, 'raw'), '--json']);
  assert.equal(raw.status, 0, raw.stderr);
  const c = JSON.parse(raw.stdout).counts;
  assert.deepEqual([c.users, c.items, c.interactions], [5219, 25181, 125580]);
  const split = derrd(['data', 'prepare', '-i', join(CITEULIKE, 'derrd_loo_seed0'), '-o', join(dir, 'split'), '--json']);
  assert.equal(split.status, 0, split.stderr);
  const s = JSON.parse(split.stdout).counts;
  assert.deepEqual([s.train, s.valid, s.test, s.users, s.items], [115142, 5219, 5219, 5219, 25181]);
  const userIds = JSON.parse(readFileSync(join(dir, 'split', 'user_ids.json'), 'utf8')) as string[];
  const itemIds = JSON.parse(readFileSync(join(dir, 'split', 'item_ids.json'), 'utf8')) as string[];
  assert.ok(userIds.every((id, k) => id === String(k)));
  assert.ok(itemIds.every((id, k) => id === String(k)));
  // the split's users are the raw file's kept users in file order, so their train+valid+test sets match item by item
  const rawItems = JSON.parse(readFileSync(join(dir, 'raw', 'item_ids.json'), 'utf8')) as string[];
  assert.equal(rawItems.length, itemIds.length);
});

test('the installed command: npm links node_modules/.bin/derrd and it runs (what `npx derrd` uses)', () => {
  const bin = join(ROOT, 'node_modules', '.bin', 'derrd');
  assert.ok(existsSync(bin), `${bin} is missing: npm did not link the cli package's bin`);
  const r = spawnSync(bin, ['--version'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout.trim(), /^\d+\.\d+\.\d+$/);
});
