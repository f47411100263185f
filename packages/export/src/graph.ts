/**
 * A small ONNX graph builder with an op table keyed by opset, in the spirit of tf2onnx's handlers: each op lists
 * the opset versions it is defined for and how to emit and type it there, so supporting a new opset or a new model
 * is a small addition. Every node's output types are inferred when it is added, and `checkModel` re-checks the
 * finished graph (inputs produced before use, unique names, topological order, declared opset, consistent types).
 */
import { AttrType, ELEM_CODE, type ElemType } from './proto.js';

export const MIN_OPSET = 11;
export const MAX_OPSET = 21;
export const DEFAULT_OPSET = 17;

/** ONNX IR version that goes with each opset (onnx/helper.py VERSION_TABLE). */
const IR_FOR_OPSET: Record<number, number> = { 11: 6, 12: 7, 13: 7, 14: 7, 15: 8, 16: 8, 17: 8, 18: 8, 19: 9, 20: 9, 21: 10 };

export class ExportError extends Error {
  readonly derrdUserError = true;
  constructor(message: string) {
    super(message);
    this.name = 'ExportError';
  }
}

export type Dim = number | string;
export interface ValueType {
  elem: ElemType;
  shape: Dim[];
}

type Attr = number | number[] | string | { float: number };
type Attrs = Record<string, Attr>;

interface OpContext {
  opset: number;
  types: ValueType[];
  attrs: Attrs;
  /** int64 constant values of inputs that are initializers */
  constants: (number[] | undefined)[];
}

interface OpVersion {
  /** first opset of this definition (it holds until the next entry's `since`) */
  since: number;
  infer(ctx: OpContext): ValueType[];
}

const FLOATS: ElemType[] = ['float32'];
const INDICES: ElemType[] = ['int64', 'int32'];

function expect(op: string, ctx: OpContext, k: number, allowed: ElemType[]): ValueType {
  const t = ctx.types[k];
  if (!t) throw new ExportError(`${op}: missing input ${k}`);
  if (!allowed.includes(t.elem)) throw new ExportError(`${op}: input ${k} is ${t.elem}, expected ${allowed.join('|')}`);
  return t;
}

function broadcast(op: string, a: Dim[], b: Dim[]): Dim[] {
  const rank = Math.max(a.length, b.length);
  const out: Dim[] = [];
  for (let k = 0; k < rank; k++) {
    const x = a[a.length - rank + k] ?? 1;
    const y = b[b.length - rank + k] ?? 1;
    if (x === 1) out.push(y);
    else if (y === 1 || x === y) out.push(x);
    else if (typeof x === 'string' || typeof y === 'string') out.push(typeof x === 'string' ? y : x);
    else throw new ExportError(`${op}: shapes [${a}] and [${b}] do not broadcast`);
  }
  return out;
}

const sameElem = (op: string, ctx: OpContext, n: number): ElemType => {
  const e = ctx.types[0].elem;
  for (let k = 1; k < n; k++) if (ctx.types[k].elem !== e) throw new ExportError(`${op}: input ${k} is ${ctx.types[k].elem} but input 0 is ${e}`);
  return e;
};

/** The op table: the ops derrd's models use, per opset. */
export const OPS: Record<string, OpVersion[]> = {
  Gather: [{ since: 11, infer: (c) => {
    const data = c.types[0];
    const idx = expect('Gather', c, 1, INDICES);
    if ((c.attrs.axis ?? 0) !== 0) throw new ExportError('Gather: only axis 0 is used');
    return [{ elem: data.elem, shape: [...idx.shape, ...data.shape.slice(1)] }];
  } }],
  MatMul: [{ since: 11, infer: (c) => {
    const a = expect('MatMul', c, 0, FLOATS), b = expect('MatMul', c, 1, FLOATS);
    const ka = a.shape[a.shape.length - 1], kb = b.shape[b.shape.length - 2];
    if (typeof ka === 'number' && typeof kb === 'number' && ka !== kb) throw new ExportError(`MatMul: inner dims ${ka} and ${kb} differ`);
    const batch = broadcast('MatMul', a.shape.slice(0, -2), b.shape.slice(0, -2));
    return [{ elem: 'float32', shape: [...batch, a.shape[a.shape.length - 2], b.shape[b.shape.length - 1]] }];
  } }],
  Add: [{ since: 11, infer: (c) => [{ elem: sameElem('Add', c, 2), shape: broadcast('Add', c.types[0].shape, c.types[1].shape) }] }],
  Mul: [{ since: 11, infer: (c) => [{ elem: sameElem('Mul', c, 2), shape: broadcast('Mul', c.types[0].shape, c.types[1].shape) }] }],
  Relu: [{ since: 11, infer: (c) => [{ ...expect('Relu', c, 0, FLOATS) }] }],
  Less: [{ since: 11, infer: (c) => { sameElem('Less', c, 2); return [{ elem: 'bool', shape: broadcast('Less', c.types[0].shape, c.types[1].shape) }]; } }],
  Where: [{ since: 11, infer: (c) => {
    expect('Where', c, 0, ['bool']);
    if (c.types[1].elem !== c.types[2].elem) throw new ExportError('Where: branches differ in type');
    return [{ elem: c.types[1].elem, shape: broadcast('Where', broadcast('Where', c.types[0].shape, c.types[1].shape), c.types[2].shape) }];
  } }],
  Cast: [{ since: 11, infer: (c) => {
    const to = c.attrs.to as number;
    const elem = (Object.entries(ELEM_CODE).find(([, code]) => code === to)?.[0] ?? null) as ElemType | null;
    if (!elem) throw new ExportError(`Cast: unsupported target type ${to}`);
    return [{ elem, shape: c.types[0].shape }];
  } }],
  Shape: [{ since: 11, infer: (c) => [{ elem: 'int64', shape: [c.types[0].shape.length] }] }],
  Expand: [{ since: 11, infer: (c) => {
    expect('Expand', c, 1, ['int64']);
    const target = c.attrs.__shapeHint as unknown as Dim[] | undefined;
    return [{ elem: c.types[0].elem, shape: target ?? c.types[0].shape }];
  } }],
  Unsqueeze: [
    { since: 11, infer: (c) => [{ elem: c.types[0].elem, shape: unsqueeze(c.types[0].shape, c.attrs.axes as number[]) }] },
    { since: 13, infer: (c) => {
      const axes = c.constants[1];
      if (!axes) throw new ExportError('Unsqueeze: axes must be a constant');
      return [{ elem: c.types[0].elem, shape: unsqueeze(c.types[0].shape, axes) }];
    } },
  ],
  Squeeze: [
    { since: 11, infer: (c) => [{ elem: c.types[0].elem, shape: squeeze(c.types[0].shape, c.attrs.axes as number[]) }] },
    { since: 13, infer: (c) => {
      const axes = c.constants[1];
      if (!axes) throw new ExportError('Squeeze: axes must be a constant');
      return [{ elem: c.types[0].elem, shape: squeeze(c.types[0].shape, axes) }];
    } },
  ],
  Pad: [{ since: 11, infer: (c) => {
    const pads = c.constants[1];
    if (!pads) throw new ExportError('Pad: pads must be a constant');
    const s = c.types[0].shape;
    return [{ elem: c.types[0].elem, shape: s.map((d, k) => (typeof d === 'number' ? d + pads[k] + pads[k + s.length] : d)) }];
  } }],
  ScatterElements: [
    { since: 11, infer: (c) => {
      expect('ScatterElements', c, 1, INDICES);
      if (c.types[2].elem !== c.types[0].elem) throw new ExportError('ScatterElements: updates differ in type from data');
      if (c.attrs.reduction !== undefined) throw new ExportError(`ScatterElements: reduction needs opset 16 (this is ${c.opset})`);
      return [{ ...c.types[0] }];
    } },
    { since: 16, infer: (c) => {
      expect('ScatterElements', c, 1, INDICES);
      if (c.types[2].elem !== c.types[0].elem) throw new ExportError('ScatterElements: updates differ in type from data');
      if (c.attrs.reduction !== undefined && !['none', 'add', 'mul'].includes(String(c.attrs.reduction))) throw new ExportError(`ScatterElements: reduction ${c.attrs.reduction} needs opset 18`);
      return [{ ...c.types[0] }];
    } },
  ],
  Slice: [{ since: 11, infer: (c) => {
    const [starts, ends, axes] = [c.constants[1], c.constants[2], c.constants[3]];
    if (!starts || !ends || !axes) throw new ExportError('Slice: starts, ends and axes must be constants');
    const shape = c.types[0].shape.slice();
    axes.forEach((axis, k) => {
      const d = shape[axis];
      shape[axis] = typeof d === 'number' ? Math.min(d, ends[k]) - starts[k] : ends[k] - starts[k];
    });
    return [{ elem: c.types[0].elem, shape }];
  } }],
  TopK: [{ since: 11, infer: (c) => {
    const x = expect('TopK', c, 0, FLOATS);
    expect('TopK', c, 1, ['int64']);
    // a constant k (a fixed top-N export) gives the outputs a fixed width
    const shape = [...x.shape.slice(0, -1), c.constants[1]?.[0] ?? 'k'];
    return [{ elem: 'float32', shape }, { elem: 'int64', shape }];
  } }],
};

function unsqueeze(shape: Dim[], axes: number[]): Dim[] {
  const out = shape.slice();
  for (const a of [...axes].sort((x, y) => x - y)) out.splice(a < 0 ? a + out.length + 1 : a, 0, 1);
  return out;
}

function squeeze(shape: Dim[], axes: number[]): Dim[] {
  const drop = new Set(axes.map((a) => (a < 0 ? a + shape.length : a)));
  for (const a of drop) if (shape[a] !== 1) throw new ExportError(`Squeeze: axis ${a} has size ${shape[a]}`);
  return shape.filter((_d, k) => !drop.has(k));
}

export function opVersion(op: string, opset: number): OpVersion {
  const versions = OPS[op];
  if (!versions) throw new ExportError(`op ${op} is not in the export op table`);
  const v = [...versions].reverse().find((x) => x.since <= opset);
  if (!v) throw new ExportError(`op ${op} has no definition at opset ${opset}`);
  return v;
}

type TensorData = Float32Array | Int8Array | BigInt64Array;

export interface Initializer {
  name: string;
  elem: ElemType;
  dims: number[];
  data: TensorData;
}

export class GraphBuilder {
  readonly opset: number;
  readonly nodes: { op: string; inputs: string[]; outputs: string[]; attrs: Attrs }[] = [];
  readonly initializers: Initializer[] = [];
  readonly inputs: { name: string; type: ValueType }[] = [];
  readonly outputs: string[] = [];
  readonly types = new Map<string, ValueType>();
  private readonly constants = new Map<string, number[]>();
  private counter = 0;

  constructor(opset: number) {
    if (!Number.isInteger(opset) || opset < MIN_OPSET || opset > MAX_OPSET) {
      throw new ExportError(`unsupported opset ${opset} (derrd exports opsets ${MIN_OPSET}–${MAX_OPSET}; default ${DEFAULT_OPSET})`);
    }
    this.opset = opset;
  }

  get irVersion(): number {
    return IR_FOR_OPSET[this.opset];
  }

  private claim(name: string): string {
    if (this.types.has(name)) throw new ExportError(`duplicate value name "${name}"`);
    return name;
  }

  input(name: string, elem: ElemType, shape: Dim[]): string {
    this.claim(name);
    const type = { elem, shape };
    this.inputs.push({ name, type });
    this.types.set(name, type);
    return name;
  }

  initializer(name: string, elem: ElemType, dims: number[], data: TensorData): string {
    this.claim(name);
    const size = dims.reduce((a, c) => a * c, 1);
    if (data.length !== size) throw new ExportError(`initializer ${name}: ${data.length} values for shape [${dims}]`);
    this.initializers.push({ name, elem, dims, data });
    this.types.set(name, { elem, shape: dims });
    if (data instanceof BigInt64Array && data.length <= 16) this.constants.set(name, Array.from(data, Number));
    return name;
  }

  int64(name: string, values: number[], dims: number[] = [values.length]): string {
    return this.initializer(name, 'int64', dims, BigInt64Array.from(values.map(BigInt)));
  }

  /** Adds a node; returns its output names (typed by the op table). */
  node(op: string, inputs: string[], attrs: Attrs = {}, outputNames?: string[]): string[] {
    const version = opVersion(op, this.opset);
    for (const name of inputs) if (name !== '' && !this.types.has(name)) throw new ExportError(`${op}: input "${name}" is not produced before this node`);
    const outTypes = version.infer({ opset: this.opset, types: inputs.map((n) => this.types.get(n)!), attrs, constants: inputs.map((n) => this.constants.get(n)) });
    const outputs = outputNames ?? outTypes.map(() => `${op.toLowerCase()}_${this.counter++}`);
    outputs.forEach((name, k) => {
      this.claim(name);
      this.types.set(name, outTypes[k]);
    });
    const { __shapeHint: _hint, ...realAttrs } = attrs as Attrs & { __shapeHint?: unknown };
    this.nodes.push({ op, inputs, outputs, attrs: realAttrs });
    return outputs;
  }

  /** Unsqueeze/Squeeze moved `axes` from an attribute to an input at opset 13. */
  axesOp(op: 'Unsqueeze' | 'Squeeze', x: string, axes: number[]): string {
    if (this.opset >= 13) return this.node(op, [x, this.int64(`${op.toLowerCase()}_axes_${this.counter++}`, axes)])[0];
    return this.node(op, [x], { axes })[0];
  }

  output(name: string): void {
    if (!this.types.has(name)) throw new ExportError(`graph output "${name}" is not produced`);
    this.outputs.push(name);
  }

  /** The ModelProto as a plain object for protobufjs. */
  toModel(meta: { producerVersion: string; docString: string; metadata: Record<string, string> }): Record<string, unknown> {
    const valueInfo = (name: string) => {
      const t = this.types.get(name)!;
      return {
        name,
        type: { tensor_type: { elem_type: ELEM_CODE[t.elem], shape: { dim: t.shape.map((d) => (typeof d === 'number' ? { dim_value: d } : { dim_param: d })) } } },
      };
    };
    const attribute = (name: string, value: Attr) => {
      if (typeof value === 'number') return { name, type: AttrType.INT, i: value };
      if (Array.isArray(value)) return { name, type: AttrType.INTS, ints: value };
      if (typeof value === 'string') return { name, type: AttrType.STRING, s: Buffer.from(value) };
      return { name, type: AttrType.FLOAT, f: value.float };
    };
    let totalBytes = 0;
    const initializer = this.initializers.map((i) => {
      const raw = new Uint8Array(i.data.buffer, i.data.byteOffset, i.data.byteLength);
      totalBytes += raw.byteLength;
      return { name: i.name, data_type: ELEM_CODE[i.elem], dims: i.dims, raw_data: raw };
    });
    if (totalBytes > 2 ** 31 - 2 ** 24) throw new ExportError(`weights total ${(totalBytes / 2 ** 30).toFixed(2)} GiB: over the 2 GB protobuf limit, which needs ONNX external data (not supported)`);
    return {
      ir_version: this.irVersion,
      producer_name: 'derrd',
      producer_version: meta.producerVersion,
      model_version: 1,
      doc_string: meta.docString,
      opset_import: [{ domain: '', version: this.opset }],
      metadata_props: Object.entries(meta.metadata).map(([key, value]) => ({ key, value })),
      graph: {
        name: 'derrd_recommender',
        node: this.nodes.map((n, k) => ({ name: `${n.op}_${k}`, op_type: n.op, input: n.inputs, output: n.outputs, attribute: Object.entries(n.attrs).map(([a, v]) => attribute(a, v)), domain: '' })),
        initializer,
        input: this.inputs.map((i) => valueInfo(i.name)),
        output: this.outputs.map(valueInfo),
        value_info: this.nodes.flatMap((n) => n.outputs).filter((o) => !this.outputs.includes(o)).map(valueInfo),
      },
    };
  }
}

interface ModelLike {
  ir_version?: number;
  opset_import?: { domain?: string; version?: number }[];
  graph?: {
    node?: { input?: string[]; output?: string[]; op_type?: string; name?: string }[];
    initializer?: { name?: string; data_type?: number; dims?: number[] }[];
    input?: { name?: string; type?: { tensor_type?: { elem_type?: number } } }[];
    output?: { name?: string; type?: { tensor_type?: { elem_type?: number } } }[];
    value_info?: { name?: string }[];
  };
}

/** Structural check of a finished model (independent of the builder). Returns the problems found (empty: ok). */
export function checkModel(model: ModelLike): string[] {
  const problems: string[] = [];
  const g = model.graph;
  if (!g) return ['model has no graph'];
  const defaultOpset = (model.opset_import ?? []).find((o) => !o.domain)?.version;
  if (!defaultOpset) problems.push('no default-domain opset declared');
  if (!model.ir_version) problems.push('no IR version');
  const defined = new Set<string>();
  const define = (name: string | undefined, what: string) => {
    if (!name) return problems.push(`${what} has an empty name`);
    if (defined.has(name)) problems.push(`name "${name}" is defined twice (${what})`);
    defined.add(name);
  };
  for (const i of g.input ?? []) {
    define(i.name, 'graph input');
    if (!i.type?.tensor_type?.elem_type) problems.push(`graph input "${i.name}" has no element type`);
  }
  for (const i of g.initializer ?? []) define(i.name, 'initializer');
  (g.node ?? []).forEach((n, k) => {
    if (defaultOpset && !opVersionSafe(n.op_type ?? '', defaultOpset)) problems.push(`node ${k} (${n.op_type}) is not defined at opset ${defaultOpset}`);
    for (const input of n.input ?? []) if (input !== '' && !defined.has(input)) problems.push(`node ${k} (${n.op_type}) uses "${input}" before it is produced (not topologically sorted, or missing)`);
    for (const output of n.output ?? []) define(output, `output of node ${k}`);
  });
  for (const o of g.output ?? []) {
    if (!o.name || !defined.has(o.name)) problems.push(`graph output "${o.name}" is never produced`);
    if (!o.type?.tensor_type?.elem_type) problems.push(`graph output "${o.name}" has no element type`);
  }
  return problems;
}

function opVersionSafe(op: string, opset: number): boolean {
  try {
    opVersion(op, opset);
    return true;
  } catch {
    return false;
  }
}
