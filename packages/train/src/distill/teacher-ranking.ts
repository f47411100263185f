/**
 * The teacher's top-N unobserved items per user (training positives excluded), in rank order: what RRD, RD and CD
 * distil. Computed once and cached next to the teacher, keyed by the teacher's weights and the data set; a stale or
 * corrupt cache is rebuilt. A dot-product teacher (BPR) is ranked by topKeysPerRow, fused and on both cores; others
 * score blocks of users with their tfjs scorer.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { bytesOf, sha256, topIndices, writeFileAtomic, type Dataset } from '@derrd/core';
import type { RecModel } from '../models/model.js';
import { topKeysPerRow } from '../parallel/top-keys-per-row.js';

export interface TeacherRanking {
  topN: number;
  numUsers: number;
  /** [numUsers × topN] item ids, best first; -1 pads users with fewer unobserved items */
  items: Int32Array;
}

interface CacheMeta {
  teacherWeightsSha256: string;
  datasetHash: string;
  topN: number;
  numUsers: number;
  sha256: string;
}

export function computeTeacherRanking(teacher: RecModel, ds: Dataset, topN: number, onProgress?: (done: number, total: number) => void): TeacherRanking {
  const tables = teacher.dotTables?.();
  if (tables) {
    const items = topKeysPerRow({ queries: tables.users, keys: tables.items, dim: teacher.config.dim, topN, exclude: { indptr: ds.trainIndptr, indices: ds.trainItems }, onProgress });
    return { topN, numUsers: ds.numUsers, items };
  }
  return computeTeacherRankingWithScorer(teacher, ds, topN, onProgress);
}

/** The ranking from the model's tfjs scorer, a block of users at a time (any model; the reference for the fused path). */
export function computeTeacherRankingWithScorer(teacher: RecModel, ds: Dataset, topN: number, onProgress?: (done: number, total: number) => void): TeacherRanking {
  const scorer = teacher.createScorer();
  const items = new Int32Array(ds.numUsers * topN).fill(-1);
  const block = 256;
  try {
    for (let s = 0; s < ds.numUsers; s += block) {
      const users = new Int32Array(Math.min(block, ds.numUsers - s)).map((_v, k) => s + k);
      const scores = scorer.scoreAll(users);
      for (let b = 0; b < users.length; b++) {
        const u = users[b];
        const row = scores.subarray(b * ds.numItems, (b + 1) * ds.numItems);
        for (let k = ds.trainIndptr[u]; k < ds.trainIndptr[u + 1]; k++) row[ds.trainItems[k]] = -Infinity;
        const top = topIndices(row, topN);
        items.set(top, u * topN);
      }
      onProgress?.(Math.min(ds.numUsers, s + block), ds.numUsers);
    }
  } finally {
    scorer.dispose();
  }
  return { topN, numUsers: ds.numUsers, items };
}

/** Loads the cached ranking when it matches teacher, data and N; otherwise computes and saves it. */
export function teacherRanking(
  teacherDir: string, teacher: RecModel, teacherWeightsSha256: string, ds: Dataset, topN: number,
  onProgress?: (done: number, total: number) => void,
): { ranking: TeacherRanking; cached: boolean } {
  const file = join(teacherDir, `ranking-top${topN}.i32`);
  const metaFile = `${file}.json`;
  const expected = { teacherWeightsSha256, datasetHash: ds.manifest.hash, topN, numUsers: ds.numUsers };
  if (existsSync(file) && existsSync(metaFile)) {
    try {
      const meta = JSON.parse(readFileSync(metaFile, 'utf8')) as CacheMeta;
      const bytes = readFileSync(file);
      if (meta.teacherWeightsSha256 === expected.teacherWeightsSha256 && meta.datasetHash === expected.datasetHash && meta.topN === topN
        && meta.numUsers === ds.numUsers && sha256(bytes) === meta.sha256 && bytes.byteLength === ds.numUsers * topN * 4) {
        const items = new Int32Array(ds.numUsers * topN);
        bytesOf(items).set(bytes);
        return { ranking: { topN, numUsers: ds.numUsers, items }, cached: true };
      }
    } catch {
      // unreadable cache: rebuild below
    }
  }
  const ranking = computeTeacherRanking(teacher, ds, topN, onProgress);
  const bytes = bytesOf(ranking.items);
  writeFileAtomic(file, bytes);
  writeFileAtomic(metaFile, JSON.stringify({ ...expected, sha256: sha256(bytes) } satisfies CacheMeta, null, 2) + '\n');
  return { ranking, cached: false };
}
