// Mutation testing (issue 21): `npm run test:mutation [-- scope...]` runs one scope at a time through
// scripts/test-mutation.mjs, which sets MUTATION_SCOPE. Tests import packages by name; the "source" export condition
// (package.json exports) makes those imports resolve to src/*.ts, which Stryker instruments and tsx compiles, so the
// report points at TypeScript lines. In the sandbox a test of package P resolves P by self-reference to the sandbox's
// mutated copy; other packages resolve through node_modules to the unmutated originals.
const tap = (testFiles) => ({ testFiles, nodeArgs: ['--conditions=source', '--import', 'tsx', '--test-reporter=tap'], forceBail: true });

export const SCOPES = {
  core: {
    mutate: [
      'packages/core/src/metrics.ts',
      'packages/core/src/evaluate.ts',
      'packages/core/src/sampling.ts',
      'packages/core/src/compare.ts',
      // the splits and evaluation candidates; the rest of prepare.ts is input parsing and bookkeeping
      'packages/core/src/prepare.ts:106-147',
      'packages/core/src/prepare.ts:213-271',
    ],
    tests: ['packages/core/test/metrics.test.ts', 'packages/core/test/sampling.test.ts', 'packages/core/test/compare.test.ts', 'packages/core/test/prepare.test.ts'],
  },
  train: {
    mutate: [
      'packages/train/src/distill/rd.ts',
      'packages/train/src/distill/cd.ts',
      // DE's temperature schedule, selection, dense mixture, entity weights and loss; the sparse kernels have their
      // own reference tests (expert-kernel.test.ts, distill.test.ts)
      'packages/train/src/distill/de.ts:51-54',
      'packages/train/src/distill/de.ts:103-119',
      'packages/train/src/distill/de.ts:255-307',
      // the relaxed ranking loss and the term's loss; its samplers are checked by distill.test.ts (too slow to run per mutant)
      'packages/train/src/distill/rrd.ts:61-113',
      'packages/train/src/distill/rrd.ts:185-201',
      // the epoch loop's bound, its selection, saving and early stopping, and trainingStep (the term weighting)
      'packages/train/src/trainer.ts:243-243',
      'packages/train/src/trainer.ts:261-271',
      'packages/train/src/trainer.ts:280-281',
      'packages/train/src/trainer.ts:294-294',
      'packages/train/src/trainer.ts:494-517',
    ],
    tests: ['packages/train/test/losses.test.ts', 'packages/train/test/selection.test.ts'],
  },
  batcher: {
    mutate: ['packages/serve-node/src/batcher.ts'],
    tests: ['packages/serve-node/test/batcher.test.ts'],
  },
};

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
