/** Test fixtures for the server tests: a small prepared data set and BPR models exported from it (and one from another data set). */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateSynthetic, prepareFromInteractions, saveDataset, type Dataset } from '@derrd/core';
import { TRAIN_DEFAULTS, initBackend, train } from '@derrd/train';
import { exportCheckpoint } from '@derrd/export';

export const CLI = join(import.meta.dirname, '..', '..', 'cli', 'dist', 'main.js');

export interface Fixture {
  work: string;
  ds: Dataset;
  dataDir: string;
  /** models trained on ds with seeds 1.. */
  models: string[];
  /** a model trained on another data set of the same generator */
  otherDataset?: string;
}

export async function makeFixture(name: string, options: { models?: number; otherDataset?: boolean; seed?: number } = {}): Promise<Fixture> {
  await initBackend('wasm');
  const work = mkdtempSync(join(tmpdir(), `derrd-${name}-`));
  const prepare = (seed: number) => prepareFromInteractions(generateSynthetic({ numUsers: 60, numItems: 200, seed }), { kind: 'synthetic', path: null, sha256: null }, { numCandidates: 30 });
  const ds = prepare(options.seed ?? 41);
  const dataDir = join(work, 'data');
  saveDataset(ds, dataDir);
  const exportOne = async (dataset: Dataset, dir: string, seed: number, out: string) => {
    (await train({ dataset, datasetPath: dir, out: join(work, `ckpt-${seed}-${out}`), backend: 'wasm', config: { ...TRAIN_DEFAULTS, dim: 8, maxEpochs: 1, batchSize: 256, lr: 0.01, seed } })).model.dispose();
    return (await exportCheckpoint({ checkpoint: join(work, `ckpt-${seed}-${out}`), out: join(work, out) })).path;
  };
  const models: string[] = [];
  for (let m = 0; m < (options.models ?? 1); m++) models.push(await exportOne(ds, dataDir, m + 1, `m${m + 1}.onnx`));
  let otherDataset: string | undefined;
  if (options.otherDataset) {
    const other = prepare((options.seed ?? 41) + 1000);
    const otherDir = join(work, 'other-data');
    saveDataset(other, otherDir);
    otherDataset = await exportOne(other, otherDir, 9, 'other.onnx');
  }
  return { work, ds, dataDir, models, otherDataset };
}
