/**
 * The two floors `npm run bench:serve` compares derrd serve with, each the simplest server of its kind:
 *   constant  plain Fastify answering GET /v1/recommend with a constant JSON string of the size of a derrd answer
 *   ort       plain Fastify + onnxruntime-node, one synchronous session.run per request on the event loop, JSON.stringify
 * The ort floor imports onnxruntime-node itself on purpose (not @derrd/runtime): it is the server a user would write
 * without derrd. Prints {"url"} as one JSON line when listening.
 *   node --import tsx scripts/bench-serve-floor.ts constant|ort --model student.onnx [--threads 1]
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import Fastify from 'fastify';
import * as ort from 'onnxruntime-node';
import { readMetadataProps } from '@derrd/runtime/metadata';

const mode = process.argv[2];
const arg = (name: string, fallback?: string) => { const k = process.argv.indexOf(`--${name}`); return k > 0 ? process.argv[k + 1] : fallback; };
const modelPath = arg('model');
if ((mode !== 'constant' && mode !== 'ort') || !modelPath) {
  console.error('usage: bench-serve-floor.ts constant|ort --model <file.onnx> [--threads n]');
  process.exit(2);
}
const threads = Number(arg('threads', '1'));
const bytes = readFileSync(modelPath);
const metadata = readMetadataProps(bytes).metadata;
const maps = JSON.parse(readFileSync(join(dirname(modelPath), metadata['derrd.id_maps']), 'utf8')) as { users: string[]; items: string[] };
const userIndex = new Map(maps.users.map((u, k) => [u, k]));
const name = (JSON.parse(metadata['derrd.card']) as { name: string }).name;
const session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: threads, interOpNumThreads: 1, graphOptimizationLevel: 'all' });
const noExclude = new ort.Tensor('int64', new BigInt64Array(0), [1, 0]);

function answer(user: string, k: number): Promise<unknown> {
  const dense = userIndex.get(user);
  if (dense === undefined) return Promise.resolve(null);
  return session.run({ user_ids: new ort.Tensor('int64', BigInt64Array.of(BigInt(dense)), [1]), k: new ort.Tensor('int64', BigInt64Array.of(BigInt(k)), [1]), exclude: noExclude })
    .then((out) => {
      const items = out.items.data as BigInt64Array;
      const scores = out.scores.data as Float32Array;
      return { model: name, user, items: Array.from(items, (i, c) => ({ item: maps.items[Number(i)], score: scores[c] })) };
    });
}

const app = Fastify({ logger: false });
if (mode === 'constant') {
  // the same bytes derrd would send for one user, k = 10
  const body = JSON.stringify(await answer(maps.users[0], 10));
  app.get('/v1/recommend', (_req, reply) => { reply.type('application/json').send(body); });
} else {
  app.get<{ Querystring: Record<string, string> }>('/v1/recommend', async (req, reply) => {
    const result = await answer(req.query.user, Number(req.query.k ?? 10));
    if (!result) return reply.code(404).send({ error: { code: 'unknown_user', message: 'unknown user' } });
    return result;
  });
}
const url = await app.listen({ host: '127.0.0.1', port: 0 });
process.stdout.write(JSON.stringify({ url }) + '\n');
process.on('SIGTERM', () => { void app.close().then(() => process.exit(0)); });
