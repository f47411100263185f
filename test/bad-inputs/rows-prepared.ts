/** Prepared data set directories (from `derrd data prepare`) that are missing, edited, truncated or forged. */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { editJson, rehashPrepared, type Row } from './corpus.ts';

const stats = ['data', 'stats', 'ds'];
const ds = { ds: { fixture: 'data' } } as const;
const setIds = (dir: string, file: string, edit: (ids: string[]) => string[] | unknown) => {
  const path = join(dir, 'ds', file);
  writeFileSync(path, JSON.stringify(edit(JSON.parse(readFileSync(path, 'utf8')) as string[])));
};
const setInts = (dir: string, file: string, edit: (a: Int32Array) => void) => {
  const path = join(dir, 'ds', file);
  const b = readFileSync(path);
  const a = new Int32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
  edit(a);
  writeFileSync(path, new Uint8Array(a.buffer));
};

export const PREPARED_ROWS: Row[] = [
  { name: 'a directory that is not a prepared data set', files: { 'ds/notes.txt': 'mine' }, args: stats, exit: 1, says: 'ds: no manifest.json: not a prepared data set' },
  { name: 'a prepared data set that does not exist', args: stats, exit: 1, says: 'ds: prepared data set not found' },
  { name: 'a file where a prepared data set should be', files: { ds: 'x' }, args: stats, exit: 1, says: 'ds: expected a prepared data set directory' },
  { name: 'an array file changed', files: ds, setup: (d) => setInts(d, 'train_items.i32', (a) => { a[0] ^= 1; }), args: stats, exit: 1, says: 'train_items.i32: file does not match the manifest (sha256 differs)' },
  { name: 'an array file truncated', files: ds, setup: (d) => writeFileSync(join(d, 'ds', 'candidates.i32'), readFileSync(join(d, 'ds', 'candidates.i32')).subarray(0, 10)), args: stats, exit: 1, says: 'candidates.i32: file does not match the manifest' },
  { name: 'an array file missing', files: ds, setup: (d) => rmSync(join(d, 'ds', 'valid_item.i32')), args: stats, exit: 1, says: 'valid_item.i32: file listed in the manifest is missing' },
  { name: 'the manifest truncated', files: ds, setup: (d) => writeFileSync(join(d, 'ds', 'manifest.json'), readFileSync(join(d, 'ds', 'manifest.json'), 'utf8').slice(0, 60)), args: stats, exit: 1, says: 'manifest.json is not valid JSON' },
  { name: 'the manifest is JSON null', files: ds, setup: (d) => writeFileSync(join(d, 'ds', 'manifest.json'), 'null'), args: stats, exit: 1, says: 'manifest.json is not a JSON object' },
  { name: 'a count edited in the manifest', files: ds, setup: (d) => editJson(join(d, 'ds', 'manifest.json'), (m) => { (m.counts as { users: number }).users = 61; }), args: stats, exit: 1, says: 'manifest hash does not match its content' },
  { name: 'a manifest from a future derrd', files: ds, setup: (d) => editJson(join(d, 'ds', 'manifest.json'), (m) => { m.formatVersion = 99; }), args: stats, exit: 1, says: 'manifest format version 99 is not supported' },
  { name: 'another tool\'s manifest', files: { 'ds/manifest.json': '{"format": "parquet-dataset"}' }, args: stats, exit: 1, says: 'manifest format is not derrd-prepared' },
  {
    name: 'forged: a duplicate raw user id in the id map (re-hashed)', files: ds,
    setup: (d) => { setIds(d, 'user_ids.json', (ids) => ids.map((id, k) => (k === 5 ? ids[3] : id))); rehashPrepared(join(d, 'ds')); },
    args: stats, exit: 1, says: /user_ids\.json: user id "\d+" appears twice in the id map \(dense ids 3 and 5\)/,
  },
  {
    name: 'forged: an id map that is not a list of strings (re-hashed)', files: ds,
    setup: (d) => { setIds(d, 'item_ids.json', (ids) => ids.map((_id, k) => k)); rehashPrepared(join(d, 'ds')); },
    args: stats, exit: 1, says: 'item_ids.json: id map must be a JSON array of item ids (strings)',
  },
  {
    name: 'forged: an id map shorter than the counts (re-hashed)', files: ds,
    setup: (d) => { setIds(d, 'item_ids.json', (ids) => ids.slice(1)); rehashPrepared(join(d, 'ds')); },
    args: stats, exit: 1, says: 'id map lists 79 items but the manifest counts 80',
  },
  {
    name: 'forged: an item id outside the item count (re-hashed)', files: ds,
    setup: (d) => { setInts(d, 'test_item.i32', (a) => { a[0] = 5000; }); rehashPrepared(join(d, 'ds')); },
    args: stats, exit: 1, says: 'prepared data set is inconsistent: test_item holds item 5000 outside 0..79',
  },
  {
    name: 'forged: a manifest naming a file outside its directory', files: { ...ds, 'secret.i32': 'x' },
    setup: (d) => { editJson(join(d, 'ds', 'manifest.json'), (m) => { (m.arrays as Record<string, { file: string }>).trainItems.file = '../secret.i32'; }); rehashPrepared(join(d, 'ds')); },
    args: stats, exit: 1, says: 'files of a prepared data set are plain names in its directory',
  },
  { name: 'train on a prepared data set that is not one', files: { 'ds/x.tsv': 'u\ti\n' }, args: ['train', '--data', 'ds', '-o', 'm'], exit: 1, says: 'ds: no manifest.json: not a prepared data set' },
];
