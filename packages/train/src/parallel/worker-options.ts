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
 * A worker thread running the module `name` (no extension) next to the caller's module `callerUrl`: the caller's own
 * kind, so the compiled package starts the .js worker with the parent's flags minus loaders, and a TypeScript source
 * checkout (tests run with the `source` export condition, e.g. mutation testing) the .ts worker through a bootstrap
 * that registers tsx first, because Node 20 does not carry the parent's `--import tsx` hooks into a worker.
 */
export function startWorker(name: string, callerUrl: string, options: WorkerOptions): Worker {
  if (!callerUrl.endsWith('.ts')) return new Worker(new URL(`${name}.js`, callerUrl), { ...options, execArgv: compiledWorkerExecArgv() });
  const bootstrap = `import { register } from 'tsx/esm/api'; register(); await import(${JSON.stringify(new URL(`${name}.ts`, callerUrl).href)});`;
  return new Worker(bootstrap, { ...options, eval: true });
}
