/**
 * derrd recommendations in the browser, on onnxruntime-web's WASM backend. ONNX Runtime loads its .wasm (and, unbundled,
 * its .mjs loader) from `wasmPaths` on the page's own origin, never a CDN: copy them there with `npx derrd-web-assets
 * <dir>`. WASM threads need the page to be cross-origin isolated (COOP/COEP headers); without it ORT runs one thread.
 * Requests are checked, and the id map is bound to its model, by the same code as the Node runtime (@derrd/runtime-common).
 */
import * as ort from 'onnxruntime-web/wasm';
import {
  RuntimeError, buildFlatFeeds, checkIdMaps, checkIdMapsName, compactResults, flattenExclude, inspectModel, rawIdOf, splitFlat,
  type DerrdModelInfo, type FlatExclude, type IdMaps,
} from '@derrd/runtime-common';

export { RuntimeError, type DerrdModelInfo } from '@derrd/runtime-common';

/** The URL prefix of ORT's files, or each file's URL (what onnxruntime-web's `env.wasm.wasmPaths` takes). */
export type WasmPaths = string | { mjs?: string; wasm?: string };

export interface BrowserRecommenderOptions {
  /**
   * Where ORT's files are served (same origin), default '/ort/': ort-wasm-simd-threaded.wasm, and
   * ort-wasm-simd-threaded.mjs when onnxruntime-web is not bundled. ORT reads it once, at its first session.
   */
  wasmPaths?: WasmPaths;
  /** requested WASM threads (default min(4, cores)); ORT uses 1 unless the page is cross-origin isolated */
  numThreads?: number;
  /** the id map's URL (default: next to the model, under the name in the model's metadata) */
  idMapsUrl?: string;
}

export interface BrowserRecommendation {
  userId: string;
  /** best first; excluded items never appear, so there may be fewer than k */
  items: { item: string; score: number }[];
}

export interface BrowserRecommender {
  readonly url: string;
  readonly info: DerrdModelInfo;
  readonly numUsers: number;
  readonly numItems: number;
  readonly card: Record<string, unknown> | null;
  /** the model file's size in bytes */
  readonly bytes: number;
  /** raw ids by dense index, from the id map */
  readonly userIds: string[];
  readonly itemIds: string[];
  /** threads onnxruntime-web uses (1 without cross-origin isolation) */
  readonly threads: number;
  /** top-k for one user by raw id (a string, or an integer for numeric ids), never recommending the excluded raw item ids */
  recommend(userId: string | number, k: number, exclude?: readonly (string | number)[]): Promise<BrowserRecommendation>;
  /** dense ids in and out, one row per user (for parity checks against the trainer or the Node runtime) */
  recommendDense(users: readonly number[], k: number, exclude?: readonly (readonly number[])[]): Promise<{ items: number[][]; scores: number[][] }>;
  release(): Promise<void>;
}

async function fetchBytes(url: string, what: string): Promise<Uint8Array> {
  let response: Response;
  try {
    response = await fetch(url);
  } catch (err) {
    throw new RuntimeError(`${url}: the ${what} could not be fetched (${(err as Error).message})`);
  }
  if (!response.ok) throw new RuntimeError(`${url}: the ${what} could not be fetched (HTTP ${response.status})`);
  return new Uint8Array(await response.arrayBuffer());
}

/** Loads an exported derrd model and the id map next to it; the model must carry derrd metadata (`derrd export`). */
export async function loadRecommender(modelUrl: string, options: BrowserRecommenderOptions = {}): Promise<BrowserRecommender> {
  ort.env.wasm.wasmPaths = options.wasmPaths ?? '/ort/';
  const requested = options.numThreads ?? Math.min(4, globalThis.navigator?.hardwareConcurrency || 1);
  if (!Number.isInteger(requested) || requested < 1) throw new RuntimeError(`numThreads must be a positive integer, got ${requested}`);
  const threads = globalThis.crossOriginIsolated ? requested : 1;
  ort.env.wasm.numThreads = threads;
  const base = new URL(modelUrl, globalThis.location?.href);
  const bytes = await fetchBytes(base.href, 'model');
  const { info } = inspectModel(bytes, modelUrl);
  if (!info?.idMaps) throw new RuntimeError(`${modelUrl}: not a derrd model with an id map (no derrd metadata): export it with \`derrd export\``);
  const mapsUrl = options.idMapsUrl ?? new URL(checkIdMapsName(info.idMaps, modelUrl), base).href;
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder().decode(await fetchBytes(mapsUrl, 'id map (written next to the model by `derrd export`)')));
  } catch (err) {
    if (err instanceof RuntimeError) throw err;
    throw new RuntimeError(`${mapsUrl}: the id map is not valid JSON (${(err as Error).message})`);
  }
  const maps: IdMaps = checkIdMaps(parsed, { numUsers: info.numUsers, numItems: info.numItems, datasetHash: info.datasetHash }, mapsUrl);
  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(bytes, { executionProviders: ['wasm'], graphOptimizationLevel: 'all' });
  } catch (err) {
    throw new RuntimeError(`${modelUrl}: onnxruntime-web could not load the model (${(err as Error).message}); are ORT's files served at wasmPaths (${JSON.stringify(ort.env.wasm.wasmPaths)})? \`npx derrd-web-assets <dir>\` copies them`);
  }
  const hasK = session.inputNames.includes('k');
  const hasExclude = session.inputNames.includes('exclude');
  if (!session.inputNames.includes('user_ids') || !hasK) {
    await session.release();
    throw new RuntimeError(`${modelUrl}: the model takes ${session.inputNames.join(', ')}; derrd models take user_ids, k and exclude`);
  }
  const limits = { numUsers: info.numUsers, numItems: info.numItems };
  // onnxruntime-web runs one request at a time per session: chain them
  let queue: Promise<unknown> = Promise.resolve();

  const run = async (users: Int32Array, k: number, exclude?: FlatExclude) => {
    if (exclude && exclude.items.length > 0 && !hasExclude) throw new RuntimeError(`${modelUrl}: the model has no "exclude" input`);
    const f = buildFlatFeeds(users, k, exclude, limits);
    const feeds: Record<string, ort.Tensor> = {
      user_ids: new ort.Tensor('int64', f.users, [users.length]),
      k: new ort.Tensor('int64', f.k, [1]),
    };
    if (hasExclude) feeds.exclude = new ort.Tensor('int64', f.exclude, [users.length, f.width]);
    const result = queue.then(() => session.run(feeds));
    queue = result.catch(() => undefined);
    const out = await result;
    return splitFlat(compactResults(out.items.data as BigInt64Array, out.scores.data as Float32Array, users.length, k, exclude, info.numItems));
  };

  const recommendDense = async (users: readonly number[], k: number, exclude?: readonly (readonly number[])[]) => {
    const ids = new Int32Array(users.length);
    users.forEach((u, r) => {
      if (!Number.isInteger(u) || u < 0 || u > 0x7fffffff) throw new RuntimeError(`user id ${u} is not a valid dense id (0..${info.numUsers - 1})`);
      ids[r] = u;
    });
    if (exclude && exclude.length !== users.length) throw new RuntimeError(`exclude has ${exclude.length} lists for ${users.length} users`);
    return run(ids, k, exclude ? flattenExclude(exclude) : undefined);
  };

  const recommend = async (rawUser: string | number, k: number, exclude: readonly (string | number)[] = []): Promise<BrowserRecommendation> => {
    const userId = rawIdOf(rawUser, 'user');
    const u = maps.userIndex.get(userId);
    if (u === undefined) throw new RuntimeError(`unknown user "${userId}" (not among the model's ${maps.users.length.toLocaleString('en-US')} users)`);
    const ex = exclude.map((raw) => {
      const id = rawIdOf(raw, 'item');
      const dense = maps.itemIndex.get(id);
      if (dense === undefined) throw new RuntimeError(`unknown item "${id}" in exclude (not among the model's ${maps.items.length.toLocaleString('en-US')} items)`);
      return dense;
    });
    const r = await run(Int32Array.of(u), k, ex.length > 0 ? flattenExclude([ex]) : undefined);
    return { userId, items: r.items[0].map((i, c) => ({ item: maps.items[i], score: r.scores[0][c] })) };
  };

  return {
    url: modelUrl, info, numUsers: info.numUsers, numItems: info.numItems, card: info.card, bytes: bytes.byteLength, threads,
    userIds: maps.users, itemIds: maps.items,
    recommend, recommendDense,
    release: () => session.release(),
  };
}
