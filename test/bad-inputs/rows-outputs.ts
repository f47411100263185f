/**
 * Where derrd writes: --force replaces only what derrd wrote (a prepared data set or a checkpoint), never the input, a
 * user's file or directory; unwritable and read-only places and unreadable inputs get their cause; temporaries of a
 * killed run are cleaned, and only those.
 */
import assert from 'node:assert/strict';
import { chmodSync, cpSync, existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { lines, type Row } from './corpus.ts';

const ratings = { 'ratings.tsv': { fixture: 'ratings.tsv' } } as const;
const prepare = (out: string, ...flags: string[]) => ['data', 'prepare', '-i', 'ratings.tsv', '-o', out, '--candidates', '5', ...flags];
const train = (out: string, ...flags: string[]) => ['train', '--data', 'data', '-o', out, '--dim', '4', '--epochs', '1', '--backend', 'wasm', ...flags];
const data = { data: { fixture: 'data' } } as const;
/** `bpr`'s weights as a teacher from elsewhere, with the raw ids of its rows */
const outside = { data: { fixture: 'data' }, m: { fixture: 'bpr' }, 'ids.json': { fixture: 'ids.json' } } as const;
const importTo = (out: string, ...flags: string[]) => ['teacher', 'import', 'm/model.safetensors', '--data', 'data', '--ids', 'ids.json', '-o', out, '--backend', 'wasm', ...flags];
/** a pid no process has (above the kernel's pid_max) */
const DEAD = 4194305;

export const OUTPUT_ROWS: Row[] = [
  { name: 'data prepare with the input as the output, --force', failure: 2, files: { 'self.tsv': { fixture: 'ratings.tsv' } }, args: ['data', 'prepare', '-i', 'self.tsv', '-o', 'self.tsv', '--force', '--candidates', '5'], exit: 1, says: '--out self.tsv is the input self.tsv: writing the output would delete it' },
  { name: 'data prepare of a split directory into itself, --force', failure: 2, files: { 'split/train.tsv': lines('user\titem', '0\t0', '0\t1', '1\t1'), 'split/valid.tsv': lines('user\titem', '0\t2', '1\t0'), 'split/test.tsv': lines('user\titem', '0\t3', '1\t2') }, args: ['data', 'prepare', '-i', 'split', '-o', 'split', '--force', '--candidates', '0'], exit: 1, says: '--out split is the input split' },
  { name: 'data prepare of a file inside the output, --force', failure: 2, files: { ...ratings, ds: { fixture: 'data' } }, setup: (d) => cpSync(join(d, 'ratings.tsv'), join(d, 'ds', 'mine.tsv')), args: ['data', 'prepare', '-i', 'ds/mine.tsv', '-o', 'ds', '--force', '--candidates', '5'], exit: 1, says: '--out ds holds the input ds/mine.tsv' },
  { name: '--force over a user\'s file (data prepare)', failure: 3, files: { ...ratings, 'thesis.txt': 'two years of work\n' }, args: prepare('thesis.txt', '--force'), exit: 1, says: 'thesis.txt: is a file, not a prepared data set directory' },
  { name: '--force over a user\'s directory (data prepare)', failure: 3, files: { ...ratings, 'thesis/chapter1.txt': 'text\n' }, args: prepare('thesis', '--force'), exit: 1, says: 'thesis: is a directory but not a prepared data set (no manifest.json)' },
  { name: '--force over a prepared data set holding a user\'s file', failure: 3, files: { ...ratings, ds: { fixture: 'data' }, 'ds/notes.txt': 'mine\n' }, args: prepare('ds', '--force'), exit: 1, says: 'ds: holds files derrd did not write (notes.txt), which --force would delete' },
  { name: '--force over a checkpoint (data prepare)', failure: 3, files: { ...ratings, m: { fixture: 'bpr' } }, args: prepare('m', '--force'), exit: 1, says: 'm: is a directory but not a prepared data set' },
  { name: '--force over a prepared data set replaces it', files: { ...ratings, ds: { fixture: 'data' } }, args: [...prepare('ds', '--force'), '--json'], exit: 0, says: '"numCandidates": 5', output: ['ds'] },
  { name: 'an empty output directory is used', files: ratings, setup: (d) => { mkdirSync(join(d, 'empty')); }, args: prepare('empty'), exit: 0, says: 'prepared empty', output: ['empty'] },
  { name: 'an existing prepared data set without --force', files: { ...ratings, ds: { fixture: 'data' } }, args: prepare('ds'), exit: 1, says: 'ds: output directory exists (use --force to replace it)' },
  { name: '--force over a user\'s file (data synth)', failure: 3, files: { 'thesis.txt': 'user\titem\ttimestamp\nnot synth output\n' }, args: ['data', 'synth', '-o', 'thesis.txt', '--force'], exit: 1, says: 'thesis.txt: is not a file `derrd data synth` wrote' },
  { name: 'data synth over a directory', files: { 'out/x': 'x' }, args: ['data', 'synth', '-o', 'out', '--force'], exit: 1, says: 'out: is a directory; --out names the TSV file to write' },
  { name: 'data synth --force over its own output replaces it', files: { 's.tsv': { fixture: 'ratings.tsv' } }, args: ['data', 'synth', '-o', 's.tsv', '--force', '--users', '30', '--items', '50'], exit: 0, says: 'wrote s.tsv', output: ['s.tsv'] },
  { name: 'train --out an existing file: refused before training', failure: 3, files: { ...data, 'thesis.txt': 'mine\n' }, args: train('thesis.txt'), exit: 1, says: 'thesis.txt: is a file, not a checkpoint directory' },
  { name: 'train --force over a user\'s file', failure: 3, files: { ...data, 'thesis.txt': 'mine\n' }, args: train('thesis.txt', '--force'), exit: 1, says: 'thesis.txt: is a file, not a checkpoint directory' },
  { name: 'train into a user\'s directory (with --force)', failure: 3, files: { ...data, 'work/model.safetensors': 'my PyTorch weights' }, args: train('work', '--force'), exit: 1, says: 'work: is a directory but not a checkpoint (no card.json)' },
  { name: 'distill --out an existing file', failure: 3, files: { ...data, teacher: { fixture: 'bpr' }, 'thesis.txt': 'mine\n' }, args: ['distill', '--teacher', 'teacher', '--data', 'data', '-o', 'thesis.txt', '--method', 'de', '--experts', '2', '--dim', '2', '--epochs', '1', '--de-threads', '1', '--backend', 'wasm'], exit: 1, says: 'thesis.txt: is a file, not a checkpoint directory' },
  { name: 'teacher import --force over a user\'s file', failure: 3, files: { ...outside, 'thesis.txt': 'mine\n' }, args: importTo('thesis.txt', '--force'), exit: 1, says: 'thesis.txt: is a file, not a checkpoint directory' },
  { name: 'teacher import --force over a prepared data set', failure: 3, files: { ...outside, other: { fixture: 'data' } }, args: importTo('other', '--force'), exit: 1, says: 'other: is a directory but not a checkpoint' },
  { name: 'teacher import into its own input checkpoint', failure: 2, files: outside, args: importTo('m', '--force'), exit: 1, says: '--out m holds the input m/model.safetensors' },
  { name: 'an output under a file', files: { ...ratings, 'thesis.txt': 'mine\n' }, args: prepare('thesis.txt/ds'), exit: 1, says: 'cannot create it: ' },
  {
    name: 'an input derrd may not read (EACCES)', unprivileged: true, files: { 'secret.tsv': { fixture: 'ratings.tsv' } },
    setup: (d) => chmodSync(join(d, 'secret.tsv'), 0o000), args: ['data', 'prepare', '-i', 'secret.tsv', '-o', 'ds'], exit: 1, says: 'secret.tsv: cannot open it: permission denied',
  },
  {
    name: 'a prepared data set derrd may not read (EACCES)', unprivileged: true, files: { data: { fixture: 'data' } },
    setup: (d) => chmodSync(join(d, 'data', 'train_items.i32'), 0o000), args: ['data', 'stats', 'data'], exit: 1, says: 'train_items.i32: cannot open it: permission denied',
  },
  {
    name: 'a checkpoint derrd may not read (EACCES)', unprivileged: true, files: { data: { fixture: 'data' }, m: { fixture: 'bpr' } },
    setup: (d) => chmodSync(join(d, 'm', 'card.json'), 0o000), args: ['evaluate', 'm', '--data', 'data', '--backend', 'wasm'], exit: 1, says: 'card.json: cannot open it: permission denied',
  },
  {
    name: 'an output directory derrd may not write in (EACCES)', unprivileged: true, files: { ...ratings, 'locked/x': 'x' },
    setup: (d) => chmodSync(join(d, 'locked'), 0o555), args: prepare('locked/deep/ds'), exit: 1, says: 'cannot write it: no permission to write in',
  },
  { name: 'a nested output on a read-only file system (data prepare)', readOnly: 'ro', files: { ...ratings, 'ro/x': 'x' }, args: prepare('ro/a/b/ds'), exit: 1, says: 'is on a read-only file system' },
  { name: 'an output on a read-only file system (train)', readOnly: 'ro', files: { ...data, 'ro/x': 'x' }, args: train('ro/m'), exit: 1, says: 'is on a read-only file system' },
  {
    name: 'stale temporaries of a killed prepare are cleaned; others are kept',
    files: { ...ratings, ds: { fixture: 'data' } },
    setup: (d) => {
      mkdirSync(join(d, `.ds.tmp-${DEAD}-0123abcd`));
      writeFileSync(join(d, `.ds.tmp-${DEAD}-0123abcd`, 'manifest.json'), '{}');
      mkdirSync(join(d, `.ds.old-${DEAD}-4567cdef`));
      writeFileSync(join(d, `.ds.tmp-${process.pid}-89abcdef`), 'a live run\'s');
      writeFileSync(join(d, `.notes.tmp-${DEAD}-0123abcd`), 'not ours to clean: another name');
      writeFileSync(join(d, `.ds.tmp-${DEAD}-backup`), 'not our naming');
    },
    args: prepare('ds', '--force'), exit: 0, says: 'prepared ds', output: ['ds', `.ds.tmp-${DEAD}-0123abcd`, `.ds.old-${DEAD}-4567cdef`],
    after: (d) => {
      assert.deepEqual(readdirSync(d).filter((e) => e.startsWith('.')).sort(), [`.ds.tmp-${DEAD}-backup`, `.ds.tmp-${process.pid}-89abcdef`, `.notes.tmp-${DEAD}-0123abcd`].sort());
    },
  },
  {
    name: 'a prepare killed between its two renames: the previous data set is put back, not lost',
    files: { ...ratings, [`.ds.old-${DEAD}-0123abcd`]: { fixture: 'data' }, [`.ds.tmp-${DEAD}-0123abcd`]: { fixture: 'data-other' } },
    args: prepare('ds'), exit: 1, says: 'ds: output directory exists (use --force to replace it)', output: ['ds', `.ds.old-${DEAD}-0123abcd`, `.ds.tmp-${DEAD}-0123abcd`],
    after: (d) => {
      assert.ok(existsSync(join(d, 'ds', 'manifest.json')));
      assert.deepEqual(readdirSync(d).filter((e) => e.startsWith('.')), []);
    },
  },
  {
    name: 'stale temporaries of a killed training are cleaned on the next run',
    files: { ...data, m: { fixture: 'bpr' } },
    setup: (d) => { writeFileSync(join(d, 'm', `.card.json.tmp-${DEAD}-0123abcd`), '{'); writeFileSync(join(d, 'm', `.resume.safetensors.tmp-${DEAD}-0123abcd`), 'x'); },
    args: train('m', '--force'), exit: 0, says: 'status max-epochs', output: ['m'],
    after: (d) => assert.deepEqual(readdirSync(join(d, 'm')).filter((e) => e.startsWith('.')), []),
  },
  { name: 'teacher import of an outside teacher works', files: outside, args: importTo('t'), exit: 0, says: 'imported m/model.safetensors → t', output: ['t'] },
  { name: 'data fetch of an unknown data set', args: ['data', 'fetch', 'movielens'], exit: 1, says: 'unknown data set "movielens" (known: citeulike)' },
  { name: 'data fetch --force over a user\'s directory: refused before downloading', failure: 3, files: { 'thesis/x.txt': 'x' }, args: ['data', 'fetch', 'citeulike', '--url', 'http://127.0.0.1:9/users.dat', '--cache', 'cache', '-o', 'thesis', '--force'], exit: 1, says: 'thesis: is a directory but not a prepared data set' },
];
