import type { Command } from 'commander';
import { serveDemo } from '@derrd/serve-web';
import { info, parseInteger } from '../output.js';

export function registerDemoCommand(program: Command): void {
  program
    .command('demo')
    .description('serve the browser demo (teacher vs student top-10 and in-browser latency, onnxruntime-web WASM) with COOP/COEP headers')
    .requiredOption('--teacher <file>', 'exported teacher .onnx')
    .requiredOption('--student <file>', 'exported student .onnx')
    .option('--host <addr>', 'address to listen on', '127.0.0.1')
    .option('--port <n>', 'port (0: any free port)', '8090')
    .option('--threads <n>', 'WASM threads requested in the page', '2')
    .action(async (opts: Record<string, string>) => {
      const demo = await serveDemo({ models: { teacher: opts.teacher, student: opts.student }, host: opts.host, port: parseInteger('--port', opts.port), threads: parseInteger('--threads', opts.threads, 1) });
      info(`demo on ${demo.url} (Ctrl-C to stop)`);
      process.stdout.write(JSON.stringify({ url: demo.url }) + '\n');
      process.on('SIGINT', () => void demo.close().then(() => process.exit(0)));
      process.on('SIGTERM', () => void demo.close().then(() => process.exit(0)));
    });
}
