/** A few WebAssembly binary-format helpers for the hand-assembled SIMD kernels (no toolchain needed at build time). */

export const I32 = 0x7f;
export const F32 = 0x7d;
export const V128 = 0x7b;

export function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let byte = n & 0x7f;
    n >>>= 7;
    if (n !== 0) byte |= 0x80;
    out.push(byte);
  } while (n !== 0);
  return out;
}

export function sleb(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const byte = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (byte & 0x40) === 0) || (n === -1 && (byte & 0x40) !== 0)) {
      out.push(byte);
      return out;
    }
    out.push(byte | 0x80);
  }
}

export const name = (s: string): number[] => [...uleb(s.length), ...Buffer.from(s, 'utf8')];
export const section = (id: number, body: number[]): number[] => [id, ...uleb(body.length), ...body];
export const vec = (items: number[][]): number[] => [...uleb(items.length), ...items.flat()];

// instructions
export const get = (i: number): number[] => [0x20, ...uleb(i)];
export const set = (i: number): number[] => [0x21, ...uleb(i)];
export const tee = (i: number): number[] => [0x22, ...uleb(i)];
export const simd = (op: number): number[] => [0xfd, ...uleb(op)];
export const i32const = (n: number): number[] => [0x41, ...sleb(n)];
export const f32const = (x: number): number[] => [0x43, ...new Uint8Array(new Float32Array([x]).buffer)];
export const v128load = [...simd(0x00), 0x00, 0x00];
export const v128store = [...simd(0x0b), 0x00, 0x00];
/** v128.load / v128.store at a constant byte offset from the address on the stack */
export const v128loadAt = (offset: number): number[] => [...simd(0x00), 0x00, ...uleb(offset)];
export const v128storeAt = (offset: number): number[] => [...simd(0x0b), 0x00, ...uleb(offset)];
export const v128zero = [...simd(0x0c), ...new Array(16).fill(0)];
export const f32load = [0x2a, 0x02, 0x00];
export const f32loadAt = (offset: number): number[] => [0x2a, 0x02, ...uleb(offset)];
export const f32store = [0x38, 0x02, 0x00];
export const i32loadAt = (offset: number): number[] => [0x28, 0x02, ...uleb(offset)];
export const i32storeAt = (offset: number): number[] => [0x36, 0x02, ...uleb(offset)];
export const splat = simd(0x13);
export const lane = (k: number): number[] => [...simd(0x1f), k];
export const vsqrt = simd(0xe3);
export const vadd = simd(0xe4);
export const vsub = simd(0xe5);
export const vmul = simd(0xe6);
export const vdiv = simd(0xe7);
export const fadd = [0x92];
export const fmul = [0x94];
export const fne = [0x5c];
export const fgt = [0x5e];
export const i32add = [0x6a];
export const i32mul = [0x6c];
export const i32and = [0x71];
export const i32shl = [0x74];
export const i32geu = [0x4f];
export const block = [0x02, 0x40];
export const loop = [0x03, 0x40];
export const ifThen = [0x04, 0x40];
export const end = [0x0b];
export const br = (depth: number): number[] => [0x0c, ...uleb(depth)];
export const brIf = (depth: number): number[] => [0x0d, ...uleb(depth)];

export interface WasmFunction {
  name: string;
  params: number[];
  /** local declarations as [count, type] runs, after the parameters */
  locals: [number, number][];
  body: number[];
}

/**
 * A module importing env.memory and exporting the given functions (no results). With `sharedMaxPages` the imported
 * memory is a shared one of at most that many 64 KiB pages, which worker threads can bind their own instances to.
 */
export function assembleModule(functions: WasmFunction[], options: { sharedMaxPages?: number } = {}): Uint8Array<ArrayBuffer> {
  const memoryLimits = options.sharedMaxPages ? [0x03, 0x01, ...uleb(options.sharedMaxPages)] : [0x00, 0x01];
  const types = functions.map((f) => [0x60, ...uleb(f.params.length), ...f.params, 0x00]);
  const bodies = functions.map((f) => {
    const code = [...vec(f.locals.map(([n, t]) => [...uleb(n), t])), ...f.body, ...end];
    return [...uleb(code.length), ...code];
  });
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, vec(types)),
    ...section(2, [0x01, ...name('env'), ...name('memory'), 0x02, ...memoryLimits]),
    ...section(3, vec(functions.map((_f, k) => uleb(k)))),
    ...section(7, vec(functions.map((f, k) => [...name(f.name), 0x00, ...uleb(k)]))),
    ...section(10, vec(bodies)),
  ]);
}
