import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, renameSync, rmSync, statSync, writeFileSync, readFileSync } from 'node:fs';
import { dirname, basename, join } from 'node:path';
import { InputError } from './errors.js';

export function sha256(data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex');
}

export function sha256File(path: string): string {
  return sha256(readFileSync(path));
}

export function bytesOf(array: ArrayBufferView): Uint8Array {
  return new Uint8Array(array.buffer, array.byteOffset, array.byteLength);
}

/** Writes a file so that readers see either the old content or the whole new one (temp file + rename). */
export function writeFileAtomic(path: string, data: Uint8Array | string): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = join(dirname(path), `.${basename(path)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  writeFileSync(tmp, data);
  renameSync(tmp, path);
}

/**
 * Builds a directory in a temp sibling and renames it into place at the end, so a failure never leaves a
 * half-written `dir`. An existing `dir` is refused unless `force`; with `force` it is replaced only once the
 * new one is complete.
 */
export function writeDirAtomic(dir: string, force: boolean, fill: (tmpDir: string) => void): void {
  if (existsSync(dir) && !force) throw new InputError('output directory exists (use --force to replace it)', { file: dir });
  mkdirSync(dirname(dir), { recursive: true });
  const suffix = `${process.pid}-${randomBytes(4).toString('hex')}`;
  const tmp = join(dirname(dir), `.${basename(dir)}.tmp-${suffix}`);
  mkdirSync(tmp);
  try {
    fill(tmp);
  } catch (err) {
    rmSync(tmp, { recursive: true, force: true });
    throw err;
  }
  if (existsSync(dir)) {
    const old = join(dirname(dir), `.${basename(dir)}.old-${suffix}`);
    renameSync(dir, old);
    renameSync(tmp, dir);
    rmSync(old, { recursive: true, force: true });
  } else {
    renameSync(tmp, dir);
  }
}

/** Canonical JSON (sorted keys) so that hashes of objects do not depend on key order. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (v && typeof v === 'object' && !Array.isArray(v) && !ArrayBuffer.isView(v)) {
      const obj = v as Record<string, unknown>;
      return Object.fromEntries(Object.keys(obj).sort().map((k) => [k, obj[k]]));
    }
    return v;
  });
}

/**
 * The JSON file `file` inside directory `dir`, with one clear error for each way it can be missing or broken.
 * `what` names the directory kind ("checkpoint", "prepared data set"), `hint` how such a directory is made.
 */
export function readJsonInDir<T>(dir: string, file: string, what: string, hint: string): { value: T; path: string } {
  if (!existsSync(dir)) throw new InputError(`${what} not found`, { file: dir });
  if (!statSync(dir).isDirectory()) throw new InputError(`expected a ${what} directory (${hint})`, { file: dir });
  const path = join(dir, file);
  if (!existsSync(path)) throw new InputError(`no ${file}: not a ${what} (${hint})`, { file: dir });
  try {
    return { value: JSON.parse(readFileSync(path, 'utf8')) as T, path };
  } catch (err) {
    throw new InputError(`${file} is not valid JSON (${(err as Error).message})`, { file: path });
  }
}
