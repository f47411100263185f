import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateSynthetic, loadDataset, prepareFromInteractions, saveDataset, writeDirAtomic } from '@derrd/core';

const small = () => prepareFromInteractions(generateSynthetic({ numUsers: 80, numItems: 300, seed: 1 }), { kind: 'synthetic', path: null, sha256: null }, { numCandidates: 99 });

test('save then load gives the same arrays, id maps and hash', () => {
  const dir = join(mkdtempSync(join(tmpdir(), 'derrd-')), 'ds');
  const ds = small();
  saveDataset(ds, dir);
  const back = loadDataset(dir);
  assert.equal(back.manifest.hash, ds.manifest.hash);
  assert.deepEqual(back.trainItems, ds.trainItems);
  assert.deepEqual(back.trainIndptr, ds.trainIndptr);
  assert.deepEqual(back.candidates, ds.candidates);
  assert.deepEqual(back.testItem, ds.testItem);
  assert.deepEqual(back.userIds.rawIds(), ds.userIds.rawIds());
  assert.equal(back.itemIds.dense(ds.itemIds.rawId(7)), 7);
});

test('an existing output directory is refused without force and replaced with force', () => {
  const dir = join(mkdtempSync(join(tmpdir(), 'derrd-')), 'ds');
  saveDataset(small(), dir);
  assert.throws(() => saveDataset(small(), dir), /output directory exists/);
  saveDataset(small(), dir, { force: true });
  assert.ok(loadDataset(dir));
  assert.deepEqual(readdirSync(join(dir, '..')), ['ds']);
});

test('a modified array or manifest is refused', () => {
  const dir = join(mkdtempSync(join(tmpdir(), 'derrd-')), 'ds');
  saveDataset(small(), dir);
  const path = join(dir, 'candidates.i32');
  const bytes = readFileSync(path);
  bytes[10] ^= 1;
  writeFileSync(path, bytes);
  assert.throws(() => loadDataset(dir), /candidates\.i32: file does not match the manifest/);
  const dir2 = join(mkdtempSync(join(tmpdir(), 'derrd-')), 'ds');
  saveDataset(small(), dir2);
  const manifest = JSON.parse(readFileSync(join(dir2, 'manifest.json'), 'utf8'));
  manifest.counts.users += 1;
  writeFileSync(join(dir2, 'manifest.json'), JSON.stringify(manifest));
  assert.throws(() => loadDataset(dir2), /manifest hash does not match/);
  assert.throws(() => loadDataset(join(dir2, 'nope')), /prepared data set not found/);
});

test('a failure while writing leaves neither the directory nor temp files', () => {
  const parent = mkdtempSync(join(tmpdir(), 'derrd-'));
  assert.throws(() => writeDirAtomic(join(parent, 'out'), false, (tmp) => {
    writeFileSync(join(tmp, 'a'), 'x');
    throw new Error('boom');
  }), /boom/);
  assert.equal(existsSync(join(parent, 'out')), false);
  assert.deepEqual(readdirSync(parent), []);
});
