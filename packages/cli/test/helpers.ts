import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export const ROOT = join(import.meta.dirname, '..', '..', '..');
export const CLI = join(ROOT, 'packages', 'cli', 'dist', 'main.js');
/** The shared CiteULike data (never copied into the repo): next to the checkout, or wherever DERRD_CITEULIKE says. */
export const CITEULIKE = process.env.DERRD_CITEULIKE ?? join(ROOT, '..', 'shared', 'data', 'citeulike');

export interface RunResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the built `derrd` command. */
export function derrd(args: string[], options: { cwd?: string; timeoutMs?: number; env?: Record<string, string> } = {}): RunResult {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd: options.cwd ?? ROOT, encoding: 'utf8', timeout: options.timeoutMs ?? 120_000, env: { ...process.env, CI: '1', ...options.env } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/**
 * Starts the built `derrd` with `args` and kills it with SIGKILL (as a crash or a power cut would) once the run's
 * card.json says `epochs` epochs are complete; resolves with the card as it was left.
 */
export async function runAndKillAfterEpochs(args: string[], cardFile: string, epochs: number, timeoutMs = 120_000): Promise<{ epochsRun: number }> {
  const child = spawn(process.execPath, [CLI, ...args], { cwd: ROOT, stdio: 'ignore' });
  const exited = new Promise((r) => child.once('exit', r));
  await new Promise<void>((resolve, reject) => {
    const started = Date.now();
    const poll = setInterval(() => {
      try {
        if (existsSync(cardFile) && JSON.parse(readFileSync(cardFile, 'utf8')).epochsRun >= epochs) {
          clearInterval(poll);
          child.kill('SIGKILL');
          resolve();
        }
      } catch { /* card being replaced: next poll */ }
      if (Date.now() - started > timeoutMs) { clearInterval(poll); child.kill('SIGKILL'); reject(new Error(`the run did not reach epoch ${epochs}`)); }
    }, 20);
  });
  await exited;
  return JSON.parse(readFileSync(cardFile, 'utf8'));
}
