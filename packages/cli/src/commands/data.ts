import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import type { Command } from 'commander';
import {
  datasetStats, generateSynthetic, loadDataset, prepareFromInteractions, prepareFromSplit, readDelimited, readSplitDir,
  readUsersDat, saveDataset, sha256, sha256File, SYNTH_DEFAULTS, toTsv, writeFileAtomic, InputError, PREPARE_DEFAULTS, PREPARED_OUTPUT,
  checkOutputDir, checkWritable, fsInputError, removeStaleTemporaries,
  type ColumnName, type Dataset, type DatasetStats, type PrepareOptions, type RawInteractions, type SourceInfo, type SynthOptions,
} from '@derrd/core';
import { addSettingOptions, layer, readFlags } from '../flags.js';
import { emit, info, UsageError } from '../output.js';
import { Progress } from '../progress.js';
import { INPUT_FORMATS, PREPARE_SETTINGS, SYNTH_SETTINGS, defaultsOf, toPrepareOptions, toSynthOptions } from '../settings.js';
import { givenSettings } from './train.js';

export { INPUT_FORMATS };
export type InputFormat = (typeof INPUT_FORMATS)[number];

export const DEFAULT_DATA_DIR = 'data/default';

/** Guesses the format: a directory is a split; a file whose first line is "n item_1 ... item_n" is users.dat. */
export function detectFormat(input: string): Exclude<InputFormat, 'auto'> {
  if (!existsSync(input)) throw new InputError('file not found', { file: input });
  if (statSync(input).isDirectory()) return 'split';
  if (basename(input) === 'users.dat') return 'users.dat';
  let head: string;
  try {
    head = readFileSync(input, 'utf8').slice(0, 4096).split(/\r?\n/)[0].trim();
  } catch (err) {
    throw fsInputError(err, input);
  }
  const fields = head.split(/\s+/);
  if (/^\d+( \d+)*$/.test(head) && Number(fields[0]) === fields.length - 1 && fields.length > 1) return 'users.dat';
  return 'delimited';
}

export interface PrepareCommandOptions extends PrepareOptions {
  input?: string;
  /** default: auto */
  format?: InputFormat;
  out: string;
  force?: boolean;
  delimiter?: string;
  header?: boolean;
  columns?: ColumnName[];
  synth?: SynthOptions;
}

/** Reads the input in its format, prepares it and saves it atomically. */
export function prepareCommand(o: PrepareCommandOptions): { dir: string; dataset: Dataset; seconds: number } {
  const started = performance.now();
  const requested = o.format ?? 'auto';
  if (o.input === undefined && requested !== 'auto' && requested !== 'synthetic') throw new UsageError(`--format ${requested} needs --input`);
  const format: Exclude<InputFormat, 'auto'> = o.input === undefined ? 'synthetic' : requested === 'auto' ? detectFormat(o.input) : requested;
  checkOutputDir(o.out, PREPARED_OUTPUT, { force: Boolean(o.force), inputs: [o.input] });
  let dataset: Dataset;
  if (format === 'split') {
    const split = readSplitDir(o.input!, { delimiter: o.delimiter, header: o.header, columns: o.columns });
    const digest = sha256([split.train, split.valid, split.test].map((p) => sha256File(p.source)).join(''));
    dataset = prepareFromSplit(split, { kind: 'split', path: resolve(o.input!), sha256: digest }, o);
  } else {
    let raw: RawInteractions;
    let source: SourceInfo;
    if (format === 'synthetic') {
      const synth = generateSynthetic(o.synth);
      raw = synth;
      source = { kind: 'synthetic', path: null, sha256: sha256(toTsv(synth)) };
      o = { ...o, synthetic: { ...SYNTH_DEFAULTS, ...o.synth } };
    } else {
      raw = format === 'users.dat' ? readUsersDat(o.input!) : readDelimited(o.input!, { delimiter: o.delimiter, header: o.header, columns: o.columns, minRating: o.minRating });
      source = { kind: format, path: resolve(o.input!), sha256: sha256File(o.input!) };
    }
    dataset = prepareFromInteractions(raw, source, o);
  }
  if (dataset.manifest.counts.usersTooSmallToSplit > 0) {
    info(`note: ${dataset.manifest.counts.usersTooSmallToSplit} users have fewer than 3 interactions: kept for training, not split or evaluated`);
  }
  saveDataset(dataset, o.out, { force: o.force });
  return { dir: o.out, dataset, seconds: (performance.now() - started) / 1000 };
}

const SYNTH_HEADER = 'user\titem\ttimestamp';

/**
 * `data synth` replaces an existing file only with --force and only when it is one `data synth` wrote (its header and
 * integer user, item, timestamp rows): never a directory or a file of the user's.
 */
function checkSynthOut(out: string, force: boolean): void {
  removeStaleTemporaries(out);
  if (existsSync(out)) {
    if (statSync(out).isDirectory()) throw new InputError('is a directory; --out names the TSV file to write', { file: out });
    if (!force) throw new InputError('output file exists (use --force to replace it)', { file: out });
    let text: string;
    try {
      text = readFileSync(out, 'utf8');
    } catch (err) {
      throw fsInputError(err, out);
    }
    const lines = text.split('\n');
    if (lines[0] !== SYNTH_HEADER || !lines.slice(1).every((l) => l === '' || /^\d+\t\d+\t\d+$/.test(l))) {
      throw new InputError(`is not a file \`derrd data synth\` wrote (its first line is not "${SYNTH_HEADER.replace(/\t/g, '<TAB>')}" followed by integer rows), so --force does not replace it: choose another --out`, { file: out });
    }
  }
  checkWritable(dirname(resolve(out)), out);
}

export function formatStats(s: DatasetStats): string {
  const c = s.counts;
  const f = (x: number) => x.toLocaleString('en-US');
  return [
    `source        ${s.source.kind}${s.source.path ? ` ${s.source.path}` : ''}`,
    `hash          ${s.hash}`,
    `users         ${f(c.users)}  (evaluated: ${f(c.evalUsers)}; too small to split: ${f(c.usersTooSmallToSplit)}; removed by filter: ${f(c.filteredUsers)})`,
    `items         ${f(c.items)}  (without training interactions: ${f(s.itemsWithoutTraining)}; removed by filter: ${f(c.filteredItems)})`,
    `interactions  ${f(c.interactions)}  = train ${f(c.train)} + valid ${f(c.valid)} + test ${f(c.test)}  (duplicates removed: ${f(c.duplicatesRemoved)})`,
    `sparsity      ${(s.sparsity * 100).toFixed(2)}%`,
    `train/user    min ${s.trainPerUser.min}, median ${s.trainPerUser.median}, mean ${s.trainPerUser.mean.toFixed(1)}, max ${s.trainPerUser.max}`,
    `train/item    min ${s.trainPerItem.min}, median ${s.trainPerItem.median}, mean ${s.trainPerItem.mean.toFixed(1)}, max ${s.trainPerItem.max}`,
    `held-out items unseen in training: valid ${s.heldOutItemsUnseenInTraining.valid}, test ${s.heldOutItemsUnseenInTraining.test}`,
    `split         ${s.settings.split}, seed ${s.settings.seed}, ${s.settings.numCandidates} candidates per user`,
  ].join('\n');
}

export function registerDataCommands(program: Command): void {
  const data = program.command('data').description('prepare, inspect and generate data sets');

  const prepare = data
    .command('prepare')
    .description('read interactions, de-duplicate, filter, split leave-one-out and sample evaluation candidates into a prepared directory')
    .option('-i, --input <path>', 'interaction file, users.dat, or a directory with train/valid/test files (default: the embedded synthetic data set)')
    .option('-o, --out <dir>', 'output directory', DEFAULT_DATA_DIR)
    .option('--config <file>', 'JSON file with any of the settings below by their flag names, e.g. {"min-user": 5} (flags given explicitly win)')
    .option('--force', 'replace the output directory if it exists', false)
    .option('--json', 'print the result as JSON', false);
  addSettingOptions(prepare, PREPARE_SETTINGS);
  prepare.action((opts: Record<string, string | boolean | undefined>, cmd: Command) => {
    const settings = toPrepareOptions(layer(defaultsOf(PREPARE_SETTINGS), givenSettings(cmd, PREPARE_SETTINGS)));
    const result = prepareCommand({ ...settings, input: opts.input as string | undefined, out: String(opts.out), force: Boolean(opts.force) });
    const stats = datasetStats(result.dataset);
    emit({ json: Boolean(opts.json) }, { dir: result.dir, seconds: result.seconds, ...stats }, () => `prepared ${result.dir} in ${result.seconds.toFixed(2)} s\n${formatStats(stats)}`);
  });

  data
    .command('stats')
    .description('verify a prepared directory against its manifest and print its statistics')
    .argument('<dir>', 'prepared data set directory')
    .option('--json', 'print the result as JSON', false)
    .action((dir: string, opts: { json: boolean }) => {
      const stats = datasetStats(loadDataset(dir));
      emit(opts, { dir, ...stats }, () => formatStats(stats));
    });

  const fetch = data
    .command('fetch')
    .description('download a public data set (checks its sha256), cache it and prepare it')
    .argument('<name>', 'data set: citeulike')
    .option('--url <url>', 'download from this address instead of the authors\' repository')
    .option('--cache <dir>', 'where downloads are kept', 'data/downloads')
    .option('-o, --out <dir>', 'prepared data set directory (default: data/<name>)')
    .option('--config <file>', 'JSON file with any of the prepare settings below by their flag names (flags given explicitly win)')
    .option('--force', 'replace the prepared directory if it exists', false)
    .option('--json', 'print the result as JSON', false);
  addSettingOptions(fetch, PREPARE_SETTINGS.filter((s) => s.name !== 'format'), { defaults: { 'min-user': '5 for citeulike' } });
  fetch.action(async (name: string, opts: Record<string, string | boolean | undefined>, cmd: Command) => {
      const { fetchDataset } = await import('./fetch.js');
      const prepareSettings = toPrepareOptions(givenSettings(cmd, PREPARE_SETTINGS));
      const r = await fetchDataset(name, { url: opts.url as string | undefined, cache: String(opts.cache), out: (opts.out as string | undefined) ?? `data/${name}`, force: Boolean(opts.force), prepare: prepareSettings });
      emit({ json: Boolean(opts.json) }, { name: r.name, file: r.file, downloaded: r.downloaded, sha256: r.sha256, dir: r.dir, seconds: r.seconds, ...r.stats }, () => `${r.downloaded ? 'downloaded' : 'cached'} ${r.file} (sha256 ok); prepared ${r.dir}\n${r.summary}`);
    });

  const synth = data
    .command('synth')
    .description('write the seeded synthetic data set as a TSV file (user, item, timestamp)')
    .addHelpText('after', `
Model: P(item i | user u) ∝ popularity_i · exp(affinity · <x_u, c_g(i)>), with popularity_i = rank_i^-exponent
over a seeded permutation of ranks, x_u and c_g ~ N(0, I/dim), and items dealt into --clusters groups that share
a factor c_g. Each user takes LogNormal(mean --mean-interactions, sigma 0.7) items (at least 5, at most items/4)
without replacement from P(. | u). Cost O(users · clusters · dim + interactions); --clusters >= --items gives
every item its own factor. One seed gives one data set.`)
    .requiredOption('-o, --out <file>', 'output TSV file')
    .option('--force', 'overwrite the output file', false)
    .option('--json', 'print the result as JSON', false);
  addSettingOptions(synth, SYNTH_SETTINGS);
  synth.action((opts: Record<string, string | boolean>, cmd: Command) => {
    const out = String(opts.out);
    checkSynthOut(out, Boolean(opts.force));
    const settings: SynthOptions = toSynthOptions(layer(defaultsOf(SYNTH_SETTINGS), readFlags(cmd, SYNTH_SETTINGS)));
    const bar = new Progress('synth', settings.numUsers ?? SYNTH_DEFAULTS.numUsers);
    const generated = generateSynthetic(settings, (done) => bar.update(done));
    bar.done();
    writeFileAtomic(out, toTsv(generated));
    const result = { out, interactions: generated.users.length, users: generated.settings.numUsers, items: generated.settings.numItems, settings: generated.settings };
    emit({ json: Boolean(opts.json) }, result, () => `wrote ${out}: ${result.interactions} interactions, ${result.users} users, ${result.items} items`);
  });
}
