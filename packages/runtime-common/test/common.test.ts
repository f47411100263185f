/**
 * @derrd/runtime-common is what a web app bundles: it must stay free of Node, DOM-only and onnxruntime imports. The
 * behaviour of its feeds and id maps is tested through both runtimes (packages/runtime/test, packages/web/test).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseModelInfo } from '@derrd/runtime-common';

const DIST = join(import.meta.dirname, '..', 'dist');

test('the built package imports nothing but its own files', () => {
  const files = readdirSync(DIST).filter((f) => f.endsWith('.js'));
  assert.ok(files.includes('index.js') && files.length >= 5, files.join(', '));
  for (const file of files) {
    const source = readFileSync(join(DIST, file), 'utf8');
    const specifiers = [...source.matchAll(/(?:^|\s)(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]/gm)].map((m) => m[1] ?? m[2]);
    for (const s of specifiers) assert.ok(s.startsWith('./'), `${file} imports ${s}`);
  }
});

test('parseModelInfo: counts, card and id map from derrd metadata; what is missing is listed, not thrown', () => {
  const card = { dataset: { hash: 'abc' }, model: { dim: 4 } };
  const { info, missing } = parseModelInfo({ 'derrd.format': '1', 'derrd.num_users': '3', 'derrd.num_items': '5', 'derrd.dim': '4', 'derrd.id_maps': 'm.ids.json', 'derrd.card': JSON.stringify(card) });
  assert.deepEqual(missing, []);
  assert.equal(info?.numUsers, 3);
  assert.equal(info?.datasetHash, 'abc');
  assert.equal(info?.idMaps, 'm.ids.json');
  assert.deepEqual(parseModelInfo({ 'derrd.format': '1', 'derrd.num_users': '-1', 'derrd.num_items': '5', 'derrd.dim': '4', 'derrd.card': '{' }).missing, ['derrd.card (not JSON)', 'derrd.card', 'derrd.id_maps', 'derrd.num_users']);
  assert.equal(parseModelInfo({}).info, null);
});
