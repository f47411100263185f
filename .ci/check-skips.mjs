// Fails CI when any test of a `node --test` log was skipped: a skipped test checked nothing, so CI must install
// what it needs instead. It reads the log rather than hooking the tests, so a skip written any way (`{ skip }`,
// `t.skip()`, a subtest's) is caught, under the TAP reporter (node 20's default when the output is not a terminal)
// or the spec one. Two kinds are allowed, and listed: a reason starting "hardware:" (e.g. no GPU for the WebGPU
// provider) and one starting "data:" (the shared CiteULike files, which must never be copied into the repo): no
// clean clone can provide either.
// Usage: node .ci/check-skips.mjs <test log> [--allow PREFIX ...]  (.ci/run allows 'python:' only on a machine without
// the local wheels, where those interop tests cannot run)
import { readFileSync } from 'node:fs';

const file = process.argv[2];
const extra = process.argv.slice(3).flatMap((a, i, all) => (all[i - 1] === '--allow' ? [a] : []));
if (!file) {
  console.error('usage: node .ci/check-skips.mjs <node --test log>');
  process.exit(2);
}
const lines = readFileSync(file, 'utf8').split('\n');
const skips = [];
let summarised = 0;
let summaries = 0;
for (const line of lines) {
  const tap = /^\s*(?:not )?ok \d+ - (.*?) # SKIP(?: (.*))?$/.exec(line);
  const spec = /^\s*﹣ (.*?) \([\d.]+m?s\)(?: # (.*))?$/.exec(line);
  const hit = tap ?? spec;
  if (hit) skips.push({ name: hit[1], reason: hit[2] ?? '(no reason given)' });
  const summary = /^(?:# |ℹ )skipped (\d+)\s*$/.exec(line);
  if (summary) {
    summaries++;
    summarised += Number(summary[1]);
  }
}
if (summaries === 0) {
  console.error(`CI: no test summary ("skipped N") in ${file}: the test run did not finish or its reporter is unknown`);
  process.exit(1);
}
const isAllowed = (reason) => /^(hardware|data):/.test(reason) || extra.some((p) => reason.startsWith(p));
const allowed = skips.filter((s) => isAllowed(s.reason));
const refused = skips.filter((s) => !isAllowed(s.reason));
for (const s of allowed) console.log(`CI: allowed skip: ${s.name} — ${s.reason}`);
for (const s of refused) console.error(`CI: skipped test: ${s.name} — ${s.reason}`);
if (summarised > skips.length) console.error(`CI: the summary counts ${summarised} skipped tests, but only ${skips.length} skip lines could be read`);
if (refused.length > 0 || summarised > skips.length) {
  console.error(`CI: ${Math.max(refused.length, summarised - allowed.length)} test(s) skipped; CI installs what every test needs, so a skip is a failure`);
  process.exit(1);
}
console.log(`CI: no test skipped${allowed.length > 0 ? ` (besides ${allowed.length} needing hardware or shared data this machine lacks)` : ''}`);
