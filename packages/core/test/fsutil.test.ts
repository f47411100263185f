import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InputError, PREPARED_OUTPUT, checkOutputDir, fsInputError, removeStaleTemporaries } from '@derrd/core';

const errno = (code: string, syscall: string, path: string) => Object.assign(new Error(`${code}: ${syscall} '${path}'`), { code, syscall, path });

test('file-system errors become one plain InputError naming the path, the action and the cause; others pass unchanged', () => {
  const rofs = fsInputError(errno('EROFS', 'open', '/mnt/ro/x'));
  assert.ok(rofs instanceof InputError);
  assert.equal(rofs.message, '/mnt/ro/x: cannot open it: read-only file system: nothing can be written there (choose an output on a writable disk)');
  assert.match(fsInputError(errno('ENOSPC', 'write', '/data/ds'), 'ds').message, /^ds: cannot write it: no space left on the device/);
  assert.match(fsInputError(errno('EACCES', 'mkdir', '/root/x')).message, /^\/root\/x: cannot create it: permission denied/);
  const other = new TypeError('not a file-system error');
  assert.equal(fsInputError(other), other);
});

test('stale temporaries: a dead run\'s of our naming go, a live run\'s and other names stay; an interrupted swap is put back', () => {
  const dir = mkdtempSync(join(tmpdir(), 'derrd-fsutil-'));
  const dead = 4194305;
  const names = [`.ds.tmp-${dead}-0123abcd`, `.ds.old-${dead}-0123abcd`, `.ds.tmp-${process.pid}-0123abcd`, `.ds.tmp-${dead}-notours`, `.other.tmp-${dead}-0123abcd`];
  for (const n of names) mkdirSync(join(dir, n));
  writeFileSync(join(dir, names[1], 'manifest.json'), '{}');
  const r = removeStaleTemporaries(join(dir, 'ds'));
  assert.equal(r.restored, true);
  assert.ok(existsSync(join(dir, 'ds', 'manifest.json')), 'the previous version is back');
  assert.deepEqual(readdirSync(dir).sort(), ['ds', ...names.slice(2)].sort());
});

test('checkOutputDir: --force replaces only a kind derrd wrote, holding only its files, and never the input', () => {
  const dir = mkdtempSync(join(tmpdir(), 'derrd-fsutil-'));
  const ds = join(dir, 'ds');
  mkdirSync(ds);
  assert.doesNotThrow(() => checkOutputDir(ds, PREPARED_OUTPUT, { force: false }), 'an empty directory is fine');
  writeFileSync(join(ds, 'notes.txt'), 'mine');
  assert.throws(() => checkOutputDir(ds, PREPARED_OUTPUT, { force: true }), /is a directory but not a prepared data set \(no manifest\.json\)/);
  writeFileSync(join(ds, 'manifest.json'), '{}');
  assert.throws(() => checkOutputDir(ds, PREPARED_OUTPUT, { force: false }), /output directory exists \(use --force/);
  assert.throws(() => checkOutputDir(ds, PREPARED_OUTPUT, { force: true }), /holds files derrd did not write \(notes\.txt\)/);
  assert.throws(() => checkOutputDir(ds, PREPARED_OUTPUT, { force: true, inputs: [join(ds, 'notes.txt')] }), /--out .* holds the input/);
  const file = join(dir, 'thesis.txt');
  writeFileSync(file, 'mine');
  assert.throws(() => checkOutputDir(file, PREPARED_OUTPUT, { force: true }), /is a file, not a prepared data set directory/);
  assert.throws(() => checkOutputDir(join(file, 'sub'), PREPARED_OUTPUT, { force: false }), /cannot create it: .*thesis\.txt is a file, not a directory/);
});
