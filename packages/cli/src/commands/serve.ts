import type { Command } from 'commander';
import { PROVIDERS, type Provider } from '@derrd/runtime';
import { DEFAULT_WORKERS, SERVE_DEFAULTS, createServer } from '@derrd/serve-node';
import { info, parseChoice, parseInteger } from '../output.js';

export function registerServeCommand(program: Command): void {
  const d = SERVE_DEFAULTS;
  program
    .command('serve')
    .description('serve an exported model over HTTP (GET/POST /v1/recommend, /health/live, /health/ready, /v1/models, /metrics; admin POST /admin/reload on 127.0.0.1; SIGHUP reloads). See docs/serving.md')
    .requiredOption('--model <file>', 'exported .onnx model (with its <name>.ids.json next to it)')
    .option('--provider <p>', `execution provider: ${PROVIDERS.filter((p) => p !== 'wasm').join('|')} (webgpu: onnxruntime-node's WebGPU over Vulkan; fails clearly without a GPU)`, d.provider)
    .option('--workers <n>', `worker threads running the model, one onnxruntime session each (default: half the cores, here ${DEFAULT_WORKERS}; 0: run on the event loop)`, String(d.workers))
    .option('--threads <n>', 'onnxruntime intra-op threads per worker', String(d.threads))
    .option('--host <addr>', 'address to listen on (0.0.0.0: all interfaces)', '127.0.0.1')
    .option('--port <n>', 'port (0: any free port)', '8080')
    .option('--admin-port <n>', 'admin port on 127.0.0.1 (default: port + 1; 0: any free port)')
    .option('--data <dir>', 'prepared data set: seen items are excluded by default (exclude_seen=false includes them) and the popular cold-start list')
    .option('--model-dir <dir>', 'models (the first and every reload) must lie inside this directory; relative reload paths start there')
    .option('--max-model-mb <n>', 'largest model file (and id map) accepted, MiB', String(Math.round(d.maxModelBytes / 2 ** 20)))
    .option('--cold-start <mode>', 'unknown users: error (404) | popular (most popular items; needs --data)', d.coldStart)
    .option('--max-batch <n>', 'most users in one model run', String(d.maxBatch))
    .option('--max-wait-us <n>', 'how long a batch that is not full may wait for company, µs (0: never wait; a batch runs as soon as a worker is free)', String(d.maxWaitUs))
    .option('--max-queue <n>', 'most users waiting; beyond it 503 + Retry-After', String(d.maxQueue))
    .option('--deadline-ms <n>', 'a request still queued after this gets 503 + Retry-After', String(d.deadlineMs))
    .option('--max-request-users <n>', 'most users in one POST', String(d.maxRequestUsers))
    .option('--max-k <n>', 'largest k accepted', String(d.maxK))
    .option('--max-exclude <n>', 'most items one request may exclude', String(d.maxExclude))
    .option('--body-limit <bytes>', 'largest request body', String(d.bodyLimitBytes))
    .option('--body-timeout-ms <n>', 'a request whose headers and body have not arrived within this gets 408 and its connection closed', String(d.bodyTimeoutMs))
    .option('--json', 'print {"url", "admin"} as one JSON line when ready', false)
    .action(async (opts: Record<string, string | boolean | undefined>) => {
      const coldStart = parseChoice('--cold-start', String(opts.coldStart), ['error', 'popular'] as const);
      if (coldStart === 'popular' && !opts.data) throw Object.assign(new Error('--cold-start popular needs --data (popularity comes from the training data)'), { derrdUserError: true });
      const host = String(opts.host);
      const port = parseInteger('--port', String(opts.port));
      const adminPort = opts.adminPort === undefined ? (port === 0 ? 0 : port + 1) : parseInteger('--admin-port', String(opts.adminPort));
      const server = await createServer({
        model: String(opts.model), provider: parseChoice('--provider', String(opts.provider), PROVIDERS.filter((p) => p !== 'wasm')) as Provider,
        workers: parseInteger('--workers', String(opts.workers), 0), threads: parseInteger('--threads', String(opts.threads), 1),
        data: opts.data as string | undefined, modelDir: opts.modelDir as string | undefined, coldStart,
        maxModelBytes: parseInteger('--max-model-mb', String(opts.maxModelMb), 1) * 2 ** 20,
        maxBatch: parseInteger('--max-batch', String(opts.maxBatch), 1), maxWaitUs: parseInteger('--max-wait-us', String(opts.maxWaitUs)),
        maxQueue: parseInteger('--max-queue', String(opts.maxQueue), 1), deadlineMs: parseInteger('--deadline-ms', String(opts.deadlineMs), 1),
        maxRequestUsers: parseInteger('--max-request-users', String(opts.maxRequestUsers), 1), maxK: parseInteger('--max-k', String(opts.maxK), 1),
        maxExclude: parseInteger('--max-exclude', String(opts.maxExclude)), bodyLimitBytes: parseInteger('--body-limit', String(opts.bodyLimit), 64),
        bodyTimeoutMs: parseInteger('--body-timeout-ms', String(opts.bodyTimeoutMs), 100),
        log: info,
      });
      let urls;
      try {
        urls = await server.listen({ host, port, adminPort });
      } catch (err) {
        await server.close();
        throw err;
      }
      // signal handlers before the ready line: a supervisor may send SIGTERM as soon as it reads it
      process.on('SIGHUP', () => { void server.reload(undefined, { source: 'SIGHUP' }); });
      let stopping = false;
      const stop = (signal: string) => {
        if (stopping) return;
        stopping = true;
        info(`${signal}: draining and shutting down`);
        void server.close().then(() => process.exit(0));
      };
      process.on('SIGTERM', () => stop('SIGTERM'));
      process.on('SIGINT', () => stop('SIGINT'));
      const m = server.current()!;
      info(`serving ${m.realPath} (${m.provider}, ${m.pool.workers === 0 ? 'model on the event loop' : `${m.pool.workers} worker${m.pool.workers > 1 ? 's' : ''}`} × ${m.threads} thread${m.threads > 1 ? 's' : ''}, warm-up ${m.warmupMs.toFixed(1)} ms${opts.data ? ', seen items excluded by default' : ''}) on ${urls.url}${/\/\/(0\.0\.0\.0|\[::\]):/.test(urls.url) ? ' (all interfaces)' : ''}; admin ${urls.adminUrl}`);
      if (opts.json) process.stdout.write(JSON.stringify({ url: urls.url, admin: urls.adminUrl }) + '\n');
    });
}
