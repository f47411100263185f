/**
 * Serves the browser demo: the page, our browser library, onnxruntime-web's own files (from node_modules, never a
 * CDN) and the two exported models with their id maps, with COOP/COEP so WASM can use threads.
 */
import { createServer as createHttpServer, type Server } from 'node:http';
import { createReadStream, existsSync, statSync } from 'node:fs';
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
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.mjs': 'text/javascript', '.wasm': 'application/wasm',
  '.json': 'application/json', '.onnx': 'application/octet-stream', '.map': 'application/json', '.css': 'text/css',
};

export async function serveDemo(options: DemoOptions): Promise<{ url: string; server: Server; close(): Promise<void> }> {
  const require = createRequire(import.meta.url);
  const here = dirname(new URL(import.meta.url).pathname);
  const roots: Record<string, string> = {
    '/ort/': dirname(require.resolve('onnxruntime-web/wasm')),
    '/lib/': here,
    '/runtime/': dirname(require.resolve('@derrd/runtime/metadata')),
    '/': join(here, '..', 'demo'),
  };
  const models: Record<string, string> = {};
  for (const [role, path] of Object.entries(options.models)) {
    if (!existsSync(path)) throw Object.assign(new Error(`${path}: model file not found`), { derrdUserError: true });
    models[`/models/${role}.onnx`] = resolve(path);
    models[`/models/${role}.ids.json`] = join(dirname(resolve(path)), `${basename(path, '.onnx')}.ids.json`);
  }
  const config = JSON.stringify({ teacher: '/models/teacher.onnx', student: '/models/student.onnx', threads: options.threads ?? 2 });
  const isolation = options.isolation ?? true;
  const server = createHttpServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const headers: Record<string, string> = { 'Cache-Control': 'no-store' };
    if (isolation) Object.assign(headers, { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp', 'Cross-Origin-Resource-Policy': 'same-origin' });
    if (url.pathname === '/config.json') {
      res.writeHead(200, { ...headers, 'Content-Type': TYPES['.json'] }).end(config);
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
