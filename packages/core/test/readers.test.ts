import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readDelimited, readUsersDat, readSplitDir, InputError } from '@derrd/core';

const fx = (name: string) => join(import.meta.dirname, 'fixtures', name);

test('TSV with a header: columns by name, timestamps read, rows in order', () => {
  const raw = readDelimited(fx('with-header-and-duplicate.tsv'));
  assert.equal(raw.users.length, 10);
  assert.deepEqual(raw.users.slice(0, 3), ['alice', 'alice', 'alice']);
  assert.deepEqual(raw.items.slice(0, 3), ['x', 'y', 'z']);
  assert.deepEqual(raw.timestamps!.slice(0, 3), [10, 20, 30]);
  assert.equal(raw.lines[0], 2);
});

test('CSV without a header; min-rating filter', () => {
  const raw = readDelimited(fx('no-header.csv'));
  assert.deepEqual(raw.users, ['u1', 'u1', 'u2']);
  assert.deepEqual(raw.items, ['i1', 'i2', 'i1']);
  const rated = readDelimited(fx('with-header-and-duplicate.tsv'), { minRating: 4 });
  assert.equal(rated.users.length, 7);
});

test('errors name the file, the line and the problem', () => {
  assert.throws(() => readDelimited(fx('too-few-columns.tsv')), (e: Error) => e instanceof InputError && /too-few-columns\.tsv:3: too few columns: found 1, need 2/.test(e.message));
  assert.throws(() => readDelimited(fx('empty.tsv')), /empty\.tsv: file is empty/);
  assert.throws(() => readDelimited(fx('missing.tsv')), /missing\.tsv: file not found/);
  assert.throws(() => readUsersDat(fx('bad-count.users.dat')), /bad-count\.users\.dat:2: count "three" is not a non-negative integer/);
  assert.throws(() => readUsersDat(fx('count-mismatch.users.dat')), /count-mismatch\.users\.dat:2: count says 3 items but the line has 2/);
});

test('users.dat: user = line number, items as listed', () => {
  const raw = readUsersDat(fx('tiny-users.dat'));
  assert.deepEqual(raw.users, ['0', '0', '1', '1', '1', '2']);
  assert.deepEqual(raw.items, ['10', '11', '10', '12', '13', '11']);
});

test('split directory: train/valid/test files; a missing file is named', () => {
  const dir = mkdtempSync(join(tmpdir(), 'derrd-split-'));
  writeFileSync(join(dir, 'train.tsv'), 'user\titem\n0\t0\n0\t1\n1\t1\n');
  writeFileSync(join(dir, 'valid.tsv'), 'user\titem\n0\t2\n1\t0\n');
  assert.throws(() => readSplitDir(dir), /no test\.tsv/);
  writeFileSync(join(dir, 'test.tsv'), 'user\titem\n0\t3\n1\t2\n');
  const split = readSplitDir(dir);
  assert.equal(split.train.users.length, 3);
  assert.equal(split.test.items[1], '2');
});
