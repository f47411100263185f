/** A shared WebAssembly memory for the helper's jobs, and shared copies of int arrays. */
import { InputError } from '@derrd/core';
import { SCORE_MAX_PAGES } from '../wasm/score-simd.js';
import { helper, type Helper } from './helper.js';

const PAGE = 65536;

/** A shared WebAssembly memory with a bump allocator, attached to the helper while in use. */
export class SharedArena {
  readonly memory: WebAssembly.Memory;
  readonly id: number;
  private readonly owner: Helper;
  private top = 64;

  constructor(owner: Helper = helper()) {
    this.memory = new WebAssembly.Memory({ initial: 1, maximum: SCORE_MAX_PAGES, shared: true });
    this.owner = owner;
    this.id = owner.attach(this.memory);
  }

  /** Byte offset of `bytes` new bytes (64-byte aligned), growing the memory as needed. */
  alloc(bytes: number): number {
    const at = Math.ceil(this.top / 64) * 64;
    const end = at + bytes;
    if (end > SCORE_MAX_PAGES * PAGE) throw new InputError(`scoring needs ${(end / 2 ** 30).toFixed(1)} GiB of WebAssembly memory, above its 4 GiB limit: use fewer users or items, or a smaller dimension`);
    const pages = Math.ceil(end / PAGE) - this.memory.buffer.byteLength / PAGE;
    if (pages > 0) this.memory.grow(pages);
    this.top = end;
    return at;
  }

  floats(at: number, length: number): Float32Array {
    return new Float32Array(this.memory.buffer, at, length);
  }

  dispose(): void {
    this.owner.detach(this.id);
  }
}

export const roundUp = (n: number, m: number): number => Math.ceil(n / m) * m;
export const sharedInts = (n: number): Int32Array => new Int32Array(new SharedArrayBuffer(Math.max(1, n) * 4), 0, n);
export const sharedCopy = (a: Int32Array): Int32Array => {
  const out = sharedInts(a.length);
  out.set(a);
  return out;
};
