/**
 * Differentiable ops whose gradients avoid the slow paths of the tfjs wasm backend: its matMul with transposeA or
 * transposeB runs 10–14× slower than an explicit transpose followed by a plain matMul, and tf.gather's gradient wraps
 * its scatter-add in identity transposes and copies.
 */
import { tf, type Tensor } from './tf.js';

/**
 * tf.customGrad with the types its declaration lacks: `fn` gets the input tensors (and tfjs's save function) and
 * returns the value with a gradFunc giving one gradient per input.
 */
export function customOp<A extends Tensor[]>(
  fn: (...args: [...A, tf.GradSaveFunc]) => { value: Tensor; gradFunc: (dy: Tensor, saved: Tensor[]) => Tensor[] },
): (...args: A) => Tensor {
  return tf.customGrad(fn as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as (...args: A) => Tensor;
}

const customGrad2 = customOp<[Tensor, Tensor]>;

/** Rows of `table` at `ids`; the gradient is a scatter-add into a dense [rows, d] tensor. */
export function embeddingLookup(table: Tensor, ids: Tensor): Tensor {
  const rows = table.shape[0];
  return customGrad2((t, i, save) => {
    save([i]);
    return {
      value: tf.gather(t, i),
      gradFunc: (dy, saved) => [tf.unsortedSegmentSum(dy, saved[0] as tf.Tensor1D, rows), tf.zerosLike(saved[0])],
    };
  })(table, ids);
}

const swapLast = (t: Tensor): Tensor => (t.rank === 2 ? tf.transpose(t) : tf.transpose(t, [0, 2, 1]));

/**
 * The wasm BatchMatMul kernel runs ~8× slower than separate 2-D products when there are few large batches (30 DE
 * experts: 2.4 s against 0.3 s), while it is fast for many tiny ones (per-user scores): split only the former.
 */
function product(a: Tensor, b: Tensor): Tensor {
  if (a.rank === 3 && a.shape[0] <= 64 && a.shape[0] === b.shape[0]) {
    // split + reshape: the wasm Unpack kernel (tf.unstack) is itself very slow
    const n = a.shape[0];
    const as = tf.split(a, n, 0).map((x) => tf.reshape(x, [a.shape[1] as number, a.shape[2] as number]) as tf.Tensor2D);
    const bs = tf.split(b, n, 0).map((x) => tf.reshape(x, [b.shape[1] as number, b.shape[2] as number]) as tf.Tensor2D);
    return tf.stack(as.map((x, k) => tf.matMul(x, bs[k])));
  }
  return tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D);
}

/**
 * a·b for rank-2 or batched rank-3 operands, with gradients da = dy·bᵀ and db = aᵀ·dy computed through explicit
 * transposes (no transposeA/transposeB).
 */
export function matMul(a: Tensor, b: Tensor): Tensor {
  return customGrad2((x, y, save) => {
    save([x, y]);
    return {
      value: product(x, y),
      gradFunc: (dy, [sx, sy]) => [product(dy, swapLast(sy)), product(swapLast(sx), dy)],
    };
  })(a, b);
}

/**
 * Σ of rows of x into `segments` rows by non-negative ids; the gradient is a plain gather (tfjs's own gradient also
 * handles negative ids with a broadcast logicalAnd + where that cost ~100 ms on DE's [pairs, d_t] tensors).
 */
export function segmentSum(x: Tensor, ids: Tensor, segments: number): Tensor {
  return customGrad2((v, i, save) => {
    save([i]);
    return {
      value: tf.unsortedSegmentSum(v, i as tf.Tensor1D, segments),
      gradFunc: (dy, saved) => [tf.gather(dy, saved[0]), tf.zerosLike(saved[0])],
    };
  })(x, ids);
}
