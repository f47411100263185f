/**
 * The one module that knows onnxruntime. It picks the execution provider (onnxruntime-node CPU or CUDA, or
 * onnxruntime-web's WASM), records which one ran, validates requests against the model's metadata before ONNX
 * Runtime sees them (its Gather accepts negative ids), and runs "top-k items for these users".
 */
import { readFileSync, existsSync, statSync } from 'node:fs';
import { NotOnnxError, readMetadataProps } from './metadata.js';
import { RuntimeError, buildFeeds, splitResults } from './feeds.js';

export { readMetadataProps, NotOnnxError } from './metadata.js';
export { RuntimeError, buildFeeds, splitResults, type FeedArrays, type FeedLimits } from './feeds.js';

export const PROVIDERS = ['cpu', 'cuda', 'wasm'] as const;
export type Provider = (typeof PROVIDERS)[number];

/** What derrd writes into metadata_props (prefix "derrd."). */
export interface DerrdModelInfo {
  format: string;
  numUsers: number;
  numItems: number;
  dim: number;
  kind: string;
  quantization: string;
  idMaps: string | null;
  card: Record<string, unknown> | null;
}

export interface RecommenderOptions {
  provider?: Provider;
  /** intra-op threads (cpu: intraOpNumThreads; wasm: numThreads); default 2 on cpu, 1 on wasm */
  threads?: number;
}

export interface RecommendResult {
  /** [B][k] dense item ids, best first (ties: lower id first) */
  items: number[][];
  scores: number[][];
}

export interface Recommender {
  readonly modelPath: string;
  readonly provider: Provider;
  readonly threads: number;
  /** null when the model lacks derrd metadata (it still runs if its inputs and outputs fit) */
  readonly info: DerrdModelInfo | null;
  /** what the model lacks for full checking, e.g. user/item counts */
  readonly missing: string[];
  readonly modelBytes: number;
  readonly inputNames: readonly string[];
  recommend(userIds: ArrayLike<number>, k: number, exclude?: ArrayLike<number>[]): Promise<RecommendResult>;
  close(): Promise<void>;
}

export const CUDA_INSTALL_HINT =
  'the CUDA execution provider is not installed: run `npm run setup:cuda` (onnxruntime-node\'s own installer; needs network access, an NVIDIA driver, CUDA 12 and cuDNN 9), or use --provider cpu';

type OrtModule = typeof import('onnxruntime-node');

async function ortFor(provider: Provider): Promise<OrtModule> {
  if (provider === 'wasm') return (await import('onnxruntime-web')) as unknown as OrtModule;
  return import('onnxruntime-node');
}

function parseInfo(metadata: Record<string, string>): { info: DerrdModelInfo | null; missing: string[] } {
  const missing: string[] = [];
  if (!metadata['derrd.format']) {
    return { info: null, missing: ['derrd metadata (user/item counts, model card, id maps): ids are checked only for being non-negative integers'] };
  }
  const num = (key: string) => {
    const v = Number(metadata[key]);
    if (!Number.isInteger(v) || v < 0) missing.push(key);
    return v;
  };
  let card: Record<string, unknown> | null = null;
  try {
    card = metadata['derrd.card'] ? (JSON.parse(metadata['derrd.card']) as Record<string, unknown>) : null;
  } catch {
    missing.push('derrd.card (not JSON)');
  }
  if (!card) missing.push('derrd.card');
  if (!metadata['derrd.id_maps']) missing.push('derrd.id_maps');
  return {
    info: {
      format: metadata['derrd.format'], numUsers: num('derrd.num_users'), numItems: num('derrd.num_items'), dim: num('derrd.dim'),
      kind: metadata['derrd.kind'] ?? 'unknown', quantization: metadata['derrd.quantization'] ?? 'none', idMaps: metadata['derrd.id_maps'] ?? null, card,
    },
    missing,
  };
}

const REQUIRED_INPUTS = ['user_ids', 'k'];
const REQUIRED_OUTPUTS = ['items', 'scores'];

/** Opens a model on the requested provider; fails clearly (never silently falls back) when it is unavailable. */
export async function createRecommender(modelPath: string, options: RecommenderOptions = {}): Promise<Recommender> {
  const provider = options.provider ?? 'cpu';
  if (!(PROVIDERS as readonly string[]).includes(provider)) throw new RuntimeError(`unknown provider "${provider}" (expected one of ${PROVIDERS.join('|')})`);
  const threads = options.threads ?? (provider === 'wasm' ? 1 : 2);
  if (!Number.isInteger(threads) || threads < 1) throw new RuntimeError(`threads must be a positive integer, got ${threads}`);
  if (!existsSync(modelPath)) throw new RuntimeError(`${modelPath}: model file not found`);
  if (statSync(modelPath).isDirectory()) throw new RuntimeError(`${modelPath}: is a directory, expected an .onnx file`);
  const bytes = new Uint8Array(readFileSync(modelPath));
  let meta;
  try {
    meta = readMetadataProps(bytes);
    if (!meta.hasGraph || meta.irVersion === null) throw new NotOnnxError('no graph or IR version');
  } catch (err) {
    throw new RuntimeError(`${modelPath}: not an ONNX model (${(err as Error).message})`);
  }
  const { info, missing } = parseInfo(meta.metadata);
  const ort = await ortFor(provider);
  if (provider === 'wasm') (ort.env as unknown as { wasm: { numThreads: number } }).wasm.numThreads = threads;
  let session: import('onnxruntime-node').InferenceSession;
  try {
    session = await ort.InferenceSession.create(bytes, {
      executionProviders: [provider],
      graphOptimizationLevel: 'all',
      ...(provider === 'wasm' ? {} : { intraOpNumThreads: threads, interOpNumThreads: 1 }),
    });
  } catch (err) {
    const message = (err as Error).message ?? String(err);
    if (provider === 'cuda') throw new RuntimeError(`${CUDA_INSTALL_HINT} (onnxruntime said: ${message.split('\n')[0]})`);
    throw new RuntimeError(`${modelPath}: onnxruntime could not load the model on ${provider}: ${message.split('\n')[0]}`);
  }
  for (const name of REQUIRED_INPUTS) if (!session.inputNames.includes(name)) throw new RuntimeError(`${modelPath}: model has no input "${name}" (inputs: ${session.inputNames.join(', ')}); derrd models take user_ids, k and exclude`);
  for (const name of REQUIRED_OUTPUTS) if (!session.outputNames.includes(name)) throw new RuntimeError(`${modelPath}: model has no output "${name}" (outputs: ${session.outputNames.join(', ')})`);
  const hasExclude = session.inputNames.includes('exclude');
  let running: Promise<unknown> = Promise.resolve();

  const recommend = async (userIds: ArrayLike<number>, k: number, exclude?: ArrayLike<number>[]): Promise<RecommendResult> => {
    if (exclude && !hasExclude) throw new RuntimeError(`${modelPath}: model has no "exclude" input`);
    const f = buildFeeds(userIds, k, exclude, info ? { numUsers: info.numUsers, numItems: info.numItems } : {});
    const feeds: Record<string, import('onnxruntime-node').Tensor> = {
      user_ids: new ort.Tensor('int64', f.users, [f.users.length]),
      k: new ort.Tensor('int64', f.k, [1]),
    };
    if (hasExclude) feeds.exclude = new ort.Tensor('int64', f.exclude, [f.users.length, f.width]);
    // one run at a time per session (onnxruntime-web requires it; serialising costs nothing on a busy cpu session)
    const run = running.then(() => session.run(feeds));
    running = run.catch(() => undefined);
    const out = await run;
    return splitResults(out.items.data as BigInt64Array, out.scores.data as Float32Array, f.users.length, out.items.dims[1] as number);
  };

  return {
    modelPath, provider, threads, info, missing, modelBytes: bytes.byteLength, inputNames: session.inputNames,
    recommend,
    close: async () => { await session.release(); },
  };
}

/** Which execution providers really work here: each is tried on the given model. */
export async function probeProviders(modelPath: string): Promise<Record<Provider, { available: boolean; reason?: string }>> {
  const out = {} as Record<Provider, { available: boolean; reason?: string }>;
  for (const provider of PROVIDERS) {
    try {
      const r = await createRecommender(modelPath, { provider });
      await r.close();
      out[provider] = { available: true };
    } catch (err) {
      out[provider] = { available: false, reason: (err as Error).message };
    }
  }
  return out;
}
export { openScoringModel, SCORING_SIGNATURES, type ScoringModel, type ScoringModelOptions, type ScoringSignature } from './scoring-model.js';
