/**
 * ONNX files where the CLI reads them (`derrd teacher import` of a model, an ONNX file given as a checkpoint) and
 * where it writes them: `derrd export` checks every flag first and writes only a verified model.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { derrd, editJson, type Row } from './corpus.ts';
import { poisonOnnx } from './rows-http.ts';

const data = { data: { fixture: 'data' } } as const;
const onnx = { ...data, 'model.onnx': { fixture: 'model.onnx' }, 'model.ids.json': { fixture: 'model.ids.json' } } as const;
const ckpt = { ...data, m: { fixture: 'bpr' } } as const;
const exportArgs = (...flags: string[]) => ['export', 'm', '-o', 'v0.onnx', '--data', 'data', ...flags];
/** the corrected command then writes the model (no "output file exists" left over from the refused run) */
const rerunWorks = (...flags: string[]) => async (dir: string) => {
  const r = await derrd(exportArgs(...flags), dir);
  assert.equal(r.status, 0, `corrected re-run: ${r.stderr}`);
  assert.ok(existsSync(join(dir, 'v0.onnx')) && existsSync(join(dir, 'v0.ids.json')), 'the corrected re-run wrote v0.onnx and v0.ids.json');
};
const importArgs = (file: string, ...flags: string[]) => ['teacher', 'import', file, '--data', 'data', '-o', 't', ...flags];

export const ONNX_ROWS: Row[] = [
  { name: 'teacher import: an .onnx of random bytes', files: { ...data, 'x.onnx': new Uint8Array([0x0f, 0xff, 0xee, 0x07, 0x99, 0x01, 0x02]) }, args: importArgs('x.onnx'), exit: 1, says: 'x.onnx: not an ONNX model' },
  { name: 'teacher import: an empty .onnx', files: { ...data, 'x.onnx': '' }, args: importArgs('x.onnx'), exit: 1, says: 'x.onnx: not an ONNX model (no graph or IR version)' },
  { name: 'teacher import: a text file named .onnx', files: { ...data, 'x.onnx': 'this is not a model\n' }, args: importArgs('x.onnx'), exit: 1, says: 'x.onnx: not an ONNX model' },
  { name: 'teacher import: a truncated ONNX model', files: onnx, setup: (d) => { const p = join(d, 'model.onnx'); writeFileSync(p, readFileSync(p).subarray(0, 300)); }, args: importArgs('model.onnx'), exit: 1, says: 'model.onnx: not an ONNX model (truncated' },
  { name: 'teacher import: an ONNX model without its id map', files: onnx, setup: (d) => rmSync(join(d, 'model.ids.json')), args: importArgs('model.onnx'), exit: 1, says: 'model.ids.json: id map file not found' },
  { name: 'teacher import: an id map that is not JSON', files: onnx, setup: (d) => writeFileSync(join(d, 'model.ids.json'), '{"users": ['), args: importArgs('model.onnx'), exit: 1, says: 'model.ids.json: id map is not valid JSON' },
  { name: 'teacher import: an id map with a duplicate user', files: onnx, setup: (d) => editJson(join(d, 'model.ids.json'), (m) => { const u = m.users as string[]; u[1] = u[0]; }), args: importArgs('model.onnx'), exit: 1, says: /model\.ids\.json: users lists raw id "[^"]+" twice/ },
  { name: 'teacher import: an id map without items', files: onnx, setup: (d) => editJson(join(d, 'model.ids.json'), (m) => { delete m.items; }), args: importArgs('model.onnx'), exit: 1, says: 'id map must be {"users": [raw ids in row order], "items": [...]}' },
  { name: 'teacher import: --model for an ONNX teacher', files: onnx, args: importArgs('model.onnx', '--model', 'bpr'), exit: 2, says: '--model applies to safetensors teachers' },
  { name: 'teacher import: --map of an ONNX teacher naming a table', files: onnx, args: importArgs('model.onnx', '--map', 'user_gmf=x'), exit: 2, says: '--map for an ONNX teacher names its inputs and output' },
  { name: 'teacher import: --top-n not below the item count', files: onnx, args: importArgs('model.onnx', '--top-n', '80'), exit: 1, says: '--top-n 80 must be an integer from 1 to 79' },
  { name: 'teacher import: another extension', files: { ...data, 'model.pt': 'x' }, args: importArgs('model.pt'), exit: 1, says: 'model.pt: expected a .safetensors file (tensor teacher) or an .onnx model' },
  { name: 'evaluate: an ONNX file given as a checkpoint', files: onnx, args: ['evaluate', 'model.onnx', '--data', 'data'], exit: 1, says: 'model.onnx: expected a checkpoint directory' },
  { name: 'distill: an ONNX file given as the teacher', files: onnx, args: ['distill', '--teacher', 'model.onnx', '--data', 'data', '-o', 'd', '--backend', 'wasm'], exit: 1, says: 'model.onnx: expected a checkpoint directory' },
  { name: 'export --verify --verify-users 0: refused before anything is written, the corrected run works', failure: 5, files: ckpt, args: exportArgs('--verify', '--verify-users', '0'), exit: 2, says: '--verify-users must be >= 1, got 0', after: rerunWorks('--verify', '--verify-users', '5') },
  { name: 'export --verify --verify-users abc', failure: 5, files: ckpt, args: exportArgs('--verify', '--verify-users', 'abc'), exit: 2, says: '--verify-users must be an integer, got "abc"' },
  { name: 'export --force --verify --verify-users 0 over a model: the model stays', failure: 5, files: { ...ckpt, 'v0.onnx': { fixture: 'model.onnx' }, 'v0.ids.json': { fixture: 'model.ids.json' } }, args: exportArgs('--force', '--verify', '--verify-users', '0'), exit: 2, says: '--verify-users must be >= 1' },
  { name: 'export --triton with -o --verify --verify-users 0: no Triton entry either', failure: 5, files: ckpt, args: exportArgs('--triton', 'repo', '--verify', '--verify-users', '0'), exit: 2, says: '--verify-users must be >= 1' },
  { name: 'export --verify without -o', files: ckpt, args: ['export', 'm', '--triton', 'repo', '--verify'], exit: 2, says: '--verify checks the -o model: give -o <file.onnx>' },
  { name: 'export --opset 9', files: ckpt, args: exportArgs('--opset', '9'), exit: 1, says: 'unsupported opset 9' },
  { name: 'export -o a file that is not .onnx', files: ckpt, args: ['export', 'm', '-o', 'v0.txt', '--data', 'data'], exit: 1, says: 'output must be a .onnx file path' },
  { name: 'export -o an existing model without --force', files: { ...ckpt, 'v0.onnx': { fixture: 'model.onnx' } }, args: exportArgs(), exit: 1, says: 'output file exists (use --force to replace it)' },
  { name: 'export --verify passes and writes the model', files: ckpt, args: exportArgs('--verify', '--verify-users', '5'), exit: 0, says: 'parity with exclusions: 5 users', output: ['v0.onnx', 'v0.ids.json'] },
  { name: 'serve: a model with NaN weights is refused at start', failure: 6, files: { ...onnx, m: { fixture: 'bpr' } }, setup: poisonOnnx(NaN), args: ['serve', '--model', 'next.onnx', '--workers', '0', '--port', '0'], exit: 1, says: 'next.onnx: weight "user_embedding" holds 1 non-finite value (the first, NaN' },
  { name: 'teacher import: an ONNX teacher with NaN weights', files: { ...onnx, m: { fixture: 'bpr' } }, setup: poisonOnnx(NaN), args: importArgs('next.onnx', '--top-n', '20'), exit: 1, says: /the teacher scored user "[^"]+", item "[^"]+" as NaN/ },
];
