import type { Dataset } from './dataset.js';
import { itemPopularity } from './dataset.js';

export interface Distribution {
  min: number;
  median: number;
  mean: number;
  max: number;
}

export interface DatasetStats {
  hash: string;
  source: Dataset['manifest']['source'];
  settings: Dataset['manifest']['settings'];
  counts: Dataset['manifest']['counts'];
  /** 1 - train interactions / (users × items) */
  sparsity: number;
  trainPerUser: Distribution;
  trainPerItem: Distribution;
  /** items with no training interaction (only reachable as held-out items) */
  itemsWithoutTraining: number;
  heldOutItemsUnseenInTraining: { valid: number; test: number };
}

function distribution(values: Int32Array): Distribution {
  if (values.length === 0) return { min: 0, median: 0, mean: 0, max: 0 };
  const sorted = Int32Array.from(values).sort();
  let sum = 0;
  for (const v of sorted) sum += v;
  return { min: sorted[0], median: sorted[sorted.length >> 1], mean: sum / sorted.length, max: sorted[sorted.length - 1] };
}

export function datasetStats(ds: Dataset): DatasetStats {
  const perUser = new Int32Array(ds.numUsers);
  for (let u = 0; u < ds.numUsers; u++) perUser[u] = ds.trainIndptr[u + 1] - ds.trainIndptr[u];
  const perItem = itemPopularity(ds);
  let unseen = 0;
  for (const c of perItem) if (c === 0) unseen++;
  let validUnseen = 0;
  let testUnseen = 0;
  for (let u = 0; u < ds.numUsers; u++) {
    if (ds.validItem[u] >= 0 && perItem[ds.validItem[u]] === 0) validUnseen++;
    if (ds.testItem[u] >= 0 && perItem[ds.testItem[u]] === 0) testUnseen++;
  }
  return {
    hash: ds.manifest.hash,
    source: ds.manifest.source,
    settings: ds.manifest.settings,
    counts: ds.manifest.counts,
    sparsity: 1 - ds.trainItems.length / (ds.numUsers * ds.numItems),
    trainPerUser: distribution(perUser),
    trainPerItem: distribution(perItem),
    itemsWithoutTraining: unseen,
    heldOutItemsUnseenInTraining: { valid: validUnseen, test: testUnseen },
  };
}
