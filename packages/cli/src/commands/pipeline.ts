import type { Command } from 'commander';
import { datasetStats } from '@derrd/core';
import { emit } from '../output.js';
import { DEFAULT_DATA_DIR, formatStats, prepareCommand } from './data.js';

/** The main job. Today: prepare the embedded default data set and print its statistics. */
export function registerPipelineCommand(program: Command): void {
  program
    .command('pipeline')
    .description('the main job: prepare the data (default: the embedded synthetic data set) and report its statistics')
    .option('-i, --input <path>', 'input data (file or split directory); default: the embedded synthetic data set')
    .option('-o, --out <dir>', 'prepared data set directory', DEFAULT_DATA_DIR)
    .option('--json', 'print the result as JSON', false)
    .action((opts: { input?: string; out: string; json: boolean }) => {
      const result = prepareCommand({ input: opts.input, format: 'auto', out: opts.out, force: true });
      const stats = datasetStats(result.dataset);
      emit(opts, { dir: result.dir, seconds: result.seconds, ...stats }, () => `prepared ${result.dir} in ${result.seconds.toFixed(2)} s\n${formatStats(stats)}`);
    });
}
