/**
 * HTTP requests to `derrd serve` (in-process, Fastify inject): bodies that are not JSON or not the API's shape, ids and
 * parameters out of range, wrong methods, and admin reloads to files that are not a servable model. A refused
 * reload keeps the old model serving.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeSafetensors } from '@derrd/core';
import type { HttpRow, InjectServer } from './http.ts';

const model = { 'model.onnx': { fixture: 'model.onnx' }, 'model.ids.json': { fixture: 'model.ids.json' } } as const;
const withCheckpoint = { ...model, m: { fixture: 'bpr' } } as const;
const reloadTo = (file: string) => (dir: string) => JSON.stringify({ model: join(dir, file) });

/** The served model still answers with finite scores (a refused reload left it in place). */
async function stillServes(server: InjectServer, dir: string): Promise<void> {
  const user = (JSON.parse(readFileSync(join(dir, 'model.ids.json'), 'utf8')) as { users: string[] }).users[0];
  const r = await server.app.inject({ method: 'GET', url: `/v1/recommend?user=${encodeURIComponent(user)}&k=5` });
  assert.equal(r.statusCode, 200, r.body);
  const items = (JSON.parse(r.body) as { items: { score: number | null }[] }).items;
  assert.equal(items.length, 5);
  assert.ok(items.every((i) => typeof i.score === 'number' && Number.isFinite(i.score)), `scores after the refused reload: ${r.body}`);
}

/**
 * model.onnx with one user-table weight replaced by `value`: the checkpoint's user table is stored verbatim (float32
 * little-endian) in the ONNX file, so its bytes are found there without parsing the model.
 */
export const poisonOnnx = (value: number) => (dir: string) => {
  const { tensors } = decodeSafetensors(new Uint8Array(readFileSync(join(dir, 'm', 'model.safetensors'))));
  const user = tensors.user.data as Float32Array;
  const needle = Buffer.from(user.buffer, user.byteOffset, 64);
  const bytes = readFileSync(join(dir, 'model.onnx'));
  const at = bytes.indexOf(needle);
  assert.ok(at >= 0, 'the user table of the checkpoint is in the exported model');
  bytes.writeFloatLE(value, at + 4 * 3);
  writeFileSync(join(dir, 'next.onnx'), bytes);
  writeFileSync(join(dir, 'next.ids.json'), readFileSync(join(dir, 'model.ids.json')));
};

export const HTTP_ROWS: HttpRow[] = [
  { name: 'POST a body that is not JSON', method: 'POST', url: '/v1/recommend', body: '{"users": [', status: 400, says: 'the body is not valid JSON (' },
  { name: 'POST a JSON body with a __proto__ key: a plain 400 naming the key, not "not valid JSON"', method: 'POST', url: '/v1/recommend', body: '{"users": ["{user}"], "__proto__": {"k": 3}}', status: 400, says: 'the body is valid JSON but holds the key "__proto__"' },
  { name: 'POST a JSON body with a constructor.prototype key', method: 'POST', url: '/v1/recommend', body: '{"users": ["{user}"], "constructor": {"prototype": {"k": 3}}}', status: 400, says: 'holds the key "constructor.prototype"' },
  { name: 'POST a body that is a JSON array', method: 'POST', url: '/v1/recommend', body: '[1, 2]', status: 400, says: 'body must be {"users": [...]' },
  { name: 'POST without users', method: 'POST', url: '/v1/recommend', body: '{"k": 3}', status: 400, says: 'body must be {"users": [...]' },
  { name: 'POST an empty body', method: 'POST', url: '/v1/recommend', body: '', status: 400, says: 'the body is empty' },
  { name: 'reload: a JSON body with a __proto__ key', admin: true, method: 'POST', url: '/admin/reload', body: '{"__proto__": {"model": "x"}}', status: 400, says: 'holds the key "__proto__"', after: stillServes },
  { name: 'POST an empty users list', method: 'POST', url: '/v1/recommend', body: '{"users": []}', status: 400, says: 'users is empty' },
  { name: 'POST a body of another content type', method: 'POST', url: '/v1/recommend', body: 'users=1', headers: { 'content-type': 'application/x-www-form-urlencoded' }, status: 415, says: 'Content-Type application/x-www-form-urlencoded is not accepted: send a JSON body' },
  { name: 'GET without a user', method: 'GET', url: '/v1/recommend?k=3', status: 400, says: 'missing query parameter user' },
  { name: 'GET two users', method: 'GET', url: '/v1/recommend?user={user}&user={user}', status: 400, says: 'give one user per GET' },
  { name: 'GET an unknown user', method: 'GET', url: '/v1/recommend?user=987654', status: 404, says: '987654' },
  { name: 'POST an unknown user among known ones', method: 'POST', url: '/v1/recommend', body: '{"users": ["987654"]}', status: 404, says: '987654' },
  { name: 'GET k 0', method: 'GET', url: '/v1/recommend?user={user}&k=0', status: 400, says: 'k' },
  { name: 'GET k above --max-k', method: 'GET', url: '/v1/recommend?user={user}&k=5000', status: 400, says: 'k must be between 1 and 80, got 5000' },
  { name: 'GET k that is not a number', method: 'GET', url: '/v1/recommend?user={user}&k=ten', status: 400, says: 'ten' },
  { name: 'POST k as a fraction', method: 'POST', url: '/v1/recommend', body: '{"users": ["{user}"], "k": 2.5}', status: 400, says: '2.5' },
  { name: 'GET exclude naming an unknown item', method: 'GET', url: '/v1/recommend?user={user}&exclude=no-such-item', status: 400, says: 'no-such-item' },
  { name: 'POST exclude that is not a list', method: 'POST', url: '/v1/recommend', body: '{"users": ["{user}"], "exclude": "x"}', status: 400, says: 'exclude' },
  { name: 'GET exclude_seen that is not a boolean', method: 'GET', url: '/v1/recommend?user={user}&exclude_seen=perhaps', status: 400, says: 'perhaps' },
  { name: 'DELETE /v1/recommend: 405 with Allow', method: 'DELETE', url: '/v1/recommend', status: 405, says: 'DELETE is not allowed on /v1/recommend (allowed: GET, HEAD, POST)' },
  { name: 'POST /metrics: 405', method: 'POST', url: '/metrics', body: '{}', status: 405, says: 'POST is not allowed on /metrics' },
  { name: 'GET /admin/reload: 405', admin: true, method: 'GET', url: '/admin/reload', status: 405, says: 'GET is not allowed on /admin/reload' },
  { name: 'an unknown path: 404', method: 'GET', url: '/v2/recommend', status: 404, says: 'no route GET /v2/recommend' },
  { name: 'reload: a body that is not JSON', admin: true, method: 'POST', url: '/admin/reload', body: '{"model": ', status: 400, says: 'the body is not valid JSON (' },
  { name: 'reload: an unknown key', admin: true, method: 'POST', url: '/admin/reload', body: '{"modle": "x.onnx"}', status: 400, says: 'unknown key "modle"' },
  { name: 'reload: a model path that is not a string', admin: true, method: 'POST', url: '/admin/reload', body: '{"model": 7}', status: 400, says: '"model" must be a non-empty path string' },
  { name: 'reload: a model that does not exist', admin: true, method: 'POST', url: '/admin/reload', body: reloadTo('gone.onnx'), status: 404, says: 'gone.onnx: model file not found', after: stillServes },
  { name: 'reload: a directory', admin: true, method: 'POST', url: '/admin/reload', setup: (d) => { writeFileSync(join(d, 'x'), ''); }, body: (d) => JSON.stringify({ model: d }), status: 422, says: 'is a directory, expected a regular file', after: stillServes },
  { name: 'reload: a garbage model', admin: true, method: 'POST', url: '/admin/reload', files: { ...model, 'junk.onnx': 'this is not a model\n' }, body: reloadTo('junk.onnx'), status: 422, says: 'junk.onnx: not an ONNX model', after: stillServes },
  { name: 'reload: a model without its id map', admin: true, method: 'POST', url: '/admin/reload', setup: (d) => { mkdirSync(join(d, 'next')); writeFileSync(join(d, 'next', 'model.onnx'), readFileSync(join(d, 'model.onnx'))); }, body: reloadTo('next/model.onnx'), status: 422, says: 'model.ids.json: id map (written next to the model by `derrd export`) not found', after: stillServes },
  { name: 'reload: a model with NaN weights gets 422 and the old model keeps serving', failure: 6, admin: true, method: 'POST', url: '/admin/reload', files: withCheckpoint, setup: poisonOnnx(NaN), body: reloadTo('next.onnx'), status: 422, says: 'holds 1 non-finite value (the first, NaN', after: stillServes },
  { name: 'reload: a model with an infinite weight', failure: 6, admin: true, method: 'POST', url: '/admin/reload', files: withCheckpoint, setup: poisonOnnx(Infinity), body: reloadTo('next.onnx'), status: 422, says: 'non-finite value', after: stillServes },
];
