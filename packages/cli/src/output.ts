import { InputError, fsInputError, isFsError } from '@derrd/core';

/** Raised for bad flags: printed as one line, exit code 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export interface OutputOptions {
  json?: boolean;
}

/** Prints a result: JSON for machines with --json, else the human text. */
export function emit(options: OutputOptions, result: unknown, human: () => string): void {
  if (options.json) process.stdout.write(JSON.stringify(result, null, 2) + '\n');
  else process.stdout.write(human() + '\n');
}

/** Status lines go to stderr so --json output on stdout stays parseable. */
export function info(message: string): void {
  process.stderr.write(message + '\n');
}

export function reportError(err: unknown): number {
  if (err instanceof UsageError) {
    process.stderr.write(`derrd: ${err.message}\n`);
    return 2;
  }
  if (err instanceof InputError || (err instanceof Error && (err as { derrdUserError?: boolean }).derrdUserError)) {
    process.stderr.write(`derrd: error: ${err.message}\n`);
    return 1;
  }
  // a file or disk of the user's (permissions, a read-only or full disk) wherever derrd met it: the cause, no stack
  if (isFsError(err)) {
    process.stderr.write(`derrd: error: ${fsInputError(err).message}\n`);
    return 1;
  }
  const e = err as Error;
  process.stderr.write(`derrd: internal error: ${e?.stack ?? String(err)}\n`);
  return 70;
}

export function parseInteger(name: string, value: string, min = 0): number {
  if (!/^-?\d+$/.test(value.trim())) throw new UsageError(`${name} must be an integer, got "${value}"`);
  const n = Number(value);
  if (n < min) throw new UsageError(`${name} must be >= ${min}, got ${n}`);
  return n;
}

export function parseNumber(name: string, value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n)) throw new UsageError(`${name} must be a number, got "${value}"`);
  return n;
}

export function parseChoice<T extends string>(name: string, value: string, choices: readonly T[]): T {
  if (!(choices as readonly string[]).includes(value)) throw new UsageError(`${name} must be one of ${choices.join('|')}, got "${value}"`);
  return value as T;
}
