/**
 * The one import of tfjs for the train package. `@tensorflow/tfjs` (not tfjs-core alone) because only the umbrella
 * package registers the gradients under Node ESM; the wasm backend registers itself on import.
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';

export { tf };
export type Tensor = tf.Tensor;
export type Variable = tf.Variable;
export type Scalar = tf.Scalar;
