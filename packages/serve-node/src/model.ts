/**
 * A served model: its bytes (read asynchronously, regular files only, size-capped, inside --model-dir when one is
 * set), its raw-id maps (bound to the model by the data set hash), and a worker pool warmed up on it. The prepared
 * data set, when given, is loaded once and serves every model trained on it: seen items and the popular list.
 */
import { realpath } from 'node:fs/promises';
import { resolve, sep } from 'node:path';
import { itemPopularity, loadDataset, trainItemsOf } from '@derrd/core';
import { RuntimeError, inspectModel, loadIdMaps, readRegularFile, type DerrdModelInfo, type IdMaps, type Provider } from '@derrd/runtime';
import { startPool, type ModelPool } from './pool.js';

export interface ServedData {
  path: string;
  hash: string;
  /** training items of a dense user (excluded by default) */
  seen(user: number): Int32Array;
  /** most popular dense items, best first (cold start) */
  popular: Int32Array;
}

export interface LoadOptions {
  provider: Provider;
  threads: number;
  workers: number;
  maxModelBytes: number;
  /** real path of --model-dir: models must lie inside it */
  modelDir?: string;
  data?: ServedData;
}

export interface ServedModel {
  /** the path as asked for */
  path: string;
  realPath: string;
  name: string | null;
  info: DerrdModelInfo;
  missing: string[];
  bytes: number;
  provider: Provider;
  threads: number;
  pool: ModelPool;
  maps: IdMaps;
  /** every raw user id is a non-negative integer: malformed ids can be told from unknown ones */
  numericUserIds: boolean;
  loadedAt: string;
  warmupMs: number;
}

/** A load refused for a reason the caller can fix; `status` is the HTTP status an admin reload answers with. */
export class ModelLoadError extends Error {
  readonly derrdUserError = true;
  readonly status: number;
  readonly code: string;
  constructor(status: number, code: string, message: string) {
    super(message);
    this.name = 'ModelLoadError';
    this.status = status;
    this.code = code;
  }
}

export function loadServedData(dir: string): ServedData {
  const ds = loadDataset(dir);
  const pop = itemPopularity(ds);
  const order = Int32Array.from({ length: ds.numItems }, (_v, i) => i).sort((a, b) => pop[b] - pop[a] || a - b);
  return { path: dir, hash: ds.manifest.hash, seen: (u) => trainItemsOf(ds, u), popular: order.subarray(0, Math.min(1000, order.length)) };
}

/** The real path of a model, refused when --model-dir is set and the model (after symlinks) lies outside it. */
export async function resolveModelPath(path: string, modelDir: string | undefined): Promise<string> {
  const asked = modelDir ? resolve(modelDir, path) : resolve(path);
  let real: string;
  try {
    real = await realpath(asked);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new ModelLoadError(404, 'model_not_found', `${path}: model file not found${modelDir ? ` (looked in --model-dir ${modelDir})` : ''}`);
    throw new ModelLoadError(422, 'bad_model', `${path}: ${(err as Error).message}`);
  }
  if (modelDir && real !== modelDir && !real.startsWith(modelDir + sep)) {
    throw new ModelLoadError(403, 'outside_model_dir', `${path}: resolves to ${real}, outside --model-dir ${modelDir}; models can be loaded only from there`);
  }
  return real;
}

export async function loadServedModel(path: string, o: LoadOptions): Promise<ServedModel> {
  const realPath = await resolveModelPath(path, o.modelDir);
  const asLoadError = (err: unknown): never => {
    if (err instanceof ModelLoadError) throw err;
    throw new ModelLoadError(422, 'bad_model', (err as Error).message ?? String(err));
  };
  let bytes: Uint8Array;
  let inspected: ReturnType<typeof inspectModel>;
  let maps: IdMaps;
  try {
    bytes = await readRegularFile(realPath, o.maxModelBytes, 'model file');
    inspected = inspectModel(bytes, path);
    if (!inspected.info || !inspected.info.idMaps) throw new RuntimeError(`${path}: no derrd id-map metadata; the server answers in raw ids and needs a model written by \`derrd export\` (with its <name>.ids.json)`);
    maps = await loadIdMaps(realPath, inspected.info, o.maxModelBytes);
  } catch (err) {
    return asLoadError(err);
  }
  const info = inspected.info!;
  if (o.data && maps.datasetHash !== o.data.hash) {
    throw new ModelLoadError(409, 'other_dataset', `${path}: the model was trained on data set ${maps.datasetHash.slice(0, 12)}…, not on --data ${o.data.path} (${o.data.hash.slice(0, 12)}…); seen items and ids would not match`);
  }
  let pool: ModelPool;
  try {
    pool = await startPool({ path, bytes, provider: o.provider, threads: o.threads, workers: o.workers, warmupK: Math.min(10, info.numItems) });
  } catch (err) {
    return asLoadError(err);
  }
  return {
    path, realPath, name: typeof info.card?.name === 'string' ? info.card.name : null, info, missing: inspected.missing, bytes: bytes.byteLength,
    provider: o.provider, threads: o.threads, pool, maps, numericUserIds: maps.users.every((u) => /^\d{1,15}$/.test(u)),
    loadedAt: new Date().toISOString(), warmupMs: pool.warmupMs,
  };
}
