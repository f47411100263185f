import { readFileSync, statSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { InputError } from './errors.js';

/** Interactions as read from a file, before id mapping. `line` is the 1-based source line of each row. */
export interface RawInteractions {
  source: string;
  users: string[];
  items: string[];
  /** present when the file has a timestamp column */
  timestamps?: number[];
  lines: number[];
}

export type ColumnName = 'user' | 'item' | 'rating' | 'timestamp' | 'skip';

export interface DelimitedOptions {
  /** field separator; default: tab if the first line has one, else comma, else whitespace */
  delimiter?: string;
  /** whether the first line is a header; default: detected from known column names */
  header?: boolean;
  /** column meaning by position; default from the header, else user,item[,rating][,timestamp] */
  columns?: ColumnName[];
  /** keep rows whose rating is >= this (only with a rating column) */
  minRating?: number;
}

const HEADER_NAMES: Record<string, ColumnName> = {
  user: 'user', user_id: 'user', userid: 'user', uid: 'user', 'user:token': 'user',
  item: 'item', item_id: 'item', itemid: 'item', iid: 'item', 'item:token': 'item',
  rating: 'rating', score: 'rating', 'rating:float': 'rating',
  timestamp: 'timestamp', time: 'timestamp', ts: 'timestamp', 'timestamp:float': 'timestamp',
};

export function readText(path: string): string {
  if (!existsSync(path)) throw new InputError('file not found', { file: path });
  const st = statSync(path);
  if (st.isDirectory()) throw new InputError('is a directory, expected a file', { file: path });
  const text = readFileSync(path, 'utf8');
  if (text.trim().length === 0) throw new InputError('file is empty', { file: path });
  return text;
}

function splitLines(text: string): string[] {
  const lines = text.split(/\r?\n/);
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  return lines;
}

/** Delimited interaction file (TSV/CSV/whitespace), header or not. */
export function readDelimited(path: string, options: DelimitedOptions = {}): RawInteractions {
  const lines = splitLines(readText(path));
  const first = lines[0];
  const delimiter = options.delimiter ?? (first.includes('\t') ? '\t' : first.includes(',') ? ',' : ' ');
  const split = delimiter === ' ' ? (l: string) => l.trim().split(/\s+/) : (l: string) => l.split(delimiter).map((f) => f.trim());
  const firstFields = split(first);
  const headerGuess = firstFields.some((f) => HEADER_NAMES[f.toLowerCase()] !== undefined);
  const hasHeader = options.header ?? headerGuess;
  let columns = options.columns;
  if (!columns && hasHeader) {
    columns = firstFields.map((f) => HEADER_NAMES[f.toLowerCase()] ?? 'skip');
    if (!columns.includes('user') || !columns.includes('item')) {
      throw new InputError(`header "${first}" names no user and item columns (expected e.g. user${delimiter}item)`, { file: path, line: 1 });
    }
  }
  if (!columns) {
    const n = firstFields.length;
    columns = n >= 4 ? ['user', 'item', 'rating', 'timestamp'] : n === 3 ? ['user', 'item', 'rating'] : ['user', 'item'];
  }
  const userCol = columns.indexOf('user');
  const itemCol = columns.indexOf('item');
  const ratingCol = columns.indexOf('rating');
  const timeCol = columns.indexOf('timestamp');
  if (userCol < 0 || itemCol < 0) throw new InputError('columns must name user and item', { file: path });
  const need = Math.max(userCol, itemCol, ratingCol, timeCol) + 1;
  const out: RawInteractions = { source: path, users: [], items: [], lines: [], timestamps: timeCol >= 0 ? [] : undefined };
  for (let i = hasHeader ? 1 : 0; i < lines.length; i++) {
    const line = lines[i];
    if (line.trim() === '' || line.startsWith('#')) continue;
    const fields = split(line);
    if (fields.length < need) {
      throw new InputError(`too few columns: found ${fields.length}, need ${need} (${columns.slice(0, need).join(delimiter === '\t' ? '<TAB>' : delimiter)})`, { file: path, line: i + 1 });
    }
    const user = fields[userCol];
    const item = fields[itemCol];
    if (user === '' || item === '') throw new InputError('empty user or item id', { file: path, line: i + 1 });
    if (ratingCol >= 0 && options.minRating !== undefined) {
      const rating = Number(fields[ratingCol]);
      if (!Number.isFinite(rating)) throw new InputError(`rating "${fields[ratingCol]}" is not a number`, { file: path, line: i + 1 });
      if (rating < options.minRating) continue;
    }
    if (timeCol >= 0) {
      const t = Number(fields[timeCol]);
      if (!Number.isFinite(t)) throw new InputError(`timestamp "${fields[timeCol]}" is not a number`, { file: path, line: i + 1 });
      out.timestamps!.push(t);
    }
    out.users.push(user);
    out.items.push(item);
    out.lines.push(i + 1);
  }
  if (out.users.length === 0) throw new InputError('no interactions in file', { file: path });
  return out;
}

/** citeulike-t `users.dat`: line k (0-based) is user k, as `n item_1 ... item_n`. */
export function readUsersDat(path: string): RawInteractions {
  const lines = splitLines(readText(path));
  const out: RawInteractions = { source: path, users: [], items: [], lines: [] };
  for (let i = 0; i < lines.length; i++) {
    const fields = lines[i].trim().split(/\s+/).filter((f) => f !== '');
    if (fields.length === 0) throw new InputError('empty line (every line is a user: "n item_1 ... item_n")', { file: path, line: i + 1 });
    if (!/^\d+$/.test(fields[0])) throw new InputError(`count "${fields[0]}" is not a non-negative integer`, { file: path, line: i + 1 });
    const count = Number(fields[0]);
    if (count !== fields.length - 1) {
      throw new InputError(`count says ${count} items but the line has ${fields.length - 1}`, { file: path, line: i + 1 });
    }
    const user = String(i);
    for (let k = 1; k < fields.length; k++) {
      out.users.push(user);
      out.items.push(fields[k]);
      out.lines.push(i + 1);
    }
  }
  if (out.users.length === 0) throw new InputError('no interactions in file', { file: path });
  return out;
}

export interface RawSplit {
  train: RawInteractions;
  valid: RawInteractions;
  test: RawInteractions;
}

/** A ready-made split: `train`, `valid` and `test` files (.tsv, .csv or .txt) in one directory. */
export function readSplitDir(dir: string, options: DelimitedOptions = {}): RawSplit {
  if (!existsSync(dir)) throw new InputError('directory not found', { file: dir });
  if (!statSync(dir).isDirectory()) throw new InputError('expected a directory holding train/valid/test files', { file: dir });
  const find = (name: string): string => {
    for (const ext of ['.tsv', '.csv', '.txt', '']) {
      const p = join(dir, name + ext);
      if (existsSync(p)) return p;
    }
    throw new InputError(`no ${name}.tsv (or .csv/.txt) in split directory`, { file: dir });
  };
  return { train: readDelimited(find('train'), options), valid: readDelimited(find('valid'), options), test: readDelimited(find('test'), options) };
}
