/**
 * Recommendations in the browser on onnxruntime-web's WASM backend. The .wasm files come from our own origin
 * (`wasmPaths`, never a CDN); threads need the page to be cross-origin isolated (COOP/COEP headers).
 * The page maps the bare imports with an import map: onnxruntime-web/wasm → /ort/ort.wasm.min.mjs,
 * @derrd/runtime/metadata → /runtime/metadata.js, @derrd/runtime/feeds → /runtime/feeds.js.
 */
import * as ort from 'onnxruntime-web/wasm';
import { readMetadataProps } from '@derrd/runtime/metadata';
import { buildFeeds, splitResults } from '@derrd/runtime/feeds';

export interface BrowserRecommenderOptions {
  /** where the ORT .wasm/.mjs files are served (same origin) */
  wasmPaths?: string;
  /** requested WASM threads; ORT falls back to 1 unless the page is cross-origin isolated */
  numThreads?: number;
}

export interface BrowserRecommendation {
  userId: string;
  items: { item: string; score: number }[];
}

export interface BrowserRecommender {
  readonly url: string;
  readonly numUsers: number;
  readonly numItems: number;
  readonly card: Record<string, unknown> | null;
  readonly bytes: number;
  readonly userIds: string[];
  readonly itemIds: string[];
  /** threads onnxruntime-web uses (1 without cross-origin isolation) */
  readonly threads: number;
  /** top-k for one user by raw id, excluding raw item ids */
  recommend(userId: string, k: number, exclude?: string[]): Promise<BrowserRecommendation>;
  /** dense ids in, dense ids out (for parity checks) */
  recommendDense(users: number[], k: number, exclude?: number[][]): Promise<{ items: number[][]; scores: number[][] }>;
  release(): Promise<void>;
}

export async function loadRecommender(modelUrl: string, options: BrowserRecommenderOptions = {}): Promise<BrowserRecommender> {
  ort.env.wasm.wasmPaths = options.wasmPaths ?? '/ort/';
  const requested = options.numThreads ?? Math.min(4, navigator.hardwareConcurrency || 1);
  const threads = globalThis.crossOriginIsolated ? requested : 1;
  ort.env.wasm.numThreads = threads;
  const response = await fetch(modelUrl);
  if (!response.ok) throw new Error(`${modelUrl}: HTTP ${response.status}`);
  const bytes = new Uint8Array(await response.arrayBuffer());
  const { metadata } = readMetadataProps(bytes);
  if (!metadata['derrd.format'] || !metadata['derrd.id_maps']) throw new Error(`${modelUrl}: not a derrd model (no derrd metadata)`);
  const numUsers = Number(metadata['derrd.num_users']);
  const numItems = Number(metadata['derrd.num_items']);
  const mapsUrl = new URL(metadata['derrd.id_maps'], new URL(modelUrl, location.href)).href;
  const maps = (await (await fetch(mapsUrl)).json()) as { users: string[]; items: string[] };
  const userIndex = new Map(maps.users.map((u, k) => [u, k]));
  const itemIndex = new Map(maps.items.map((u, k) => [u, k]));
  const session = await ort.InferenceSession.create(bytes, { executionProviders: ['wasm'], graphOptimizationLevel: 'all' });
  // onnxruntime-web runs one request at a time per session: chain them
  let queue: Promise<unknown> = Promise.resolve();

  const recommendDense = async (users: number[], k: number, exclude?: number[][]) => {
    const f = buildFeeds(users, k, exclude, { numUsers, numItems });
    const feeds = {
      user_ids: new ort.Tensor('int64', f.users, [users.length]),
      k: new ort.Tensor('int64', f.k, [1]),
      exclude: new ort.Tensor('int64', f.exclude, [users.length, f.width]),
    };
    const run = queue.then(() => session.run(feeds));
    queue = run.catch(() => undefined);
    const out = await run;
    return splitResults(out.items.data as BigInt64Array, out.scores.data as Float32Array, users.length, k);
  };

  return {
    url: modelUrl, numUsers, numItems, bytes: bytes.byteLength, threads, userIds: maps.users, itemIds: maps.items,
    card: metadata['derrd.card'] ? (JSON.parse(metadata['derrd.card']) as Record<string, unknown>) : null,
    recommendDense,
    recommend: async (userId, k, exclude = []) => {
      const u = userIndex.get(userId);
      if (u === undefined) throw new Error(`unknown user "${userId}"`);
      const ex = exclude.map((i) => {
        const dense = itemIndex.get(i);
        if (dense === undefined) throw new Error(`unknown item "${i}"`);
        return dense;
      });
      const r = await recommendDense([u], k, [ex]);
      return { userId, items: r.items[0].map((i, c) => ({ item: maps.items[i], score: r.scores[0][c] })) };
    },
    release: () => session.release(),
  };
}
