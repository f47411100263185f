/** A served model: the onnxruntime session, raw-id maps, optional seen items and popularity, checked by a warm-up query. */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { loadDataset, trainItemsOf, itemPopularity } from '@derrd/core';
import { createRecommender, RuntimeError, type Provider, type Recommender } from '@derrd/runtime';

export interface LoadOptions {
  provider: Provider;
  threads: number;
  /** prepared data set: training items per user for exclude_seen, popularity for cold start */
  data?: string;
}

export interface ServedModel {
  path: string;
  rec: Recommender;
  userIds: string[];
  itemIds: string[];
  userIndex: Map<string, number>;
  /** every raw user id is a non-negative integer: malformed ids can be told from unknown ones */
  numericUserIds: boolean;
  seen: ((user: number) => Int32Array) | null;
  popular: number[] | null;
  loadedAt: string;
  warmupMs: number;
}

export async function loadServedModel(path: string, options: LoadOptions): Promise<ServedModel> {
  const rec = await createRecommender(path, { provider: options.provider, threads: options.threads });
  try {
    if (!rec.info || !rec.info.idMaps) throw new RuntimeError(`${path}: no derrd id-map metadata; the server answers in raw ids and needs the <name>.ids.json written by \`derrd export\``);
    const mapsPath = join(dirname(resolve(path)), rec.info.idMaps);
    if (!existsSync(mapsPath)) throw new RuntimeError(`${mapsPath}: id maps missing (written next to the model by \`derrd export\`)`);
    const maps = JSON.parse(readFileSync(mapsPath, 'utf8')) as { datasetHash: string; users: string[]; items: string[] };
    if (maps.users.length !== rec.info.numUsers || maps.items.length !== rec.info.numItems) {
      throw new RuntimeError(`${mapsPath}: ${maps.users.length} users × ${maps.items.length} items, but the model has ${rec.info.numUsers} × ${rec.info.numItems}`);
    }
    let seen: ServedModel['seen'] = null;
    let popular: number[] | null = null;
    if (options.data) {
      const ds = loadDataset(options.data);
      if (ds.manifest.hash !== maps.datasetHash) throw new RuntimeError(`${options.data}: data set ${ds.manifest.hash.slice(0, 12)}… is not the one the model was trained on (${maps.datasetHash.slice(0, 12)}…)`);
      seen = (u) => trainItemsOf(ds, u);
      const pop = itemPopularity(ds);
      popular = Array.from({ length: ds.numItems }, (_v, i) => i).sort((a, b) => pop[b] - pop[a] || a - b).slice(0, 1000);
    }
    const t0 = performance.now();
    const warm = await rec.recommend([0], Math.min(10, rec.info.numItems));
    if (warm.items[0].length === 0) throw new RuntimeError(`${path}: warm-up query returned no items`);
    return {
      path, rec, userIds: maps.users, itemIds: maps.items, userIndex: new Map(maps.users.map((u, k) => [u, k])),
      numericUserIds: maps.users.every((u) => /^\d+$/.test(u)), seen, popular, loadedAt: new Date().toISOString(), warmupMs: performance.now() - t0,
    };
  } catch (err) {
    await rec.close();
    throw err;
  }
}
