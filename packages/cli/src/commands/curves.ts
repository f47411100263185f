import type { Command } from 'commander';
import { curveEpochs, curveTable, parseCurveQuantity, readCard, round4, type CurveQuantity } from '@derrd/core';
import { UsageError, emit, parseChoice, parseInteger } from '../output.js';

/**
 * `derrd curves`: the learning curves of several runs at matched epochs, read from their model cards (no evaluation,
 * no tfjs). Works on runs still training, which is how a long variant is compared early (exact against sparse DE).
 */
export function registerCurvesCommand(program: Command): void {
  program
    .command('curves')
    .description('learning curves of runs side by side at matched epochs, from their model cards (running runs too)')
    .argument('<runs...>', 'checkpoint directories (from `derrd train` or `derrd distill`)')
    .option('--metric <name>', 'HR@N | NDCG@N | MRR@N (N 5|10|20) of --split, loss (the weighted total), or loss:<term> (unweighted: base, de, rrd, rd, cd)', 'HR@5')
    .option('--split <s>', 'held-out item the metric ranks: valid | test', 'valid')
    .option('--every <n>', 'show every n-th epoch (and each run\'s last)', '10')
    .option('--epochs <list>', 'comma-separated epochs to show instead of --every')
    .option('--json', 'print the table as JSON', false)
    .action((runs: string[], opts: Record<string, string | boolean | undefined>) => {
      const split = parseChoice('--split', String(opts.split), ['valid', 'test'] as const);
      let quantity: CurveQuantity;
      try {
        quantity = parseCurveQuantity(String(opts.metric), split);
      } catch (err) {
        throw new UsageError(`--metric: ${(err as Error).message}`);
      }
      const every = parseInteger('--every', String(opts.every), 1);
      let epochs: number[] | undefined;
      if (opts.epochs !== undefined) {
        epochs = String(opts.epochs).split(',').map((e) => parseInteger('--epochs', e.trim(), 0));
      }
      const cards = runs.map((dir) => readCard(dir));
      const histories = cards.map((c) => c.history);
      const shown = curveEpochs(histories, { epochs, every });
      const rows = curveTable(histories, quantity, shown);
      const label = quantity.kind === 'metric' ? `${split} ${quantity.metric}` : quantity.term ? `loss term ${quantity.term} (before its λ)` : 'training loss';
      const output = {
        quantity: label,
        runs: runs.map((dir, k) => ({ checkpoint: dir, method: cards[k].method.name, status: cards[k].status, epochsRun: cards[k].epochsRun })),
        rows,
      };
      emit({ json: Boolean(opts.json) }, output, () => {
        const width = Math.max(12, ...runs.map((r) => Math.min(28, r.length)));
        const fmt = (v: number | null) => (v === null ? '—' : quantity.kind === 'metric' ? round4(v).toFixed(4) : v.toPrecision(6));
        return [
          `${label} per epoch ("—": the run did not reach the epoch or has no such term)`,
          `${'epoch'.padStart(5)}  ${runs.map((r) => r.slice(-width).padStart(width)).join('  ')}`,
          ...rows.map((row) => `${String(row.epoch).padStart(5)}  ${row.values.map((v) => fmt(v).padStart(width)).join('  ')}`),
          `status: ${output.runs.map((r) => `${r.checkpoint.slice(-width)} ${r.status}, ${r.epochsRun} epochs`).join('; ')}`,
        ].join('\n');
      });
    });
}
