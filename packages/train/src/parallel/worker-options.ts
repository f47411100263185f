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
