/** What a thread holds per shared memory: the memory, which thread it is, and its kernel instance and views. */
import { instantiateBprSimd, type BprSimd } from '../wasm/bpr-simd.js';
import { SCORE_MAX_PAGES, instantiateScoreSimd, type ScoreSimd } from '../wasm/score-simd.js';

export interface ThreadContext {
  memory: WebAssembly.Memory;
  /** 0 = the calling thread, 1 = the helper: selects the per-thread scratch offsets */
  thread: 0 | 1;
  scratch: Map<string, unknown>;
}

export function simdOf(context: ThreadContext): ScoreSimd {
  let simd = context.scratch.get('simd') as ScoreSimd | undefined;
  if (!simd) {
    const made = instantiateScoreSimd(context.memory);
    if (!made) throw new Error('WebAssembly SIMD is unavailable');
    simd = made;
    context.scratch.set('simd', simd);
  }
  return simd;
}

/** A float view of the whole memory (refreshed when it has grown). */
export function floatsOf(context: ThreadContext): Float32Array {
  let view = context.scratch.get('f32') as Float32Array | undefined;
  if (!view || view.buffer.byteLength !== context.memory.buffer.byteLength) {
    view = new Float32Array(context.memory.buffer);
    context.scratch.set('f32', view);
    context.scratch.set('i32', new Int32Array(context.memory.buffer));
  }
  return view;
}

export function intsOf(context: ThreadContext): Int32Array {
  floatsOf(context);
  return context.scratch.get('i32') as Int32Array;
}


/** The native BPR step's kernels (wasm/bpr-simd.ts) on this thread's view of the shared memory. */
export function bprOf(context: ThreadContext): BprSimd {
  let k = context.scratch.get('bpr') as BprSimd | undefined;
  if (!k) {
    const made = instantiateBprSimd(context.memory, SCORE_MAX_PAGES);
    if (!made) throw new Error('WebAssembly SIMD is unavailable');
    k = made;
    context.scratch.set('bpr', k);
  }
  return k;
}
