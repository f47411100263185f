/**
 * The native build of the DE mixture loops (native/expert_mixture.c, built by `npm run build:native`): the same loops
 * as the WebAssembly ones in expert-kernel.ts, on the same memory and layout, giving the same floats, ~2× faster
 * (8-lane AVX2 and the C compiler's code against V8's 4-lane WebAssembly SIMD). Optional: where it was not built, or
 * cannot load, the WebAssembly loops run, and the training log says which (describeMixtureLoops()).
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { InputError } from '@derrd/core';

export interface NativeMixture {
  /** the instruction set the loops were dispatched to at load: 'avx2' or 'generic' */
  isa: string;
  forward(memory: Float32Array, args: Int32Array): void;
  backward(memory: Float32Array, args: Int32Array): void;
  addRecon(memory: Float32Array, args: Int32Array): void;
  addDhs(memory: Float32Array, args: Int32Array): void;
}

/** The layout keys in the order the native module reads their offsets (its enum A_*). */
export const NATIVE_LAYOUT_KEYS = [
  'w1', 'b1', 'w2', 'b2', 'hs', 'pw', 'pairEntity', 'pairExpert', 'hidden', 'out', 'recon', 'dRecon', 'dw1', 'db1', 'dw2', 'db2', 'dhs',
  'dhsPair', 'dpw', 'dO', 'one', 'dH0', 'dH1',
] as const;

export const NATIVE_MODULE_PATH = fileURLToPath(new URL('../../native/build/Release/derrd_expert.node', import.meta.url));

let loaded: { native: NativeMixture | null; reason: string } | undefined;

/** The native loops, or null with the reason they are not available. Loaded once per thread. */
export function nativeMixture(): { native: NativeMixture | null; reason: string } {
  if (loaded) return loaded;
  if (!existsSync(NATIVE_MODULE_PATH)) {
    loaded = { native: null, reason: 'not built (npm run build:native needs a C compiler and node-gyp)' };
  } else {
    try {
      loaded = { native: createRequire(import.meta.url)(NATIVE_MODULE_PATH) as NativeMixture, reason: '' };
    } catch (err) {
      loaded = { native: null, reason: `could not load ${NATIVE_MODULE_PATH}: ${(err as Error).message.split('\n')[0]}` };
    }
  }
  return loaded;
}

export type MixtureLoops = 'native' | 'wasm';

/**
 * Which loops the DE kernel runs: DERRD_DE_LOOPS=native|wasm, else native where built. Asking for native where it is
 * not built is an error, not a silent fallback.
 */
export function defaultMixtureLoops(env: string | undefined = process.env.DERRD_DE_LOOPS): MixtureLoops {
  if (env === undefined || env === '') return nativeMixture().native ? 'native' : 'wasm';
  if (env === 'wasm') return 'wasm';
  if (env === 'native') {
    const { native, reason } = nativeMixture();
    if (!native) throw new InputError(`DERRD_DE_LOOPS=native, but the native DE kernel is ${reason}; unset DERRD_DE_LOOPS to use the WebAssembly kernel`);
    return 'native';
  }
  throw new InputError(`DERRD_DE_LOOPS must be native or wasm (got "${env}")`);
}
