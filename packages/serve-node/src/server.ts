/**
 * The recommendation server (Fastify). Public API on --host:--port; the admin API (reload) on 127.0.0.1 only.
 *   GET  /v1/recommend?user=<raw id>&k=10[&exclude=a,b][&exclude_seen=false]
 *   POST /v1/recommend {"users": [...], "k": 10, "exclude": [...], "exclude_seen": false}
 *   GET  /health/live   GET /health/ready   GET /v1/models   GET /metrics
 *   POST /admin/reload {"model": "<path>", "allow_other_dataset": false}   (and SIGHUP through the CLI)
 * Model runs happen in a worker pool (see pool.ts) behind a dynamic batcher (batcher.ts); this thread parses, resolves
 * raw ids, and writes answers through Fastify's compiled serializer.
 */
import type { Server } from 'node:http';
import { availableParallelism } from 'node:os';
import { realpathSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import client from 'prom-client';
import { DEFAULT_MAX_MODEL_BYTES, RuntimeError, rawIdOf, type FlatResult, type Provider } from '@derrd/runtime';
import { MicroBatcher, OverloadError, type BatchRequest } from './batcher.js';
import { ModelLoadError, loadServedData, loadServedModel, type ServedData, type ServedModel } from './model.js';
import { getRecommendSchema, postRecommendSchema, reloadSchema } from './schemas.js';

export interface ServeConfig {
  model: string;
  provider: Provider;
  /** onnxruntime intra-op threads per worker */
  threads: number;
  /** worker threads running the model (one session each) */
  workers: number;
  data?: string;
  /** when set, the model and every reload path must lie inside this directory (relative reload paths start there) */
  modelDir?: string;
  maxModelBytes: number;
  coldStart: 'error' | 'popular';
  maxBatch: number;
  maxWaitUs: number;
  maxQueue: number;
  deadlineMs: number;
  /** most users in one POST */
  maxRequestUsers: number;
  maxK: number;
  /** most items one request may exclude */
  maxExclude: number;
  bodyLimitBytes: number;
  /** a request (headers and body) not received within this is answered 408 and its connection closed */
  bodyTimeoutMs: number;
  logger?: boolean;
  /** receives one line per notable event (every reload, listening addresses) */
  log?: (line: string) => void;
}

export type ServeOptions = Pick<ServeConfig, 'model'> & Partial<Omit<ServeConfig, 'model'>>;

/** Half the cores run the model; the rest are left to the event loop, the kernel's network stack and the clients. */
export const DEFAULT_WORKERS = Math.max(1, Math.floor(availableParallelism() / 2));

export const SERVE_DEFAULTS: Omit<ServeConfig, 'model'> = {
  provider: 'cpu', threads: 1, workers: DEFAULT_WORKERS, coldStart: 'error', maxBatch: 64, maxWaitUs: 0, maxQueue: 1024, deadlineMs: 1000,
  maxRequestUsers: 256, maxK: 1000, maxExclude: 1000, bodyLimitBytes: 64 * 1024, bodyTimeoutMs: 10_000, maxModelBytes: DEFAULT_MAX_MODEL_BYTES, logger: false,
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

/** A listen failure with a message a user can act on (busy port, no permission, unknown address). */
export class ListenError extends Error {
  readonly derrdUserError = true;
  constructor(message: string) {
    super(message);
    this.name = 'ListenError';
  }
}

interface JobResult {
  flat: FlatResult;
  row: number;
}

interface Job extends BatchRequest<JobResult> {
  model: ServedModel;
  users: Int32Array;
  k: number;
  excludeSeen: boolean;
  /** dense items excluded for every user of the job */
  exclude: Int32Array | null;
}

interface UserAnswer {
  user: string;
  coldStart?: boolean;
  items: { item: string; score: number | null }[];
}

export interface ReloadResult {
  ok: boolean;
  model: string;
  error?: string;
  code?: string;
  status?: number;
  warmupMs?: number;
}

export interface RecommendServer {
  app: FastifyInstance;
  admin: FastifyInstance;
  /** loads and warms up a model, then swaps it in; on failure the current model keeps serving. Every attempt is logged. */
  reload(path?: string, options?: { allowOtherDataset?: boolean; source?: string }): Promise<ReloadResult>;
  /** binds the public and admin ports; failures (e.g. a busy port) are ListenErrors naming the port */
  listen(o: { host: string; port: number; adminPort: number }): Promise<{ url: string; adminUrl: string }>;
  /** stop accepting, drain in-flight and queued work, release the model */
  close(): Promise<void>;
  current(): ServedModel | null;
  /** requests received and not yet answered */
  inflight(): number;
  registry: client.Registry;
}

/** The URL of a bound socket as it is: 0.0.0.0 stays 0.0.0.0 (all interfaces), IPv6 goes in brackets. */
export function urlOf(server: Server): string {
  const a = server.address();
  if (!a || typeof a === 'string') return String(a);
  return `http://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`;
}

function listenError(err: NodeJS.ErrnoException, host: string, port: number, what: string, flag: string): Error {
  if (err.code === 'EADDRINUSE') return new ListenError(`${what} ${port} is in use (another server is listening there): pick another with ${flag}, or 0 for any free port`);
  if (err.code === 'EACCES') return new ListenError(`${what} ${port} needs privileges on this machine (ports below 1024 usually do): pick a port >= 1024 with ${flag}`);
  if (err.code === 'EADDRNOTAVAIL' || err.code === 'ENOTFOUND' || err.code === 'EAI_AGAIN') return new ListenError(`cannot listen on ${host}: not an address of this machine (use 127.0.0.1, 0.0.0.0 for all interfaces, or one of its own addresses)`);
  return new ListenError(`cannot listen on ${host}:${port}: ${err.message}`);
}

export async function createServer(options: ServeOptions): Promise<RecommendServer> {
  const o: ServeConfig = { ...SERVE_DEFAULTS, ...options };
  const log = o.log ?? (() => undefined);
  if (o.coldStart === 'popular' && !o.data) throw new RuntimeError('cold start "popular" needs the prepared data set (--data): popularity comes from the training data');
  if (!Number.isInteger(o.workers) || o.workers < 0) throw new RuntimeError(`workers must be a non-negative integer, got ${o.workers}`);
  let modelDir: string | undefined;
  if (o.modelDir !== undefined) {
    try {
      modelDir = realpathSync(resolve(o.modelDir));
      if (!statSync(modelDir).isDirectory()) throw new Error('not a directory');
    } catch {
      throw new RuntimeError(`--model-dir ${o.modelDir}: not a directory`);
    }
  }
  const data: ServedData | undefined = o.data ? loadServedData(o.data) : undefined;
  const loadOptions = { provider: o.provider, threads: o.threads, workers: o.workers, maxModelBytes: o.maxModelBytes, modelDir, data };

  const registry = new client.Registry();
  // answered requests are counted in plain numbers and handed to prom-client when it is scraped (a labelled inc per
  // request hashes its labels every time)
  let okGet = 0;
  let okPost = 0;
  const requests = new client.Counter({
    name: 'derrd_requests_total', help: 'HTTP requests by route and status', labelNames: ['route', 'status'], registers: [registry],
    collect() {
      if (okGet > 0) this.inc({ route: 'get_recommend', status: '200' }, okGet);
      if (okPost > 0) this.inc({ route: 'post_recommend', status: '200' }, okPost);
      okGet = 0;
      okPost = 0;
    },
  });
  const errors = new client.Counter({ name: 'derrd_errors_total', help: 'errors by class', labelNames: ['class'], registers: [registry] });
  const latency = new client.Histogram({
    name: 'derrd_request_duration_seconds', help: 'recommendation request latency', labelNames: ['route'], registers: [registry],
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
  });
  const batchSize = new client.Histogram({ name: 'derrd_batch_users', help: 'users per model run', registers: [registry], buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256] });
  const runTime = new client.Histogram({
    name: 'derrd_model_run_seconds', help: 'time of one model run in a worker', registers: [registry],
    buckets: [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1],
  });
  const reloads = new client.Counter({ name: 'derrd_model_reloads_total', help: 'model reloads by result', labelNames: ['result'], registers: [registry] });
  new client.Gauge({ name: 'derrd_queue_depth', help: 'users waiting for a model run', registers: [registry], collect() { this.set(batcher.depth); } });
  new client.Gauge({ name: 'derrd_batches_in_flight', help: 'model runs in progress', registers: [registry], collect() { this.set(batcher.inFlight); } });
  new client.Gauge({ name: 'derrd_workers', help: 'worker threads running the model', registers: [registry], collect() { this.set(served?.pool.workers ?? 0); } });
  const latencyGet = latency.labels('get_recommend');
  const latencyPost = latency.labels('post_recommend');

  let served: ServedModel | null = await loadServedModel(o.model, loadOptions);
  let modelPath = o.model;
  let lastReloadError: string | null = null;
  let reloading: Promise<unknown> | null = null;
  /** the reload being read and warmed up now, for /v1/models */
  let reloadingNow: { model: string; since: string; source: string } | null = null;
  let closing = false;
  /** queued or running jobs per model: a replaced model's pool closes when its last job is answered */
  const jobsOf = new Map<ServedModel, number>();
  const retired = new Set<ServedModel>();
  const release = (m: ServedModel) => {
    const left = (jobsOf.get(m) ?? 1) - 1;
    if (left > 0) jobsOf.set(m, left);
    else {
      jobsOf.delete(m);
      if (retired.delete(m)) void m.pool.close();
    }
  };

  const batcher = new MicroBatcher<Job, JobResult>(
    { maxBatch: o.maxBatch, maxWaitUs: o.maxWaitUs, maxQueue: o.maxQueue, deadlineMs: o.deadlineMs, concurrency: Math.max(1, o.workers) },
    async (jobs) => {
      // a batch normally holds one model's jobs; around a reload it may hold two
      const groups = new Map<ServedModel, Job[]>();
      for (const j of jobs) {
        const g = groups.get(j.model);
        if (g) g.push(j);
        else groups.set(j.model, [j]);
      }
      await Promise.all(Array.from(groups, ([model, group]) => runGroup(model, group)));
    },
  );
  batcher.onBatch = (n) => batchSize.observe(n);

  const runGroup = async (model: ServedModel, jobs: Job[]): Promise<void> => {
    let n = 0;
    let k = 0;
    let excluded = 0;
    for (const j of jobs) {
      n += j.users.length;
      if (j.k > k) k = j.k;
      for (let r = 0; r < j.users.length; r++) excluded += (j.excludeSeen ? data!.seen(j.users[r]).length : 0) + (j.exclude?.length ?? 0);
    }
    const users = new Int32Array(n);
    const offsets = excluded > 0 ? new Int32Array(n + 1) : undefined;
    const items = excluded > 0 ? new Int32Array(excluded) : undefined;
    let row = 0;
    let at = 0;
    for (const j of jobs) {
      for (let r = 0; r < j.users.length; r++, row++) {
        users[row] = j.users[r];
        if (items) {
          if (j.excludeSeen) {
            const seen = data!.seen(j.users[r]);
            items.set(seen, at);
            at += seen.length;
          }
          if (j.exclude) {
            items.set(j.exclude, at);
            at += j.exclude.length;
          }
          offsets![row + 1] = at;
        }
      }
    }
    const flat = await model.pool.run(items ? { users, k, excludeOffsets: offsets, excludeItems: items } : { users, k });
    runTime.observe(flat.runMs / 1000);
    row = 0;
    for (const j of jobs) {
      j.resolve({ flat, row });
      row += j.users.length;
    }
  };

  /** Queues a job for the batcher; the caller releases the model's job count when the promise settles. */
  const submit = (model: ServedModel, users: Int32Array, k: number, excludeSeen: boolean, exclude: Int32Array | null): Promise<JobResult> => {
    jobsOf.set(model, (jobsOf.get(model) ?? 0) + 1);
    return new Promise<JobResult>((resolveJob, rejectJob) => {
      batcher.submit({ model, users, k, excludeSeen, exclude, size: users.length, enqueuedAt: performance.now(), resolve: resolveJob, reject: rejectJob });
    });
  };

  // requestTimeout covers headers and body: a client that trickles its body gets 408 and its connection closed; Node
  // checks it every connectionsCheckingInterval (30 s by default, too coarse for short timeouts)
  const app = Fastify({
    logger: o.logger ?? false, bodyLimit: o.bodyLimitBytes, requestTimeout: o.bodyTimeoutMs,
    http: { requestTimeout: o.bodyTimeoutMs, headersTimeout: Math.min(o.bodyTimeoutMs, 60_000), connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(o.bodyTimeoutMs / 4))) },
  });
  // JSON only: anything else is 415
  app.removeContentTypeParser('text/plain');
  let inflight = 0;
  app.addHook('onRequest', (_req, _reply, done) => { inflight++; done(); });
  app.addHook('onResponse', (_req, _reply, done) => { inflight--; done(); });
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

  const currentModel = (): ServedModel => {
    if (!served || closing) throw new HttpError(503, 'not_ready', closing ? 'shutting down' : 'no model loaded');
    return served;
  };

  /** Parses a raw user id into a dense one; malformed ids are 400, unknown ones 404 (or the popular list). */
  const resolveUser = (model: ServedModel, raw: unknown): number | 'cold' => {
    if (typeof raw === 'number') {
      if (!Number.isSafeInteger(raw) || raw < 0) throw new HttpError(400, 'bad_user', `user id ${raw} is not a non-negative integer`);
      raw = String(raw);
    }
    if (typeof raw !== 'string' || raw.length === 0 || raw.length > 256) throw new HttpError(400, 'bad_user', 'user must be a non-empty id (string or non-negative integer)');
    if (model.numericUserIds && !/^\d{1,15}$/.test(raw)) throw new HttpError(400, 'bad_user', `user id "${raw}" is not a non-negative integer (this model's user ids are integers)`);
    const dense = model.maps.userIndex.get(raw);
    if (dense !== undefined) return dense;
    if (o.coldStart === 'popular') return 'cold';
    throw new HttpError(404, 'unknown_user', `unknown user "${raw}" (not in the model's ${model.maps.users.length} users)`);
  };

  const parseK = (model: ServedModel, raw: unknown): number => {
    const text = typeof raw === 'number' ? String(raw) : typeof raw === 'string' ? raw : raw === undefined ? '10' : '';
    if (!/^\d+$/.test(text)) throw new HttpError(400, 'bad_k', `k must be a positive integer, got ${JSON.stringify(raw)}`);
    const k = Number(text);
    const limit = Math.min(o.maxK, model.info.numItems);
    if (k < 1 || k > limit) throw new HttpError(400, 'bad_k', `k must be between 1 and ${limit}, got ${k}`);
    return k;
  };

  /** exclude_seen: on by default when the server has the data set; explicit true without it is refused. */
  const parseExcludeSeen = (raw: unknown): boolean => {
    if (raw === undefined) return data !== undefined;
    let value: boolean;
    if (raw === false || raw === 'false' || raw === '0') value = false;
    else if (raw === true || raw === 'true' || raw === '1') value = true;
    else throw new HttpError(400, 'bad_flag', `exclude_seen must be true or false, got ${JSON.stringify(raw)}`);
    if (value && !data) throw new HttpError(400, 'no_seen_items', 'exclude_seen needs the server started with --data <prepared data set>');
    return value;
  };

  /** Raw item ids to exclude (GET: comma-separated, the parameter may repeat; POST: an array) as dense ids. */
  const parseExclude = (model: ServedModel, raw: unknown, where: 'query' | 'body'): Int32Array | null => {
    if (raw === undefined) return null;
    let ids: unknown[];
    if (where === 'query') {
      const parts = Array.isArray(raw) ? raw : [raw];
      ids = parts.flatMap((p) => String(p).split(','));
    } else {
      if (!Array.isArray(raw)) throw new HttpError(400, 'bad_exclude', 'exclude must be an array of raw item ids');
      ids = raw;
    }
    if (ids.length > o.maxExclude) throw new HttpError(400, 'too_many_excluded', `${ids.length} items in exclude; the limit is ${o.maxExclude}`);
    const out = new Int32Array(ids.length);
    for (let c = 0; c < ids.length; c++) {
      let id: string;
      try {
        id = rawIdOf(ids[c], 'item');
      } catch (err) {
        throw new HttpError(400, 'bad_exclude', `exclude: ${(err as Error).message}`);
      }
      const dense = model.maps.itemIndex.get(id);
      if (dense === undefined) throw new HttpError(400, 'unknown_item', `unknown item "${id}" in exclude (not in the model's ${model.maps.items.length} items)`);
      out[c] = dense;
    }
    return out;
  };

  const answerRow = (model: ServedModel, user: string, flat: FlatResult, row: number, k: number): UserAnswer => {
    const n = Math.min(k, flat.counts[row]);
    const start = row * flat.width;
    const items = new Array<{ item: string; score: number }>(n);
    for (let c = 0; c < n; c++) items[c] = { item: model.maps.items[flat.items[start + c]], score: flat.scores[start + c] };
    return { user, items };
  };

  const coldAnswer = (model: ServedModel, user: string, k: number, exclude: Int32Array | null): UserAnswer => {
    const items: { item: string; score: null }[] = [];
    for (let p = 0; p < data!.popular.length && items.length < k; p++) {
      const i = data!.popular[p];
      if (exclude && exclude.includes(i)) continue;
      items.push({ item: model.maps.items[i], score: null });
    }
    return { user, coldStart: true, items };
  };

  /** One user (GET): no arrays around the single answer. */
  const recommendOne = async (model: ServedModel, rawUser: unknown, rawK: unknown, rawExcludeSeen: unknown, rawExclude: unknown): Promise<UserAnswer> => {
    const k = parseK(model, rawK);
    const excludeSeen = parseExcludeSeen(rawExcludeSeen);
    const exclude = parseExclude(model, rawExclude, 'query');
    const dense = resolveUser(model, rawUser);
    const user = String(rawUser);
    if (dense === 'cold') return coldAnswer(model, user, k, exclude);
    try {
      const result = await submit(model, Int32Array.of(dense), k, excludeSeen, exclude);
      return answerRow(model, user, result.flat, result.row, k);
    } finally {
      release(model);
    }
  };

  const recommendMany = async (model: ServedModel, rawUsers: unknown[], rawK: unknown, rawExcludeSeen: unknown, rawExclude: unknown): Promise<UserAnswer[]> => {
    const k = parseK(model, rawK);
    const excludeSeen = parseExcludeSeen(rawExcludeSeen);
    const exclude = parseExclude(model, rawExclude, 'body');
    const dense = rawUsers.map((u) => resolveUser(model, u));
    let known = 0;
    for (const d of dense) if (d !== 'cold') known++;
    let result: JobResult | null = null;
    if (known > 0) {
      const users = new Int32Array(known);
      let r = 0;
      for (const d of dense) if (d !== 'cold') users[r++] = d;
      try {
        result = await submit(model, users, k, excludeSeen, exclude);
      } finally {
        release(model);
      }
    }
    let row = result?.row ?? 0;
    return dense.map((d, r) => {
      const user = String(rawUsers[r]);
      if (d === 'cold') return coldAnswer(model, user, k, exclude);
      return answerRow(model, user, result!.flat, row++, k);
    });
  };

  /** Routes and their methods, for 405 + Allow on a known path with another method. */
  const methodsOf = new Map<string, string[]>();
  const route = (app: FastifyInstance, routes: Map<string, string[]>, method: 'GET' | 'POST', url: string) => {
    const list = routes.get(url) ?? [];
    list.push(method, ...(method === 'GET' ? ['HEAD'] : []));
    routes.set(url, list);
    return app;
  };
  const notAllowed = (routes: Map<string, string[]>, req: FastifyRequest): HttpError | null => {
    const allowed = routes.get(req.url.split('?')[0]);
    if (!allowed) return null;
    return Object.assign(new HttpError(405, 'method_not_allowed', `${req.method} is not allowed on ${req.url.split('?')[0]} (allowed: ${allowed.join(', ')})`), { allow: allowed.join(', ') });
  };

  route(app, methodsOf, 'GET', '/v1/recommend').get('/v1/recommend', { schema: getRecommendSchema }, async (req: FastifyRequest<{ Querystring: Record<string, string | string[] | undefined> }>, reply) => {
    const t0 = performance.now();
    try {
      const model = currentModel();
      const q = req.query;
      if (q.user === undefined) throw new HttpError(400, 'bad_user', 'missing query parameter user');
      if (Array.isArray(q.user)) throw new HttpError(400, 'bad_user', 'give one user per GET (POST /v1/recommend takes several)');
      const result = await recommendOne(model, q.user, q.k, q.exclude_seen, q.exclude);
      okGet++;
      latencyGet.observe((performance.now() - t0) / 1000);
      return { model: model.name, ...result };
    } catch (err) {
      return fail(reply, 'get_recommend', err);
    }
  });

  route(app, methodsOf, 'POST', '/v1/recommend').post('/v1/recommend', { schema: postRecommendSchema }, async (req: FastifyRequest<{ Body: unknown }>, reply) => {
    const t0 = performance.now();
    try {
      const model = currentModel();
      const body = req.body as { users?: unknown; k?: unknown; exclude_seen?: unknown; exclude?: unknown } | null;
      if (!body || typeof body !== 'object' || Array.isArray(body) || !Array.isArray(body.users)) throw new HttpError(400, 'bad_body', 'body must be {"users": [...], "k": 10, "exclude": [...], "exclude_seen": true}');
      if (body.users.length === 0) throw new HttpError(400, 'bad_body', 'users is empty');
      if (body.users.length > o.maxRequestUsers) throw new HttpError(400, 'batch_too_large', `${body.users.length} users in one request; the limit is ${o.maxRequestUsers}`);
      const results = await recommendMany(model, body.users, body.k, body.exclude_seen, body.exclude);
      okPost++;
      latencyPost.observe((performance.now() - t0) / 1000);
      return { model: model.name, results };
    } catch (err) {
      return fail(reply, 'post_recommend', err);
    }
  });

  app.setErrorHandler((err, _req, reply) => fail(reply, 'parse', err));
  app.setNotFoundHandler((req, reply) => {
    const wrongMethod = notAllowed(methodsOf, req);
    if (wrongMethod) return fail(reply.header('Allow', (wrongMethod as HttpError & { allow: string }).allow), 'method_not_allowed', wrongMethod);
    return fail(reply, 'not_found', new HttpError(404, 'not_found', `no route ${req.method} ${req.url}`));
  });

  route(app, methodsOf, 'GET', '/health/live').get('/health/live', async () => ({ status: 'live' }));
  route(app, methodsOf, 'GET', '/health/ready').get('/health/ready', async (_req, reply) => {
    if (served && !closing) return { status: 'ready', model: served.path };
    return reply.code(503).send({ status: 'not_ready', reason: closing ? 'shutting down' : 'no model loaded' });
  });
  route(app, methodsOf, 'GET', '/v1/models').get('/v1/models', async () => {
    const m = served;
    return {
      path: m?.path, provider: m?.provider, threads: m?.threads, workers: m?.pool.workers, bytes: m?.bytes, loadedAt: m?.loadedAt, warmupMs: m?.warmupMs,
      info: m?.info, missingMetadata: m?.missing, lastReloadError, reloading: reloadingNow, inflight,
      batching: { maxBatch: o.maxBatch, maxWaitUs: o.maxWaitUs, maxQueue: o.maxQueue, deadlineMs: o.deadlineMs, workers: o.workers },
      excludeSeenByDefault: data !== undefined, modelDir: modelDir ?? null,
    };
  });
  route(app, methodsOf, 'GET', '/metrics').get('/metrics', async (_req, reply) => reply.header('Content-Type', registry.contentType).send(await registry.metrics()));

  const reload = async (path: string = modelPath, options: { allowOtherDataset?: boolean; source?: string } = {}): Promise<ReloadResult> => {
    while (reloading) await reloading.catch(() => undefined);
    const source = options.source ?? 'api';
    const started = performance.now();
    const attempt = (async (): Promise<ServedModel> => {
      const next = await loadServedModel(path, loadOptions);
      const previous = served;
      if (previous && next.maps.datasetHash !== previous.maps.datasetHash && !options.allowOtherDataset) {
        await next.pool.close();
        throw new ModelLoadError(409, 'other_dataset',
          `${path}: trained on data set ${next.maps.datasetHash.slice(0, 12)}…, but the served model's is ${previous.maps.datasetHash.slice(0, 12)}…; ` +
          'its users and items are other ones. Reload with "allow_other_dataset": true to switch data sets');
      }
      return next;
    })();
    reloading = attempt;
    reloadingNow = { model: path, since: new Date().toISOString(), source };
    try {
      const next = await attempt;
      const previous = served;
      served = next;
      modelPath = path;
      // the old pool may still have queued or running batches: it closes when its last job is answered
      if (previous) {
        if (jobsOf.has(previous)) retired.add(previous);
        else void previous.pool.close();
      }
      lastReloadError = null;
      reloads.inc({ result: 'ok' });
      log(`reloaded ${next.realPath} (${source}; ${next.info.kind} d=${next.info.dim}, ${next.pool.workers} worker${next.pool.workers === 1 ? '' : 's'}, warm-up ${next.warmupMs.toFixed(1)} ms, ${(performance.now() - started).toFixed(0)} ms in all)`);
      return { ok: true, model: path, warmupMs: next.warmupMs };
    } catch (err) {
      const e = err instanceof ModelLoadError ? err : new ModelLoadError(422, 'bad_model', (err as Error).message ?? String(err));
      lastReloadError = `${new Date().toISOString()}: ${e.message}`;
      reloads.inc({ result: 'failed' });
      log(`reload failed, still serving ${served?.realPath ?? modelPath}: ${e.message} (${source})`);
      return { ok: false, error: e.message, code: e.code, status: e.status, model: modelPath };
    } finally {
      reloading = null;
      reloadingNow = null;
    }
  };

  const adminRoutes = new Map<string, string[]>();
  route(admin, adminRoutes, 'POST', '/admin/reload').post('/admin/reload', { schema: reloadSchema }, async (req: FastifyRequest<{ Body: unknown }>, reply) => {
    const body = req.body;
    const refuse = (message: string) => reply.code(400).send({ ok: false, code: 'bad_body', error: message, model: modelPath });
    if (body !== undefined && body !== null && (typeof body !== 'object' || Array.isArray(body))) return refuse('body must be a JSON object: {"model": "<path>", "allow_other_dataset": false}');
    const b = (body ?? {}) as Record<string, unknown>;
    const unknown = Object.keys(b).filter((key) => key !== 'model' && key !== 'allow_other_dataset');
    if (unknown.length > 0) return refuse(`unknown key${unknown.length > 1 ? 's' : ''} ${unknown.map((key) => JSON.stringify(key)).join(', ')} (expected "model" and "allow_other_dataset")`);
    if (b.model !== undefined && (typeof b.model !== 'string' || b.model.length === 0 || b.model.length > 4096)) return refuse('"model" must be a non-empty path string');
    if (b.allow_other_dataset !== undefined && typeof b.allow_other_dataset !== 'boolean') return refuse('"allow_other_dataset" must be true or false');
    const result = await reload((b.model as string | undefined) ?? modelPath, { allowOtherDataset: b.allow_other_dataset as boolean | undefined, source: `admin ${req.ip}` });
    return reply.code(result.ok ? 200 : (result.status ?? 500)).send(result);
  });
  admin.setErrorHandler((err, _req, reply) => {
    const status = (err as { statusCode?: number }).statusCode ?? 500;
    return reply.code(status >= 400 && status < 600 ? status : 500).send({ ok: false, code: status < 500 ? 'bad_body' : 'internal', error: (err as Error).message, model: modelPath });
  });
  admin.setNotFoundHandler((req, reply) => {
    const wrongMethod = notAllowed(adminRoutes, req);
    if (wrongMethod) return reply.code(405).header('Allow', (wrongMethod as HttpError & { allow: string }).allow).send({ error: { code: wrongMethod.code, message: wrongMethod.message } });
    return reply.code(404).send({ error: { code: 'not_found', message: `no route ${req.method} ${req.url}` } });
  });

  const listen = async ({ host, port, adminPort }: { host: string; port: number; adminPort: number }) => {
    try {
      await app.listen({ host, port });
    } catch (err) {
      throw listenError(err as NodeJS.ErrnoException, host, port, 'port', '--port');
    }
    try {
      await admin.listen({ host: '127.0.0.1', port: adminPort });
    } catch (err) {
      await app.close();
      throw listenError(err as NodeJS.ErrnoException, '127.0.0.1', adminPort, 'admin port', '--admin-port');
    }
    const url = urlOf(app.server);
    const adminUrl = urlOf(admin.server);
    return { url, adminUrl };
  };

  const close = async () => {
    closing = true;
    const appClosed = app.close();
    // requests already received are answered; then their keep-alive connections are closed instead of waiting out
    // the keep-alive timeout (72 s)
    await batcher.drain();
    for (let t = 0; inflight > 0 && t < 2000; t++) await new Promise((r) => setTimeout(r, 5));
    app.server.closeAllConnections();
    await appClosed;
    await admin.close();
    const m = served;
    served = null;
    if (m) await m.pool.close();
    await Promise.all(Array.from(retired, (r) => r.pool.close()));
    retired.clear();
  };

  return { app, admin, reload, listen, close, current: () => served, inflight: () => inflight, registry };
}
