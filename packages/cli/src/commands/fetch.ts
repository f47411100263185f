/** `derrd data fetch <name>`: download a public data set, verify its sha256, cache it, prepare it. */
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join, resolve } from 'node:path';
import { InputError, datasetStats, sha256 } from '@derrd/core';
import { formatStats, prepareCommand } from './data.js';
import type { PrepareOptions } from '@derrd/core';

export interface KnownDataset {
  description: string;
  /** the authors' public copy */
  url: string;
  file: string;
  sha256: string;
  format: 'users.dat' | 'delimited';
  prepare: PrepareOptions;
}

export const KNOWN_DATASETS: Record<string, KnownDataset> = {
  citeulike: {
    description: 'citeulike-t users.dat as used by DE-RRD (the authors\' HetComp repository, Data/users.dat); prepared with users of >= 5 interactions',
    url: 'https://raw.githubusercontent.com/SeongKu-Kang/HetComp_WWW23/main/Data/users.dat',
    file: 'users.dat',
    sha256: '02d5d429b2c0362e0ed79f6ef204666b4092563d21493abf4dfb521e8a7078bf',
    format: 'users.dat',
    prepare: { minUserInteractions: 5 },
  },
};

/** `prepare` overrides the known data set's preparation settings (e.g. --min-user). */
export async function fetchDataset(name: string, o: { url?: string; cache: string; out: string; force?: boolean; timeoutMs?: number; prepare?: PrepareOptions }) {
  const known = KNOWN_DATASETS[name];
  if (!known) throw new InputError(`unknown data set "${name}" (known: ${Object.keys(KNOWN_DATASETS).join(', ')})`);
  const dir = resolve(o.cache, name);
  const file = join(dir, known.file);
  let downloaded = false;
  if (!(existsSync(file) && sha256(readFileSync(file)) === known.sha256)) {
    const url = o.url ?? known.url;
    let bytes: Uint8Array;
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(o.timeoutMs ?? 120_000) });
      if (!response.ok) throw new Error(`HTTP ${response.status} ${response.statusText}`);
      bytes = new Uint8Array(await response.arrayBuffer());
    } catch (err) {
      throw new InputError(`download failed from ${url}: ${(err as Error).message} (no network? pass --url, or prepare a local copy with \`derrd data prepare -i users.dat --min-user 5\`)`);
    }
    const digest = sha256(bytes);
    if (digest !== known.sha256) {
      throw new InputError(`downloaded ${bytes.byteLength} bytes from ${url} with sha256 ${digest}, expected ${known.sha256} (changed upstream or corrupted); nothing was saved`);
    }
    mkdirSync(dir, { recursive: true });
    const tmp = join(dir, `.${known.file}.tmp-${randomBytes(4).toString('hex')}`);
    writeFileSync(tmp, bytes);
    try {
      renameSync(tmp, file);
    } catch (err) {
      rmSync(tmp, { force: true });
      throw err;
    }
    downloaded = true;
  }
  const prepared = prepareCommand({ ...known.prepare, ...o.prepare, input: file, format: known.format, out: o.out, force: o.force });
  return { name, file, downloaded, sha256: known.sha256, ...prepared, stats: datasetStats(prepared.dataset), summary: formatStats(datasetStats(prepared.dataset)) };
}
