/** Checkpoint → ONNX file (+ raw-id maps), checked before writing and loaded in onnxruntime before it replaces anything. */
import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { InputError, loadDataset, readCard, readWeights, sha256, topIndices, writeFileAtomic, type ModelCard } from '@derrd/core';
import { createRecommender } from '@derrd/runtime';
import { BUILDERS } from './builders.js';
import { DEFAULT_OPSET, ExportError, checkModel } from './graph.js';
import { decodeModel, encodeModel } from './proto.js';

export const EXPORT_FORMAT = 'derrd-onnx/1';

export interface ExportOptions {
  checkpoint: string;
  /** output .onnx path; the id maps go next to it as <name>.ids.json */
  out: string;
  opset?: number;
  int8?: boolean;
  /** prepared data set for the raw-id maps (default: the one recorded in the model card) */
  data?: string;
  /** default k recorded in the metadata (k itself is a graph input) */
  defaultK?: number;
  force?: boolean;
}

export interface ExportResult {
  path: string;
  idMapsPath: string;
  bytes: number;
  sha256: string;
  opset: number;
  int8: boolean;
  card: ModelCard;
  metadata: Record<string, string>;
}

export interface BuiltModel {
  bytes: Uint8Array;
  card: ModelCard;
  /** the prepared data set the id maps come from (checked against the card's hash) */
  ds: ReturnType<typeof loadDataset>;
  metadata: Record<string, string>;
  opset: number;
  int8: boolean;
  defaultK: number;
}

/** Checkpoint → checked ONNX bytes with derrd metadata; `fixedK` makes k a constant of the graph (Triton). */
export function buildModel(o: { checkpoint: string; opset?: number; int8?: boolean; data?: string; defaultK?: number; fixedK?: number; idMapsName: string }): BuiltModel {
  const card = readCard(o.checkpoint);
  const builder = BUILDERS[card.model.kind];
  if (!builder) throw new ExportError(`unknown model type "${card.model.kind}" in ${o.checkpoint} (exportable: ${Object.keys(BUILDERS).join(', ')})`);
  const { tensors, sha256: weightsSha } = readWeights(o.checkpoint, card);
  const dataDir = o.data ?? card.dataset.path;
  const ds = loadDataset(dataDir);
  if (ds.manifest.hash !== card.dataset.hash) throw new InputError(`data set hash ${ds.manifest.hash.slice(0, 12)}… differs from the checkpoint's ${card.dataset.hash.slice(0, 12)}…`, { file: dataDir });
  const defaultK = o.fixedK ?? o.defaultK ?? 10;
  if (!Number.isInteger(defaultK) || defaultK < 1 || defaultK > card.model.numItems) {
    throw new InputError(`k = ${defaultK} must be between 1 and the number of items (${card.model.numItems})`);
  }
  const opset = o.opset ?? DEFAULT_OPSET;
  const int8 = o.int8 ?? false;
  const g = builder(tensors, card.model, { opset, int8, fixedK: o.fixedK });
  const metadata: Record<string, string> = {
    'derrd.format': EXPORT_FORMAT,
    'derrd.kind': card.model.kind,
    'derrd.num_users': String(card.model.numUsers),
    'derrd.num_items': String(card.model.numItems),
    'derrd.dim': String(card.model.dim),
    'derrd.quantization': int8 ? 'int8-symmetric-per-row' : 'none',
    'derrd.default_k': String(defaultK),
    ...(o.fixedK !== undefined ? { 'derrd.fixed_k': String(o.fixedK) } : {}),
    'derrd.exclude_padding': '-1',
    'derrd.tie_break': 'lower item id first',
    'derrd.id_maps': o.idMapsName,
    'derrd.card': JSON.stringify({
      name: card.name, model: card.model, method: card.method, dataset: card.dataset, metrics: card.metrics.selected,
      bestEpochs: card.metrics.bestEpochs, savedEpoch: card.savedEpoch, protocol: card.metrics.protocol, config: card.config,
      weightsSha256: weightsSha, backend: card.backend.name,
    }),
  };
  const model = g.toModel({ producerVersion: card.derrdVersion, docString: `derrd ${card.model.kind} d=${card.model.dim} (${card.method.name})`, metadata });
  const bytes = encodeModel(model);
  const problems = checkModel(decodeModel(bytes) as Parameters<typeof checkModel>[0]);
  if (problems.length > 0) throw new ExportError(`exported graph fails the structural check:\n  ${problems.join('\n  ')}`);
  return { bytes, card, ds, metadata, opset, int8, defaultK };
}

/** The id maps written next to a model: dense index → raw id, and the data set they belong to. */
export function idMapsJson(ds: BuiltModel['ds']): string {
  return JSON.stringify({ datasetHash: ds.manifest.hash, users: ds.userIds.rawIds(), items: ds.itemIds.rawIds() }) + '\n';
}

/** Writes bytes to a temp file next to `dir`, proves onnxruntime loads and runs them, and returns the temp path. */
export async function loadChecked(bytes: Uint8Array, dir: string, name: string, k: number): Promise<string> {
  mkdirSync(dir, { recursive: true });
  const tmp = join(dir, `.${name}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  writeFileSync(tmp, bytes);
  try {
    const rec = await createRecommender(tmp, { provider: 'cpu', threads: 1, idMaps: 'none' });
    try {
      const r = await rec.recommendDense([0], k);
      if (r.items[0].length === 0) throw new ExportError('load check: the model returned no items');
    } finally {
      await rec.close();
    }
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err instanceof ExportError ? err : new ExportError(`load check in onnxruntime failed: ${(err as Error).message}`);
  }
  return tmp;
}

export async function exportCheckpoint(o: ExportOptions): Promise<ExportResult> {
  if (!o.out.endsWith('.onnx')) throw new InputError('output must be a .onnx file path', { file: o.out });
  if (existsSync(o.out) && !o.force) throw new InputError('output file exists (use --force to replace it)', { file: o.out });
  const idMapsName = `${basename(o.out, '.onnx')}.ids.json`;
  const built = buildModel({ checkpoint: o.checkpoint, opset: o.opset, int8: o.int8, data: o.data, defaultK: o.defaultK, idMapsName });
  // write to a temp file, prove onnxruntime loads and runs it, then move it into place
  const tmp = await loadChecked(built.bytes, dirname(o.out), basename(o.out), Math.min(built.defaultK, built.card.model.numItems));
  const idMapsPath = join(dirname(o.out), idMapsName);
  writeFileAtomic(idMapsPath, idMapsJson(built.ds));
  renameSync(tmp, o.out);
  return { path: o.out, idMapsPath, bytes: built.bytes.byteLength, sha256: sha256(built.bytes), opset: built.opset, int8: built.int8, card: built.card, metadata: built.metadata };
}

/** Reference top-k from full score rows (excluded items masked; ties: lower id first). */
export function referenceTopK(scores: Float32Array, numItems: number, rows: number, k: number, exclude?: number[][]): { items: number[][]; scores: number[][] } {
  const out = { items: [] as number[][], scores: [] as number[][] };
  for (let r = 0; r < rows; r++) {
    const row = scores.slice(r * numItems, (r + 1) * numItems);
    for (const i of exclude?.[r] ?? []) row[i] = -Infinity;
    const order = topIndices(row, k);
    out.items.push(order);
    out.scores.push(order.map((i) => row[i]));
  }
  return out;
}

export interface ParityReport {
  users: number;
  k: number;
  withExclusions: boolean;
  maxScoreDiff: number;
  idMismatches: number;
  /** positions where the ids differ but the reference scores are tied within atol (a float-rounding tie) */
  tiedMismatches: number;
  ok: boolean;
}

/**
 * Like torch.onnx's assert_onnx_program: the same users through the trainer's scorer and the ONNX model must give
 * equal top-k scores (atol) and identical ids.
 */
export async function verifyParity(
  onnxPath: string, scoreAll: (users: Int32Array) => Float32Array, numItems: number, users: Int32Array, k: number,
  options: { exclude?: number[][]; atol?: number; provider?: 'cpu' | 'wasm' } = {},
): Promise<ParityReport> {
  const atol = options.atol ?? 1e-5;
  const rec = await createRecommender(onnxPath, { provider: options.provider ?? 'cpu' });
  try {
    const onnx = await rec.recommendDense(users, k, options.exclude);
    const ref = referenceTopK(scoreAll(users), numItems, users.length, k, options.exclude);
    let maxDiff = 0;
    let mismatches = 0;
    let tied = 0;
    for (let r = 0; r < users.length; r++) {
      for (let c = 0; c < k; c++) {
        const a = onnx.scores[r][c], b = ref.scores[r][c];
        if (Number.isFinite(a) || Number.isFinite(b)) maxDiff = Math.max(maxDiff, Math.abs(a - b));
        if (onnx.items[r][c] !== ref.items[r][c]) {
          mismatches++;
          const neighbour = [ref.scores[r][c - 1], ref.scores[r][c + 1]].some((s) => s !== undefined && Math.abs(s - b) <= atol);
          if (neighbour) tied++;
        }
      }
    }
    return { users: users.length, k, withExclusions: Boolean(options.exclude), maxScoreDiff: maxDiff, idMismatches: mismatches, tiedMismatches: tied, ok: maxDiff <= atol && mismatches === 0 };
  } finally {
    await rec.close();
  }
}
