/**
 * safetensors (https://github.com/huggingface/safetensors format): u64 little-endian header length, a JSON
 * header { name: { dtype, shape, data_offsets: [begin, end] }, "__metadata__": { string: string } }, then the
 * raw little-endian data. Readable by Python's safetensors, so teachers can move between tools.
 */
import { InputError } from './errors.js';

export type SafeDtype = 'F32' | 'I32';

export interface SafeTensor {
  dtype: SafeDtype;
  shape: number[];
  data: Float32Array | Int32Array;
}

const BYTES: Record<SafeDtype, number> = { F32: 4, I32: 4 };

export function encodeSafetensors(tensors: Record<string, SafeTensor>, metadata: Record<string, string> = {}): Uint8Array {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  let offset = 0;
  const names = Object.keys(tensors).sort();
  for (const name of names) {
    const t = tensors[name];
    const count = t.shape.reduce((a, c) => a * c, 1);
    if (count !== t.data.length) throw new Error(`tensor ${name}: shape [${t.shape}] holds ${count} values, data has ${t.data.length}`);
    const bytes = t.data.length * BYTES[t.dtype];
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = JSON.stringify(header);
  // pad so the data starts 8-byte aligned
  while ((8 + Buffer.byteLength(json)) % 8 !== 0) json += ' ';
  const headerBytes = Buffer.from(json, 'utf8');
  const out = new Uint8Array(8 + headerBytes.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  let pos = 8 + headerBytes.length;
  for (const name of names) {
    const d = tensors[name].data;
    out.set(new Uint8Array(d.buffer, d.byteOffset, d.byteLength), pos);
    pos += d.byteLength;
  }
  return out;
}

export function decodeSafetensors(bytes: Uint8Array, file = 'safetensors'): { tensors: Record<string, SafeTensor>; metadata: Record<string, string> } {
  const where = { file };
  if (bytes.byteLength < 8) throw new InputError(`not a safetensors file: ${bytes.byteLength} bytes is shorter than the 8-byte header length (truncated?)`, where);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = Number(view.getBigUint64(0, true));
  if (headerLength > bytes.byteLength - 8 || headerLength > 100_000_000) {
    throw new InputError(`safetensors header says ${headerLength} bytes but the file has ${bytes.byteLength - 8} after the length (truncated or not safetensors)`, where);
  }
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(Buffer.from(bytes.subarray(8, 8 + headerLength)).toString('utf8')) as Record<string, unknown>;
  } catch {
    throw new InputError('safetensors header is not valid JSON (corrupt file?)', where);
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header)) throw new InputError('safetensors header is not a JSON object (corrupt file?)', where);
  const dataStart = 8 + headerLength;
  const dataLength = bytes.byteLength - dataStart;
  const tensors: Record<string, SafeTensor> = {};
  let metadata: Record<string, string> = {};
  let covered = 0;
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') {
      if (entry === null || typeof entry !== 'object' || Array.isArray(entry) || Object.values(entry).some((v) => typeof v !== 'string')) {
        throw new InputError('safetensors __metadata__ must map names to strings (corrupt file?)', where);
      }
      metadata = entry as Record<string, string>;
      continue;
    }
    if (entry === null || typeof entry !== 'object') throw new InputError(`tensor "${name}" has no dtype, shape and data_offsets (corrupt file?)`, where);
    const e = entry as { dtype?: string; shape?: unknown[]; data_offsets?: unknown[] };
    if (e.dtype !== 'F32' && e.dtype !== 'I32') throw new InputError(`tensor "${name}" has dtype ${e.dtype}; derrd reads F32 and I32`, where);
    const isCount = (x: unknown) => Number.isSafeInteger(x) && (x as number) >= 0;
    if (!Array.isArray(e.shape) || !Array.isArray(e.data_offsets) || !e.shape.every(isCount) || e.data_offsets.length !== 2 || !e.data_offsets.every(isCount)) {
      throw new InputError(`tensor "${name}" lacks a shape or data_offsets of non-negative integers`, where);
    }
    const [begin, end] = e.data_offsets as [number, number];
    const count = (e.shape as number[]).reduce((a, c) => a * c, 1);
    if (end - begin !== count * BYTES[e.dtype]) throw new InputError(`tensor "${name}": shape [${e.shape}] does not match its ${end - begin} bytes`, where);
    if (begin < 0 || end > dataLength) throw new InputError(`tensor "${name}" ends at byte ${end} but the data section has ${dataLength} (truncated file)`, where);
    covered += end - begin;
    // copy: keeps alignment and frees the file buffer
    const raw = bytes.slice(dataStart + begin, dataStart + end);
    const data = e.dtype === 'F32' ? new Float32Array(raw.buffer, raw.byteOffset, count) : new Int32Array(raw.buffer, raw.byteOffset, count);
    tensors[name] = { dtype: e.dtype, shape: e.shape as number[], data };
  }
  if (covered !== dataLength) throw new InputError(`data section has ${dataLength} bytes but the tensors cover ${covered} (corrupt file)`, where);
  return { tensors, metadata };
}
