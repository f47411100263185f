/**
 * The one module that knows onnxruntime. It picks the execution provider (onnxruntime-node CPU, CUDA or WebGPU, or
 * onnxruntime-web's WASM), records which one ran, validates requests against the model's metadata before ONNX
 * Runtime sees them (its Gather accepts negative ids), and runs "top-k items for these users" in raw ids (through the
 * id map next to the model) or dense ids.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { NotOnnxError, readMetadataProps } from './metadata.js';
import { RuntimeError, buildFlatFeeds, compactResults, flattenExclude, splitFlat, type FlatExclude, type FlatResult } from './feeds.js';
import { checkIdMaps, checkIdMapsName, rawIdOf, type IdMaps } from './idmaps.js';
import { DEFAULT_MAX_MODEL_BYTES, readRegularFile } from './modelfile.js';

export { readMetadataProps, NotOnnxError } from './metadata.js';
export { RuntimeError, buildFeeds, buildFlatFeeds, compactResults, flattenExclude, splitFlat, splitResults, type FeedArrays, type FeedLimits, type FlatExclude, type FlatResult } from './feeds.js';
export { checkIdMaps, checkIdMapsName, rawIdOf, type IdMaps, type IdMapExpectation } from './idmaps.js';
export { readRegularFile, DEFAULT_MAX_MODEL_BYTES } from './modelfile.js';

export const PROVIDERS = ['cpu', 'cuda', 'webgpu', 'wasm'] as const;
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
  /** the hash of the data set the model was trained on (from its card); binds the id map to the model */
  datasetHash: string | null;
  card: Record<string, unknown> | null;
}

export interface RecommenderOptions {
  provider?: Provider;
  /** intra-op threads (cpu/cuda/webgpu: intraOpNumThreads; wasm: numThreads); default 2 on cpu, 1 elsewhere */
  threads?: number;
  /**
   * The id map next to the model (<name>.ids.json), needed by recommend(): 'auto' (default) loads it when the model
   * names one and the file exists, 'required' fails without it, 'none' skips it (recommendDense only).
   */
  idMaps?: 'auto' | 'required' | 'none';
  /** largest model (and id-map) file accepted; default 1 GiB */
  maxModelBytes?: number;
}

/** A file path, or bytes already read (the path then names the model in messages and locates its id map). */
export type ModelSource = string | { path: string; bytes: Uint8Array };

export interface RecommendResult {
  /** [B][≤k] dense item ids, best first (ties: lower id first); excluded items never appear, so a row may be shorter than k */
  items: number[][];
  scores: number[][];
}

export interface RawRecommendResult {
  /** [B][≤k] raw item ids, best first; excluded items never appear, so a row may be shorter than k */
  items: string[][];
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
  /** the raw-id maps, checked against the model (null with idMaps 'none' or when the model has none) */
  readonly idMaps: IdMaps | null;
  /** the k the model always returns when k is not an input (a fixed top-N export, e.g. for Triton); null otherwise */
  readonly fixedK: number | null;
  /** top-k in raw ids: users and excluded items are the ids of the data set (strings, or integers for numeric ids) */
  recommend(users: readonly (string | number)[], k: number, exclude?: readonly (readonly (string | number)[])[]): Promise<RawRecommendResult>;
  /** top-k in dense ids (the model's own indices), for parity checks against the trainer */
  recommendDense(userIds: ArrayLike<number>, k: number, exclude?: ArrayLike<number>[]): Promise<RecommendResult>;
  /** top-k in dense ids, flat typed arrays in and out (a server's batch path) */
  recommendFlat(users: Int32Array, k: number, exclude?: FlatExclude): Promise<FlatResult>;
  close(): Promise<void>;
}

export const CUDA_INSTALL_HINT =
  'the CUDA execution provider is not installed: run `npm run setup:cuda` (onnxruntime-node\'s own installer; needs network access, an NVIDIA driver, CUDA 12 and cuDNN 9), or use --provider cpu';

const VULKAN_LOADER = 'libvulkan.so.1';
const LIBRARY_DIRS = ['/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/usr/lib64', '/usr/lib', '/usr/local/lib', '/lib/x86_64-linux-gnu', '/lib64'];

/**
 * Whether the Vulkan loader that onnxruntime-node's WebGPU provider (Dawn) opens on Linux can be found: the usual
 * library directories, LD_LIBRARY_PATH and the dynamic linker's cache. Without it Dawn finds no adapter.
 */
export function vulkanLoaderPresent(): boolean {
  if (process.platform !== 'linux') return true;
  const dirs = [...(process.env.LD_LIBRARY_PATH ?? '').split(':').filter(Boolean), ...LIBRARY_DIRS];
  if (dirs.some((d) => existsSync(join(d, VULKAN_LOADER)))) return true;
  try {
    return readFileSync('/etc/ld.so.cache').includes(VULKAN_LOADER);
  } catch {
    return false;
  }
}

export function webgpuHint(): string {
  const loader = vulkanLoaderPresent() ? '' : ` The Vulkan loader (${VULKAN_LOADER}) is not installed here: \`apt-get install libvulkan1\`, plus the GPU vendor's Vulkan driver.`;
  return `no WebGPU adapter: onnxruntime-node's WebGPU provider (Dawn, over Vulkan on Linux) found no usable GPU.${loader} Use --provider cpu on a machine without a GPU`;
}

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
  const hash = (card?.dataset as { hash?: unknown } | undefined)?.hash;
  const datasetHash = typeof hash === 'string' && hash.length > 0 ? hash : null;
  if (card && !datasetHash) missing.push('derrd.card dataset.hash');
  return {
    info: {
      format: metadata['derrd.format'], numUsers: num('derrd.num_users'), numItems: num('derrd.num_items'), dim: num('derrd.dim'),
      kind: metadata['derrd.kind'] ?? 'unknown', quantization: metadata['derrd.quantization'] ?? 'none', idMaps: metadata['derrd.id_maps'] ?? null,
      datasetHash, card,
    },
    missing,
  };
}

/** The derrd metadata of model bytes without opening a session; throws RuntimeError when the bytes are not ONNX. */
export function inspectModel(bytes: Uint8Array, path: string): { info: DerrdModelInfo | null; missing: string[] } {
  let meta;
  try {
    meta = readMetadataProps(bytes);
    if (!meta.hasGraph || meta.irVersion === null) throw new NotOnnxError('no graph or IR version');
  } catch (err) {
    throw new RuntimeError(`${path}: not an ONNX model (${(err as Error).message})`);
  }
  return parseInfo(meta.metadata);
}

/** Where a model's id map lives (next to the model, under the name in its metadata), or null if it names none. */
export function idMapsPathOf(modelPath: string, info: DerrdModelInfo | null): string | null {
  if (!info?.idMaps) return null;
  return join(dirname(resolve(modelPath)), checkIdMapsName(info.idMaps, modelPath));
}

/** Reads and checks a model's id map (asynchronously, regular files only, size-capped). */
export async function loadIdMaps(modelPath: string, info: DerrdModelInfo | null, maxBytes = DEFAULT_MAX_MODEL_BYTES): Promise<IdMaps> {
  const path = idMapsPathOf(modelPath, info);
  if (!path || !info) throw new RuntimeError(`${modelPath}: no derrd id-map metadata; raw ids need the <name>.ids.json written by \`derrd export\` (or use recommendDense with dense ids)`);
  const bytes = await readRegularFile(path, maxBytes, 'id map (written next to the model by `derrd export`)');
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder().decode(bytes));
  } catch (err) {
    throw new RuntimeError(`${path}: the id map is not valid JSON (${(err as Error).message})`);
  }
  return checkIdMaps(parsed, { numUsers: info.numUsers, numItems: info.numItems, datasetHash: info.datasetHash }, path);
}

const REQUIRED_INPUTS = ['user_ids'];
const REQUIRED_OUTPUTS = ['items', 'scores'];

function providerError(provider: Provider, modelPath: string, message: string): RuntimeError {
  const first = message.split('\n')[0];
  if (provider === 'cuda') return new RuntimeError(`${CUDA_INSTALL_HINT} (onnxruntime said: ${first})`);
  if (provider === 'webgpu') {
    if (/adapter/i.test(message)) return new RuntimeError(`${webgpuHint()} (onnxruntime said: ${first.replace(/^.*?(Failed to get a WebGPU adapter)/, '$1')})`);
    return new RuntimeError(`${modelPath}: onnxruntime could not run the model on its WebGPU provider: ${first}; use --provider cpu`);
  }
  return new RuntimeError(`${modelPath}: onnxruntime could not load the model on ${provider}: ${first}`);
}

/** Opens a model on the requested provider; fails clearly (never silently falls back) when it is unavailable. */
export async function createRecommender(source: ModelSource, options: RecommenderOptions = {}): Promise<Recommender> {
  const provider = options.provider ?? 'cpu';
  if (!(PROVIDERS as readonly string[]).includes(provider)) throw new RuntimeError(`unknown provider "${provider}" (expected one of ${PROVIDERS.join('|')})`);
  const threads = options.threads ?? (provider === 'cpu' ? 2 : 1);
  if (!Number.isInteger(threads) || threads < 1) throw new RuntimeError(`threads must be a positive integer, got ${threads}`);
  const maxBytes = options.maxModelBytes ?? DEFAULT_MAX_MODEL_BYTES;
  const modelPath = typeof source === 'string' ? source : source.path;
  const bytes = typeof source === 'string' ? await readRegularFile(source, maxBytes, 'model file') : source.bytes;
  const { info, missing } = inspectModel(bytes, modelPath);
  const mode = options.idMaps ?? 'auto';
  let idMaps: IdMaps | null = null;
  if (mode === 'required' || (mode === 'auto' && info?.idMaps && existsSync(idMapsPathOf(modelPath, info)!))) {
    idMaps = await loadIdMaps(modelPath, info, maxBytes);
  }
  // without the loader Dawn cannot find an adapter: say so before onnxruntime tries (and prints Dawn's own warning)
  if (provider === 'webgpu' && !vulkanLoaderPresent()) throw new RuntimeError(webgpuHint());
  const ort = await ortFor(provider);
  if (provider === 'wasm') (ort.env as unknown as { wasm: { numThreads: number } }).wasm.numThreads = threads;
  let session: import('onnxruntime-node').InferenceSession;
  try {
    session = await ort.InferenceSession.create(bytes, {
      executionProviders: [provider],
      graphOptimizationLevel: 'all',
      ...(provider === 'wasm' ? {} : { intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: 'sequential' as const }),
    });
  } catch (err) {
    throw providerError(provider, modelPath, (err as Error).message ?? String(err));
  }
  const fail = async (message: string): Promise<never> => {
    await session.release();
    throw new RuntimeError(message);
  };
  for (const name of REQUIRED_INPUTS) if (!session.inputNames.includes(name)) await fail(`${modelPath}: model has no input "${name}" (inputs: ${session.inputNames.join(', ')}); derrd models take user_ids, k and exclude`);
  for (const name of REQUIRED_OUTPUTS) if (!session.outputNames.includes(name)) await fail(`${modelPath}: model has no output "${name}" (outputs: ${session.outputNames.join(', ')})`);
  const hasExclude = session.inputNames.includes('exclude');
  const hasK = session.inputNames.includes('k');
  let fixedK: number | null = null;
  if (!hasK) {
    const meta = session.outputMetadata[session.outputNames.indexOf('items')] as { isTensor: boolean; shape?: readonly (number | string)[] };
    const width = meta.isTensor ? meta.shape?.[1] : undefined;
    if (typeof width !== 'number' || width < 1) await fail(`${modelPath}: model has no input "k" and its "items" output has no fixed width`);
    fixedK = width as number;
  }
  const limits = info ? { numUsers: info.numUsers, numItems: info.numItems } : {};
  let running: Promise<unknown> = Promise.resolve();

  const recommendFlat = async (users: Int32Array, k: number, exclude?: FlatExclude): Promise<FlatResult> => {
    if (exclude && !hasExclude && exclude.items.length > 0) throw new RuntimeError(`${modelPath}: model has no "exclude" input`);
    if (fixedK !== null && k > fixedK) throw new RuntimeError(`${modelPath}: this model always returns its top ${fixedK} (k is fixed at export); ask for k <= ${fixedK}`);
    const f = buildFlatFeeds(users, k, exclude, limits);
    const feeds: Record<string, import('onnxruntime-node').Tensor> = { user_ids: new ort.Tensor('int64', f.users, [f.users.length]) };
    if (hasK) feeds.k = new ort.Tensor('int64', f.k, [1]);
    if (hasExclude) feeds.exclude = new ort.Tensor('int64', f.exclude, [f.users.length, f.width]);
    // one run at a time per session (onnxruntime-web requires it; serialising costs nothing on a busy cpu session)
    const run = running.then(() => session.run(feeds));
    running = run.catch(() => undefined);
    const out = await run;
    return compactResults(out.items.data as BigInt64Array, out.scores.data as Float32Array, users.length, k, exclude, info?.numItems);
  };

  const recommendDense = async (userIds: ArrayLike<number>, k: number, exclude?: ArrayLike<number>[]): Promise<RecommendResult> => {
    const users = new Int32Array(userIds.length);
    for (let r = 0; r < userIds.length; r++) {
      const u = userIds[r];
      if (!Number.isInteger(u) || u < 0 || u > 0x7fffffff) throw new RuntimeError(`user id ${u} is not a valid dense id${info ? ` (0..${info.numUsers - 1})` : ' (non-negative integer)'}`);
      users[r] = u;
    }
    if (exclude && exclude.length !== users.length) throw new RuntimeError(`exclude has ${exclude.length} lists for ${users.length} users`);
    if (exclude && !hasExclude) throw new RuntimeError(`${modelPath}: model has no "exclude" input`);
    return splitFlat(await recommendFlat(users, k, exclude ? flattenExclude(exclude) : undefined));
  };

  const recommend = async (rawUsers: readonly (string | number)[], k: number, exclude?: readonly (readonly (string | number)[])[]): Promise<RawRecommendResult> => {
    if (!idMaps) throw new RuntimeError(`${modelPath}: no id map loaded, so raw ids cannot be resolved (export writes <name>.ids.json next to the model; or use recommendDense with dense ids)`);
    const maps = idMaps;
    const users = new Int32Array(rawUsers.length);
    rawUsers.forEach((raw, r) => {
      const id = rawIdOf(raw, 'user');
      const dense = maps.userIndex.get(id);
      if (dense === undefined) throw new RuntimeError(`unknown user "${id}" (not among the model's ${maps.users.length.toLocaleString('en-US')} users)`);
      users[r] = dense;
    });
    if (exclude && exclude.length !== users.length) throw new RuntimeError(`exclude has ${exclude.length} lists for ${users.length} users`);
    const denseExclude = exclude?.map((list) => list.map((raw) => {
      const id = rawIdOf(raw, 'item');
      const dense = maps.itemIndex.get(id);
      if (dense === undefined) throw new RuntimeError(`unknown item "${id}" in exclude (not among the model's ${maps.items.length.toLocaleString('en-US')} items)`);
      return dense;
    }));
    const flat = await recommendFlat(users, k, denseExclude ? flattenExclude(denseExclude) : undefined);
    const dense = splitFlat(flat);
    return { items: dense.items.map((row) => row.map((i) => maps.items[i])), scores: dense.scores };
  };

  return {
    modelPath, provider, threads, info, missing, modelBytes: bytes.byteLength, inputNames: session.inputNames, idMaps, fixedK,
    recommend, recommendDense, recommendFlat,
    close: async () => { await session.release(); },
  };
}

/** Which execution providers really work here: each is tried on the given model (a warm-up run included). */
export async function probeProviders(modelPath: string): Promise<Record<Provider, { available: boolean; reason?: string }>> {
  const out = {} as Record<Provider, { available: boolean; reason?: string }>;
  for (const provider of PROVIDERS) {
    try {
      const r = await createRecommender(modelPath, { provider, idMaps: 'none' });
      try {
        await r.recommendFlat(Int32Array.of(0), 1);
      } finally {
        await r.close();
      }
      out[provider] = { available: true };
    } catch (err) {
      out[provider] = { available: false, reason: (err as Error).message };
    }
  }
  return out;
}
export { openScoringModel, SCORING_SIGNATURES, type ScoringModel, type ScoringModelOptions, type ScoringSignature } from './scoring-model.js';
