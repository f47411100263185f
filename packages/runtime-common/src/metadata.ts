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
