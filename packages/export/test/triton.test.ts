import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import protobuf from 'protobufjs';
import { generateSynthetic, prepareFromInteractions, saveDataset, trainItemsOf, type Dataset } from '@derrd/core';
import { TRAIN_DEFAULTS, initBackend, train } from '@derrd/train';
import { exportCheckpoint, exportTriton } from '@derrd/export';
import { createRecommender } from '@derrd/runtime';

const work = mkdtempSync(join(tmpdir(), 'derrd-triton-'));
const ckpt = join(work, 'ckpt');
let ds: Dataset;
// Triton's own schema (triton-inference-server/common, protobuf/model_config.proto), parsed with its field names
const root = protobuf.parse(readFileSync(join(import.meta.dirname, 'fixtures', 'triton-model_config.proto'), 'utf8'), { keepCase: true }).root;
const ModelConfig = root.lookupType('inference.ModelConfig');

before(async () => {
  await initBackend('wasm');
  ds = prepareFromInteractions(generateSynthetic({ numUsers: 50, numItems: 150, seed: 71 }), { kind: 'synthetic', path: null, sha256: null }, { numCandidates: 30 });
  const dataDir = join(work, 'data');
  saveDataset(ds, dataDir);
  (await train({ dataset: ds, datasetPath: dataDir, out: ckpt, backend: 'wasm', config: { ...TRAIN_DEFAULTS, dim: 8, maxEpochs: 1, batchSize: 256, lr: 0.01 } })).model.dispose();
});

type Parsed = { [field: string]: ParsedValue };
type ParsedValue = string | number | boolean | { enum: string } | Parsed | ParsedValue[];

/** A small reader for protobuf text format (what config.pbtxt is): fields, nested messages, lists, enums, comments. */
function parseTextFormat(text: string): Parsed {
  const tokens = text.replace(/#[^\n]*/g, '').match(/"(?:[^"\\]|\\.)*"|[{}[\]:,]|[^\s{}[\]:,"]+/g) ?? [];
  let pos = 0;
  const peek = () => tokens[pos];
  const take = (expected?: string) => {
    const t = tokens[pos++];
    if (expected !== undefined && t !== expected) throw new Error(`expected "${expected}", got "${t}" at token ${pos}`);
    return t;
  };
  const value = (): ParsedValue => {
    const t = peek();
    if (t === '{') return message('}');
    if (t === '[') {
      take('[');
      const list: ParsedValue[] = [];
      while (peek() !== ']') {
        list.push(value());
        if (peek() === ',') take(',');
      }
      take(']');
      return list;
    }
    take();
    if (t.startsWith('"')) return JSON.parse(t) as string;
    if (/^-?\d+(\.\d+)?$/.test(t)) return Number(t);
    if (t === 'true' || t === 'false') return t === 'true';
    return { enum: t };
  };
  const message = (end: string | undefined): Parsed => {
    if (end) take('{');
    const out: Parsed = {};
    while (pos < tokens.length && peek() !== end) {
      const field = take();
      if (peek() === ':') take(':');
      const v = value();
      if (field in out) out[field] = ([] as ParsedValue[]).concat(out[field], v);
      else out[field] = v;
    }
    if (end) take(end);
    return out;
  };
  return message(undefined);
}

/** Checks every field name, enum value and repeated/singular shape against the .proto; returns the problems. */
function checkAgainstProto(type: protobuf.Type, value: Parsed, path = type.name): string[] {
  const problems: string[] = [];
  for (const [name, v] of Object.entries(value)) {
    const field = type.fields[name];
    if (!field) {
      problems.push(`${path}.${name}: no such field in ${type.fullName}`);
      continue;
    }
    field.resolve();
    const values = Array.isArray(v) ? v : [v];
    if (Array.isArray(v) && !field.repeated) problems.push(`${path}.${name}: a list for a singular field`);
    for (const item of values) {
      if (field.resolvedType instanceof protobuf.Type) {
        if (typeof item !== 'object' || Array.isArray(item) || 'enum' in item) problems.push(`${path}.${name}: expected a ${field.type} message`);
        else problems.push(...checkAgainstProto(field.resolvedType, item as Parsed, `${path}.${name}`));
      } else if (field.resolvedType instanceof protobuf.Enum) {
        const e = item as { enum?: string };
        if (!e.enum || !(e.enum in field.resolvedType.values)) problems.push(`${path}.${name}: ${JSON.stringify(item)} is not a ${field.type} value`);
      } else if (typeof item === 'object') {
        problems.push(`${path}.${name}: expected a ${field.type}`);
      }
    }
  }
  return problems;
}

/** The parsed text as protobufjs's plain object (enums by name), for fromObject/verify. */
const toPlain = (v: ParsedValue): unknown => {
  if (Array.isArray(v)) return v.map(toPlain);
  if (typeof v === 'object') return 'enum' in v && Object.keys(v).length === 1 ? v.enum : Object.fromEntries(Object.entries(v).map(([k, x]) => [k, toPlain(x)]));
  return v;
};

test('derrd export --triton writes a model repository whose config.pbtxt uses Triton\'s own model_config.proto fields', async () => {
  const repo = join(work, 'repo');
  const r = await exportTriton({ checkpoint: ckpt, repository: repo, name: 'student', k: 7, maxBatch: 32 });
  for (const p of ['student/config.pbtxt', 'student/1/model.onnx', 'student/1/model.ids.json']) assert.ok(existsSync(join(repo, p)), p);
  const parsed = parseTextFormat(readFileSync(r.configPath, 'utf8'));
  assert.deepEqual(checkAgainstProto(ModelConfig, parsed), []);
  const plain = toPlain(parsed) as Record<string, unknown>;
  const message = ModelConfig.fromObject(plain);
  assert.equal(ModelConfig.verify(message), null);
  const decoded = ModelConfig.toObject(ModelConfig.decode(ModelConfig.encode(message).finish()), { enums: String, longs: Number }) as Record<string, unknown> & {
    input: { name: string; data_type: string; dims: number[]; reshape?: { shape?: number[] } }[];
    output: { name: string; data_type: string; dims: number[] }[];
    dynamic_batching: { max_queue_delay_microseconds?: number };
    instance_group: { kind: string; count: number }[];
  };
  assert.equal(decoded.name, 'student');
  assert.equal(decoded.backend, 'onnxruntime');
  assert.equal(decoded.max_batch_size, 32);
  assert.deepEqual(decoded.input.map((i) => [i.name, i.data_type, i.dims]), [['user_ids', 'TYPE_INT64', [1]], ['exclude', 'TYPE_INT64', [-1]]]);
  assert.ok(decoded.input[0].reshape, 'user_ids is reshaped from [B, 1] to the model\'s [B]');
  assert.deepEqual(decoded.output.map((o) => [o.name, o.data_type, o.dims]), [['items', 'TYPE_INT64', [7]], ['scores', 'TYPE_FP32', [7]]]);
  assert.equal(decoded.dynamic_batching.max_queue_delay_microseconds ?? 0, 0);
  assert.deepEqual(decoded.instance_group.map((g) => g.kind), ['KIND_CPU']);

  // the config describes the model it sits next to: the same inputs, k fixed at the configured width
  const rec = await createRecommender(r.modelPath);
  assert.deepEqual([...rec.inputNames].sort(), decoded.input.map((i) => i.name).sort());
  assert.equal(rec.fixedK, 7);
  await rec.close();
});

test('the checker itself refuses a misspelled field or a wrong enum (it can fail)', () => {
  const bad = parseTextFormat('name: "m"\nmax_batch: 8\ninput [ { name: "x" data_type: TYPE_INT65 dims: [ 1 ] } ]\n');
  assert.deepEqual(checkAgainstProto(ModelConfig, bad), [
    'ModelConfig.max_batch: no such field in .inference.ModelConfig',
    'ModelConfig.input.data_type: {"enum":"TYPE_INT65"} is not a DataType value',
  ]);
});

test('the Triton model ranks like the derrd model (same top-k, with and without exclusions), and its id map is bound to it', async () => {
  const plain = await exportCheckpoint({ checkpoint: ckpt, out: join(work, 'plain.onnx') });
  const r = await exportTriton({ checkpoint: ckpt, repository: join(work, 'repo2'), k: 10 });
  assert.equal(r.name, JSON.parse(readFileSync(join(ckpt, 'card.json'), 'utf8')).name);
  const a = await createRecommender(plain.path);
  const b = await createRecommender(r.modelPath);
  const users = Array.from({ length: 20 }, (_v, k) => k);
  const exclude = users.map((u) => Array.from(trainItemsOf(ds, u)));
  assert.deepEqual((await b.recommendDense(users, 10)).items, (await a.recommendDense(users, 10)).items);
  assert.deepEqual((await b.recommendDense(users, 10, exclude)).items, (await a.recommendDense(users, 10, exclude)).items);
  assert.deepEqual((await b.recommend(['3'], 5)).items, (await a.recommend(['3'], 5)).items);
  await assert.rejects(b.recommendDense([0], 11), /always returns its top 10 \(k is fixed at export\)/);
  await a.close();
  await b.close();
  await assert.rejects(exportTriton({ checkpoint: ckpt, repository: join(work, 'repo2'), k: 10 }), /already has this model \(use --force/);
  await exportTriton({ checkpoint: ckpt, repository: join(work, 'repo2'), k: 5, force: true });
  assert.match(readFileSync(r.configPath, 'utf8'), /dims: \[ 5 \]/);
  await assert.rejects(exportTriton({ checkpoint: ckpt, repository: join(work, 'repo3'), name: 'bad/name' }), /not a usable Triton model name/);
});
