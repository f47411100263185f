/** Backend choice for training: tensorflow (tfjs-node, optional) > wasm > cpu. Every run records which one ran. */
import { InputError } from '@derrd/core';
import { tf } from './tf.js';
import { registerKernels } from './kernels.js';

export const BACKENDS = ['auto', 'tensorflow', 'wasm', 'cpu'] as const;
export type BackendRequest = (typeof BACKENDS)[number];
export type BackendName = Exclude<BackendRequest, 'auto'>;

export interface BackendInfo {
  name: BackendName;
  tfjsVersion: string;
  /** wasm: SIMD in use. threads: the training step's threads: 2 for the native BPR step on a machine with two cores, else 1
   * (tfjs-backend-wasm itself runs on one thread in Node) */
  simd?: boolean;
  threads: number;
}

let current: BackendInfo | null = null;

async function tensorflowAvailable(): Promise<boolean> {
  try {
    await import('@tensorflow/tfjs-node' as string);
    return true;
  } catch {
    return false;
  }
}

export const TENSORFLOW_INSTALL_HINT =
  'the tensorflow backend needs @tensorflow/tfjs-node, which is not installed (its installer downloads libtensorflow, so it needs internet access): run `npm install @tensorflow/tfjs-node@4.22.0 -w @derrd/train`, or use --backend wasm';

/** Selects and initialises the backend; idempotent for the same request. */
export async function initBackend(request: BackendRequest = 'auto'): Promise<BackendInfo> {
  if (!(BACKENDS as readonly string[]).includes(request)) {
    throw new InputError(`unknown backend "${request}" (expected one of ${BACKENDS.join('|')})`);
  }
  let name: BackendName;
  if (request === 'auto') name = (await tensorflowAvailable()) ? 'tensorflow' : 'wasm';
  else name = request;
  if (name === 'tensorflow' && !(await tensorflowAvailable())) throw new InputError(TENSORFLOW_INSTALL_HINT);
  if (current?.name === name && tf.getBackend() === name) return current;
  tf.enableProdMode();
  if (name === 'wasm' || name === 'cpu') registerKernels(name);
  let ok = false;
  try {
    ok = await tf.setBackend(name);
    await tf.ready();
  } catch {
    ok = false;
  }
  if (!ok) {
    if (request === 'auto' && name === 'wasm') {
      registerKernels('cpu');
      await tf.setBackend('cpu');
      name = 'cpu';
    } else {
      throw new InputError(`backend "${name}" failed to initialise`);
    }
  }
  const info: BackendInfo = { name, tfjsVersion: tf.version.tfjs, threads: 1 };
  if (name === 'wasm') info.simd = Boolean(tf.env().getAsync ? await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT') : false);
  current = info;
  return info;
}

export function currentBackend(): BackendInfo {
  if (!current) throw new Error('initBackend() has not been called');
  return current;
}
