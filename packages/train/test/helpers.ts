import { generateSynthetic, prepareFromInteractions, type Dataset } from '@derrd/core';
import { tf, type Tensor } from '@derrd/train';

/** A tiny seeded data set for training tests. */
export function tinyDataset(seed = 1, numUsers = 60, numItems = 150): Dataset {
  return prepareFromInteractions(generateSynthetic({ numUsers, numItems, seed, meanInteractions: 12 }), { kind: 'synthetic', path: null, sha256: null }, { numCandidates: 40, seed });
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} != ${b.length}`);
  let m = 0;
  for (let k = 0; k < a.length; k++) m = Math.max(m, Math.abs(a[k] - b[k]));
  return m;
}

/**
 * Central finite differences of `loss` with respect to a few coordinates of `variable`, compared with the
 * analytic gradient. Returns the largest relative error over the probed coordinates.
 */
export function gradientCheck(variable: tf.Variable, loss: () => tf.Scalar, probes: number[], eps = 1e-2): number {
  const analytic = tf.variableGrads(loss, [variable]);
  const grad = analytic.grads[variable.name].dataSync();
  analytic.value.dispose();
  let worst = 0;
  const base = variable.dataSync().slice() as Float32Array;
  for (const k of probes) {
    const plus = base.slice();
    plus[k] += eps;
    variable.assign(tf.tensor(plus, variable.shape));
    const lp = tf.tidy(() => loss().dataSync()[0]);
    const minus = base.slice();
    minus[k] -= eps;
    variable.assign(tf.tensor(minus, variable.shape));
    const lm = tf.tidy(() => loss().dataSync()[0]);
    const numeric = (lp - lm) / (2 * eps);
    const err = Math.abs(numeric - grad[k]) / Math.max(1e-3, Math.abs(numeric) + Math.abs(grad[k]));
    worst = Math.max(worst, err);
  }
  variable.assign(tf.tensor(base, variable.shape));
  for (const g of Object.values(analytic.grads)) g.dispose();
  return worst;
}

export function int1d(values: number[]): Tensor {
  return tf.tensor1d(values, 'int32');
}
