import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { derrd, runAndKillAfterEpochs } from './helpers.js';

interface Card {
  history: { loss: number; terms: Record<string, number>; valid: Record<string, number> }[];
  metrics: { selected: unknown };
  savedEpoch: number;
}

test('DE-RRD killed with SIGKILL mid-run, then --resume: every epoch\'s DE and RRD terms, the losses and the saved weights equal an uninterrupted run (temperature, Gumbel draws and RRD samples continue exactly)', { timeout: 300_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'derrd-distillcli-'));
  const tsv = join(dir, 's.tsv');
  assert.equal(derrd(['data', 'synth', '-o', tsv, '--users', '300', '--items', '500', '--seed', '5']).status, 0);
  const data = join(dir, 'data');
  let r = derrd(['data', 'prepare', '-i', tsv, '-o', data, '--candidates', '99']);
  assert.equal(r.status, 0, r.stderr);
  const teacher = join(dir, 'teacher');
  r = derrd(['train', '--data', data, '--model', 'bpr', '--dim', '32', '--epochs', '6', '--lr', '0.01', '--backend', 'wasm', '--out', teacher]);
  assert.equal(r.status, 0, r.stderr);

  // annealing over the run's 6 epochs, so every epoch has its own temperature; RRD samples are redrawn every epoch
  const args = (out: string) => ['distill', '--teacher', teacher, '--data', data, '--method', 'de-rrd', '--dim', '8', '--epochs', '6', '--patience', '50',
    '--lr', '0.01', '--experts', '5', '--anneal-epochs', '5', '--tau-end', '0.01', '--rrd-top-n', '100', '--batch-size', '256', '--backend', 'wasm', '--out', out];
  const straightDir = join(dir, 'straight');
  r = derrd([...args(straightDir), '--json']);
  assert.equal(r.status, 0, r.stderr);
  const straight = JSON.parse(r.stdout) as Card;

  const killedDir = join(dir, 'killed');
  const before = await runAndKillAfterEpochs(args(killedDir), join(killedDir, 'card.json'), 2);
  assert.ok(before.epochsRun >= 2 && before.epochsRun < 6, `killed after ${before.epochsRun} epochs`);
  r = derrd([...args(killedDir), '--resume', '--json']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, new RegExp(`resumed at epoch ${before.epochsRun}`));
  const resumed = JSON.parse(r.stdout) as Card;

  assert.equal(resumed.history.length, 6);
  // the DE term's value depends on the epoch's temperature and Gumbel draws, the RRD term's on its sampled lists
  for (const [k, h] of straight.history.entries()) {
    assert.ok(h.terms.de > 0 && h.terms.rrd > 0, `epoch ${k} has both terms`);
    assert.deepEqual(resumed.history[k].terms, h.terms, `epoch ${k}'s terms`);
    assert.equal(resumed.history[k].loss, h.loss, `epoch ${k}'s loss`);
    assert.deepEqual(resumed.history[k].valid, h.valid, `epoch ${k}'s validation`);
  }
  // the per-epoch DE sums differ (the temperature anneals), so an epoch replayed with another epoch's state would show
  assert.equal(new Set(straight.history.map((h) => h.terms.de)).size, 6);
  assert.deepEqual(resumed.metrics.selected, straight.metrics.selected);
  assert.equal(resumed.savedEpoch, straight.savedEpoch);
  assert.ok(readFileSync(join(killedDir, 'model.safetensors')).equals(readFileSync(join(straightDir, 'model.safetensors'))), 'saved weights byte-identical');
});
