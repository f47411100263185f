/**
 * HTTP rows of the corpus: one request to an in-process server (Fastify inject, no socket), the status and a phrase
 * of the answer, no stack trace, and nothing in the row's dir changed. With DERRD_BAD_INPUTS_CLI set, the server comes
 * from that build's serve-node package, like the spawned CLI rows.
 */
import { dirname, join } from 'node:path';
import type { FileSpec } from './corpus.ts';
import { OTHER_CLI, ROOT } from './corpus.ts';

/** What a row sees of the server: the public and admin apps (inject only) and close. */
export interface InjectServer {
  app: Injector;
  admin: Injector;
  close(): Promise<void>;
}

interface Injector {
  inject(request: { method: string; url: string; payload?: string; headers?: Record<string, string> }): Promise<{ statusCode: number; body: string; headers: Record<string, unknown> }>;
}

export interface HttpRow {
  name: string;
  /** files written into the row's dir (default: the exported model and its id map, as model.onnx and model.ids.json) */
  files?: Record<string, FileSpec>;
  /** further preparation in the row's dir after `files` */
  setup?: (dir: string) => void;
  /** serve the prepared data set `data` of the row's dir (seen items, cold start) */
  withData?: boolean;
  /** the admin API (POST /admin/reload) instead of the public one */
  admin?: boolean;
  method: string;
  /** the path and query; `{user}` is replaced by the first raw user id of the model */
  url: string;
  /** the raw body (sent as application/json unless `headers` says otherwise), or a function of the row's dir */
  body?: string | ((dir: string) => string);
  headers?: Record<string, string>;
  status: number;
  /** a phrase the answer's body must contain */
  says: string | RegExp;
  /** further checks after the answer, with the server still up (e.g. the old model keeps serving) */
  after?: (server: InjectServer, dir: string) => Promise<void>;
  /** the number of the issue-18 failure this row pins */
  failure?: number;
}

type CreateServer = (o: { model: string; provider: 'cpu'; workers: number; threads: number; data?: string; log?: (line: string) => void }) => Promise<InjectServer>;

let create: CreateServer | null = null;

/** A server on the row's model, its worker pool on the event loop (workers 0: no threads to start per row). */
export async function startServer(dir: string, withData: boolean): Promise<InjectServer> {
  const tree = OTHER_CLI ? join(dirname(OTHER_CLI), '..', '..') : join(ROOT, 'packages');
  create ??= ((await import(join(tree, 'serve-node', 'dist', 'index.js'))) as { createServer: CreateServer }).createServer;
  return create({ model: join(dir, 'model.onnx'), provider: 'cpu', workers: 0, threads: 1, ...(withData ? { data: join(dir, 'data') } : {}), log: () => undefined });
}
