import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { derrd, runAndKillAfterEpochs } from './helpers.js';

const tmp = () => mkdtempSync(join(tmpdir(), 'derrd-traincli-'));

function prepareSmall(dir: string): string {
  const tsv = join(dir, 's.tsv');
  assert.equal(derrd(['data', 'synth', '-o', tsv, '--users', '300', '--items', '500', '--seed', '4']).status, 0);
  const data = join(dir, 'data');
  const r = derrd(['data', 'prepare', '-i', tsv, '-o', data, '--candidates', '99']);
  assert.equal(r.status, 0, r.stderr);
  return data;
}

const trainArgs = (data: string, out: string, epochs: number) => ['train', '--data', data, '--model', 'bpr', '--dim', '16', '--epochs', String(epochs), '--batch-size', '256', '--lr', '0.01', '--backend', 'wasm', '--out', out];

test('kill -9 during training, then --resume: the result equals an uninterrupted run', async () => {
  const dir = tmp();
  const data = prepareSmall(dir);
  const straight = join(dir, 'straight');
  const full = derrd([...trainArgs(data, straight, 6), '--json']);
  assert.equal(full.status, 0, full.stderr);

  const killed = join(dir, 'killed');
  const before = await runAndKillAfterEpochs(trainArgs(data, killed, 6), join(killed, 'card.json'), 2);
  assert.ok(before.epochsRun < 6, 'the run was killed before finishing');

  const resumed = derrd([...trainArgs(data, killed, 6), '--resume', '--json']);
  assert.equal(resumed.status, 0, resumed.stderr);
  assert.match(resumed.stderr, /resumed at epoch \d/);
  const a = JSON.parse(full.stdout);
  const b = JSON.parse(resumed.stdout);
  assert.deepEqual(b.history.map((h: { loss: number }) => h.loss), a.history.map((h: { loss: number }) => h.loss));
  assert.deepEqual(b.metrics.selected, a.metrics.selected);
  assert.ok(readFileSync(join(killed, 'model.safetensors')).equals(readFileSync(join(straight, 'model.safetensors'))));
});

test('train and evaluate: bad flags and checkpoints give one-line errors', () => {
  const dir = tmp();
  const data = prepareSmall(dir);
  const out = join(dir, 'm');
  let r = derrd(['train', '--data', data, '--model', 'sasrec', '--out', out]);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /--model must be one of bpr\|neumf/);
  r = derrd(['train', '--data', data, '--backend', 'tpu', '--out', out]);
  assert.match(r.stderr, /--backend must be one of auto\|tensorflow\|wasm\|cpu/);
  r = derrd(['train', '--data', join(dir, 'nope'), '--out', out]);
  assert.match(r.stderr, /nope: prepared data set not found/);
  assert.equal(derrd([...trainArgs(data, out, 1)]).status, 0);
  r = derrd([...trainArgs(data, out, 2), '--lr', '0.5', '--resume']);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /--resume with a different configuration \(changed: config\.lr\)/);
  const other = join(dir, 'other');
  assert.equal(derrd(['data', 'prepare', '-o', other, '--candidates', '20']).status, 0);
  r = derrd(['evaluate', out, '--data', other]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /checkpoint is for 300 users/);
  r = derrd(['evaluate', out, '--data', data, '--protocol', 'full', '--json']);
  assert.equal(r.status, 0, r.stderr);
  assert.ok(JSON.parse(r.stdout).test['Recall@10'] >= 0);
  assert.equal(JSON.parse(r.stdout).ranks, undefined);

  // compare: the same checkpoint against itself differs by nothing; a second one gets a p-value; bad metrics refused
  const second = join(dir, 'm2');
  assert.equal(derrd([...trainArgs(data, second, 1), '--seed', '7']).status, 0);
  r = derrd(['compare', out, out, second, '--data', data, '--metrics', 'HR@5,NDCG@10', '--json']);
  assert.equal(r.status, 0, r.stderr);
  const cmp = JSON.parse(r.stdout);
  assert.equal(cmp.comparisons.length, 2);
  for (const t of cmp.comparisons[0].tests) assert.deepEqual([t.diff, t.pValue, t.better, t.worse], [0, 1, 0, 0]);
  const evalSecond = JSON.parse(derrd(['evaluate', second, '--data', data, '--json']).stdout);
  const hr = cmp.comparisons[1].tests[0];
  assert.ok(Math.abs(hr.meanB - evalSecond.test['HR@5']) < 1e-9 && hr.pValue >= 0 && hr.pValue <= 1);
  r = derrd(['compare', out, second, '--data', data, '--metrics', 'AUC']);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /--metrics: unknown metric "AUC"/);

  // curves: each run's per-epoch values straight from its card; bad quantities and missing runs refused
  r = derrd(['curves', out, second, '--metric', 'NDCG@10', '--split', 'test', '--every', '1', '--json']);
  assert.equal(r.status, 0, r.stderr);
  const curves = JSON.parse(r.stdout);
  const cards = [out, second].map((d) => JSON.parse(readFileSync(join(d, 'card.json'), 'utf8')));
  assert.deepEqual(curves.rows, [{ epoch: 0, values: cards.map((c) => c.history[0].test['NDCG@10']) }]);
  r = derrd(['curves', out, '--metric', 'loss:base', '--epochs', '0']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /loss term base/);
  r = derrd(['curves', out, '--metric', 'AUC']);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /--metric: unknown quantity "AUC"/);
  r = derrd(['curves', out, join(dir, 'missing')]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /missing/);

  // DE threads: a bad flag or environment value is refused before anything is written
  const distilled = join(dir, 'd');
  r = derrd(['distill', '--teacher', out, '--data', data, '--out', distilled, '--de-threads', '3']);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /--de-threads must be one of 1\|2\|auto, got "3"/);
  r = derrd(['distill', '--teacher', out, '--data', data, '--out', distilled], { env: { DERRD_DE_THREADS: 'many' } });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /DERRD_DE_THREADS must be 1 or 2 \(got "many"\)/);
  assert.ok(!existsSync(distilled));
});

test('train: batch size and L2 default to the base model\'s recipe; a flag or config file overrides it', () => {
  const dir = tmp();
  const data = prepareSmall(dir);
  const configOf = (args: string[]) => {
    const r = derrd(['train', '--data', data, '--dim', '4', '--epochs', '1', '--json', ...args]);
    assert.equal(r.status, 0, r.stderr);
    return JSON.parse(r.stdout).config as { batchSize: number; weightDecay: number };
  };
  const neumf = configOf(['--model', 'neumf', '-o', join(dir, 'n2')]);
  assert.deepEqual([neumf.batchSize, neumf.weightDecay], [512, 1e-4]);
  const bpr = configOf(['--model', 'bpr', '-o', join(dir, 'b')]);
  assert.deepEqual([bpr.batchSize, bpr.weightDecay], [1024, 1e-3]);
  const flagged = configOf(['--model', 'neumf', '-o', join(dir, 'n3'), '--batch-size', '256']);
  assert.deepEqual([flagged.batchSize, flagged.weightDecay], [256, 1e-4]);
  const file = join(dir, 'config.json');
  writeFileSync(file, JSON.stringify({ 'weight-decay': 0.01 }));
  const fromFile = configOf(['--model', 'neumf', '-o', join(dir, 'n4'), '--config', file]);
  assert.deepEqual([fromFile.batchSize, fromFile.weightDecay], [512, 0.01]);
  // config keys are the flags' names: the old camelCase key is refused with its new name, a bad value with its range
  writeFileSync(file, JSON.stringify({ weightDecay: 0.01 }));
  let r = derrd(['train', '--data', data, '-o', join(dir, 'n5'), '--config', file]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /unknown config key "weightDecay" \(renamed: use "weight-decay"/);
  writeFileSync(file, JSON.stringify({ lr: 0 }));
  r = derrd(['train', '--data', data, '-o', join(dir, 'n5'), '--config', file]);
  assert.match(r.stderr, /config key "lr" must be a number > 0, got 0/);
  r = derrd(['train', '--data', data, '-o', join(dir, 'n5'), '--lr', '-0.1']);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /--lr must be a number > 0, got "-0.1"/);
  assert.ok(!existsSync(join(dir, 'n5')));
});
