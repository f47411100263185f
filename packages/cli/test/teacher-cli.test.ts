import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { decodeSafetensors } from '@derrd/core';
import { derrd } from './helpers.js';

const FIXTURE = join(import.meta.dirname, 'fixtures', 'outside_teacher.py');
const python = (mods: string) => spawnSync('python3', ['-c', `import ${mods}`], { encoding: 'utf8' }).status === 0;
const hasSafetensors = python('numpy, safetensors');
const hasOnnx = hasSafetensors && python('onnx');
const sha = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');
/** name → [shape, values] of a safetensors file (its metadata left out) */
const tensorsOf = (path: string) => Object.fromEntries(Object.entries(decodeSafetensors(new Uint8Array(readFileSync(path)), path).tensors).map(([n, t]) => [n, [t.shape, Array.from(t.data)]]));

function ok(args: string[]): string {
  const r = derrd(args, { timeoutMs: 300_000 });
  assert.equal(r.status, 0, `derrd ${args.join(' ')}\n${r.stderr}`);
  return r.stdout;
}

function fails(args: string[], message: RegExp): void {
  const r = derrd(args, { timeoutMs: 300_000 });
  assert.notEqual(r.status, 0, `derrd ${args.join(' ')} should fail`);
  assert.match(r.stderr, message);
  assert.doesNotMatch(r.stderr, /internal error|    at /);
}

function outsideTeacher(args: string[]): void {
  const r = spawnSync('python3', [FIXTURE, ...args], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
}

/** A prepared data set and a BPR (and NeuMF) teacher trained by derrd, to be re-written "elsewhere". */
function setup(models: ('bpr' | 'neumf')[]) {
  const dir = mkdtempSync(join(tmpdir(), 'derrd-teacher-'));
  const data = join(dir, 'data');
  ok(['data', 'synth', '-o', join(dir, 'r.tsv'), '--users', '300', '--items', '400', '--seed', '2']);
  ok(['data', 'prepare', '-i', join(dir, 'r.tsv'), '-o', data, '--candidates', '99']);
  for (const model of models) ok(['train', '--data', data, '--model', model, '--dim', '16', '--epochs', '3', '--lr', '0.01', '--backend', 'wasm', '-o', join(dir, model)]);
  return { dir, data };
}

const testMetrics = (dir: string, data: string) => JSON.parse(ok(['evaluate', dir, '--data', data, '--json'])).test as Record<string, number>;

test('teacher import from safetensors written by Python\'s safetensors: BPR tables in another raw-id order with PyTorch names become the same teacher; it distils; bad imports get plain errors', { skip: !hasSafetensors && 'python: Python 3 with numpy and safetensors is not installed' }, () => {
  const { dir, data } = setup(['bpr']);
  const file = join(dir, 'outside.safetensors');
  const ids = join(dir, 'ids.json');
  outsideTeacher(['--weights', join(dir, 'bpr', 'model.safetensors'), '--data', data, '--out', file, '--ids', ids, '--seed', '5']);
  const order = JSON.parse(readFileSync(ids, 'utf8')) as { users: string[] };
  assert.notDeepEqual(order.users.slice(0, 20), Array.from({ length: 20 }, (_v, k) => String(k)), 'the rows are shuffled');

  fails(['teacher', 'import', file, '--data', data, '-o', join(dir, 'x'), '--ids', ids], /cannot tell the model from its tensors \(embed_item\.weight, embed_user\.weight\).*--map user=…,item=…/);
  fails(['teacher', 'import', file, '--data', data, '-o', join(dir, 'x'), '--map', 'user=embed_user.weight,item=embed_item.weight'], /the raw-id order of the teacher's rows is needed: --ids ids\.json/);
  const partial = join(dir, 'partial.json');
  writeFileSync(partial, JSON.stringify({ users: order.users.map((u, k) => (k === 7 ? 'somebody-else' : u)), items: JSON.parse(readFileSync(ids, 'utf8')).items }));
  fails(['teacher', 'import', file, '--data', data, '-o', join(dir, 'x'), '--ids', partial, '--map', 'user=embed_user.weight,item=embed_item.weight'], /1 of the data set's 300 users are not among the teacher's 303 \("\d+"\): a teacher must cover every user and item/);
  fails(['teacher', 'import', file, '--data', data, '-o', join(dir, 'x'), '--ids', ids, '--map', 'user=embed_user.weight,item=nope'], /no tensor for bpr "item" \(--map item=nope names none\)/);

  const imported = join(dir, 'imported');
  const card = JSON.parse(ok(['teacher', 'import', file, '--data', data, '-o', imported, '--ids', ids, '--map', 'user=embed_user.weight,item=embed_item.weight', '--json']));
  assert.equal(card.status, 'imported');
  assert.deepEqual(card.origin.tensors, { user: 'embed_user.weight', item: 'embed_item.weight' });
  assert.equal(card.origin.sha256, sha(file));
  assert.equal(card.origin.ids, ids);
  assert.deepEqual(card.origin.extra, { users: 3, items: 3 });
  // re-ordered into the data set's dense ids, the tables are derrd's own teacher's, byte for byte, and so are its metrics
  assert.deepEqual(tensorsOf(join(imported, 'model.safetensors')), tensorsOf(join(dir, 'bpr', 'model.safetensors')));
  assert.deepEqual(card.metrics.saved.test, testMetrics(join(dir, 'bpr'), data));
  assert.deepEqual(testMetrics(imported, data), card.metrics.saved.test);

  const student = join(dir, 'student');
  const distilled = JSON.parse(ok(['distill', '--teacher', imported, '--data', data, '--method', 'de-rrd', '--dim', '4', '--epochs', '1', '--experts', '3', '--rrd-top-n', '50', '--rrd-k', '5', '--rrd-l', '5', '--backend', 'wasm', '-o', student, '--json']));
  assert.equal(distilled.method.name, 'de-rrd');
  assert.equal(distilled.method.teacher.weightsSha256, card.weights.sha256);
});

test('teacher import of a NeuMF from PyTorch\'s layout: nn.Linear\'s [out, in] matrices are transposed, the four tables re-ordered', { skip: !hasSafetensors && 'python: Python 3 with numpy and safetensors is not installed' }, () => {
  const { dir, data } = setup(['neumf']);
  const file = join(dir, 'neumf.safetensors');
  const ids = join(dir, 'ids.json');
  outsideTeacher(['--weights', join(dir, 'neumf', 'model.safetensors'), '--data', data, '--out', file, '--ids', ids]);
  const map = 'user_gmf=embed_user_GMF.weight,item_gmf=embed_item_GMF.weight,user_mlp=embed_user_MLP.weight,item_mlp=embed_item_MLP.weight,mlp_w=MLP_layers.0.weight,mlp_b=MLP_layers.0.bias,out_w=predict_layer.weight,out_b=predict_layer.bias';
  const card = JSON.parse(ok(['teacher', 'import', file, '--data', data, '-o', join(dir, 'imported'), '--ids', ids, '--map', map, '--model', 'neumf', '--json']));
  assert.equal(card.model.kind, 'neumf');
  assert.deepEqual(card.origin.transposed, ['mlp_w', 'out_w']);
  assert.deepEqual(tensorsOf(join(dir, 'imported', 'model.safetensors')), tensorsOf(join(dir, 'neumf', 'model.safetensors')));
});

test('teacher import from ONNX: derrd\'s own exported model and (Python onnx) a pairs and an all-items model rank like the teacher; RRD distils from them, DE is refused', async (t) => {
  const { dir, data } = setup(['bpr']);
  const teacher = join(dir, 'bpr');
  const expected = testMetrics(teacher, data);
  ok(['export', teacher, '-o', join(dir, 'teacher.onnx')]);
  const close = (a: Record<string, number>, b: Record<string, number>) => {
    for (const k of Object.keys(b)) assert.ok(Math.abs(a[k] - b[k]) <= 0.01, `${k}: ${a[k]} vs the teacher's ${b[k]}`);
  };
  const imported = join(dir, 'onnx-teacher');
  const card = JSON.parse(ok(['teacher', 'import', join(dir, 'teacher.onnx'), '--data', data, '-o', imported, '--top-n', '100', '--json']));
  assert.equal(card.model.kind, 'onnx');
  assert.equal(card.model.dim, 16);
  assert.equal(card.origin.signature, 'topk');
  assert.equal(card.origin.topN, 100);
  assert.equal(card.origin.ids, join(dir, 'teacher.ids.json'));
  close(card.metrics.saved.test, expected);

  fails(['distill', '--teacher', imported, '--data', data, '-o', join(dir, 's0')], /method de-rrd needs DE, which distils the teacher's embeddings, and onnx-teacher is an ONNX teacher that gives only its ranking.*use --method rrd, rd or cd/);
  fails(['distill', '--teacher', imported, '--data', data, '--method', 'rrd', '--rrd-top-n', '200', '-o', join(dir, 's0')], /--rrd-top-n 200 is longer than the imported teacher's ranking \(100\).*--top-n 200/);
  fails(['evaluate', imported, '--data', data], /imported ONNX teacher: it holds its ranking, not model weights/);
  const rrd = JSON.parse(ok(['distill', '--teacher', imported, '--data', data, '--method', 'rrd', '--dim', '4', '--epochs', '1', '--rrd-top-n', '50', '--rrd-k', '5', '--rrd-l', '5', '--backend', 'wasm', '-o', join(dir, 'student'), '--json']));
  assert.equal(rrd.method.teacher.kind, 'onnx');
  // the ranking RRD read from the import is the teacher's own top-50 (up to float ties between tfjs and onnxruntime)
  ok(['distill', '--teacher', teacher, '--data', data, '--method', 'rrd', '--dim', '4', '--epochs', '1', '--rrd-top-n', '50', '--rrd-k', '5', '--rrd-l', '5', '--backend', 'wasm', '-o', join(dir, 'student-2')]);
  const a = new Int32Array(readFileSync(join(imported, 'ranking-top50.i32')).buffer.slice(0));
  const b = new Int32Array(readFileSync(join(teacher, 'ranking-top50.i32')).buffer.slice(0));
  assert.equal(a.length, 300 * 50);
  assert.ok(a.filter((x, k) => x === b[k]).length >= 0.99 * a.length);

  // the outside models are written by Python's onnx: without it this part is reported as skipped, not passed
  await t.test('a pairs and an all-items model written by Python\'s onnx', { skip: !hasOnnx && 'python: Python 3 with numpy, safetensors and onnx is not installed (.ci/run installs them from the local wheels)' }, () => {
    const ids = join(dir, 'ids.json');
    outsideTeacher(['--weights', join(teacher, 'model.safetensors'), '--data', data, '--out', join(dir, 'x.safetensors'), '--ids', ids, '--onnx-pairs', join(dir, 'pairs.onnx'), '--onnx-all-items', join(dir, 'all.onnx')]);
    for (const [name, signature, names] of [['pairs', 'pairs', { user: 'uid', item: 'iid', score: 'score' }], ['all', 'all-items', { user: 'user', score: 'logits' }]] as const) {
      const c = JSON.parse(ok(['teacher', 'import', join(dir, `${name}.onnx`), '--data', data, '-o', join(dir, `t-${name}`), '--ids', ids, '--top-n', '60', '--json']));
      assert.equal(c.origin.signature, signature);
      assert.deepEqual(c.origin.names, names);
      close(c.metrics.saved.test, expected);
    }
    fails(['teacher', 'import', join(dir, 'pairs.onnx'), '--data', data, '-o', join(dir, 't-x'), '--ids', ids, '--map', 'user=nope'], /has no input "nope" \(it has: uid, iid\)/);
  });
});
