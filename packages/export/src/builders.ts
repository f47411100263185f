/**
 * One builder per model type. Every exported model answers "top-k items for these users":
 *   inputs  user_ids int64 [B]; k int64 [1] (an input, so a server picks k per request; a constant instead with
 *           `fixedK`, for servers such as Triton that batch every input); exclude int64 [B, E] (items to drop per user,
 *           padded with -1; E may be 0)
 *   outputs items int64 [B, k] and scores float [B, k], best first; ties: lower item id first (ONNX TopK's rule,
 *           the same as derrd's evaluator).
 */
import type { SafeTensor } from '@derrd/core';
import { ExportError, GraphBuilder } from './graph.js';
import { ELEM_CODE } from './proto.js';

export interface BuildOptions {
  opset: number;
  /** store embedding tables as int8 with one scale per row (per item for the transposed item table) */
  int8: boolean;
  /** k as a constant of the graph instead of an input (outputs [B, fixedK]) */
  fixedK?: number;
}

function f32(t: SafeTensor | undefined, name: string, shape?: number[]): Float32Array {
  if (!t) throw new ExportError(`checkpoint has no tensor "${name}"`);
  if (t.dtype !== 'F32') throw new ExportError(`tensor "${name}" is ${t.dtype}, expected F32`);
  if (shape && (t.shape.length !== shape.length || t.shape.some((d, k) => d !== shape[k]))) {
    throw new ExportError(`tensor "${name}" has shape [${t.shape}], expected [${shape}]`);
  }
  return t.data as Float32Array;
}

function transpose(data: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = data[r * cols + c];
  return out;
}

/** Symmetric int8 quantisation with one scale per row (axis 'row') or per column (axis 'col'). */
export function quantize(data: Float32Array, rows: number, cols: number, axis: 'row' | 'col'): { q: Int8Array; scale: Float32Array } {
  const groups = axis === 'row' ? rows : cols;
  const scale = new Float32Array(groups);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) {
    const gi = axis === 'row' ? r : c;
    scale[gi] = Math.max(scale[gi], Math.abs(data[r * cols + c]));
  }
  for (let k = 0; k < groups; k++) scale[k] = scale[k] > 0 ? scale[k] / 127 : 1;
  const q = new Int8Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) {
    q[r * cols + c] = Math.round(data[r * cols + c] / scale[axis === 'row' ? r : c]);
  }
  return { q, scale };
}

/** A float table, or an int8 one dequantised in the graph (Cast + Mul; onnxruntime folds it at load). */
function table(g: GraphBuilder, name: string, data: Float32Array, rows: number, cols: number, o: BuildOptions, axis: 'row' | 'col'): string {
  if (!o.int8) return g.initializer(name, 'float32', [rows, cols], data);
  const { q, scale } = quantize(data, rows, cols, axis);
  const qName = g.initializer(`${name}_int8`, 'int8', [rows, cols], q);
  const sName = g.initializer(`${name}_scale`, 'float32', axis === 'row' ? [rows, 1] : [1, cols], scale);
  const asFloat = g.node('Cast', [qName], { to: ELEM_CODE.float32 })[0];
  return g.node('Mul', [asFloat, sName], {}, [name])[0];
}

/**
 * Exclusion (-1 padded ids → -inf scores) and TopK: shared by every model. From opset 16 ScatterElements can add:
 * excluded ids add -inf and padding adds 0 to item 0, one pass over the scores. Before 16 the padding is pointed at an
 * extra -inf column that is sliced off again (two more full copies of the [B, items] scores).
 */
function rankTail(g: GraphBuilder, scores: string, numItems: number, fixedK?: number): void {
  const k = fixedK === undefined ? g.input('k', 'int64', [1]) : g.int64('k_fixed', [fixedK]);
  const exclude = g.input('exclude', 'int64', ['batch', 'num_excluded']);
  const negInf = g.initializer('neg_inf', 'float32', [], Float32Array.from([-Infinity]));
  const zero = g.int64('zero', [0], []);
  const isPad = g.node('Less', [exclude, zero])[0];
  let kept: string;
  if (g.opset >= 16) {
    const index = g.node('Where', [isPad, zero, exclude])[0];
    const updates = g.node('Where', [isPad, g.initializer('zero_f', 'float32', [], Float32Array.from([0])), negInf])[0];
    kept = g.node('ScatterElements', [scores, index, updates], { axis: 1, reduction: 'add' })[0];
  } else {
    const excludeIdx = g.node('Where', [isPad, g.int64('sentinel_item', [numItems], []), exclude])[0];
    const padded = g.node('Pad', [scores, g.int64('pad_one_column', [0, 0, 0, 1]), negInf])[0];
    const updates = g.node('Expand', [negInf, g.node('Shape', [excludeIdx])[0]], { __shapeHint: ['batch', 'num_excluded'] as unknown as number[] })[0];
    const masked = g.node('ScatterElements', [padded, excludeIdx, updates], { axis: 1 })[0];
    kept = g.node('Slice', [masked, g.int64('slice_starts', [0]), g.int64('slice_ends', [numItems]), g.int64('slice_axes', [1])])[0];
  }
  g.node('TopK', [kept, k], { axis: -1, largest: 1, sorted: 1 }, ['scores', 'items']);
  g.output('items');
  g.output('scores');
}

export function buildBpr(weights: Record<string, SafeTensor>, dims: { numUsers: number; numItems: number; dim: number }, o: BuildOptions): GraphBuilder {
  const { numUsers: U, numItems: I, dim: d } = dims;
  const g = new GraphBuilder(o.opset);
  const users = g.input('user_ids', 'int64', ['batch']);
  const userTable = table(g, 'user_embedding', f32(weights.user, 'user', [U, d]), U, d, o, 'row');
  const itemT = table(g, 'item_embedding_t', transpose(f32(weights.item, 'item', [I, d]), I, d), d, I, o, 'col');
  const u = g.node('Gather', [userTable, users], { axis: 0 })[0];
  const scores = g.node('MatMul', [u, itemT])[0];
  rankTail(g, scores, I, o.fixedK);
  return g;
}

/**
 * NeuMF with its first MLP layer folded into tables: W·[e_u; e_i] + b = (W_u e_u + b) + W_i e_i, so per request the
 * graph gathers one user row, adds it to every item's precomputed half, applies ReLU and the output weights — the
 * same scores as the trainer's (up to float rounding) without an O(d²) product per pair.
 */
export function buildNeuMf(weights: Record<string, SafeTensor>, dims: { numUsers: number; numItems: number; dim: number }, o: BuildOptions): GraphBuilder {
  const { numUsers: U, numItems: I, dim: d } = dims;
  const userGmf = f32(weights.user_gmf, 'user_gmf', [U, d]);
  const itemGmf = f32(weights.item_gmf, 'item_gmf', [I, d]);
  const userMlp = f32(weights.user_mlp, 'user_mlp', [U, d]);
  const itemMlp = f32(weights.item_mlp, 'item_mlp', [I, d]);
  const mlpW = f32(weights.mlp_w, 'mlp_w', [2 * d, d]);
  const mlpB = f32(weights.mlp_b, 'mlp_b', [d]);
  const outW = f32(weights.out_w, 'out_w', [2 * d, 1]);
  const outB = f32(weights.out_b, 'out_b', [1]);
  const userGmfW = new Float32Array(U * d);
  for (let u = 0; u < U; u++) for (let k = 0; k < d; k++) userGmfW[u * d + k] = userGmf[u * d + k] * outW[k];
  const half = (emb: Float32Array, rows: number, offset: number, bias: Float32Array | null) => {
    const out = new Float32Array(rows * d);
    for (let r = 0; r < rows; r++) for (let j = 0; j < d; j++) {
      let s = bias ? bias[j] : 0;
      for (let k = 0; k < d; k++) s += emb[r * d + k] * mlpW[(offset + k) * d + j];
      out[r * d + j] = s;
    }
    return out;
  };
  const g = new GraphBuilder(o.opset);
  const users = g.input('user_ids', 'int64', ['batch']);
  const gmfUser = table(g, 'user_gmf_weighted', userGmfW, U, d, o, 'row');
  const gmfItemT = table(g, 'item_gmf_t', transpose(itemGmf, I, d), d, I, o, 'col');
  const hiddenUser = table(g, 'user_hidden', half(userMlp, U, 0, mlpB), U, d, o, 'row');
  const hiddenItem = table(g, 'item_hidden', half(itemMlp, I, d, null), I, d, o, 'row');
  const wMlp = g.initializer('w_mlp', 'float32', [d, 1], outW.slice(d, 2 * d));
  const bias = g.initializer('out_bias', 'float32', [1], outB);
  const gmf = g.node('MatMul', [g.node('Gather', [gmfUser, users], { axis: 0 })[0], gmfItemT])[0];
  const hu = g.axesOp('Unsqueeze', g.node('Gather', [hiddenUser, users], { axis: 0 })[0], [1]);
  const hidden = g.node('Relu', [g.node('Add', [hu, hiddenItem])[0]])[0];
  const mlp = g.axesOp('Squeeze', g.node('MatMul', [hidden, wMlp])[0], [2]);
  const scores = g.node('Add', [g.node('Add', [gmf, mlp])[0], bias])[0];
  rankTail(g, scores, I, o.fixedK);
  return g;
}

export const BUILDERS: Record<string, typeof buildBpr> = { bpr: buildBpr, neumf: buildNeuMf };
