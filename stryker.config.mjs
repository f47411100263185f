import { readFileSync } from 'node:fs';
// Mutation testing (issue 21): `npm run test:mutation [-- scope...]` runs one scope at a time through
// scripts/test-mutation.mjs, which sets MUTATION_SCOPE. Tests import packages by name; the "source" export condition
// (package.json exports) makes those imports resolve to src/*.ts, which Stryker instruments and tsx compiles, so the
// report points at TypeScript lines. In the sandbox a test of package P resolves P by self-reference to the sandbox's
// mutated copy; other packages resolve through node_modules to the unmutated originals.
const tap = (testFiles) => ({ testFiles, nodeArgs: ['--conditions=source', '--import', 'tsx', '--test-reporter=tap'], forceBail: true });

/**
 * `file:start-end` for a span of a source file found by its text, not by line numbers, so that edits elsewhere in the
 * file do not move a scope onto other code: from the first line containing `from` through the first line at or after
 * it containing `to`, or, without `to`, through the end of the block that line opens (the next line at its
 * indentation starting with "}"). A missing anchor is an error. `root` is where the paths are read (tests pass an
 * older checkout).
 */
export function span(file, from, to, root = new URL('.', import.meta.url)) {
  const lines = readFileSync(new URL(file, root), 'utf8').split('\n');
  const a = lines.findIndex((l) => l.includes(from));
  if (a < 0) throw new Error(`stryker.config.mjs: "${from}" not found in ${file}`);
  const indent = lines[a].match(/^\s*/)[0];
  const b = to === undefined
    ? lines.findIndex((l, k) => k > a && l.startsWith(`${indent}}`))
    : lines.findIndex((l, k) => k >= a && l.includes(to));
  if (b < 0) throw new Error(`stryker.config.mjs: the end of the span from "${from}" not found in ${file}`);
  return `${file}:${a + 1}-${b + 1}`;
}

/** Each scope's mutated spans (as span() arguments) and the test files that exercise them. */
export const SCOPE_SPANS = {
  core: {
    mutate: [
      ['packages/core/src/metrics.ts'],
      ['packages/core/src/evaluate.ts'],
      ['packages/core/src/sampling.ts'],
      ['packages/core/src/compare.ts'],
      // the splits and evaluation candidates; the rest of prepare.ts is input parsing and bookkeeping
      ['packages/core/src/prepare.ts', 'export function sampleCandidates('],
      ['packages/core/src/prepare.ts', 'export function prepareFromInteractions('],
    ],
    tests: ['packages/core/test/metrics.test.ts', 'packages/core/test/sampling.test.ts', 'packages/core/test/compare.test.ts', 'packages/core/test/prepare.test.ts'],
  },
  train: {
    mutate: [
      ['packages/train/src/distill/rd.ts'],
      ['packages/train/src/distill/cd.ts'],
      // DE's temperature schedule, selection, dense mixture, entity weights and loss; the sparse kernels have their
      // own reference tests (expert-kernel.test.ts, distill.test.ts)
      ['packages/train/src/distill/de.ts', 'export function deTemperature('],
      ['packages/train/src/distill/de.ts', '  selection(ht: Tensor,'],
      ['packages/train/src/distill/de.ts', '  reconstructExact('],
      ['packages/train/src/distill/de.ts', '  onEpochStart(epoch: number, rng: Rng)', '    return total as Scalar;'],
      // the relaxed ranking loss (the reference and the lean one training runs, with its row loop) and the term's
      // loss; its samplers and the helper-thread split are checked by distill.test.ts (too slow to run per mutant)
      ['packages/train/src/distill/rrd.ts', 'export function relaxedRankingLoss('],
      ['packages/train/src/distill/rrd.ts', 'export function leanRelaxedRankingLoss('],
      ['packages/train/src/distill/rrd.ts', 'function rankingLossOp('],
      ['packages/train/src/distill/ranking-loss-rows.ts', 'export function rankingLossRows('],
      ['packages/train/src/distill/rrd.ts', '  loss(batch: Batch): Scalar {'],
      // a resumed run that had stopped, selection, saving, early stopping, the epoch bound, and trainingStep (the
      // term weighting)
      ['packages/train/src/trainer.ts', 'if (resumeState && sinceImproved >= config.patience)', 'if (resumeState && sinceImproved >= config.patience)'],
      ['packages/train/src/trainer.ts', 'const previousBest = selector.bestValidHr(', 'savedEpoch = epoch;'],
      ['packages/train/src/trainer.ts', 'const stop = sinceImproved >= config.patience;', "if (stop) status = 'early-stopped';"],
      ['packages/train/src/trainer.ts', 'for (let epoch = startEpoch; epoch < config.maxEpochs', 'for (let epoch = startEpoch; epoch < config.maxEpochs'],
      ['packages/train/src/trainer.ts', 'export function trainingStep(', 'if (grads[v.name]) byName[name] = grads[v.name];'],
    ],
    tests: ['packages/train/test/losses.test.ts', 'packages/train/test/selection.test.ts'],
  },
  batcher: {
    mutate: [['packages/serve-node/src/batcher.ts']],
    tests: ['packages/serve-node/test/batcher.test.ts'],
  },
};

/** The scopes as Stryker takes them: whole files, or `file:start-end` spans resolved from their anchors. */
export function resolveScopes(root) {
  return Object.fromEntries(Object.entries(SCOPE_SPANS).map(([name, s]) => [name, {
    mutate: s.mutate.map(([file, from, to]) => (from === undefined ? file : span(file, from, to, root))),
    tests: s.tests,
  }]));
}

export const SCOPES = resolveScopes();

const scopeName = process.env.MUTATION_SCOPE ?? 'core';
const scope = SCOPES[scopeName];
if (!scope) throw new Error(`unknown MUTATION_SCOPE "${scopeName}" (one of ${Object.keys(SCOPES).join(', ')})`);

export default {
  testRunner: 'tap',
  plugins: ['@stryker-mutator/tap-runner'],
  tap: tap(scope.tests),
  mutate: scope.mutate,
  coverageAnalysis: 'perTest',
  concurrency: Number(process.env.MUTATION_CONCURRENCY ?? 2),
  timeoutMS: 60000,
  reporters: ['html', 'json', 'clear-text', 'progress-append-only'],
  htmlReporter: { fileName: `reports/mutation/${scopeName}/index.html` },
  jsonReporter: { fileName: `reports/mutation/${scopeName}/mutation.json` },
  incremental: true,
  incrementalFile: `reports/mutation/${scopeName}/stryker-incremental.json`,
  tempDirName: `.stryker-tmp/${scopeName}`,
  ignorePatterns: ['runs', 'bench/results', 'reports', '**/dist', '.stryker-tmp'],
  cleanTempDir: true,
  thresholds: { high: 90, low: 80, break: null },
};
