import { Worker, type WorkerOptions } from 'node:worker_threads';

/**
 * Node flags for a worker of the compiled package: the parent's, minus module loaders (`--import tsx` and the like).
 * A compiled worker needs no loader, and Node resolves a loader's bare name from the current directory, so a process
 * that changed directory (a test running the CLI in-process, a user's service) could not start its workers.
 */
export function compiledWorkerExecArgv(parent: readonly string[] = process.execArgv): string[] {
  const out: string[] = [];
  for (let i = 0; i < parent.length; i++) {
    const a = parent[i];
    if (a === '--import' || a === '--loader' || a === '--experimental-loader' || a === '--require' || a === '-r') {
      i++;
      continue;
    }
    if (/^--(import|loader|experimental-loader|require)=/.test(a)) continue;
    out.push(a);
  }
  return out;
}

/**
 * A worker thread for `url`, a sibling module of the caller. Compiled (.js) workers get the parent's flags minus
 * loaders; a TypeScript source worker (tests run with the `source` export condition, e.g. mutation testing) is started
 * through a bootstrap that registers tsx first, because Node 20 does not carry the parent's `--import tsx` hooks into
 * a worker.
 */
export function startWorker(url: URL, options: WorkerOptions): Worker {
  if (!url.pathname.endsWith('.ts')) return new Worker(url, { ...options, execArgv: compiledWorkerExecArgv() });
  const bootstrap = `import { register } from 'tsx/esm/api'; register(); await import(${JSON.stringify(url.href)});`;
  return new Worker(bootstrap, { ...options, eval: true });
}
