import { createHash, randomBytes } from 'node:crypto';
import { accessSync, constants, existsSync, mkdirSync, readdirSync, realpathSync, renameSync, rmSync, statSync, writeFileSync, readFileSync } from 'node:fs';
import { dirname, basename, isAbsolute, join, relative, resolve } from 'node:path';
import { InputError, fsInputError, isFsError } from './errors.js';

export function sha256(data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex');
}

export function sha256File(path: string): string {
  return sha256(readFileSync(path));
}

export function bytesOf(array: ArrayBufferView): Uint8Array {
  return new Uint8Array(array.buffer, array.byteOffset, array.byteLength);
}

/** `.NAME.tmp-PID-HEX` and `.NAME.old-PID-HEX`: the temporaries derrd's atomic writes make next to NAME. */
const TEMP_NAME = /^\.(.+)\.(tmp|old)-(\d+)-[0-9a-f]{8}$/;

/** Whether a directory entry is one of those temporaries (of any run, live or dead). */
export function isTemporaryName(name: string): boolean {
  return TEMP_NAME.test(name);
}

function tempName(path: string, kind: 'tmp' | 'old', suffix = `${process.pid}-${randomBytes(4).toString('hex')}`): string {
  return join(dirname(path), `.${basename(path)}.${kind}-${suffix}`);
}

/** Whether a process with this id is running (one of another user counts: signalling it is merely not permitted). */
function processAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Cleans what a killed derrd left next to `path`: temporaries of our own naming (`.NAME.tmp-PID-*`,
 * `.NAME.old-PID-*`) whose process is gone. If `path` itself is missing and a dead run's `.old-` copy is there (killed
 * between the two renames of a directory swap), that complete previous version is put back first. Nothing else is
 * touched, and neither is a temporary of a run still alive.
 */
export function removeStaleTemporaries(path: string): { removed: string[]; restored: boolean } {
  const dir = dirname(path);
  const name = basename(path);
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return { removed: [], restored: false };
  }
  const stale = entries.filter((e) => {
    const m = TEMP_NAME.exec(e);
    return m !== null && m[1] === name && !processAlive(Number(m[3]));
  });
  let restored = false;
  if (!existsSync(path)) {
    const old = stale.find((e) => TEMP_NAME.exec(e)![2] === 'old');
    if (old) {
      renameSync(join(dir, old), path);
      restored = true;
    }
  }
  const removed: string[] = [];
  for (const e of stale) {
    const p = join(dir, e);
    if (!existsSync(p)) continue;
    rmSync(p, { recursive: true, force: true });
    removed.push(p);
  }
  return { removed, restored };
}

/** The closest existing directory at or above `path`, or the file that blocks it. */
function nearestExisting(path: string): string {
  let p = resolve(path);
  while (!existsSync(p)) {
    const up = dirname(p);
    if (up === p) break;
    p = up;
  }
  return p;
}

/**
 * Refuses, before any work, an output that cannot be written: files are to be created in directory `dir` (made if
 * missing), which fails under a file, under a directory derrd may not write in, or on a read-only file system.
 * `where` is the user's output path the message names.
 */
export function checkWritable(dir: string, where: string): void {
  const target = nearestExisting(dir);
  if (!statSync(target).isDirectory()) throw new InputError(`cannot create it: ${target} is a file, not a directory`, { file: where });
  try {
    accessSync(target, constants.W_OK | constants.X_OK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EROFS') throw new InputError(`cannot write it: ${target} is on a read-only file system (choose an output on a writable disk)`, { file: where });
    if (code === 'EACCES' || code === 'EPERM') throw new InputError(`cannot write it: no permission to write in ${target} (check its permissions, or choose another output)`, { file: where });
    throw fsInputError(err, where);
  }
}

/** A kind of directory derrd writes, so that `--force` replaces only one of those (never a user's own files). */
export interface OutputKind {
  /** "prepared data set", "checkpoint" */
  what: string;
  /** files of which one is in every such directory: how derrd tells that it wrote it */
  markers: readonly string[];
  /** whether a file in such a directory is one derrd writes there (default: any) */
  owns?: (name: string) => boolean;
}

/** Either of derrd's directories: what writeDirAtomic may replace when the caller names no kind. */
export const DERRD_OUTPUT: OutputKind = { what: 'derrd output directory (prepared data set or checkpoint)', markers: ['manifest.json', 'card.json'] };

/** Paths equal, or `inner` inside `outer` (both resolved through symbolic links where they exist). */
function contains(outer: string, inner: string): boolean {
  const real = (p: string) => {
    const abs = resolve(p);
    const existing = nearestExisting(abs);
    try {
      return join(realpathSync(existing), relative(existing, abs));
    } catch {
      return abs;
    }
  };
  const rel = relative(real(outer), real(inner));
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
}

/**
 * Checks an output directory before any work: stale temporaries of a killed run are cleaned; the output may not be
 * or hold one of `inputs`; an existing path is replaced only when it is an empty directory or a `kind` derrd wrote
 * (with `force`), holding nothing derrd did not write; the place must be writable.
 */
export function checkOutputDir(dir: string, kind: OutputKind, o: { force: boolean; inputs?: readonly (string | undefined)[]; flag?: string }): void {
  const flag = o.flag ?? '--out';
  removeStaleTemporaries(dir);
  for (const input of o.inputs ?? []) {
    if (input !== undefined && existsSync(input) && contains(dir, input)) {
      throw new InputError(`${flag} ${dir} ${resolve(input) === resolve(dir) ? 'is' : 'holds'} the input ${input}: writing the output would delete it; choose another ${flag}`, { file: dir });
    }
  }
  if (existsSync(dir)) {
    if (!statSync(dir).isDirectory()) {
      throw new InputError(`is a file, not a ${kind.what} directory; derrd replaces only a ${kind.what} it wrote (--force does not change that): choose another ${flag}`, { file: dir });
    }
    const entries = readdirSync(dir).filter((e) => !TEMP_NAME.test(e));
    if (entries.length > 0) {
      if (!kind.markers.some((m) => entries.includes(m))) {
        throw new InputError(`is a directory but not a ${kind.what} (no ${kind.markers.join(' or ')}): derrd replaces only a ${kind.what} it wrote, even with --force; choose a new or empty ${flag}`, { file: dir });
      }
      if (!o.force) throw new InputError('output directory exists (use --force to replace it)', { file: dir });
      const foreign = kind.owns ? entries.filter((e) => !kind.owns!(e)) : [];
      if (foreign.length > 0) {
        throw new InputError(`holds files derrd did not write (${foreign.slice(0, 5).join(', ')}${foreign.length > 5 ? ', …' : ''}), which --force would delete: move them out first, or choose another ${flag}`, { file: dir });
      }
    }
  }
  checkWritable(dirname(resolve(dir)), dir);
}

/** Writes a file so that readers see either the old content or the whole new one (temp file + rename). */
export function writeFileAtomic(path: string, data: Uint8Array | string): void {
  removeStaleTemporaries(path);
  mkdirSync(dirname(path), { recursive: true });
  const tmp = tempName(path, 'tmp');
  try {
    writeFileSync(tmp, data);
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw fsInputError(err, path);
  }
}

/**
 * Builds a directory in a temp sibling and renames it into place at the end, so a failure never leaves a
 * half-written `dir`. An existing `dir` is refused unless `force` and it is a `kind` derrd wrote (checkOutputDir);
 * with `force` it is replaced only once the new one is complete.
 */
export function writeDirAtomic(dir: string, force: boolean, fill: (tmpDir: string) => void, kind: OutputKind = DERRD_OUTPUT): void {
  checkOutputDir(dir, kind, { force });
  mkdirSync(dirname(dir), { recursive: true });
  const suffix = `${process.pid}-${randomBytes(4).toString('hex')}`;
  const tmp = tempName(dir, 'tmp', suffix);
  mkdirSync(tmp);
  try {
    fill(tmp);
  } catch (err) {
    rmSync(tmp, { recursive: true, force: true });
    throw fsInputError(err, dir);
  }
  if (existsSync(dir)) {
    const old = tempName(dir, 'old', suffix);
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
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    if (isFsError(err)) throw fsInputError(err, path);
    throw new InputError(`${file} is not valid JSON (${(err as Error).message}): truncated or edited? (${hint})`, { file: path });
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new InputError(`${file} is not a JSON object: not a ${what} (${hint})`, { file: path });
  return { value: value as T, path };
}
