import type { Command } from 'commander';
import { PROVIDERS, type Provider } from '@derrd/runtime';
import { SERVE_DEFAULTS, createServer } from '@derrd/serve-node';
import { info, parseChoice, parseInteger } from '../output.js';

export function registerServeCommand(program: Command): void {
  const d = SERVE_DEFAULTS;
  program
    .command('serve')
    .description('serve an exported model over HTTP (GET/POST /v1/recommend, /health/live, /health/ready, /v1/models, /metrics; admin POST /admin/reload on 127.0.0.1; SIGHUP reloads)')
    .requiredOption('--model <file>', 'exported .onnx model (with its <name>.ids.json next to it)')
    .option('--provider <p>', `execution provider: ${PROVIDERS.join('|')}`, d.provider)
    .option('--threads <n>', 'onnxruntime intra-op threads', String(d.threads))
    .option('--host <addr>', 'address to listen on', '127.0.0.1')
    .option('--port <n>', 'port (0: any free port)', '8080')
    .option('--admin-port <n>', 'admin port on 127.0.0.1 (default: port + 1; 0: any free port)')
    .option('--data <dir>', 'prepared data set: enables exclude_seen and the popular cold-start list')
    .option('--cold-start <mode>', 'unknown users: error (404) | popular (most popular items; needs --data)', d.coldStart)
    .option('--max-batch <n>', 'most users in one model run', String(d.maxBatch))
    .option('--max-wait-us <n>', 'longest wait for a batch to fill, µs', String(d.maxWaitUs))
    .option('--max-queue <n>', 'most users waiting; beyond it 503 + Retry-After', String(d.maxQueue))
    .option('--deadline-ms <n>', 'a request still queued after this gets 503 + Retry-After', String(d.deadlineMs))
    .option('--max-request-users <n>', 'most users in one POST', String(d.maxRequestUsers))
    .option('--max-k <n>', 'largest k accepted', String(d.maxK))
    .option('--body-limit <bytes>', 'largest request body', String(d.bodyLimitBytes))
    .option('--json', 'print {"url", "admin"} as one JSON line when ready', false)
    .action(async (opts: Record<string, string | boolean | undefined>) => {
      const coldStart = parseChoice('--cold-start', String(opts.coldStart), ['error', 'popular'] as const);
      if (coldStart === 'popular' && !opts.data) throw Object.assign(new Error('--cold-start popular needs --data (popularity comes from the training data)'), { derrdUserError: true });
      const server = await createServer({
        model: String(opts.model), provider: parseChoice('--provider', String(opts.provider), PROVIDERS) as Provider,
        threads: parseInteger('--threads', String(opts.threads), 1), data: opts.data as string | undefined, coldStart,
        maxBatch: parseInteger('--max-batch', String(opts.maxBatch), 1), maxWaitUs: parseInteger('--max-wait-us', String(opts.maxWaitUs)),
        maxQueue: parseInteger('--max-queue', String(opts.maxQueue), 1), deadlineMs: parseInteger('--deadline-ms', String(opts.deadlineMs), 1),
        maxRequestUsers: parseInteger('--max-request-users', String(opts.maxRequestUsers), 1), maxK: parseInteger('--max-k', String(opts.maxK), 1),
        bodyLimitBytes: parseInteger('--body-limit', String(opts.bodyLimit), 64),
      });
      const port = parseInteger('--port', String(opts.port));
      const url = await server.app.listen({ host: String(opts.host), port });
      const adminPort = opts.adminPort === undefined ? (port === 0 ? 0 : port + 1) : parseInteger('--admin-port', String(opts.adminPort));
      const adminUrl = await server.admin.listen({ host: '127.0.0.1', port: adminPort });
      const m = server.current()!;
      info(`serving ${m.path} (${m.rec.provider}, ${m.rec.threads} threads, warm-up ${m.warmupMs.toFixed(1)} ms) on ${url}; admin ${adminUrl}`);
      if (opts.json) process.stdout.write(JSON.stringify({ url, admin: adminUrl }) + '\n');
      process.on('SIGHUP', () => {
        void server.reload().then((r) => info(r.ok ? `reloaded ${r.model}` : `reload failed, still serving ${r.model}: ${r.error}`));
      });
      let stopping = false;
      const stop = (signal: string) => {
        if (stopping) return;
        stopping = true;
        info(`${signal}: draining and shutting down`);
        void server.close().then(() => process.exit(0));
      };
      process.on('SIGTERM', () => stop('SIGTERM'));
      process.on('SIGINT', () => stop('SIGINT'));
    });
}
