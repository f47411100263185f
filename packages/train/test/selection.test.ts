/**
 * Model selection, best-epoch saving and early stopping through train() itself, on a scripted run: a term sets the
 * student's tables before each epoch so that validation HR@N is exactly a chosen fraction of users (a user's
 * embedding is +e_valid or −e_valid over an identity item table), and lr 1e-9 keeps training from moving them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeSafetensors, readCard, WEIGHTS_FILE } from '@derrd/core';
import { TRAIN_DEFAULTS, tf, train, type LossTerm, type RecModel, type TrainEvent } from '@derrd/train';
import { tinyDataset } from './helpers.js';

const ds = tinyDataset(11, 60, 150);

/** Before epoch e: the first round(fractions[e]·users) users get +e_valid (valid item rank 1), the rest −e_valid (missed). */
function scriptedTerm(model: RecModel, fractions: number[]): LossTerm {
  const tables = model.variables;
  return {
    name: 'script',
    weight: 1,
    variables: () => ({}),
    onEpochStart: (epoch) => {
      const good = Math.round(fractions[Math.min(epoch, fractions.length - 1)] * ds.numUsers);
      const user = new Float32Array(ds.numUsers * ds.numItems);
      for (let u = 0; u < ds.numUsers; u++) user[u * ds.numItems + ds.validItem[u]] = u < good ? 1 : -1;
      tables.user.assign(tf.tensor2d(user, [ds.numUsers, ds.numItems]));
      tables.item.assign(tf.eye(ds.numItems));
    },
    loss: () => tf.scalar(0),
    settings: () => ({ fractions }),
    dispose: () => {},
  };
}

async function scriptedRun(fractions: number[], patience: number, maxEpochs = 20, again?: { out: string }) {
  const out = again?.out ?? mkdtempSync(join(tmpdir(), 'derrd-select-'));
  const events: Extract<TrainEvent, { type: 'epoch' }>[] = [];
  const config = { ...TRAIN_DEFAULTS, dim: ds.numItems, maxEpochs, patience, lr: 1e-9, weightDecay: 0, batchSize: 4096 };
  const { card, model } = await train({
    dataset: ds, datasetPath: 'tiny', config, out, backend: 'cpu', resume: again !== undefined, buildTerms: (m) => [scriptedTerm(m, fractions)],
    onEvent: (e) => { if (e.type === 'epoch') events.push(e); },
  });
  model.dispose();
  return { card, events, out };
}

test('scripted validation HR 0.2, 0.9, 0.6, 0.9 (a tie), 0.5: saved weights are epoch 1\'s, patience 3 stops after epoch 4', async () => {
  const { card, events, out } = await scriptedRun([0.2, 0.9, 0.6, 0.9, 0.5, 1, 1], 3);
  assert.deepEqual(card.history.map((h) => h.valid['HR@5']), [0.2, 0.9, 0.6, 0.9, 0.5]);
  assert.equal(card.status, 'early-stopped');
  assert.equal(card.epochsRun, 5);
  assert.equal(card.savedEpoch, 1);
  assert.deepEqual(events.map((e) => [e.improved, e.saved, e.sinceImproved]), [[true, true, 0], [true, true, 0], [false, false, 1], [false, false, 2], [false, false, 3]]);
  assert.equal(card.metrics.saved?.valid['HR@5'], 0.9);
  assert.deepEqual(card.metrics.bestEpochs, { '@5': 1, '@10': 1, '@20': 1 });
  // the saved tensors are epoch 1's: 54 users at +1, 6 at −1
  const weights = decodeSafetensors(readFileSync(join(out, WEIGHTS_FILE)), WEIGHTS_FILE);
  assert.equal(weights.metadata.epoch, '1');
  const user = weights.tensors.user.data as Float32Array;
  const signs = Array.from({ length: ds.numUsers }, (_v, u) => Math.round(user[u * ds.numItems + ds.validItem[u]]));
  assert.deepEqual(signs, Array.from({ length: ds.numUsers }, (_v, u) => (u < 54 ? 1 : -1)));
  assert.equal(readCard(out).status, 'early-stopped');
  // the run's wall time is the sum of its epochs' training and evaluation times
  const sum = card.history.reduce((a, h) => a + h.trainSeconds + h.evalSeconds, 0);
  assert.ok(Math.abs(card.wallSeconds - sum) < 1e-9 && card.wallSeconds > 0, `${card.wallSeconds} vs ${sum}`);
  // resuming a run that already early-stopped trains nothing more (its resume file is still there)
  const again = await scriptedRun([0.2, 0.9, 0.6, 0.9, 0.5, 1, 1], 3, 20, { out });
  assert.equal(again.events.length, 0);
  assert.equal(again.card.status, 'early-stopped');
  assert.equal(again.card.epochsRun, 5);
  assert.equal(again.card.savedEpoch, 1);
});

test('scripted run: patience 1 stops at the first non-improving epoch; a late improvement within patience resets it and is saved', async () => {
  const early = await scriptedRun([0.5, 0.4, 0.9], 1);
  assert.equal(early.card.epochsRun, 2);
  assert.equal(early.card.savedEpoch, 0);
  const late = await scriptedRun([0.3, 0.2, 0.7, 0.1, 0.1], 2, 5);
  assert.deepEqual(late.events.map((e) => e.sinceImproved), [0, 1, 0, 1, 2]);
  assert.equal(late.card.savedEpoch, 2);
  assert.equal(late.card.status, 'early-stopped');
  assert.equal(late.card.metrics.selected['HR@10'], late.card.history[2].test['HR@10']);
  // without a stop before the cap the run ends as max-epochs
  const capped = await scriptedRun([0.1, 0.2, 0.3], 5, 3);
  assert.equal(capped.card.status, 'max-epochs');
  assert.equal(capped.card.epochsRun, 3);
  assert.equal(capped.card.savedEpoch, 2);
});
