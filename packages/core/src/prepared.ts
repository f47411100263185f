import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { InputError } from './errors.js';
import { IdMap } from './idmap.js';
import type { Dataset, DatasetCounts, DatasetManifest, PrepareSettings } from './dataset.js';
import { bytesOf, canonicalJson, readJsonInDir, sha256, writeDirAtomic, type OutputKind } from './fsutil.js';

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
const PREPARED_FILES = new Set([MANIFEST, ...Object.values(INT_ARRAYS), ...Object.values(ID_MAPS)]);

/** A prepared data set directory, as `--force` may replace it: its manifest and the files it lists, nothing else. */
export const PREPARED_OUTPUT: OutputKind = { what: 'prepared data set', markers: [MANIFEST], owns: (name) => PREPARED_FILES.has(name) };

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
  }, PREPARED_OUTPUT);
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
  const isObject = (v: unknown) => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (!isObject(manifest.counts) || !isObject(manifest.settings) || !isObject(manifest.arrays) || !isObject(manifest.source)) {
    throw new InputError('manifest lacks its counts, settings, arrays or source; prepare the data again', { file: path });
  }
  return manifest;
}

/**
 * An id map as saved: one distinct string per dense id. A repeated raw id would make every dense id after its first
 * one unreachable by raw id, so it is refused with both positions.
 */
export function checkedIdMap(list: unknown, expected: number, side: 'user' | 'item', file: string): IdMap {
  if (!Array.isArray(list) || list.some((x) => typeof x !== 'string')) throw new InputError(`id map must be a JSON array of ${side} ids (strings); prepare the data again`, { file });
  if (list.length !== expected) throw new InputError(`id map lists ${list.length} ${side}s but the manifest counts ${expected}; prepare the data again`, { file });
  const first = new Map<string, number>();
  (list as string[]).forEach((id, k) => {
    const seen = first.get(id);
    if (seen !== undefined) throw new InputError(`${side} id "${id}" appears twice in the id map (dense ids ${seen} and ${k}), so one of them cannot be reached by its raw id; prepare the data again`, { file });
    first.set(id, k);
  });
  return IdMap.fromRaw(list as string[]);
}

/** Loads a prepared data set and verifies every file against the manifest's sha256. */
export function loadDataset(dir: string): Dataset {
  const manifest = readManifest(dir);
  const read = (name: string): Uint8Array => {
    const entry = manifest.arrays[name];
    if (!entry) throw new InputError(`manifest lists no "${name}" array`, { file: join(dir, MANIFEST) });
    if (typeof entry.file !== 'string' || entry.file !== basename(entry.file) || entry.file.startsWith('.')) {
      throw new InputError(`manifest names "${String(entry.file)}" for "${name}": files of a prepared data set are plain names in its directory`, { file: join(dir, MANIFEST) });
    }
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
  const numUsers = manifest.counts.users;
  const numItems = manifest.counts.items;
  const ids = (name: 'userIds' | 'itemIds'): IdMap => {
    const path = join(dir, manifest.arrays[name]?.file ?? ID_MAPS[name]);
    let list: unknown;
    try {
      list = JSON.parse(Buffer.from(read(name)).toString('utf8'));
    } catch (err) {
      if (err instanceof InputError) throw err;
      throw new InputError(`id map is not valid JSON (${(err as Error).message}); prepare the data again`, { file: path });
    }
    return checkedIdMap(list, name === 'userIds' ? numUsers : numItems, name === 'userIds' ? 'user' : 'item', path);
  };
  const ds: Dataset = {
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
  checkConsistent(ds, dir);
  return ds;
}

/** The arrays agree with the counts and each other (a hand-made manifest could list consistent hashes of bad arrays). */
function checkConsistent(ds: Dataset, dir: string): void {
  const fail = (problem: string) => { throw new InputError(`prepared data set is inconsistent: ${problem}; prepare the data again`, { file: dir }); };
  const { numUsers: U, numItems: I } = ds;
  if (!Number.isInteger(U) || !Number.isInteger(I) || U < 1 || I < 1) fail(`counts ${U} users × ${I} items`);
  if (!Number.isInteger(ds.numCandidates) || ds.numCandidates < 0) fail(`${ds.numCandidates} candidates per user`);
  if (ds.trainIndptr.length !== U + 1 || ds.validItem.length !== U || ds.testItem.length !== U || ds.candidates.length !== U * ds.numCandidates) fail('array lengths do not match the user count');
  if (ds.trainIndptr[0] !== 0 || ds.trainIndptr[U] !== ds.trainItems.length) fail('train_indptr does not span train_items');
  for (let u = 0; u < U; u++) if (ds.trainIndptr[u + 1] < ds.trainIndptr[u]) fail(`train_indptr decreases at user ${u}`);
  const inRange = (a: Int32Array, name: string, allowMissing: boolean) => {
    for (let k = 0; k < a.length; k++) if (a[k] >= I || a[k] < (allowMissing ? -1 : 0)) fail(`${name} holds item ${a[k]} outside 0..${I - 1}`);
  };
  inRange(ds.trainItems, 'train_items', false);
  inRange(ds.validItem, 'valid_item', true);
  inRange(ds.testItem, 'test_item', true);
  inRange(ds.candidates, 'candidates', true);
}
