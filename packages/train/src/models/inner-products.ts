/**
 * Inner products of an inner-product model (BPR: s(u, i) = ⟨e_u, e_i⟩) between rows of one table and, for each, a
 * fixed number of rows of the other picked by index, as one differentiable op with dense gradients for both tables:
 * RRD's users × their K + L sampled items, IR-RRD's items × their K_I + L_I sampled users.
 */
import { customOp } from '../ops.js';
import { tf, type Tensor } from '../tf.js';
import { innerProductsSimd, layout, type InnerProductsSimd } from '../wasm/inner-products-simd.js';

/**
 * s[r, w] = ⟨U[users[r·W + w]], V[items[r]]⟩ for n = items.length rows of W picked rows each, named for the item side
 * (the user side passes the item table as U and the user table as V); the gradients are [dU, dV]. The generic path
 * (gathers of all n·W pairs) materialises [n·W, d] tensors and their scatter-add gradients: 2-5× as long on CiteULike
 * (~22k items × 40 users a batch) as this op's JS loops, which the SIMD loops of wasm/inner-products-simd.ts beat
 * again; RRD's [users, 80, 200] batched matMul at d = 200 took ~225 ms a step, mostly its outer-product gradient
 * (`kernel: 'js'` forces the JS loops; they also run where WebAssembly SIMD is unavailable). `names` name the id
 * arrays in errors.
 */
export function innerProductsByRow(
  userTable: Tensor, itemTable: Tensor, users: Int32Array, items: Int32Array, kernel: 'simd' | 'js' = 'simd', names: [string, string] = ['users', 'items'],
): Tensor {
  const n = items.length;
  const width = users.length / n;
  const simd = kernel === 'simd' ? innerProductsSimd() : null;
  // the SIMD loops read whatever memory an id points at: check them as a gather would
  checkIds(users, userTable.shape[0], names[0]);
  checkIds(items, itemTable.shape[0], names[1]);
  const op = customOp<[Tensor, Tensor]>((ut, vt) => {
    const d = ut.shape[1] as number;
    const u = ut.dataSync() as Float32Array;
    const v = vt.dataSync() as Float32Array;
    const scores = simd ? simdScores(simd, u, v, users, items, d) : jsScores(u, v, users, items, d);
    return {
      value: tf.tensor2d(scores, [n, width]),
      gradFunc: (dy: Tensor) => {
        const g = dy.dataSync() as Float32Array;
        const [gu, gv] = simd ? simdGradients(simd, u, v, users, items, d, g) : jsGradients(u, v, users, items, d, g);
        return [tf.tensor2d(gu, ut.shape as [number, number]), tf.tensor2d(gv, vt.shape as [number, number])];
      },
    };
  });
  return op(userTable, itemTable);
}

function checkIds(ids: Int32Array, rows: number, what: string): void {
  let lo = 0;
  let hi = 0;
  for (let k = 0; k < ids.length; k++) {
    const id = ids[k];
    if (id < lo) lo = id;
    else if (id > hi) hi = id;
  }
  if (lo < 0 || hi >= rows) throw new Error(`inner products: ${what} id ${lo < 0 ? lo : hi} outside [0, ${rows})`);
}

function jsScores(u: Float32Array, v: Float32Array, users: Int32Array, items: Int32Array, d: number): Float32Array {
  const n = items.length;
  const width = users.length / n;
  const scores = new Float32Array(n * width);
  const vr = new Float64Array(d);
  for (let r = 0; r < n; r++) {
    const vi = items[r] * d;
    for (let k = 0; k < d; k++) vr[k] = v[vi + k];
    for (let w = r * width, end = w + width; w < end; w++) {
      const ui = users[w] * d;
      let dot = 0;
      for (let k = 0; k < d; k++) dot += u[ui + k] * vr[k];
      scores[w] = dot;
    }
  }
  return scores;
}

function jsGradients(u: Float32Array, v: Float32Array, users: Int32Array, items: Int32Array, d: number, g: Float32Array): [Float32Array, Float32Array] {
  const n = items.length;
  const width = users.length / n;
  const gu = new Float32Array(u.length);
  const gv = new Float32Array(v.length);
  const gvr = new Float64Array(d);
  for (let r = 0; r < n; r++) {
    const vi = items[r] * d;
    gvr.fill(0);
    for (let w = r * width, end = w + width; w < end; w++) {
      const x = g[w];
      if (x === 0) continue;
      const ui = users[w] * d;
      for (let k = 0; k < d; k++) {
        gu[ui + k] += x * v[vi + k];
        gvr[k] += x * u[ui + k];
      }
    }
    for (let k = 0; k < d; k++) gv[vi + k] += gvr[k];
  }
  return [gu, gv];
}

/** Copies the tables, user ids and item ids into the kernel's memory, then room for `extra` float arrays; returns every offset. */
function stage(simd: InnerProductsSimd, u: Float32Array, v: Float32Array, users: Int32Array, items: Int32Array, extra: number[]): number[] {
  const { at, bytes } = layout([u.length, v.length, users.length, items.length, ...extra]);
  simd.reserve(bytes);
  const f = new Float32Array(simd.memory.buffer);
  f.set(u, at[0]);
  f.set(v, at[1]);
  const ints = new Int32Array(simd.memory.buffer);
  ints.set(users, at[2]);
  ints.set(items, at[3]);
  return at;
}

function simdScores(simd: InnerProductsSimd, u: Float32Array, v: Float32Array, users: Int32Array, items: Int32Array, d: number): Float32Array {
  const n = items.length;
  const [U, V, idx, it, out] = stage(simd, u, v, users, items, [users.length]);
  simd.scoresByItem(out * 4, U * 4, idx * 4, V * 4, it * 4, n, users.length / n, d);
  return new Float32Array(simd.memory.buffer).slice(out, out + users.length);
}

function simdGradients(simd: InnerProductsSimd, u: Float32Array, v: Float32Array, users: Int32Array, items: Int32Array, d: number, g: Float32Array): [Float32Array, Float32Array] {
  const n = items.length;
  const [U, V, idx, it, G, GU, GV] = stage(simd, u, v, users, items, [g.length, u.length, v.length]);
  const f = new Float32Array(simd.memory.buffer);
  f.set(g, G);
  f.fill(0, GU, GU + u.length);
  f.fill(0, GV, GV + v.length);
  simd.userGradByItem(GU * 4, idx * 4, V * 4, it * 4, G * 4, n, users.length / n, d);
  simd.itemGradByItem(GV * 4, U * 4, idx * 4, it * 4, G * 4, n, users.length / n, d);
  return [f.slice(GU, GU + u.length), f.slice(GV, GV + v.length)];
}
