/**
 * A Triton Inference Server model repository entry for a derrd model, for serving on Triton (or KServe, whose
 * Triton runtime reads the same layout) when one machine is not enough:
 *   <repository>/<name>/config.pbtxt        onnxruntime backend, dynamic batching (queue delay 0)
 *   <repository>/<name>/1/model.onnx        the model with k fixed (Triton batches every input, so k cannot be one)
 *   <repository>/<name>/1/model.ids.json    raw-id maps: Triton answers in dense ids, clients map them
 * The config is built as an object with the field names of Triton's model_config.proto and printed in protobuf text
 * format. Triton itself does not run here: the layout and field names follow its documentation and .proto.
 */
import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { InputError, sha256, writeDirAtomic } from '@derrd/core';
import { buildModel, idMapsJson, loadChecked } from './export.js';

/** An enum value in text format (printed bare, not quoted). */
export class PbEnum {
  constructor(readonly name: string) {}
}

export type PbValue = string | number | boolean | PbEnum | PbMessage | PbValue[];
export interface PbMessage {
  [field: string]: PbValue;
}

const escape = (s: string) => s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');

function scalar(v: string | number | boolean | PbEnum): string {
  if (v instanceof PbEnum) return v.name;
  if (typeof v === 'string') return `"${escape(v)}"`;
  return String(v);
}

/** A message in protobuf text format; repeated fields as `field [ ... ]`. */
export function toTextFormat(message: PbMessage, indent = ''): string {
  const lines: string[] = [];
  const inner = `${indent}  `;
  for (const [field, value] of Object.entries(message)) {
    if (Array.isArray(value)) {
      if (value.length > 0 && typeof value[0] === 'object' && !(value[0] instanceof PbEnum)) {
        const items = (value as PbMessage[]).map((m) => `${inner}{\n${toTextFormat(m, `${inner}  `)}\n${inner}}`);
        lines.push(`${indent}${field} [\n${items.join(',\n')}\n${indent}]`);
      } else {
        const items = (value as (string | number | boolean | PbEnum)[]).map(scalar).join(', ');
        lines.push(`${indent}${field}: [ ${items}${items ? ' ' : ''}]`);
      }
    } else if (typeof value === 'object' && !(value instanceof PbEnum)) {
      const body = toTextFormat(value, inner);
      lines.push(body ? `${indent}${field} {\n${body}\n${indent}}` : `${indent}${field} { }`);
    } else {
      lines.push(`${indent}${field}: ${scalar(value)}`);
    }
  }
  return lines.join('\n');
}

export interface TritonConfigOptions {
  name: string;
  k: number;
  maxBatch: number;
  instances: number;
  /** Triton's max_queue_delay_microseconds: 0 runs a batch as soon as an instance is free */
  maxQueueDelayUs: number;
}

/** The ModelConfig (Triton's model_config.proto) of a derrd model with k fixed. */
export function tritonConfig(o: TritonConfigOptions): PbMessage {
  return {
    name: o.name,
    backend: 'onnxruntime',
    max_batch_size: o.maxBatch,
    input: [
      // Triton adds the batch dimension: [B, 1] reshaped to the model's user_ids [B]
      { name: 'user_ids', data_type: new PbEnum('TYPE_INT64'), dims: [1], reshape: { shape: [] } },
      // [B, E] item ids to exclude, padded with -1
      { name: 'exclude', data_type: new PbEnum('TYPE_INT64'), dims: [-1] },
    ],
    output: [
      { name: 'items', data_type: new PbEnum('TYPE_INT64'), dims: [o.k] },
      { name: 'scores', data_type: new PbEnum('TYPE_FP32'), dims: [o.k] },
    ],
    dynamic_batching: { max_queue_delay_microseconds: o.maxQueueDelayUs },
    instance_group: [{ count: o.instances, kind: new PbEnum('KIND_CPU') }],
  };
}

export interface TritonExportOptions {
  checkpoint: string;
  /** the model repository directory (created if absent); the entry goes to <repository>/<name> */
  repository: string;
  /** model name in Triton (default: the checkpoint's name) */
  name?: string;
  k?: number;
  maxBatch?: number;
  instances?: number;
  opset?: number;
  int8?: boolean;
  data?: string;
  force?: boolean;
}

export interface TritonExportResult {
  dir: string;
  name: string;
  modelPath: string;
  configPath: string;
  idMapsPath: string;
  config: string;
  bytes: number;
  sha256: string;
  k: number;
}

const MODEL_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

export async function exportTriton(o: TritonExportOptions): Promise<TritonExportResult> {
  const k = o.k ?? 10;
  const maxBatch = o.maxBatch ?? 64;
  const instances = o.instances ?? 1;
  for (const [flag, v] of [['--triton-max-batch', maxBatch], ['--triton-instances', instances]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new InputError(`${flag} must be a positive integer, got ${v}`);
  }
  const built = buildModel({ checkpoint: o.checkpoint, opset: o.opset, int8: o.int8, data: o.data, fixedK: k, idMapsName: 'model.ids.json' });
  const name = o.name ?? built.card.name;
  if (!MODEL_NAME.test(name)) throw new InputError(`"${name}" is not a usable Triton model name (letters, digits, _ . -; pass --triton-name)`);
  const dir = join(o.repository, name);
  if (existsSync(dir) && !o.force) throw new InputError('the model repository already has this model (use --force to replace it)', { file: dir });
  const config = `# Triton Inference Server model configuration written by derrd export (${built.card.model.kind} d=${built.card.model.dim}, top ${k}).\n` +
    '# Inputs in dense ids: map raw ids with 1/model.ids.json. Serve with: tritonserver --model-repository=<repository>\n' +
    toTextFormat(tritonConfig({ name, k, maxBatch, instances, maxQueueDelayUs: 0 })) + '\n';
  const tmp = await loadChecked(built.bytes, o.repository, `${name}.onnx`, k);
  try {
    writeDirAtomic(dir, Boolean(o.force), (into) => {
      writeFileSync(join(into, 'config.pbtxt'), config);
      const version = join(into, '1');
      mkdirSync(version);
      renameSync(tmp, join(version, 'model.onnx'));
      writeFileSync(join(version, 'model.ids.json'), idMapsJson(built.ds));
    });
  } finally {
    rmSync(tmp, { force: true });
  }
  return {
    dir, name, modelPath: join(dir, '1', 'model.onnx'), configPath: join(dir, 'config.pbtxt'), idMapsPath: join(dir, '1', 'model.ids.json'),
    config, bytes: built.bytes.byteLength, sha256: sha256(built.bytes), k,
  };
}
