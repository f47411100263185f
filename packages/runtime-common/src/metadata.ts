/**
 * Reads ModelProto.metadata_props (field 14) from an ONNX file with a minimal protobuf wire parser, skipping the graph
 * (and its weights) without decoding it. onnxruntime's JS API does not expose custom metadata.
 */
export class NotOnnxError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NotOnnxError';
  }
}

function varint(bytes: Uint8Array, pos: number): [number, number] {
  let result = 0;
  let shift = 0;
  for (;;) {
    if (pos >= bytes.length) throw new NotOnnxError('truncated protobuf varint');
    const b = bytes[pos++];
    result += (b & 0x7f) * 2 ** shift;
    if ((b & 0x80) === 0) return [result, pos];
    shift += 7;
    if (shift > 63) throw new NotOnnxError('malformed protobuf varint');
  }
}

function skip(bytes: Uint8Array, pos: number, wire: number): number {
  switch (wire) {
    case 0: return varint(bytes, pos)[1];
    case 1: return pos + 8;
    case 2: { const [len, p] = varint(bytes, pos); return p + len; }
    case 5: return pos + 4;
    default: throw new NotOnnxError(`unsupported protobuf wire type ${wire}`);
  }
}

/** metadata_props as a plain object; throws NotOnnxError when the bytes are not a protobuf ModelProto. */
export function readMetadataProps(bytes: Uint8Array): { metadata: Record<string, string>; irVersion: number | null; hasGraph: boolean } {
  const metadata: Record<string, string> = {};
  let irVersion: number | null = null;
  let hasGraph = false;
  let pos = 0;
  const decoder = new TextDecoder();
  while (pos < bytes.length) {
    const [tag, p] = varint(bytes, pos);
    const field = Math.floor(tag / 8);
    const wire = tag & 7;
    if (field === 0) throw new NotOnnxError('invalid protobuf field 0');
    if (field === 1 && wire === 0) {
      [irVersion, pos] = varint(bytes, p);
      continue;
    }
    if (field === 7 && wire === 2) hasGraph = true;
    if (field === 14 && wire === 2) {
      const [len, start] = varint(bytes, p);
      const end = start + len;
      let q = start;
      let key = '';
      let value = '';
      while (q < end) {
        const [t, q1] = varint(bytes, q);
        const [l, q2] = varint(bytes, q1);
        const text = decoder.decode(bytes.subarray(q2, q2 + l));
        if (t >>> 3 === 1) key = text;
        else if (t >>> 3 === 2) value = text;
        q = q2 + l;
      }
      metadata[key] = value;
      pos = end;
      continue;
    }
    pos = skip(bytes, p, wire);
    if (pos > bytes.length) throw new NotOnnxError('truncated protobuf field');
  }
  return { metadata, irVersion, hasGraph };
}

/** Fields of one protobuf message, in order: the wire type and the value (a number, or the bytes of a length field). */
function* fields(bytes: Uint8Array, start: number, end: number): Generator<{ field: number; wire: number; value: number; from: number; to: number }> {
  let pos = start;
  while (pos < end) {
    const [tag, p] = varint(bytes, pos);
    const field = Math.floor(tag / 8);
    const wire = tag & 7;
    if (wire === 2) {
      const [len, from] = varint(bytes, p);
      if (from + len > end) throw new NotOnnxError('truncated protobuf field');
      yield { field, wire, value: len, from, to: from + len };
      pos = from + len;
    } else if (wire === 0) {
      const [value, next] = varint(bytes, p);
      yield { field, wire, value, from: p, to: next };
      pos = next;
    } else {
      pos = skip(bytes, p, wire);
      if (pos > end) throw new NotOnnxError('truncated protobuf field');
    }
  }
}

const FLOAT = 1;

/** A float32 initializer of the graph holding NaN or ±Infinity: its name, how many, and the first. */
export interface NonFiniteWeights {
  tensor: string;
  count: number;
  first: number;
  index: number;
}

/**
 * The first float32 weight (a GraphProto.initializer of rank ≥ 1, its raw_data or float_data) that holds a NaN or an
 * infinity, or null: such weights load and run in onnxruntime, and then every score they touch is NaN.
 */
export function findNonFiniteWeights(bytes: Uint8Array): NonFiniteWeights | null {
  for (const m of fields(bytes, 0, bytes.length)) {
    if (m.field !== 7 || m.wire !== 2) continue;
    for (const g of fields(bytes, m.from, m.to)) {
      if (g.field !== 5 || g.wire !== 2) continue;
      let name = '';
      let type = 0;
      let rank = 0;
      const data: Uint8Array[] = [];
      for (const t of fields(bytes, g.from, g.to)) {
        if (t.field === 8 && t.wire === 2) name = new TextDecoder().decode(bytes.subarray(t.from, t.to));
        else if (t.field === 2 && t.wire === 0) type = t.value;
        else if (t.field === 1) rank++;
        else if ((t.field === 9 || t.field === 4) && t.wire === 2) data.push(bytes.subarray(t.from, t.to));
      }
      // a scalar is a constant of the graph (the -Infinity that masks excluded items), not a learned weight
      if (type !== FLOAT || rank === 0) continue;
      let count = 0;
      let first = 0;
      let index = -1;
      let offset = 0;
      for (const d of data) {
        const view = new DataView(d.buffer, d.byteOffset, d.byteLength - (d.byteLength % 4));
        for (let i = 0; i < view.byteLength; i += 4) {
          const x = view.getFloat32(i, true);
          if (!Number.isFinite(x)) {
            if (index < 0) { index = offset + i / 4; first = x; }
            count++;
          }
        }
        offset += view.byteLength / 4;
      }
      if (count > 0) return { tensor: name, count, first, index };
    }
  }
  return null;
}
