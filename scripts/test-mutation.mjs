// `npm run test:mutation [-- core train batcher]`: runs StrykerJS once per scope (one at a time, 2 test processes
// by default; MUTATION_CONCURRENCY overrides), each writing reports/mutation/<scope>/index.html and mutation.json,
// then prints and writes reports/mutation/summary.json with each scope's mutation score. Incremental: a rerun only
// tests mutants whose code or tests changed (reports/mutation/<scope>/stryker-incremental.json; --force redoes all).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { SCOPES } from '../stryker.config.mjs';

const args = process.argv.slice(2);
const force = args.includes('--force');
const scopes = args.filter((a) => a !== '--force');
for (const s of scopes) if (!SCOPES[s]) { console.error(`unknown scope "${s}" (one of ${Object.keys(SCOPES).join(', ')})`); process.exit(2); }
const run = scopes.length ? scopes : Object.keys(SCOPES);

// tsc -b first: the tests of other packages import their built dist
const build = spawnSync('npx', ['tsc', '-b'], { stdio: 'inherit' });
if (build.status !== 0) process.exit(build.status ?? 1);

/** Stryker's score: killed + timeout over all valid mutants (no-coverage ones count as survivors). */
function score(file) {
  const report = JSON.parse(readFileSync(file, 'utf8'));
  const counts = {};
  const survivors = [];
  for (const [path, f] of Object.entries(report.files)) {
    for (const m of f.mutants) {
      counts[m.status] = (counts[m.status] ?? 0) + 1;
      if (m.status === 'Survived' || m.status === 'NoCoverage') survivors.push(`${path}:${m.location.start.line} ${m.mutatorName}${m.replacement ? ` → ${m.replacement.replace(/\s+/g, ' ').slice(0, 60)}` : ''} (${m.status})`);
    }
  }
  const detected = (counts.Killed ?? 0) + (counts.Timeout ?? 0);
  const valid = detected + (counts.Survived ?? 0) + (counts.NoCoverage ?? 0);
  return { score: valid ? (100 * detected) / valid : 0, counts, survivors };
}

const summaryFile = 'reports/mutation/summary.json';
const summary = existsSync(summaryFile) ? JSON.parse(readFileSync(summaryFile, 'utf8')) : {};
let failed = false;
for (const scope of run) {
  console.log(`\n== mutation scope ${scope}: ${SCOPES[scope].mutate.join(', ')}`);
  // Stryker's incremental file keeps the results of mutants outside the current spans and reports them again, so a
  // scope whose spans changed since its last run (or --force) starts without it
  const spansFile = `reports/mutation/${scope}/spans.json`;
  const spans = JSON.stringify(SCOPES[scope].mutate);
  if (force || !existsSync(spansFile) || readFileSync(spansFile, 'utf8') !== spans) rmSync(`reports/mutation/${scope}/stryker-incremental.json`, { force: true });
  const r = spawnSync('npx', ['stryker', 'run', 'stryker.config.mjs', ...(force ? ['--force'] : [])], { stdio: 'inherit', env: { ...process.env, MUTATION_SCOPE: scope } });
  if (r.status !== 0) { failed = true; continue; }
  writeFileSync(spansFile, spans);
  summary[scope] = { ...score(`reports/mutation/${scope}/mutation.json`), finishedAt: new Date().toISOString() };
}
mkdirSync('reports/mutation', { recursive: true });
writeFileSync(summaryFile, JSON.stringify(summary, null, 2) + '\n');
console.log('\nscope     score   killed  timeout  survived  no-coverage');
for (const [scope, s] of Object.entries(summary)) {
  const c = s.counts;
  console.log(`${scope.padEnd(9)} ${s.score.toFixed(1).padStart(5)}%  ${String(c.Killed ?? 0).padStart(6)}  ${String(c.Timeout ?? 0).padStart(7)}  ${String(c.Survived ?? 0).padStart(8)}  ${String(c.NoCoverage ?? 0).padStart(11)}`);
}
console.log(`\nreports: reports/mutation/<scope>/index.html; summary with the surviving mutants: ${summaryFile}`);
process.exit(failed ? 1 : 0);
