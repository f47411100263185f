/** Checkpoints (card.json + model.safetensors [+ resume.safetensors]) that are missing, tampered, truncated, NaN or of another data set. */
import { createHash } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeSafetensors, encodeSafetensors } from '@derrd/core';
import { editJson, rewriteWeights, type Row } from './corpus.ts';

const ckpt = { data: { fixture: 'data' }, m: { fixture: 'bpr' } } as const;
const evaluate = ['evaluate', 'm', '--data', 'data', '--backend', 'wasm'];
const card = (d: string) => join(d, 'm', 'card.json');
const poison = (value: number) => (d: string) => rewriteWeights(join(d, 'm'), (t) => { (t.item.data as Float32Array)[7] = value; });
const distillFrom = (...flags: string[]) => ['distill', '--teacher', 'm', '--data', 'data', '-o', 'd', '--dim', '2', '--epochs', '1', '--backend', 'wasm', '--de-threads', '1', ...flags];
const truncate = (path: string, keep: number) => writeFileSync(path, readFileSync(path).subarray(0, keep));

export const CHECKPOINT_ROWS: Row[] = [
  { name: 'evaluate: a prepared data set instead of a checkpoint', files: ckpt, args: ['evaluate', 'data', '--data', 'data'], exit: 1, says: 'data: no card.json: not a checkpoint' },
  { name: 'evaluate: a file instead of a checkpoint', files: { ...ckpt, 'notes.txt': 'x' }, args: ['evaluate', 'notes.txt', '--data', 'data'], exit: 1, says: 'notes.txt: expected a checkpoint directory' },
  { name: 'evaluate: a checkpoint that does not exist', files: ckpt, args: ['evaluate', 'gone', '--data', 'data'], exit: 1, says: 'gone: checkpoint not found' },
  { name: 'card.json truncated', files: ckpt, setup: (d) => truncate(card(d), 100), args: evaluate, exit: 1, says: 'card.json is not valid JSON' },
  { name: 'card.json of another tool', files: ckpt, setup: (d) => writeFileSync(card(d), '{"format": "keras"}'), args: evaluate, exit: 1, says: 'card.json: not a derrd model card' },
  { name: 'card.json from a future derrd', files: ckpt, setup: (d) => editJson(card(d), (c) => { c.formatVersion = 7; }), args: evaluate, exit: 1, says: 'model card version 7 is not supported' },
  { name: 'card.json without its model', files: ckpt, setup: (d) => editJson(card(d), (c) => { delete c.model; }), args: evaluate, exit: 1, says: 'model card is damaged: no model kind' },
  { name: 'card.json with a fractional user count', files: ckpt, setup: (d) => editJson(card(d), (c) => { (c.model as { numUsers: number }).numUsers = 60.5; }), args: evaluate, exit: 1, says: 'model card is damaged: model sizes 60.5 users' },
  { name: 'card.json naming weights outside its directory', files: ckpt, setup: (d) => editJson(card(d), (c) => { (c.weights as { file: string }).file = '../data/manifest.json'; }), args: evaluate, exit: 1, says: 'weights must name a file in the checkpoint directory' },
  { name: 'card.json with an unknown status', files: ckpt, setup: (d) => editJson(card(d), (c) => { c.status = 'done'; }), args: evaluate, exit: 1, says: 'status "done" is not one of' },
  { name: 'card.json with an unknown model kind', files: ckpt, setup: (d) => editJson(card(d), (c) => { (c.model as { kind: string }).kind = 'sasrec'; }), args: evaluate, exit: 1, says: 'm: model card: unknown model "sasrec"' },
  { name: 'card.json with another dimension than its weights', files: ckpt, setup: (d) => editJson(card(d), (c) => { (c.model as { dim: number }).dim = 8; }), args: evaluate, exit: 1, says: 'tensor "user" has shape [60,4] but this bpr model (users 60, items 80, dim 8) needs [60,8]' },
  { name: 'model.safetensors truncated', files: ckpt, setup: (d) => truncate(join(d, 'm', 'model.safetensors'), 200), args: evaluate, exit: 1, says: 'weights do not match the model card (sha256 differs)' },
  { name: 'model.safetensors changed', files: ckpt, setup: (d) => { const p = join(d, 'm', 'model.safetensors'); const b = readFileSync(p); b[b.length - 1] ^= 0xff; writeFileSync(p, b); }, args: evaluate, exit: 1, says: 'weights do not match the model card' },
  { name: 'model.safetensors missing', files: ckpt, setup: (d) => rmSync(join(d, 'm', 'model.safetensors')), args: evaluate, exit: 1, says: 'model.safetensors: weights file missing' },
  { name: 'forged: model.safetensors truncated with its sha256 in the card', files: ckpt, setup: (d) => { truncate(join(d, 'm', 'model.safetensors'), 200); rewriteWeightsSha(d); }, args: evaluate, exit: 1, says: 'truncated' },
  { name: 'forged: a safetensors header that is JSON null', files: ckpt, setup: (d) => { writeFileSync(join(d, 'm', 'model.safetensors'), Buffer.concat([Buffer.from([4, 0, 0, 0, 0, 0, 0, 0]), Buffer.from('null')])); rewriteWeightsSha(d); }, args: evaluate, exit: 1, says: 'safetensors header is not a JSON object' },
  { name: 'forged: a tensor with a negative shape', files: ckpt, setup: (d) => { forgeHeader(d, (h) => { (h.user as { shape: number[] }).shape = [-60, -4]; }); }, args: evaluate, exit: 1, says: 'lacks a shape or data_offsets of non-negative integers' },
  { name: 'NaN weights: evaluate refuses them', failure: 6, files: ckpt, setup: poison(NaN), args: evaluate, exit: 1, says: 'model.safetensors: tensor "item" holds 1 non-finite value (the first, NaN, at index 7)' },
  { name: 'infinite weights: evaluate refuses them', failure: 6, files: ckpt, setup: poison(Infinity), args: evaluate, exit: 1, says: 'tensor "item" holds 1 non-finite value (the first, Infinity' },
  { name: 'NaN weights: distill --teacher refuses them', failure: 6, files: ckpt, setup: poison(NaN), args: distillFrom('--method', 'de', '--experts', '2'), exit: 1, says: 'holds 1 non-finite value' },
  { name: 'NaN weights: export refuses them and writes nothing', failure: 6, files: ckpt, setup: poison(NaN), args: ['export', 'm', '-o', 'm.onnx', '--data', 'data'], exit: 1, says: 'tensor "item" holds 1 non-finite value' },
  { name: 'infinite weights: export --force keeps the model already there', failure: 6, files: { ...ckpt, 'm.onnx': { fixture: 'model.onnx' }, 'm.ids.json': { fixture: 'model.ids.json' } }, setup: poison(-Infinity), args: ['export', 'm', '-o', 'm.onnx', '--data', 'data', '--force'], exit: 1, says: 'holds 1 non-finite value (the first, -Infinity' },
  { name: 'NaN weights: compare refuses them', failure: 6, files: ckpt, setup: poison(NaN), args: ['compare', 'm', 'm', '--data', 'data'], exit: 1, says: 'non-finite value' },
  { name: 'a checkpoint with no saved weights (failed run)', files: { data: { fixture: 'data' }, m: { fixture: 'nan-run' } }, args: evaluate, exit: 1, says: 'checkpoint has no saved weights yet' },
  { name: 'a checkpoint of another data set (same shape)', files: { ...ckpt, other: { fixture: 'data-other' } }, args: ['evaluate', 'm', '--data', 'other'], exit: 1, says: 'checkpoint was trained on data set' },
  { name: 'a checkpoint of another data set (other shape)', files: { ...ckpt, small: { fixture: 'data-small' } }, args: ['evaluate', 'm', '--data', 'small'], exit: 1, says: 'checkpoint is for 60 users × 80 items but the data set has 40 × 70' },
  { name: 'a teacher of another data set', files: { ...ckpt, other: { fixture: 'data-other' } }, args: ['distill', '--teacher', 'm', '--data', 'other', '-o', 'd', '--backend', 'wasm'], exit: 1, says: 'checkpoint was trained on data set' },
  { name: 'retrying a NaN run says it failed and saved nothing', files: { data: { fixture: 'data' }, m: { fixture: 'nan-run' } }, args: ['train', '--data', 'data', '-o', 'm', '--dim', '4', '--epochs', '1', '--backend', 'wasm'], exit: 1, says: 'holds a run that failed (loss NaN at epoch 0, batch 1) before saving any weights' },
  { name: 'retraining over a checkpoint without --force', files: ckpt, args: ['train', '--data', 'data', '-o', 'm', '--dim', '4', '--epochs', '1', '--backend', 'wasm'], exit: 1, says: 'm: a checkpoint exists (use --resume to continue it or --force to start over)' },
  { name: 'resume.safetensors truncated', files: ckpt, setup: (d) => truncate(join(d, 'm', 'resume.safetensors'), 4), args: resumeArgs(), exit: 1, says: 'resume.safetensors: not a safetensors file' },
  { name: 'resume.safetensors without its training state', files: ckpt, setup: (d) => editResume(d, (m) => { delete m.state; }), args: resumeArgs(), exit: 1, says: 'no readable training state in its metadata' },
  { name: 'resume.safetensors with NaN weights', files: ckpt, setup: (d) => editResume(d, () => {}, (t) => { (t['param.user'].data as Float32Array)[0] = NaN; }), args: resumeArgs(), exit: 1, says: 'tensor "param.user" holds non-finite values' },
  { name: 'pipeline: a damaged step record', files: { 'run/pipeline.json': '{"prepare": ' }, args: ['pipeline', '-o', 'run'], exit: 1, says: 'pipeline.json: the pipeline\'s step record is not valid JSON' },
  { name: 'pipeline: an unfinished teacher checkpoint', files: { ...ckpt }, setup: (d) => editJson(card(d), (c) => { c.status = 'running'; }), args: ['pipeline', '-o', 'run', '--data', 'data', '--teacher-checkpoint', 'm'], exit: 1, says: 'has not finished training (status running)' },
];

/** The fixture's own settings, so that a resume is refused only for the tampering under test. */
function resumeArgs(): string[] {
  return ['train', '--data', 'data', '-o', 'm', '--dim', '4', '--epochs', '2', '--batch-size', '256', '--backend', 'wasm', '--resume'];
}

function rewriteWeightsSha(d: string): void {
  const bytes = readFileSync(join(d, 'm', 'model.safetensors'));
  editJson(card(d), (c) => { (c.weights as { sha256: string }).sha256 = createHash('sha256').update(bytes).digest('hex'); });
}

/** Rewrites the JSON header of the checkpoint's model.safetensors (same data) and re-records its sha256. */
function forgeHeader(d: string, edit: (header: Record<string, unknown>) => void): void {
  const path = join(d, 'm', 'model.safetensors');
  const bytes = readFileSync(path);
  const length = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + length).toString('utf8')) as Record<string, unknown>;
  edit(header);
  let text = JSON.stringify(header);
  while ((8 + Buffer.byteLength(text)) % 8 !== 0) text += ' ';
  const head = Buffer.alloc(8);
  head.writeBigUInt64LE(BigInt(Buffer.byteLength(text)));
  const out = Buffer.concat([head, Buffer.from(text), bytes.subarray(8 + length)]);
  writeFileSync(path, out);
  rewriteWeightsSha(d);
}

function editResume(d: string, meta: (m: Record<string, string>) => void, tensors: (t: ReturnType<typeof decodeSafetensors>['tensors']) => void = () => {}): void {
  const path = join(d, 'm', 'resume.safetensors');
  const decoded = decodeSafetensors(new Uint8Array(readFileSync(path)), path);
  meta(decoded.metadata);
  tensors(decoded.tensors);
  writeFileSync(path, encodeSafetensors(decoded.tensors, decoded.metadata));
}
