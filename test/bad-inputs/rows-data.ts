/** Interaction files given to `derrd data prepare`: delimited text, users.dat, split directories. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { lines, type Row } from './corpus.ts';

const ids = (dir: string, file: string) => JSON.parse(readFileSync(join(dir, 'ds', file), 'utf8')) as string[];
const prepare = (input: string, ...flags: string[]) => ['data', 'prepare', '-i', input, '-o', 'ds', '--candidates', '0', ...flags];
/** enough rows for the split to keep users (3+ interactions each) */
const body = (sep: string) => Array.from({ length: 12 }, (_v, k) => `u${k % 3}${sep}i${k}`);

export const DATA_FILE_ROWS: Row[] = [
  {
    name: 'quoted CSV: quoted header, a quoted comma inside an id', failure: 1,
    files: { 'quoted.csv': lines('"user","item"', '"u1","7,8"', '"u1","9"', '"u1","10"', '"u2","7,8"', '"u2","11"', '"u2","12"') },
    args: [...prepare('quoted.csv'), '--json'], exit: 0, says: '"interactions": 6', output: ['ds'],
    after: (dir) => {
      assert.deepEqual(ids(dir, 'user_ids.json'), ['u1', 'u2']);
      assert.deepEqual(ids(dir, 'item_ids.json').sort(), ['10', '11', '12', '7,8', '9']);
    },
  },
  {
    name: 'quoted CSV: doubled quotes inside a quoted id, CRLF line ends', failure: 1,
    files: { 'q.csv': 'user,item\r\n"a ""x""",1\r\n"a ""x""",2\r\n"a ""x""",3\r\n' },
    args: [...prepare('q.csv'), '--json'], exit: 0, says: '"users": 1', output: ['ds'],
    after: (dir) => assert.deepEqual(ids(dir, 'user_ids.json'), ['a "x"']),
  },
  {
    name: 'quoted TSV header', failure: 1,
    files: { 'q.tsv': lines('"user"\t"item"', ...body('\t')) },
    args: [...prepare('q.tsv'), '--json'], exit: 0, says: '"users": 3', output: ['ds'],
    after: (dir) => assert.deepEqual(ids(dir, 'user_ids.json'), ['u0', 'u1', 'u2']),
  },
  { name: 'a quoted field never closed', files: { 'open.csv': lines('user,item', 'u1,"i1', 'u2,i2') }, args: prepare('open.csv'), exit: 1, says: 'a quoted field is never closed' },
  { name: 'text after a closing quote', files: { 'after.csv': lines('user,item', '"u1"x,i1') }, args: prepare('after.csv'), exit: 1, says: 'after.csv:2: text after a closing quote' },
  { name: 'a file that does not exist', args: prepare('missing.tsv'), exit: 1, says: 'missing.tsv: file not found' },
  { name: 'an empty file', files: { 'empty.tsv': '' }, args: prepare('empty.tsv'), exit: 1, says: 'empty.tsv: file is empty' },
  { name: 'only blank lines', files: { 'blank.tsv': '\n\n  \n' }, args: prepare('blank.tsv'), exit: 1, says: 'blank.tsv: file is empty' },
  { name: 'only comment lines', files: { 'comments.tsv': lines('# user\titem', '# nothing else') }, args: [...prepare('comments.tsv'), '--format', 'delimited'], exit: 1, says: 'no interactions in file' },
  { name: 'a header and no rows', files: { 'header.tsv': lines('user\titem') }, args: prepare('header.tsv'), exit: 1, says: 'header.tsv: no interactions in file' },
  { name: 'binary data', files: { 'model.bin': new Uint8Array([0x50, 0x4b, 3, 4, 0, 0, 0x14, 0, 8, 0, 0x41, 0x0a]) }, args: prepare('model.bin'), exit: 1, says: 'binary data (a zero byte at offset 4), not a text file' },
  { name: 'Latin-1 text', files: { 'latin1.csv': Buffer.concat([Buffer.from('user,item\nu1,caf'), Buffer.from([0xe9]), Buffer.from('\n')]) }, args: prepare('latin1.csv'), exit: 1, says: 'latin1.csv:2: not UTF-8 text' },
  {
    name: 'a UTF-8 byte-order mark before the header',
    files: { 'bom.csv': '\ufeff' + lines('user,item', ...body(',')) },
    args: [...prepare('bom.csv'), '--json'], exit: 0, says: '"users": 3', output: ['ds'],
    after: (dir) => assert.deepEqual(ids(dir, 'user_ids.json'), ['u0', 'u1', 'u2']),
  },
  { name: 'a row with too few columns', files: { 'few.tsv': lines('user\titem', 'alice\tx', 'bob') }, args: prepare('few.tsv'), exit: 1, says: 'few.tsv:3: too few columns: found 1, need 2' },
  { name: 'a row with extra columns (TSV)', files: { 'extra.tsv': lines('user\titem', 'alice\tx', 'alice\ty\t5\t99') }, args: prepare('extra.tsv'), exit: 1, says: 'extra.tsv:3: too many columns: found 4, expected 2' },
  { name: 'an unquoted comma inside an id (CSV)', files: { 'comma.csv': lines('user,item,rating', 'alice,x,5', 'bob,Smith, John,4') }, args: prepare('comma.csv'), exit: 1, says: 'comma.csv:3: too many columns: found 4, expected 3' },
  { name: 'no header, a later row wider than the first', files: { 'ragged.tsv': lines('1\t2', '1\t3', '2\t3\t4') }, args: prepare('ragged.tsv'), exit: 1, says: 'ragged.tsv:3: too many columns: found 3, expected 2' },
  { name: 'whitespace-separated, a later row wider than the first', files: { 'ragged.txt': lines('a b', 'a c', 'b c d') }, args: prepare('ragged.txt'), exit: 1, says: 'ragged.txt:3: too many columns: found 3, expected 2' },
  { name: 'rows wider than --columns names', files: { 'wide.tsv': lines('1\t2\t5\t100', '1\t3\t4\t101') }, args: [...prepare('wide.tsv'), '--columns', 'user,item'], exit: 1, says: '--columns names 2; name the others skip' },
  { name: 'a non-numeric rating without --min-rating', files: { 'r.csv': lines('user,item,rating', 'u1,i1,5', 'u1,i2,five') }, args: prepare('r.csv'), exit: 1, says: 'r.csv:3: rating "five" is not a number' },
  { name: 'a non-numeric rating with --min-rating', files: { 'r.csv': lines('user,item,rating', 'u1,i1,5', 'u1,i2,five') }, args: [...prepare('r.csv'), '--min-rating', '4'], exit: 1, says: 'r.csv:3: rating "five" is not a number' },
  { name: 'an empty rating field', files: { 'r.csv': lines('user,item,rating', 'u1,i1,', 'u1,i2,4') }, args: prepare('r.csv'), exit: 1, says: 'r.csv:2: rating "" is not a number' },
  { name: 'a third column that is not a rating (no header)', files: { 'tags.tsv': lines('1\t2\tfun', '1\t3\tsad') }, args: prepare('tags.tsv'), exit: 1, says: '--columns user,item,skip' },
  { name: 'a non-numeric timestamp', files: { 't.tsv': lines('user\titem\ttimestamp', 'u1\ti1\tmonday') }, args: prepare('t.tsv'), exit: 1, says: 't.tsv:2: timestamp "monday" is not a number' },
  { name: '--min-rating above every rating', files: { 'r.csv': lines('user,item,rating', 'u1,i1,1', 'u1,i2,2') }, args: [...prepare('r.csv'), '--min-rating', '4'], exit: 1, says: 'no interactions in file with rating >= 4' },
  { name: 'a header naming no user or item column', files: { 'h.csv': lines('a,b', '1,2') }, args: [...prepare('h.csv'), '--header'], exit: 1, says: 'h.csv:1: header "a,b" names no user and item columns' },
  { name: 'an empty user id', files: { 'e.csv': lines('user,item', ',i1') }, args: prepare('e.csv'), exit: 1, says: 'e.csv:2: empty user or item id' },
  { name: 'users.dat: a count that is not a number', files: { 'users.dat': lines('2 10 11', 'three 10 12 13') }, args: prepare('users.dat'), exit: 1, says: 'users.dat:2: count "three" is not a non-negative integer' },
  { name: 'users.dat: a count that disagrees with the line', files: { 'users.dat': lines('2 10 11', '3 10 12') }, args: prepare('users.dat'), exit: 1, says: 'users.dat:2: count says 3 items but the line has 2' },
  { name: 'users.dat: an empty line in the middle', files: { 'users.dat': lines('2 10 11', '', '1 12') }, args: prepare('users.dat'), exit: 1, says: 'users.dat:2: empty line' },
  { name: 'a directory as a delimited file', files: { 'dir/x': 'x' }, args: [...prepare('dir'), '--format', 'delimited'], exit: 1, says: 'dir: is a directory, expected a file' },
  { name: 'split directory without a test file', files: { 'split/train.tsv': lines('user\titem', '0\t0'), 'split/valid.tsv': lines('user\titem', '0\t1') }, args: prepare('split'), exit: 1, says: 'no test.tsv (or .csv/.txt) in split directory' },
  { name: 'a file given as a split directory', files: { 'train.tsv': lines('user\titem', '0\t0') }, args: [...prepare('train.tsv'), '--format', 'split'], exit: 1, says: 'expected a directory holding train/valid/test files' },
  {
    name: 'split: a user with two validation items',
    files: { 'split/train.tsv': lines('user\titem', '0\t0', '1\t1'), 'split/valid.tsv': lines('user\titem', '0\t2', '0\t3'), 'split/test.tsv': lines('user\titem', '0\t4', '1\t5') },
    args: prepare('split'), exit: 1, says: 'valid.tsv:3: user "0" has more than one validation item',
  },
  {
    name: 'split: a non-integer item id among integer ones',
    files: { 'split/train.tsv': lines('user\titem', '0\t0', '0\t1', '1\t2', '1\t3'), 'split/valid.tsv': lines('user\titem', '0\t2', '1\t0'), 'split/test.tsv': lines('user\titem', '0\t3.5', '1\t1') },
    args: prepare('split'), exit: 1, says: 'test.tsv:2: item id "3.5" is not an integer, unlike 4 other item ids',
  },
  {
    name: 'split: string ids are fine (order of appearance)',
    files: { 'split/train.tsv': lines('user\titem', 'a\tx', 'a\ty', 'b\ty'), 'split/valid.tsv': lines('user\titem', 'a\tz', 'b\tx'), 'split/test.tsv': lines('user\titem', 'a\tw', 'b\tz') },
    args: [...prepare('split'), '--json'], exit: 0, says: '"users": 2', output: ['ds'],
  },
  { name: '--id-order numeric over mixed ids', files: { 'm.tsv': lines('user\titem', '1\t10', '1\t11', '1\tx12', '2\t10') }, args: [...prepare('m.tsv'), '--id-order', 'numeric'], exit: 1, says: 'm.tsv:4: item id "x12" is not an integer' },
  { name: 'a filter that removes every user', files: { 'users.dat': lines('2 10 11', '3 10 12 13', '1 11') }, args: [...prepare('users.dat'), '--min-user', '10'], exit: 1, says: 'the filter removes every user' },
  { name: 'last-loo without timestamps', files: { 'u.tsv': lines('user\titem', ...body('\t')) }, args: [...prepare('u.tsv'), '--split', 'last-loo'], exit: 1, says: 'split last-loo needs a timestamp column' },
  { name: 'more candidates than unseen items', files: { 'users.dat': lines('2 10 11', '3 10 12 13', '1 11') }, args: ['data', 'prepare', '-i', 'users.dat', '-o', 'ds'], exit: 1, says: 'has only 1 items never interacted with, fewer than the 499 candidates asked (lower --candidates)' },
];
