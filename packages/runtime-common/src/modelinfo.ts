/**
 * What derrd writes into an ONNX model's metadata_props (prefix "derrd."), parsed and checked without a session, so
 * the Node runtime and the browser library describe a model, and refuse a file that is not one, the same way.
 */
import { RuntimeError } from './feeds.js';
import { NotOnnxError, findNonFiniteWeights, readMetadataProps, type NonFiniteWeights } from './metadata.js';

export interface DerrdModelInfo {
  format: string;
  numUsers: number;
  numItems: number;
  dim: number;
  kind: string;
  quantization: string;
  /** the file name of the raw-id map next to the model (`<name>.ids.json`) */
  idMaps: string | null;
  /** the hash of the data set the model was trained on (from its card); binds the id map to the model */
  datasetHash: string | null;
  card: Record<string, unknown> | null;
}

export interface ModelDescription {
  /** null when the model lacks derrd metadata (it still runs if its inputs and outputs fit) */
  info: DerrdModelInfo | null;
  /** what the model lacks for full checking, e.g. user/item counts */
  missing: string[];
}

/** The derrd fields of metadata_props, with what is missing or malformed listed rather than thrown. */
export function parseModelInfo(metadata: Record<string, string>): ModelDescription {
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

/** The derrd metadata of model bytes without opening a session; throws RuntimeError when the bytes are not ONNX or a weight table holds NaN or an infinity. */
export function inspectModel(bytes: Uint8Array, source: string): ModelDescription {
  let meta;
  let nonFinite: NonFiniteWeights | null;
  try {
    meta = readMetadataProps(bytes);
    if (!meta.hasGraph || meta.irVersion === null) throw new NotOnnxError('no graph or IR version');
    nonFinite = findNonFiniteWeights(bytes);
  } catch (err) {
    throw new RuntimeError(`${source}: not an ONNX model (${(err as Error).message})`);
  }
  // onnxruntime would load such a model, warm up, and answer every query it touches with NaN scores
  if (nonFinite) {
    const { tensor, count, first, index } = nonFinite;
    throw new RuntimeError(`${source}: weight "${tensor}" holds ${count} non-finite value${count > 1 ? 's' : ''} (the first, ${first}, at index ${index}): this model cannot score; export it again from a checkpoint with finite weights`);
  }
  return parseModelInfo(meta.metadata);
}
