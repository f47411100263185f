import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { InputError } from './errors.js';
import { IdMap } from './idmap.js';
import type { Dataset, DatasetCounts, DatasetManifest, PrepareSettings } from './dataset.js';
import { bytesOf, canonicalJson, readJsonInDir, sha256, writeDirAtomic } from './fsutil.js';

export const FORMAT_VERSION = 1;
const MANIFEST = 'manifest.json';

type ArrayName = 'trainIndptr' | 'trainItems' | 'validItem' | 'testItem' | 'candidates';
const INT_ARRAYS: Record<ArrayName, string> = {
  trainIndptr: 'train_indptr.i32',
  trainItems: 'train_items.i32',
  validItem: 'valid_item.i32',
  testItem: 'test_item.i32',
  candidates: 'candidates.i32',
};
const ID_MAPS = { userIds: 'user_ids.json', itemIds: 'item_ids.json' } as const;

type DatasetBody = Omit<Dataset, 'manifest'>;

function arrayFiles(body: DatasetBody): Record<string, { file: string; dtype: 'int32' | 'json'; bytes: Uint8Array; length: number }> {
  const files: Record<string, { file: string; dtype: 'int32' | 'json'; bytes: Uint8Array; length: number }> = {};
  for (const [name, file] of Object.entries(INT_ARRAYS) as [ArrayName, string][]) {
    files[name] = { file, dtype: 'int32', bytes: bytesOf(body[name]), length: body[name].length };
  }
  for (const [name, file] of Object.entries(ID_MAPS) as ['userIds' | 'itemIds', string][]) {
    const ids = body[name].rawIds();
    files[name] = { file, dtype: 'json', bytes: Buffer.from(JSON.stringify(ids)), length: ids.length };
  }
  return files;
}

function manifestHash(m: Pick<DatasetManifest, 'formatVersion' | 'settings' | 'counts' | 'arrays'>): string {
  return sha256(canonicalJson({ formatVersion: m.formatVersion, settings: m.settings, counts: m.counts, arrays: m.arrays }));
}

export function computeManifest(
  body: DatasetBody,
  source: DatasetManifest['source'],
  settings: PrepareSettings,
  counts: DatasetCounts,
): DatasetManifest {
  const arrays: DatasetManifest['arrays'] = {};
  for (const [name, f] of Object.entries(arrayFiles(body))) arrays[name] = { file: f.file, dtype: f.dtype, length: f.length, sha256: sha256(f.bytes) };
  const partial = { formatVersion: FORMAT_VERSION, settings, counts, arrays };
  return {
    format: 'derrd-prepared',
    formatVersion: FORMAT_VERSION,
    createdAt: new Date().toISOString(),
    hash: manifestHash(partial),
    source,
    settings,
    counts,
    arrays,
  };
}

/** Writes the data set as a directory (manifest + little-endian int32 arrays + id maps), atomically. */
export function saveDataset(ds: Dataset, dir: string, options: { force?: boolean } = {}): void {
  const files = arrayFiles(ds);
  writeDirAtomic(dir, options.force ?? false, (tmp) => {
    for (const f of Object.values(files)) writeFileSyncExclusive(join(tmp, f.file), f.bytes);
    writeFileSyncExclusive(join(tmp, MANIFEST), Buffer.from(JSON.stringify(ds.manifest, null, 2) + '\n'));
  });
}

function writeFileSyncExclusive(path: string, data: Uint8Array): void {
  writeFileSync(path, data, { flag: 'wx' });
}

/** Reads only the manifest (cheap): for model cards and data set identity checks. */
export function readManifest(dir: string): DatasetManifest {
  const { value: manifest, path } = readJsonInDir<DatasetManifest>(dir, MANIFEST, 'prepared data set', 'run `derrd data prepare`');
  if (manifest.format !== 'derrd-prepared') throw new InputError('manifest format is not derrd-prepared', { file: path });
  if (manifest.formatVersion !== FORMAT_VERSION) {
    throw new InputError(`manifest format version ${manifest.formatVersion} is not supported (this derrd reads ${FORMAT_VERSION}); prepare the data again`, { file: path });
  }
  if (manifestHash(manifest) !== manifest.hash) throw new InputError('manifest hash does not match its content (edited by hand?)', { file: path });
  return manifest;
}

/** Loads a prepared data set and verifies every file against the manifest's sha256. */
export function loadDataset(dir: string): Dataset {
  const manifest = readManifest(dir);
  const read = (name: string): Uint8Array => {
    const entry = manifest.arrays[name];
    if (!entry) throw new InputError(`manifest lists no "${name}" array`, { file: join(dir, MANIFEST) });
    const path = join(dir, entry.file);
    if (!existsSync(path)) throw new InputError('file listed in the manifest is missing', { file: path });
    const bytes = readFileSync(path);
    if (sha256(bytes) !== entry.sha256) {
      throw new InputError('file does not match the manifest (sha256 differs): modified or corrupt; prepare the data again', { file: path });
    }
    return bytes;
  };
  const ints = (name: ArrayName): Int32Array => {
    const bytes = read(name);
    const entry = manifest.arrays[name];
    if (bytes.byteLength !== entry.length * 4) throw new InputError(`expected ${entry.length} int32 values`, { file: join(dir, entry.file) });
    // copy into an aligned buffer: Buffer slices from readFileSync may not be 4-byte aligned
    const out = new Int32Array(entry.length);
    bytesOf(out).set(bytes);
    return out;
  };
  const ids = (name: 'userIds' | 'itemIds'): IdMap => IdMap.fromRaw(JSON.parse(Buffer.from(read(name)).toString('utf8')) as string[]);
  const numUsers = manifest.counts.users;
  const numItems = manifest.counts.items;
  return {
    manifest,
    numUsers,
    numItems,
    trainIndptr: ints('trainIndptr'),
    trainItems: ints('trainItems'),
    validItem: ints('validItem'),
    testItem: ints('testItem'),
    candidates: ints('candidates'),
    numCandidates: manifest.settings.numCandidates,
    userIds: ids('userIds'),
    itemIds: ids('itemIds'),
  };
}
