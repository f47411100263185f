/**
 * The recommendation server (Fastify). Public API on --host:--port; the admin API (reload) on 127.0.0.1 only.
 *   GET  /v1/recommend?user=<raw id>&k=10[&exclude_seen=true]     POST /v1/recommend {"users": [...], "k": 10, "exclude_seen": true}
 *   GET  /health/live   GET /health/ready   GET /v1/models   GET /metrics
 *   POST /admin/reload {"model": "<path>"}   (and SIGHUP through the CLI)
 */
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import client from 'prom-client';
import type { Provider } from '@derrd/runtime';
import { MicroBatcher, OverloadError, type BatchRequest } from './batcher.js';
import { loadServedModel, type ServedModel } from './model.js';

export interface ServeOptions {
  model: string;
  provider: Provider;
  threads: number;
  data?: string;
  coldStart: 'error' | 'popular';
  maxBatch: number;
  maxWaitUs: number;
  maxQueue: number;
  deadlineMs: number;
  /** most users in one POST */
  maxRequestUsers: number;
  maxK: number;
  bodyLimitBytes: number;
  logger?: boolean;
}

export const SERVE_DEFAULTS: Omit<ServeOptions, 'model'> = {
  provider: 'cpu', threads: 2, coldStart: 'error', maxBatch: 64, maxWaitUs: 500, maxQueue: 1024, deadlineMs: 1000,
  maxRequestUsers: 256, maxK: 1000, bodyLimitBytes: 64 * 1024, logger: false,
};

class HttpError extends Error {
  readonly status: number;
  readonly code: string;
  constructor(status: number, code: string, message: string) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

interface Job extends BatchRequest<{ items: number[][]; scores: number[][] }> {
  users: number[];
  k: number;
  exclude: number[][] | undefined;
}

export interface RecommendServer {
  app: FastifyInstance;
  admin: FastifyInstance;
  /** loads and warms up a model, then swaps it in; on failure the current model keeps serving */
  reload(path?: string): Promise<{ ok: boolean; error?: string; model: string }>;
  /** stop accepting, drain in-flight and queued work, release the model */
  close(): Promise<void>;
  current(): ServedModel | null;
  /** requests received and not yet answered */
  inflight(): number;
  registry: client.Registry;
}

export async function createServer(options: ServeOptions): Promise<RecommendServer> {
  const o = { ...SERVE_DEFAULTS, ...options };
  const registry = new client.Registry();
  const requests = new client.Counter({ name: 'derrd_requests_total', help: 'HTTP requests by route and status', labelNames: ['route', 'status'], registers: [registry] });
  const errors = new client.Counter({ name: 'derrd_errors_total', help: 'errors by class', labelNames: ['class'], registers: [registry] });
  const latency = new client.Histogram({
    name: 'derrd_request_duration_seconds', help: 'recommendation request latency', labelNames: ['route'], registers: [registry],
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
  });
  const batchSize = new client.Histogram({ name: 'derrd_batch_users', help: 'users per model run', registers: [registry], buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256] });
  const reloads = new client.Counter({ name: 'derrd_model_reloads_total', help: 'model reloads by result', labelNames: ['result'], registers: [registry] });
  new client.Gauge({ name: 'derrd_queue_depth', help: 'users waiting for a model run', registers: [registry], collect() { this.set(batcher.depth); } });

  let served: ServedModel | null = await loadServedModel(o.model, { provider: o.provider, threads: o.threads, data: o.data });
  let modelPath = o.model;
  let lastReloadError: string | null = null;
  let reloading: Promise<unknown> | null = null;
  let closing = false;

  const batcher = new MicroBatcher<Job, { items: number[][]; scores: number[][] }>(
    { maxBatch: o.maxBatch, maxWaitUs: o.maxWaitUs, maxQueue: o.maxQueue, deadlineMs: o.deadlineMs },
    async (jobs) => {
      const model = served;
      if (!model) throw new HttpError(503, 'not_ready', 'no model loaded');
      const users = jobs.flatMap((j) => j.users);
      const k = Math.max(...jobs.map((j) => j.k));
      const anyExclude = jobs.some((j) => j.exclude);
      const exclude = anyExclude ? jobs.flatMap((j) => j.exclude ?? j.users.map(() => [])) : undefined;
      const out = await model.rec.recommend(users, k, exclude);
      let row = 0;
      for (const job of jobs) {
        const n = job.users.length;
        job.resolve({ items: out.items.slice(row, row + n).map((r) => r.slice(0, job.k)), scores: out.scores.slice(row, row + n).map((r) => r.slice(0, job.k)) });
        row += n;
      }
    },
  );
  batcher.onBatch = (n) => batchSize.observe(n);

  const app = Fastify({ logger: o.logger ?? false, bodyLimit: o.bodyLimitBytes });
  // JSON only: anything else is 415
  app.removeContentTypeParser('text/plain');
  let inflight = 0;
  app.addHook('onRequest', async () => { inflight++; });
  app.addHook('onResponse', async () => { inflight--; });
  const admin = Fastify({ logger: false, bodyLimit: 16 * 1024 });

  const fail = (reply: FastifyReply, route: string, err: unknown): FastifyReply => {
    let status = 500;
    let code = 'internal';
    let message = err instanceof Error ? err.message : String(err);
    if (err instanceof HttpError) ({ status, code } = err);
    else if (err instanceof OverloadError) {
      status = 503;
      code = err.kind === 'queue-full' ? 'overloaded' : 'deadline_exceeded';
      reply.header('Retry-After', String(err.retryAfterSeconds));
    } else if ((err as { statusCode?: number }).statusCode) {
      status = (err as { statusCode: number }).statusCode;
      code = (err as { code?: string }).code ?? 'bad_request';
    }
    errors.inc({ class: status === 503 ? code : status >= 500 ? '5xx' : '4xx' });
    requests.inc({ route, status: String(status) });
    if (status >= 500 && !(err instanceof OverloadError) && !(err instanceof HttpError)) message = `internal error: ${message}`;
    return reply.code(status).send({ error: { code, message } });
  };

  /** Parses raw user ids into dense ids; malformed ids are 400, unknown ones 404 (or the popular list). */
  const resolveUser = (model: ServedModel, raw: unknown): number | 'cold' => {
    if (typeof raw === 'number') {
      if (!Number.isSafeInteger(raw) || raw < 0) throw new HttpError(400, 'bad_user', `user id ${raw} is not a non-negative integer`);
      raw = String(raw);
    }
    if (typeof raw !== 'string' || raw.length === 0 || raw.length > 256) throw new HttpError(400, 'bad_user', 'user must be a non-empty id (string or non-negative integer)');
    if (model.numericUserIds && !/^\d{1,15}$/.test(raw)) throw new HttpError(400, 'bad_user', `user id "${raw}" is not a non-negative integer (this model's user ids are integers)`);
    const dense = model.userIndex.get(raw);
    if (dense !== undefined) return dense;
    if (o.coldStart === 'popular' && model.popular) return 'cold';
    throw new HttpError(404, 'unknown_user', `unknown user "${raw}" (not in the model's ${model.userIds.length} users)`);
  };

  const parseK = (model: ServedModel, raw: unknown): number => {
    const text = typeof raw === 'number' ? String(raw) : typeof raw === 'string' ? raw : raw === undefined ? String(10) : '';
    if (!/^\d+$/.test(text)) throw new HttpError(400, 'bad_k', `k must be a positive integer, got ${JSON.stringify(raw)}`);
    const k = Number(text);
    const limit = Math.min(o.maxK, model.itemIds.length);
    if (k < 1 || k > limit) throw new HttpError(400, 'bad_k', `k must be between 1 and ${limit}, got ${k}`);
    return k;
  };

  const parseBool = (raw: unknown): boolean => {
    if (raw === undefined || raw === false || raw === 'false' || raw === '0') return false;
    if (raw === true || raw === 'true' || raw === '1') return true;
    throw new HttpError(400, 'bad_flag', `exclude_seen must be true or false, got ${JSON.stringify(raw)}`);
  };

  const recommend = async (rawUsers: unknown[], rawK: unknown, rawExclude: unknown) => {
    const model = served;
    if (!model) throw new HttpError(503, 'not_ready', 'no model loaded');
    const k = parseK(model, rawK);
    const excludeSeen = parseBool(rawExclude);
    if (excludeSeen && !model.seen) throw new HttpError(400, 'no_seen_items', 'exclude_seen needs the server started with --data <prepared data set>');
    const dense = rawUsers.map((u) => resolveUser(model, u));
    const known = dense.filter((d): d is number => d !== 'cold');
    let result: { items: number[][]; scores: number[][] } = { items: [], scores: [] };
    if (known.length > 0) {
      result = await new Promise((resolve, reject) => batcher.submit({
        users: known, k, exclude: excludeSeen ? known.map((u) => Array.from(model.seen!(u))) : undefined,
        size: known.length, enqueuedAt: performance.now(), resolve, reject,
      }));
    }
    let row = 0;
    return dense.map((d, r) => {
      const user = String(rawUsers[r]);
      if (d === 'cold') return { user, coldStart: true, items: model.popular!.slice(0, k).map((i) => ({ item: model.itemIds[i], score: null })) };
      const items = result.items[row].map((i, c) => ({ item: model.itemIds[i], score: result.scores[row][c] }));
      row++;
      return { user, items };
    });
  };

  app.get('/v1/recommend', async (req: FastifyRequest<{ Querystring: Record<string, string> }>, reply) => {
    const t0 = performance.now();
    try {
      if (req.query.user === undefined) throw new HttpError(400, 'bad_user', 'missing query parameter user');
      const [result] = await recommend([req.query.user], req.query.k, req.query.exclude_seen);
      requests.inc({ route: 'get_recommend', status: '200' });
      latency.observe({ route: 'get_recommend' }, (performance.now() - t0) / 1000);
      return { model: served?.rec.info?.card?.name ?? null, ...result };
    } catch (err) {
      return fail(reply, 'get_recommend', err);
    }
  });

  app.post('/v1/recommend', async (req: FastifyRequest<{ Body: unknown }>, reply) => {
    const t0 = performance.now();
    try {
      const body = req.body as { users?: unknown; k?: unknown; exclude_seen?: unknown } | null;
      if (!body || typeof body !== 'object' || !Array.isArray(body.users)) throw new HttpError(400, 'bad_body', 'body must be {"users": [...], "k": 10, "exclude_seen": false}');
      if (body.users.length === 0) throw new HttpError(400, 'bad_body', 'users is empty');
      if (body.users.length > o.maxRequestUsers) throw new HttpError(400, 'batch_too_large', `${body.users.length} users in one request; the limit is ${o.maxRequestUsers}`);
      const results = await recommend(body.users, body.k, body.exclude_seen);
      requests.inc({ route: 'post_recommend', status: '200' });
      latency.observe({ route: 'post_recommend' }, (performance.now() - t0) / 1000);
      return { model: served?.rec.info?.card?.name ?? null, results };
    } catch (err) {
      return fail(reply, 'post_recommend', err);
    }
  });

  app.setErrorHandler((err, _req, reply) => fail(reply, 'parse', err));
  app.setNotFoundHandler((req, reply) => fail(reply, 'not_found', new HttpError(404, 'not_found', `no route ${req.method} ${req.url}`)));

  app.get('/health/live', async () => ({ status: 'live' }));
  app.get('/health/ready', async (_req, reply) => {
    if (served && !closing) return { status: 'ready', model: served.path };
    return reply.code(503).send({ status: 'not_ready', reason: closing ? 'shutting down' : 'no model loaded' });
  });
  app.get('/v1/models', async () => {
    const m = served;
    return {
      path: m?.path, provider: m?.rec.provider, threads: m?.rec.threads, bytes: m?.rec.modelBytes, loadedAt: m?.loadedAt, warmupMs: m?.warmupMs,
      info: m?.rec.info, missingMetadata: m?.rec.missing, lastReloadError, inflight, batching: { maxBatch: o.maxBatch, maxWaitUs: o.maxWaitUs, maxQueue: o.maxQueue, deadlineMs: o.deadlineMs },
    };
  });
  app.get('/metrics', async (_req, reply) => reply.header('Content-Type', registry.contentType).send(await registry.metrics()));

  const reload = async (path: string = modelPath): Promise<{ ok: boolean; error?: string; model: string }> => {
    if (reloading) await reloading.catch(() => undefined);
    const attempt = (async () => {
      const next = await loadServedModel(path, { provider: o.provider, threads: o.threads, data: o.data });
      const previous = served;
      served = next;
      modelPath = path;
      // the old session may still be running a batch: wait until the queue is idle before releasing it
      if (previous) void batcher.drain().then(() => previous.rec.close());
    })();
    reloading = attempt;
    try {
      await attempt;
      lastReloadError = null;
      reloads.inc({ result: 'ok' });
      return { ok: true, model: path };
    } catch (err) {
      lastReloadError = `${new Date().toISOString()}: ${(err as Error).message}`;
      reloads.inc({ result: 'failed' });
      return { ok: false, error: (err as Error).message, model: modelPath };
    } finally {
      reloading = null;
    }
  };

  admin.post('/admin/reload', async (req: FastifyRequest<{ Body: { model?: string } | undefined }>, reply) => {
    const result = await reload(req.body?.model ?? modelPath);
    return reply.code(result.ok ? 200 : 500).send(result);
  });

  const close = async () => {
    closing = true;
    await app.close();
    await admin.close();
    await batcher.drain();
    const m = served;
    served = null;
    if (m) await m.rec.close();
  };

  return { app, admin, reload, close, current: () => served, inflight: () => inflight, registry };
}
