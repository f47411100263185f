/**
 * An outside ONNX model used as a teacher: anything that scores (user, item) pairs, returns a user's scores over all
 * items, or is a derrd top-k model. It is run through onnxruntime-node in batches and answers one question: the
 * scores of every item for a block of users (in the model's own index space), which is all the ranking-based
 * distillers need.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import { RuntimeError } from './feeds.js';
import { readMetadataProps } from './metadata.js';

/** pairs: (user [N], item [N]) → score [N]; all-items: user [B] → scores [B, items]; topk: a derrd model (user_ids, k, exclude → items, scores) */
export const SCORING_SIGNATURES = ['pairs', 'all-items', 'topk'] as const;
export type ScoringSignature = (typeof SCORING_SIGNATURES)[number];

export interface ScoringModelOptions {
  /** default: detected from the model's inputs and outputs */
  signature?: ScoringSignature;
  /** input and output names when they are not detected: user, item (pairs), score */
  names?: { user?: string; item?: string; score?: string };
  /** intra-op threads (default 2) */
  threads?: number;
  /** at most this many (user, item) scores per run (default 2^20) */
  maxScoresPerRun?: number;
}

export interface ScoringModel {
  readonly path: string;
  readonly signature: ScoringSignature;
  /** the inputs and output used, e.g. {user: "uid", item: "iid", score: "score"} */
  readonly names: { user: string; item?: string; score: string };
  /** derrd metadata_props (derrd.num_users, derrd.id_maps, ...) when the model has them */
  readonly metadata: Record<string, string>;
  /** scores of items 0..numItems-1 for each user, [users.length × numItems], in the model's index space */
  scoreAll(users: ArrayLike<number>, numItems: number): Promise<Float32Array>;
  close(): Promise<void>;
}

type TensorMeta = { name: string; isTensor: boolean; type?: string; shape?: ReadonlyArray<number | string> };
const INTEGER_TYPES = ['int64', 'int32'];

function metaOf(session: ort.InferenceSession, side: 'input' | 'output'): TensorMeta[] {
  const list = (side === 'input' ? session.inputMetadata : session.outputMetadata) as readonly TensorMeta[] | undefined;
  const names = side === 'input' ? session.inputNames : session.outputNames;
  return names.map((name, k) => list?.[k] ?? { name, isTensor: true });
}

/** The signature and names from the model's inputs and outputs, or a message saying what did not fit. */
function detect(inputs: TensorMeta[], outputs: TensorMeta[], o: ScoringModelOptions, path: string): { signature: ScoringSignature; names: ScoringModel['names'] } {
  const inNames = inputs.map((m) => m.name);
  const outNames = outputs.map((m) => m.name);
  const pick = (given: string | undefined, list: string[], what: string) => {
    if (given !== undefined && !list.includes(given)) throw new RuntimeError(`${path}: the model has no ${what} "${given}" (it has: ${list.join(', ')})`);
    return given;
  };
  const user = pick(o.names?.user, inNames, 'input');
  const item = pick(o.names?.item, inNames, 'input');
  const score = pick(o.names?.score, outNames, 'output');
  const signature = o.signature
    ?? (inNames.includes('user_ids') && inNames.includes('k') && outNames.includes('items') && outNames.includes('scores') ? 'topk'
      : inputs.length === 1 ? 'all-items' : inputs.length === 2 ? 'pairs' : null);
  if (signature === null) {
    throw new RuntimeError(`${path}: cannot tell how this model scores (inputs: ${inNames.join(', ')}; outputs: ${outNames.join(', ')}): derrd reads a model that scores (user, item) pairs (2 inputs), returns one user's scores over all items (1 input), or is a derrd top-k model; name them with --map user=…,item=…,score=…`);
  }
  for (const m of inputs) {
    if (signature !== 'topk' && m.type !== undefined && !INTEGER_TYPES.includes(m.type)) throw new RuntimeError(`${path}: input "${m.name}" is ${m.type}; user and item inputs must be int64 or int32 indices`);
  }
  const floatOutput = outputs.find((m) => m.type === undefined || m.type === 'float32');
  if (signature === 'topk') return { signature, names: { user: 'user_ids', score: 'scores' } };
  if (signature === 'all-items') {
    if (inputs.length !== 1) throw new RuntimeError(`${path}: an all-items model takes one input (the user), this one has ${inputs.length}: ${inNames.join(', ')}`);
    const s = score ?? floatOutput?.name;
    if (!s) throw new RuntimeError(`${path}: no float32 output to read scores from (outputs: ${outNames.join(', ')})`);
    return { signature, names: { user: user ?? inNames[0], score: s } };
  }
  if (inputs.length !== 2) throw new RuntimeError(`${path}: a pairs model takes two inputs (user, item), this one has ${inputs.length}: ${inNames.join(', ')}`);
  const byName = (word: string) => inNames.find((n) => n.toLowerCase().includes(word));
  const u = user ?? (item ? inNames.find((n) => n !== item) : byName('user')) ?? inNames[0];
  const i = item ?? inNames.find((n) => n !== u)!;
  const s = score ?? floatOutput?.name;
  if (!s) throw new RuntimeError(`${path}: no float32 output to read scores from (outputs: ${outNames.join(', ')})`);
  return { signature, names: { user: u, item: i, score: s } };
}

/** Opens an ONNX model as a teacher's scorer on onnxruntime-node's CPU provider. */
export async function openScoringModel(path: string, o: ScoringModelOptions = {}): Promise<ScoringModel> {
  if (!existsSync(path)) throw new RuntimeError(`${path}: model file not found`);
  if (statSync(path).isDirectory()) throw new RuntimeError(`${path}: is a directory, expected an .onnx file`);
  const bytes = new Uint8Array(readFileSync(path));
  let metadata: Record<string, string>;
  try {
    const m = readMetadataProps(bytes);
    if (!m.hasGraph || m.irVersion === null) throw new Error('no graph or IR version');
    metadata = m.metadata;
  } catch (err) {
    throw new RuntimeError(`${path}: not an ONNX model (${(err as Error).message})`);
  }
  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(bytes, { executionProviders: ['cpu'], graphOptimizationLevel: 'all', intraOpNumThreads: o.threads ?? 2, interOpNumThreads: 1 });
  } catch (err) {
    throw new RuntimeError(`${path}: onnxruntime could not load the model: ${((err as Error).message ?? String(err)).split('\n')[0]}`);
  }
  const inputs = metaOf(session, 'input');
  const { signature, names } = detect(inputs, metaOf(session, 'output'), o, path);
  const typeOf = (name: string) => (inputs.find((m) => m.name === name)?.type === 'int32' ? 'int32' : 'int64');
  // an id input declared [N, 1] gets a column; [N] (or undeclared) a vector
  const tensor = (name: string, values: ArrayLike<number>, dims: number[]) => {
    const shape = inputs.find((m) => m.name === name)?.shape;
    const d = shape?.length === 2 ? [values.length, 1] : dims;
    return typeOf(name) === 'int32' ? new ort.Tensor('int32', Int32Array.from(values), d) : new ort.Tensor('int64', BigInt64Array.from(Array.from(values, (x) => BigInt(x))), d);
  };
  const maxScores = o.maxScoresPerRun ?? 1 << 20;
  const scoresOf = (out: ort.InferenceSession.OnnxValueMapType, expected: number): Float32Array => {
    const t = out[names.score] as ort.Tensor;
    if (t.type !== 'float32') throw new RuntimeError(`${path}: output "${names.score}" is ${t.type}, expected float32 scores`);
    const data = t.data as Float32Array;
    if (data.length !== expected) throw new RuntimeError(`${path}: output "${names.score}" has ${data.length} values, expected ${expected} (shape [${t.dims.join(', ')}])`);
    return data;
  };

  const scoreAll = async (users: ArrayLike<number>, numItems: number): Promise<Float32Array> => {
    const out = new Float32Array(users.length * numItems);
    if (signature === 'pairs') {
      const usersPerRun = Math.max(1, Math.floor(maxScores / numItems));
      for (let s = 0; s < users.length; s += usersPerRun) {
        const n = Math.min(usersPerRun, users.length - s);
        const u = new Array<number>(n * numItems);
        const i = new Array<number>(n * numItems);
        for (let b = 0; b < n; b++) for (let j = 0; j < numItems; j++) { u[b * numItems + j] = users[s + b]; i[b * numItems + j] = j; }
        const res = await session.run({ [names.user]: tensor(names.user, u, [u.length]), [names.item!]: tensor(names.item!, i, [i.length]) });
        out.set(scoresOf(res, u.length), s * numItems);
      }
    } else if (signature === 'all-items') {
      const usersPerRun = Math.max(1, Math.floor(maxScores / numItems));
      for (let s = 0; s < users.length; s += usersPerRun) {
        const n = Math.min(usersPerRun, users.length - s);
        const res = await session.run({ [names.user]: tensor(names.user, Array.from({ length: n }, (_v, b) => users[s + b]), [n]) });
        out.set(scoresOf(res, n * numItems), s * numItems);
      }
    } else {
      // a derrd top-k model returns every item, best first, with k = the number of items: scatter back by item id
      const usersPerRun = Math.max(1, Math.floor(maxScores / numItems));
      for (let s = 0; s < users.length; s += usersPerRun) {
        const n = Math.min(usersPerRun, users.length - s);
        const feeds: Record<string, ort.Tensor> = {
          user_ids: tensor('user_ids', Array.from({ length: n }, (_v, b) => users[s + b]), [n]),
          k: new ort.Tensor('int64', BigInt64Array.from([BigInt(numItems)]), [1]),
        };
        if (session.inputNames.includes('exclude')) feeds.exclude = new ort.Tensor('int64', new BigInt64Array(0), [n, 0]);
        const res = await session.run(feeds);
        const items = res.items.data as BigInt64Array;
        const scores = scoresOf(res, n * numItems);
        for (let k = 0; k < n * numItems; k++) {
          const b = Math.floor(k / numItems);
          out[(s + b) * numItems + Number(items[k])] = scores[k];
        }
      }
    }
    return out;
  };

  return { path, signature, names, metadata, scoreAll, close: async () => { await session.release(); } };
}
