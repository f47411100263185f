import { readFileSync, statSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseCsv } from 'csv-parse/sync';
import { InputError, fsInputError } from './errors.js';

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

const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

export function readText(path: string): string {
  if (!existsSync(path)) throw new InputError('file not found', { file: path });
  const st = statSync(path);
  if (st.isDirectory()) throw new InputError('is a directory, expected a file', { file: path });
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (err) {
    throw fsInputError(err, path);
  }
  if (bytes.includes(0)) throw new InputError(`binary data (a zero byte at offset ${bytes.indexOf(0)}), not a text file: derrd reads TSV, CSV, whitespace-separated text or users.dat`, { file: path });
  let text: string;
  try {
    text = UTF8.decode(bytes);
  } catch {
    const lossy = bytes.toString('utf8');
    const at = lossy.indexOf('\ufffd');
    const line = lossy.slice(0, at).split('\n').length;
    throw new InputError('not UTF-8 text (another encoding, such as Latin-1?): convert it first, e.g. `iconv -f latin1 -t utf-8 in.csv > out.csv`', { file: path, line });
  }
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  if (text.trim().length === 0) throw new InputError('file is empty', { file: path });
  return text;
}

function splitLines(text: string): string[] {
  const lines = text.split(/\r?\n/);
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  return lines;
}

/** The rows of a delimited file as fields, each with its 1-based source line; blank and `#` lines left out. */
interface Records {
  first: { fields: string[]; line: number } | null;
  /** visits every row after the first, in order */
  rest(visit: (fields: string[], line: number) => void): void;
}

/**
 * A file without a double quote splits line by line: the fields CSV parsing gives there, where csv-parse took 2-8×
 * as long on CiteULike's train.tsv (8× with the line numbers of each row). One with quotes goes through csv-parse, so
 * quoted fields keep their delimiters and quotes, and a quoted header is still a header. Whitespace-separated files
 * have no quoting.
 */
function readRecords(text: string, delimiter: string, path: string): Records {
  if (delimiter === ' ' || !text.includes('"')) {
    const all = splitLines(text);
    const split = delimiter === ' ' ? (l: string) => l.trim().split(/\s+/) : (l: string) => l.split(delimiter).map((f) => f.trim());
    const skipped = (l: string) => l.startsWith('#') || l.trim() === '';
    let firstIndex = 0;
    while (firstIndex < all.length && skipped(all[firstIndex])) firstIndex++;
    return {
      first: firstIndex < all.length ? { fields: split(all[firstIndex]), line: firstIndex + 1 } : null,
      rest: (visit) => {
        for (let i = firstIndex + 1; i < all.length; i++) {
          const l = all[i];
          if (l.startsWith('#') || l.trim() === '') continue;
          visit(split(l), i + 1);
        }
      },
    };
  }
  let parsed: { record: string[]; info: { lines: number } }[];
  try {
    parsed = parseCsv(text, {
      delimiter, relax_column_count: true, relax_quotes: true, skip_empty_lines: true, skip_records_with_empty_values: true, trim: true,
      comment: '#', comment_no_infix: true, info: true,
    }) as unknown as { record: string[]; info: { lines: number } }[];
  } catch (err) {
    const e = err as { code?: string; lines?: number; message?: string };
    const problem = e.code === 'CSV_QUOTE_NOT_CLOSED'
      ? 'a quoted field is never closed (a " opens a field on or before this line and no closing " follows)'
      : e.code === 'CSV_NON_TRIMABLE_CHAR_AFTER_CLOSING_QUOTE' || e.code === 'CSV_INVALID_CLOSING_QUOTE'
        ? 'text after a closing quote (write a quote inside a quoted field as "")'
        : `not valid CSV (${e.message ?? String(err)})`;
    throw new InputError(problem, { file: path, line: e.lines });
  }
  return {
    first: parsed.length > 0 ? { fields: parsed[0].record, line: parsed[0].info.lines } : null,
    rest: (visit) => { for (let k = 1; k < parsed.length; k++) visit(parsed[k].record, parsed[k].info.lines); },
  };
}

const columnList = (columns: readonly string[], delimiter: string) => columns.join(delimiter === '\t' ? '<TAB>' : delimiter === ' ' ? ' ' : delimiter);

/** Delimited interaction file (TSV/CSV/whitespace), header or not; every row has the header's (first row's) columns. */
export function readDelimited(path: string, options: DelimitedOptions = {}): RawInteractions {
  const text = readText(path);
  const firstLine = text.slice(0, text.search(/\r?\n|$/));
  const delimiter = options.delimiter ?? (firstLine.includes('\t') ? '\t' : firstLine.includes(',') ? ',' : ' ');
  const records = readRecords(text, delimiter, path);
  if (!records.first) throw new InputError('no interactions in file (only blank or # lines)', { file: path });
  const firstFields = records.first.fields;
  const headerGuess = firstFields.some((f) => HEADER_NAMES[f.toLowerCase()] !== undefined);
  const hasHeader = options.header ?? headerGuess;
  let columns = options.columns;
  const explicitColumns = columns !== undefined;
  if (!columns && hasHeader) {
    columns = firstFields.map((f) => HEADER_NAMES[f.toLowerCase()] ?? 'skip');
    if (!columns.includes('user') || !columns.includes('item')) {
      throw new InputError(`header "${columnList(firstFields, delimiter)}" names no user and item columns (expected e.g. ${columnList(['user', 'item'], delimiter)})`, { file: path, line: records.first.line });
    }
  }
  if (!columns) {
    const n = firstFields.length;
    columns = n >= 4 ? ['user', 'item', 'rating', 'timestamp'] : n === 3 ? ['user', 'item', 'rating'] : ['user', 'item'];
    if (n > 4) columns = [...columns, ...Array<ColumnName>(n - 4).fill('skip')];
  }
  const userCol = columns.indexOf('user');
  const itemCol = columns.indexOf('item');
  const ratingCol = columns.indexOf('rating');
  const timeCol = columns.indexOf('timestamp');
  if (userCol < 0 || itemCol < 0) throw new InputError('columns must name user and item', { file: path });
  // every row has as many fields as the header, the --columns list, or else the first row
  const expected = explicitColumns ? columns.length : hasHeader ? firstFields.length : Math.max(firstFields.length, 2);
  const shownColumns = columnList(columns, delimiter);
  const ratingHint = explicitColumns ? '' : ` (if column ${ratingCol + 1} is not a rating, say what it is, e.g. --columns ${columns.map((c, k) => (k === ratingCol ? 'skip' : c)).join(',')})`;
  const out: RawInteractions = { source: path, users: [], items: [], lines: [], timestamps: timeCol >= 0 ? [] : undefined };
  const row = (fields: string[], line: number): void => {
    if (fields.length < expected) {
      throw new InputError(`too few columns: found ${fields.length}, need ${expected} (${shownColumns})`, { file: path, line });
    }
    if (fields.length > expected) {
      const why = explicitColumns ? `--columns names ${expected}; name the others skip` : `as ${hasHeader ? 'the header' : 'the first row'} has; an unquoted delimiter inside a field, or a stray column?`;
      throw new InputError(`too many columns: found ${fields.length}, expected ${expected} (${shownColumns}, ${why})`, { file: path, line });
    }
    const user = fields[userCol];
    const item = fields[itemCol];
    if (user === '' || item === '') throw new InputError('empty user or item id', { file: path, line });
    if (ratingCol >= 0) {
      const rating = fields[ratingCol] === '' ? NaN : Number(fields[ratingCol]);
      if (!Number.isFinite(rating)) throw new InputError(`rating "${fields[ratingCol]}" is not a number${ratingHint}`, { file: path, line });
      if (options.minRating !== undefined && rating < options.minRating) return;
    }
    if (timeCol >= 0) {
      const t = fields[timeCol] === '' ? NaN : Number(fields[timeCol]);
      if (!Number.isFinite(t)) throw new InputError(`timestamp "${fields[timeCol]}" is not a number`, { file: path, line });
      out.timestamps!.push(t);
    }
    out.users.push(user);
    out.items.push(item);
    out.lines.push(line);
  };
  if (!hasHeader) row(firstFields, records.first.line);
  records.rest(row);
  if (out.users.length === 0) throw new InputError(options.minRating !== undefined ? `no interactions in file with rating >= ${options.minRating}` : 'no interactions in file', { file: path });
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
