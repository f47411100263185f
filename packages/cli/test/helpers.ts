import { spawnSync } from 'node:child_process';
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
