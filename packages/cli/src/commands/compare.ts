import type { Command } from 'commander';
import { formatPValue, loadDataset, metricOfRank, pairedTest, round4, type PairedResult } from '@derrd/core';
import { BACKENDS, evaluateCheckpoint, initBackend } from '@derrd/train';
import { UsageError, emit, info, parseChoice } from '../output.js';

const DEFAULT_METRICS = 'HR@5,NDCG@5,HR@10,NDCG@10,HR@20,NDCG@20';

/**
 * `derrd compare`: evaluates checkpoints on the same users and tests each one against the first (paired, per user),
 * so a table row can say whether a difference is larger than the evaluation's own noise.
 */
export function registerCompareCommand(program: Command): void {
  program
    .command('compare')
    .description('evaluate checkpoints on the same users and test each against the first (paired test per user)')
    .argument('<baseline>', 'checkpoint directory every other one is compared with')
    .argument('<others...>', 'checkpoint directories to compare with the baseline')
    .requiredOption('--data <dir>', 'prepared data set directory')
    .option('--protocol <p>', 'sampled (1 held-out item vs its candidates) | full (all items, training items masked)', 'sampled')
    .option('--split <s>', 'held-out item to rank: test | valid', 'test')
    .option('--metrics <list>', 'comma-separated HR@N, NDCG@N, MRR@N', DEFAULT_METRICS)
    .option('--backend <name>', `tfjs backend: ${BACKENDS.join('|')}`, 'auto')
    .option('--json', 'print the result as JSON', false)
    .action(async (baseline: string, others: string[], opts: Record<string, string | boolean>) => {
      const protocol = parseChoice('--protocol', String(opts.protocol), ['sampled', 'full'] as const);
      const split = parseChoice('--split', String(opts.split), ['test', 'valid'] as const);
      const metrics = String(opts.metrics).split(',').map((m) => m.trim()).filter(Boolean);
      for (const m of metrics) {
        try {
          metricOfRank(m);
        } catch (err) {
          throw new UsageError(`--metrics: ${(err as Error).message}`);
        }
      }
      const backend = await initBackend(parseChoice('--backend', String(opts.backend), BACKENDS));
      const dataset = loadDataset(String(opts.data));
      const evaluated: { checkpoint: string; label: string; savedEpoch: number; ranks: Int32Array }[] = [];
      for (const checkpoint of [baseline, ...others]) {
        info(`evaluating ${checkpoint} (${protocol} protocol)`);
        const { card, result } = await evaluateCheckpoint(checkpoint, dataset, protocol);
        evaluated.push({ checkpoint, label: `${card.model.kind} d=${card.model.dim} ${card.method.name}`, savedEpoch: card.savedEpoch, ranks: result.ranks[split] });
      }
      const [base, ...rest] = evaluated;
      const comparisons = rest.map((o) => ({ checkpoint: o.checkpoint, label: o.label, savedEpoch: o.savedEpoch, tests: metrics.map((m) => pairedTest(base.ranks, o.ranks, m)) }));
      const baseValues = Object.fromEntries(metrics.map((m) => {
        const f = metricOfRank(m);
        return [m, base.ranks.reduce((sum, r) => sum + f(r), 0) / Math.max(1, base.ranks.length)];
      }));
      const output = { baseline: { checkpoint: base.checkpoint, label: base.label, savedEpoch: base.savedEpoch, values: baseValues }, protocol, split, users: base.ranks.length, backend: backend.name, comparisons };
      emit({ json: Boolean(opts.json) }, output, () => {
        const fmt = (t: PairedResult) => `${round4(t.meanB).toFixed(4)} ${t.diff >= 0 ? '+' : '−'}${Math.abs(round4(t.diff)).toFixed(4)} p ${formatPValue(t.pValue)}`;
        const lines = [
          `${split} set, ${protocol} protocol, ${base.ranks.length} users; paired test per user against ${base.checkpoint} (${base.label}); each checkpoint at its saved epoch`,
          `${'model'.padEnd(34)} ${metrics.map((m) => m.padEnd(28)).join(' ')}`,
          `${`${base.checkpoint}`.slice(-34).padEnd(34)} ${metrics.map((m) => `${round4(baseValues[m]).toFixed(4)} (baseline)`.padEnd(28)).join(' ')}`,
          ...comparisons.map((c) => `${c.checkpoint.slice(-34).padEnd(34)} ${c.tests.map((t) => fmt(t).padEnd(28)).join(' ')}`),
          'p: two-sided paired test, normal approximation (McNemar\'s for HR, the paired t for NDCG and MRR); it covers the evaluation users, not other splits or training seeds',
        ];
        return lines.join('\n');
      });
    });
}
