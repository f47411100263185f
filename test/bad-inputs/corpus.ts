/**
 * The bad-input corpus: what a row is, the fixtures rows copy, and how a row runs and is judged. Each row writes its
 * input into a temp dir of its own, runs one `derrd` command there and must get the exit code and message it declares,
 * with no stack trace and nothing outside its declared output changed (the dir is hashed before and after).
 *
 * Rows run in-process through the CLI's runCli (one import of derrd for the whole corpus, so it stays fast); a row
 * that needs another user or a read-only mount is spawned. DERRD_BAD_INPUTS_CLI=<path to main.js> spawns every row
 * with that build instead, e.g. to check that the rows pinning the failures fail on the code before the fix.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, cpSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { canonicalJson, decodeSafetensors, encodeSafetensors, type SafeTensor } from '@derrd/core';

export const ROOT = join(import.meta.dirname, '..', '..');
const OWN_CLI = join(ROOT, 'packages', 'cli', 'dist', 'main.js');
/** Spawn every row with this build of the CLI (its main.js) instead of running them in-process. */
export const OTHER_CLI = process.env.DERRD_BAD_INPUTS_CLI;
const CLI = OTHER_CLI ?? OWN_CLI;

export type Family = 'data files' | 'prepared data sets' | 'flags' | 'config keys' | 'checkpoints' | 'ONNX files' | 'outputs and file systems';

/** Fixtures built once per corpus run, copied into a row's dir by name. */
export type FixtureName =
  /** synthetic interactions, 60 users × 80 items (user, item, timestamp) */
  | 'ratings.tsv'
  /** ratings.tsv prepared, 20 candidates */
  | 'data'
  /** the same interactions prepared with another seed: same shape, another data set */
  | 'data-other'
  /** 40 users × 70 items prepared: another shape */
  | 'data-small'
  /** BPR d=4 trained one epoch on `data` */
  | 'bpr'
  /** a run whose loss became NaN in its first epoch (card.json with status failed, no weights) */
  | 'nan-run'
  /** `bpr` exported to ONNX, with its model.ids.json */
  | 'model.onnx' | 'model.ids.json'
  /** the raw ids of `data`'s rows, {"users": [...], "items": [...]}: `bpr`'s tables as an outside teacher's */
  | 'ids.json';

export type FileSpec = string | Uint8Array | { fixture: FixtureName };

export interface Row {
  /** what is bad, in a few words */
  name: string;
  /** files written into the row's dir before the run (text, bytes, or a copy of a fixture file or directory) */
  files?: Record<string, FileSpec>;
  /** further preparation in the row's dir after `files`: tampering, permissions */
  setup?: (dir: string) => void;
  /** the command, run in the row's dir */
  args: string[];
  /** the exit code: 0 success, 1 bad input, 2 bad usage (flags) */
  exit: number;
  /** a phrase the message on stderr must contain (stdout too, for a row that succeeds) */
  says: string | RegExp;
  /** paths in the row's dir the run may create or change; everything else must be as before */
  output?: string[];
  /** further checks after the run */
  after?: (dir: string, result: RunResult) => void | Promise<void>;
  env?: Record<string, string>;
  /** run as a user that is not root (spawned; as root through setpriv to nobody) */
  unprivileged?: boolean;
  /** a directory in the row's dir mounted read-only for the run (spawned; as a non-root user simulated by a directory without write permission) */
  readOnly?: string;
  /** the number of the issue-18 failure this row pins */
  failure?: number;
}

export interface RunResult {
  status: number;
  stdout: string;
  stderr: string;
}

// ---------------------------------------------------------------------------------------------------------------
// running derrd

let runCli: ((argv: readonly string[]) => Promise<number>) | null = null;

/** Runs derrd in-process: its output captured, the working directory and environment set for the call. */
async function runInProcess(args: string[], cwd: string, env: Record<string, string> = {}): Promise<RunResult> {
  runCli ??= ((await import(join(ROOT, 'packages', 'cli', 'dist', 'program.js'))) as { runCli: typeof runCli }).runCli;
  const out: string[] = [];
  const err: string[] = [];
  // the test runner reports on this process's stdout through streams: its writes pass, derrd's are captured
  const capture = (sink: string[], original: typeof process.stdout.write, stream: NodeJS.WriteStream) => ((chunk: string | Uint8Array, ...rest: unknown[]) => {
    const caller = (new Error().stack ?? '').split('\n')[2] ?? '';
    if (/node:internal\/(test_runner|streams)/.test(caller)) return (original as (...a: unknown[]) => boolean).call(stream, chunk, ...rest);
    sink.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
    const cb = rest.find((r) => typeof r === 'function') as (() => void) | undefined;
    cb?.();
    return true;
  }) as typeof process.stdout.write;
  const saved = { out: process.stdout.write, err: process.stderr.write, cwd: process.cwd(), env: Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]])) };
  process.stdout.write = capture(out, saved.out, process.stdout);
  process.stderr.write = capture(err, saved.err, process.stderr);
  process.chdir(cwd);
  Object.assign(process.env, env);
  let status: number;
  try {
    status = await runCli!(['node', 'derrd', ...args]);
  } finally {
    process.stdout.write = saved.out;
    process.stderr.write = saved.err;
    process.chdir(saved.cwd);
    for (const [k, v] of Object.entries(saved.env)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
  return { status, stdout: out.join(''), stderr: err.join('') };
}

function spawnDerrd(prefix: string[], args: string[], cwd: string, env: Record<string, string> = {}): RunResult {
  const command = [...prefix, process.execPath, CLI, ...args];
  const r = spawnSync(command[0], command.slice(1), { cwd, encoding: 'utf8', timeout: 120_000, env: { ...process.env, CI: '1', ...env } });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr + (r.error ? String(r.error) : '') };
}

const isRoot = process.getuid?.() === 0;
const NOBODY = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'];

function works(command: string[]): boolean {
  return spawnSync(command[0], command.slice(1), { encoding: 'utf8' }).status === 0;
}

/** How this machine can run a row as a user that is not root: directly when not root, else setpriv; null if it cannot. */
export const unprivilegedPrefix: string[] | null = !isRoot ? [] : works([...NOBODY, 'true']) ? NOBODY : null;

/** A shell in a private mount namespace that bind-mounts "$1" read-only, then runs the rest. */
const READ_ONLY = ['unshare', '--mount', 'sh', '-c', 'mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" && shift && exec "$@"', 'sh'];
let readOnlyWorks: boolean | null = null;
export function canMountReadOnly(): boolean {
  if (readOnlyWorks === null) {
    const dir = mkdtempSync(join(tmpdir(), 'derrd-ro-probe-'));
    readOnlyWorks = isRoot && works([...READ_ONLY, dir, 'true'])
      && spawnSync(READ_ONLY[0], [...READ_ONLY.slice(1), dir, 'touch', join(dir, 'x')], { encoding: 'utf8' }).status !== 0;
  }
  return readOnlyWorks;
}

/** Why a row cannot run on this machine, or null. */
export function skipReason(row: Row): string | null {
  if (row.unprivileged && !unprivilegedPrefix) return 'running as root and setpriv cannot switch to nobody: the permission row did not run';
  if (row.readOnly && !canMountReadOnly() && !unprivilegedPrefix) return 'no read-only mount (needs root and unshare) and no unprivileged user to simulate it: the read-only row did not run';
  return null;
}

/** Whether a read-only row is simulated by a directory without write permission (the message then says so). */
export const readOnlySimulated = () => !canMountReadOnly();

export async function runRow(row: Row, dir: string): Promise<RunResult> {
  if (row.readOnly) {
    const target = join(dir, row.readOnly);
    if (canMountReadOnly()) return spawnDerrd([...READ_ONLY, target], row.args, dir, row.env);
    chmodSync(target, 0o555);
    return spawnDerrd(unprivilegedPrefix!, row.args, dir, row.env);
  }
  if (row.unprivileged) return spawnDerrd(unprivilegedPrefix!, row.args, dir, row.env);
  if (OTHER_CLI) return spawnDerrd([], row.args, dir, row.env);
  return runInProcess(row.args, dir, row.env);
}

/** Runs derrd for the fixtures (not a row: no checks but its exit code). */
export async function derrd(args: string[], cwd: string): Promise<RunResult> {
  return OTHER_CLI ? spawnDerrd([], args, cwd) : runInProcess(args, cwd);
}

// ---------------------------------------------------------------------------------------------------------------
// fixtures

export interface Fixtures {
  dir: string;
  path(name: FixtureName): string;
}

export async function buildFixtures(): Promise<Fixtures> {
  const dir = mkdtempSync(join(tmpdir(), 'derrd-bad-inputs-fixtures-'));
  const ok = async (args: string[], expect = 0) => {
    const r = await derrd(args, dir);
    assert.equal(r.status, expect, `fixture: derrd ${args.join(' ')}\n${r.stderr}`);
  };
  await ok(['data', 'synth', '-o', 'ratings.tsv', '--users', '60', '--items', '80', '--seed', '1']);
  await ok(['data', 'synth', '-o', 'small.tsv', '--users', '40', '--items', '70', '--seed', '2']);
  await ok(['data', 'prepare', '-i', 'ratings.tsv', '-o', 'data', '--candidates', '20']);
  await ok(['data', 'prepare', '-i', 'ratings.tsv', '-o', 'data-other', '--candidates', '20', '--seed', '7']);
  await ok(['data', 'prepare', '-i', 'small.tsv', '-o', 'data-small', '--candidates', '20']);
  await ok(['train', '--data', 'data', '--dim', '4', '--epochs', '1', '--batch-size', '256', '--backend', 'wasm', '-o', 'bpr']);
  await ok(['train', '--data', 'data', '--dim', '4', '--epochs', '1', '--batch-size', '64', '--lr', '1e30', '--backend', 'wasm', '-o', 'nan-run'], 1);
  await ok(['export', 'bpr', '-o', 'model.onnx', '--data', 'data']);
  const idsOf = (file: string) => JSON.parse(readFileSync(join(dir, 'data', file), 'utf8')) as string[];
  writeFileSync(join(dir, 'ids.json'), JSON.stringify({ users: idsOf('user_ids.json'), items: idsOf('item_ids.json') }));
  return { dir, path: (name) => join(dir, name) };
}

export function writeRowFiles(dir: string, files: Record<string, FileSpec>, fx: Fixtures): void {
  for (const [rel, spec] of Object.entries(files)) {
    const path = join(dir, rel);
    mkdirSync(dirname(path), { recursive: true });
    if (typeof spec === 'string' || spec instanceof Uint8Array) writeFileSync(path, spec);
    else cpSync(fx.path(spec.fixture), path, { recursive: true });
  }
}

// ---------------------------------------------------------------------------------------------------------------
// judging

/** Every path under `dir` with its content hash (directories and links too), leaving out `skip` and what is under it. */
export function snapshot(dir: string, skip: readonly string[] = []): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (rel: string) => {
    for (const name of readdirSync(join(dir, rel)).sort()) {
      const r = rel ? `${rel}/${name}` : name;
      if (skip.some((s) => r === s || r.startsWith(`${s}/`))) continue;
      const p = join(dir, r);
      const st = lstatSync(p);
      if (st.isSymbolicLink()) out.set(r, `link ${readlinkSync(p)}`);
      else if (st.isDirectory()) {
        out.set(r, 'dir');
        walk(r);
      } else {
        let digest: string;
        try {
          digest = createHash('sha256').update(readFileSync(p)).digest('hex');
        } catch {
          digest = `unreadable, mode ${(st.mode & 0o777).toString(8)}, ${st.size} bytes, modified ${st.mtimeMs}`;
        }
        out.set(r, digest);
      }
    }
  };
  walk('');
  return out;
}

export function changedPaths(before: Map<string, string>, after: Map<string, string>): string[] {
  const keys = new Set([...before.keys(), ...after.keys()]);
  return [...keys].filter((k) => before.get(k) !== after.get(k)).map((k) => `${k} (${!before.has(k) ? 'created' : !after.has(k) ? 'removed' : 'changed'})`);
}

/** A stack trace or derrd's internal-error line: what a bad input must never print. */
export const STACK = /^\s+at .+(:\d+|\(native\))|internal error/m;

// ---------------------------------------------------------------------------------------------------------------
// helpers for rows

/** A prepared data set's manifest re-hashed after its files were edited, as a careful forger would (so only the content checks can catch it). */
export function rehashPrepared(dir: string): void {
  const path = join(dir, 'manifest.json');
  const m = JSON.parse(readFileSync(path, 'utf8')) as { formatVersion: number; settings: unknown; counts: unknown; hash: string; arrays: Record<string, { file: string; sha256: string }> };
  for (const a of Object.values(m.arrays)) {
    const file = join(dir, a.file);
    if (existsSync(file)) a.sha256 = createHash('sha256').update(readFileSync(file)).digest('hex');
  }
  m.hash = createHash('sha256').update(canonicalJson({ formatVersion: m.formatVersion, settings: m.settings, counts: m.counts, arrays: m.arrays })).digest('hex');
  writeFileSync(path, JSON.stringify(m, null, 2) + '\n');
}

export function editJson(path: string, edit: (value: Record<string, unknown>) => unknown): void {
  const value = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  const replaced = edit(value);
  writeFileSync(path, JSON.stringify(replaced === undefined ? value : replaced, null, 2) + '\n');
}

/** Rewrites a checkpoint's model.safetensors through `edit` and records the new sha256 in its card (a consistent checkpoint with other weights). */
export function rewriteWeights(dir: string, edit: (tensors: Record<string, SafeTensor>) => void, file = 'model.safetensors'): void {
  const path = join(dir, file);
  const { tensors, metadata } = decodeSafetensors(new Uint8Array(readFileSync(path)), path);
  edit(tensors);
  const bytes = encodeSafetensors(tensors, metadata);
  writeFileSync(path, bytes);
  if (file === 'model.safetensors') editJson(join(dir, 'card.json'), (card) => { (card.weights as { sha256: string }).sha256 = createHash('sha256').update(bytes).digest('hex'); });
}

export const lines = (...rows: string[]) => rows.join('\n') + '\n';
