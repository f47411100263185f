/**
 * Kernels we register on the wasm and cpu backends:
 * - UnsortedSegmentSum: missing on wasm (it is the gradient of gather, so every embedding model needs it), and the
 *   cpu backend's stock kernel loops over every segment (O(rows × segments)); both get a scatter-add.
 * - GatherV2 (axis 0, float32/int32): a row copy, several times faster than the stock kernels.
 * - DerrdAdam: one fused pass of Adam with coupled L2 over a parameter, instead of ~10 full-size tensor ops.
 * Each reads and writes the backend's own memory (the wasm heap, or the cpu backend's typed arrays).
 */
import { tf } from './tf.js';
import { adamSimd } from './wasm/adam-simd.js';

type TensorInfo = tf.TensorInfo;
type TypedArray = Float32Array | Int32Array;

interface HeapAccess {
  view(t: TensorInfo): TypedArray;
  output(shape: number[], dtype: 'float32' | 'int32'): TensorInfo;
}

/** Uniform access to tensor memory on the wasm and cpu backends. */
function heap(backendName: string, backend: unknown): HeapAccess {
  if (backendName === 'wasm') {
    const b = backend as { makeOutput(shape: number[], dtype: string): TensorInfo; typedArrayFromHeap(t: TensorInfo): TypedArray };
    return { view: (t) => b.typedArrayFromHeap(t), output: (shape, dtype) => b.makeOutput(shape, dtype) };
  }
  const b = backend as { data: { get(id: unknown): { values: TypedArray } }; makeTensorInfo(shape: number[], dtype: string, values: TypedArray): TensorInfo };
  return {
    view: (t) => b.data.get(t.dataId).values,
    output: (shape, dtype) => {
      const size = shape.reduce((a, c) => a * c, 1);
      return b.makeTensorInfo(shape, dtype, dtype === 'int32' ? new Int32Array(size) : new Float32Array(size));
    },
  };
}

export function scatterAddRows(values: TypedArray, ids: TypedArray, inner: number, out: TypedArray): void {
  out.fill(0);
  for (let r = 0; r < ids.length; r++) {
    const o = ids[r] * inner;
    const x = r * inner;
    for (let k = 0; k < inner; k++) out[o + k] += values[x + k];
  }
}

export interface AdamAttrs {
  lr: number;
  beta1: number;
  beta2: number;
  epsilon: number;
  weightDecay: number;
  /** 1-based step count for bias correction */
  step: number;
}

/**
 * out row r = x row ids[r]. Short rows are copied element by element: a subarray per row (an object for the
 * collector) cost more than the copy for embedding rows of 20-25 floats.
 */
export function copyRows(x: TypedArray, ids: TypedArray, rows: number, inner: number, out: TypedArray): void {
  for (let r = 0; r < ids.length; r++) {
    const idx = ids[r];
    if (!(idx >= 0 && idx < rows)) throw new Error(`gather index ${idx} outside [0, ${rows})`);
    const from = idx * inner;
    const to = r * inner;
    if (inner <= 64) for (let k = 0; k < inner; k++) out[to + k] = x[from + k];
    else out.set(x.subarray(from, from + inner), to);
  }
}

/** PyTorch's Adam with coupled L2 (`weight_decay`): g ← g + wd·p, then the standard bias-corrected update. */
export function adamUpdate(p: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array, pOut: Float32Array, mOut: Float32Array, vOut: Float32Array, a: AdamAttrs): void {
  const { lr, beta1, beta2, epsilon, weightDecay } = a;
  const bc1 = 1 - Math.pow(beta1, a.step);
  const bc2 = 1 - Math.pow(beta2, a.step);
  const stepSize = lr / bc1;
  const sqrtBc2 = Math.sqrt(bc2);
  const ob1 = 1 - beta1;
  const ob2 = 1 - beta2;
  for (let k = 0; k < p.length; k++) {
    const pk = p[k];
    const gk = g[k] + weightDecay * pk;
    const mk = beta1 * m[k] + ob1 * gk;
    const vk = beta2 * v[k] + ob2 * gk * gk;
    mOut[k] = mk;
    vOut[k] = vk;
    pOut[k] = pk - (stepSize * mk) / (Math.sqrt(vk) / sqrtBc2 + epsilon);
  }
}

/** The SIMD Adam bound to the wasm backend's memory, with the byte offset of a tensor in it. */
function wasmSimdAdam(backend: unknown): { fn: NonNullable<ReturnType<typeof adamSimd>>; offsetOf(t: TensorInfo): number } | null {
  const b = backend as { wasm?: { asm?: { memory?: WebAssembly.Memory } }; dataIdMap?: { get(id: unknown): { memoryOffset: number } } };
  const memory = b.wasm?.asm?.memory;
  if (!memory || !b.dataIdMap) return null;
  const fn = adamSimd(memory);
  if (!fn) return null;
  const map = b.dataIdMap;
  return { fn, offsetOf: (t) => map.get(t.dataId).memoryOffset };
}

const registered = new Set<string>();

export function registerKernels(backendName: 'wasm' | 'cpu'): void {
  if (registered.has(backendName)) return;
  registered.add(backendName);

  const replace = (config: tf.KernelConfig) => {
    if (tf.getKernel(config.kernelName, backendName)) tf.unregisterKernel(config.kernelName, backendName);
    tf.registerKernel(config);
  };

  replace({
    kernelName: 'UnsortedSegmentSum',
    backendName,
    kernelFunc: ({ inputs, backend, attrs }) => {
      const { x, segmentIds } = inputs as { x: TensorInfo; segmentIds: TensorInfo };
      const numSegments = (attrs as { numSegments: number }).numSegments;
      const inner = x.shape.slice(1).reduce((a, c) => a * c, 1);
      const h = heap(backendName, backend);
      const out = h.output([numSegments, ...x.shape.slice(1)], x.dtype as 'float32' | 'int32');
      // views after allocating the output: a heap growth detaches older views
      scatterAddRows(h.view(x), h.view(segmentIds), inner, h.view(out));
      return out;
    },
  });

  const stockGather = tf.getKernel('GatherV2', backendName);
  if (stockGather) {
    const stockFunc = stockGather.kernelFunc;
    replace({
      kernelName: 'GatherV2',
      backendName,
      // the stock wasm kernel binds its wasm function in setupFunc: keep it for the fallback path
      setupFunc: stockGather.setupFunc,
      disposeFunc: stockGather.disposeFunc,
      kernelFunc: (args) => {
        const { inputs, backend, attrs } = args;
        const { x, indices } = inputs as { x: TensorInfo; indices: TensorInfo };
        const { axis, batchDims } = attrs as { axis: number; batchDims: number };
        const rowAxis = axis < 0 ? axis + x.shape.length : axis;
        if (rowAxis !== 0 || (batchDims ?? 0) !== 0 || (x.dtype !== 'float32' && x.dtype !== 'int32') || x.shape.length < 1) {
          return stockFunc(args);
        }
        const inner = x.shape.slice(1).reduce((a, c) => a * c, 1);
        const rows = x.shape[0];
        const h = heap(backendName, backend);
        const out = h.output([...indices.shape, ...x.shape.slice(1)], x.dtype);
        const xv = h.view(x);
        const iv = h.view(indices);
        const ov = h.view(out);
        copyRows(xv, iv, rows, inner, ov);
        return out;
      },
    });
  }

  // axis-0 Split/Unpack/Slice of a contiguous tensor are chunk copies; the stock wasm kernels copy element by element
  // (SplitV of a [30, 2600, 110] tensor: ~400 ms). Any other case goes to the stock kernel.
  const chunkKernel = (kernelName: string, plan: (x: TensorInfo, attrs: Record<string, unknown>) => { starts: number[]; shapes: number[][] } | null, single: boolean) => {
    const stock = tf.getKernel(kernelName, backendName);
    if (!stock) return;
    const stockFunc = stock.kernelFunc;
    replace({
      kernelName,
      backendName,
      setupFunc: stock.setupFunc,
      disposeFunc: stock.disposeFunc,
      kernelFunc: (args) => {
        const x = (args.inputs as { x: TensorInfo }).x;
        const p = x.dtype === 'float32' || x.dtype === 'int32' ? plan(x, args.attrs as Record<string, unknown>) : null;
        if (!p) return stockFunc(args);
        const h = heap(backendName, args.backend);
        const outs = p.shapes.map((shape) => h.output(shape, x.dtype as 'float32' | 'int32'));
        const xv = h.view(x);
        outs.forEach((o, k) => {
          const ov = h.view(o);
          ov.set(xv.subarray(p.starts[k], p.starts[k] + ov.length));
        });
        return single ? outs[0] : outs;
      },
    });
  };
  const rowSize = (x: TensorInfo) => x.shape.slice(1).reduce((a, c) => a * c, 1);
  chunkKernel('SplitV', (x, attrs) => {
    const axis = attrs.axis as number;
    if ((axis < 0 ? axis + x.shape.length : axis) !== 0) return null;
    const spec = attrs.numOrSizeSplits as number | number[];
    const sizes = typeof spec === 'number' ? new Array(spec).fill(x.shape[0] / spec) : spec.map((v) => (v === -1 ? x.shape[0] - spec.filter((s) => s !== -1).reduce((a, c) => a + c, 0) : v));
    if (sizes.some((v) => !Number.isInteger(v))) return null;
    const inner = rowSize(x);
    let row = 0;
    const starts: number[] = [];
    const shapes: number[][] = [];
    for (const v of sizes) {
      starts.push(row * inner);
      shapes.push([v, ...x.shape.slice(1)]);
      row += v;
    }
    return { starts, shapes };
  }, false);
  chunkKernel('Unpack', (x, attrs) => {
    const axis = attrs.axis as number;
    if ((axis < 0 ? axis + x.shape.length : axis) !== 0 || x.shape.length < 2) return null;
    const inner = rowSize(x);
    return { starts: Array.from({ length: x.shape[0] }, (_v, k) => k * inner), shapes: Array.from({ length: x.shape[0] }, () => x.shape.slice(1)) };
  }, false);
  chunkKernel('Slice', (x, attrs) => {
    const begin = attrs.begin as number[];
    const size = attrs.size as number[];
    if (x.shape.length < 1 || begin.length !== x.shape.length) return null;
    for (let d = 1; d < x.shape.length; d++) {
      if (begin[d] !== 0 || (size[d] !== -1 && size[d] !== x.shape[d])) return null;
    }
    const rows = size[0] === -1 ? x.shape[0] - begin[0] : size[0];
    return { starts: [begin[0] * rowSize(x)], shapes: [[rows, ...x.shape.slice(1)]] };
  }, true);

  replace({
    kernelName: 'DerrdAdam',
    backendName,
    kernelFunc: ({ inputs, backend, attrs }) => {
      const { param, grad, m, v } = inputs as Record<'param' | 'grad' | 'm' | 'v', TensorInfo>;
      const h = heap(backendName, backend);
      const pOut = h.output(param.shape, 'float32');
      const mOut = h.output(param.shape, 'float32');
      const vOut = h.output(param.shape, 'float32');
      const a = attrs as unknown as AdamAttrs;
      const simd = backendName === 'wasm' ? wasmSimdAdam(backend) : null;
      if (simd) {
        const n = param.shape.reduce((x, c) => x * c, 1);
        const vec = n - (n % 4);
        const bc1 = 1 - Math.pow(a.beta1, a.step);
        const bc2 = 1 - Math.pow(a.beta2, a.step);
        const ptr = (t: TensorInfo) => simd.offsetOf(t);
        simd.fn(ptr(param), ptr(grad), ptr(m), ptr(v), ptr(pOut), ptr(mOut), ptr(vOut), vec,
          a.lr / bc1, 1 / Math.sqrt(bc2), a.epsilon, a.beta1, 1 - a.beta1, a.beta2, 1 - a.beta2, a.weightDecay);
        if (vec < n) {
          const tail = (t: TensorInfo) => (h.view(t) as Float32Array).subarray(vec);
          adamUpdate(tail(param), tail(grad), tail(m), tail(v), tail(pOut), tail(mOut), tail(vOut), a);
        }
        return [pOut, mOut, vOut];
      }
      adamUpdate(
        h.view(param) as Float32Array, h.view(grad) as Float32Array, h.view(m) as Float32Array, h.view(v) as Float32Array,
        h.view(pOut) as Float32Array, h.view(mOut) as Float32Array, h.view(vOut) as Float32Array, attrs as unknown as AdamAttrs,
      );
      return [pOut, mOut, vOut];
    },
  });
}
