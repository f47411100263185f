/**
 * Serves the browser demo: the page, our browser library, onnxruntime-web's own files (from node_modules, never a
 * CDN) and the two exported models with the id maps their metadata names, with COOP/COEP so WASM can use threads;
 * given a data set, it also answers a user's training items (/seen?user=ID).
 */
import { createServer as createHttpServer, type Server } from 'node:http';
import { createReadStream, existsSync, readFileSync, statSync } from 'node:fs';
import { readMetadataProps } from '@derrd/runtime/metadata';
import { createRequire } from 'node:module';
import { basename, dirname, extname, join, normalize, resolve, sep } from 'node:path';

export interface DemoOptions {
  models: { teacher: string; student: string };
  host?: string;
  port?: number;
  /** threads requested in the page (ORT uses them only when cross-origin isolated) */
  threads?: number;
  /** send COOP/COEP (default true); without them the page runs single-threaded */
  isolation?: boolean;
  /** a user's training items (raw ids), shown beside the lists and excluded from them; absent: the page says so */
  seen?: { items(rawUserId: string): string[] | undefined; source: string };
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.mjs': 'text/javascript', '.wasm': 'application/wasm',
  '.json': 'application/json', '.onnx': 'application/octet-stream', '.map': 'application/json', '.css': 'text/css',
};

const userError = (message: string) => Object.assign(new Error(message), { derrdUserError: true });

/** The raw-id map file a model's metadata names (written next to it by `derrd export`). */
function idMapsOf(path: string): string {
  let metadata: Record<string, string>;
  try {
    metadata = readMetadataProps(new Uint8Array(readFileSync(path))).metadata;
  } catch (err) {
    throw userError(`${path}: not an ONNX model (${(err as Error).message})`);
  }
  const name = metadata['derrd.id_maps'];
  if (!name) throw userError(`${path}: not a derrd model (no derrd.id_maps in its metadata): export it with \`derrd export\``);
  const maps = join(dirname(resolve(path)), basename(name));
  if (!existsSync(maps)) throw userError(`${path}: its id map ${basename(name)} (named in the model's metadata) is missing next to it; \`derrd export\` writes both`);
  return maps;
}

export async function serveDemo(options: DemoOptions): Promise<{ url: string; server: Server; close(): Promise<void> }> {
  const require = createRequire(import.meta.url);
  const here = dirname(new URL(import.meta.url).pathname);
  const roots: Record<string, string> = {
    '/ort/': dirname(require.resolve('onnxruntime-web/wasm')),
    '/lib/': here,
    '/runtime/': dirname(require.resolve('@derrd/runtime/metadata')),
    '/': join(here, '..', 'demo'),
  };
  // each model under /models/<role>/ by its own name, its id map beside it by the name in its metadata
  const models: Record<string, string> = {};
  const urls: Record<string, string> = {};
  for (const [role, path] of Object.entries(options.models)) {
    if (!existsSync(path)) throw userError(`${path}: model file not found`);
    const maps = idMapsOf(path);
    urls[role] = `/models/${role}/${encodeURIComponent(basename(path))}`;
    models[urls[role]] = resolve(path);
    models[`/models/${role}/${encodeURIComponent(basename(maps))}`] = maps;
  }
  const config = JSON.stringify({ teacher: urls.teacher, student: urls.student, threads: options.threads ?? 2, seen: options.seen ? options.seen.source : null });
  const isolation = options.isolation ?? true;
  const server = createHttpServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const headers: Record<string, string> = { 'Cache-Control': 'no-store' };
    if (isolation) Object.assign(headers, { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp', 'Cross-Origin-Resource-Policy': 'same-origin' });
    if (url.pathname === '/config.json') {
      res.writeHead(200, { ...headers, 'Content-Type': TYPES['.json'] }).end(config);
      return;
    }
    if (url.pathname === '/seen') {
      const user = url.searchParams.get('user') ?? '';
      const items = options.seen?.items(user);
      if (!items) res.writeHead(404, { ...headers, 'Content-Type': TYPES['.json'] }).end(JSON.stringify({ error: options.seen ? `unknown user "${user}"` : 'no data set: start the demo with --data' }));
      else res.writeHead(200, { ...headers, 'Content-Type': TYPES['.json'] }).end(JSON.stringify({ user, items }));
      return;
    }
    let file: string | undefined = models[url.pathname];
    if (!file) {
      const prefix = Object.keys(roots).find((p) => url.pathname.startsWith(p))!;
      const rel = url.pathname === '/' ? 'index.html' : url.pathname.slice(prefix.length);
      const candidate = normalize(join(roots[prefix], rel));
      if (candidate.startsWith(roots[prefix] + sep) || candidate === roots[prefix]) file = candidate;
    }
    if (!file || !existsSync(file) || !statSync(file).isFile()) {
      res.writeHead(404, { ...headers, 'Content-Type': 'text/plain' }).end('not found');
      return;
    }
    res.writeHead(200, { ...headers, 'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream' });
    createReadStream(file).pipe(res);
  });
  await new Promise<void>((r) => server.listen(options.port ?? 8090, options.host ?? '127.0.0.1', r));
  const address = server.address() as { port: number };
  return { url: `http://${options.host ?? '127.0.0.1'}:${address.port}/`, server, close: () => new Promise((r) => server.close(() => r())) };
}
