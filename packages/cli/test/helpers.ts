import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

export const ROOT = join(import.meta.dirname, '..', '..', '..');
export const CLI = join(ROOT, 'packages', 'cli', 'dist', 'main.js');
export const CITEULIKE = join(ROOT, '..', 'shared', 'data', 'citeulike');

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
