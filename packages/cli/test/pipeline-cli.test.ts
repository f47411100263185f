import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { derrd } from './helpers.js';

test('derrd pipeline: data → teacher → student → DE-RRD → export → latency → report; a re-run skips finished steps; a config change re-runs what depends on it', () => {
  const dir = mkdtempSync(join(tmpdir(), 'derrd-pipe-'));
  const tsv = join(dir, 'interactions.tsv');
  assert.equal(derrd(['data', 'synth', '-o', tsv, '--users', '120', '--items', '400']).status, 0);
  const config = {
    candidates: 99,
    teacher: { dim: 16, epochs: 2, 'batch-size': 256, lr: 0.01 },
    student: { dim: 4 },
    distill: { epochs: 2, experts: 3, 'rrd-top-n': 50, 'rrd-k': 5, 'rrd-l': 5 },
    latency: { 'reps-b1': 20, 'reps-b64': 5, threads: 1, providers: ['cpu'] },
  };
  const configPath = join(dir, 'config.json');
  writeFileSync(configPath, JSON.stringify(config));
  const out = join(dir, 'out');
  const first = derrd(['pipeline', '--data', tsv, '--config', configPath, '--out', out, '--json'], { timeoutMs: 300_000 });
  assert.equal(first.status, 0, first.stderr);
  // the recipe and a time bound are printed before any training
  const banner = first.stderr.indexOf('recipe demo (the default; --recipe paper for the paper\'s settings)');
  assert.ok(banner >= 0 && banner < first.stderr.indexOf('[teacher] running'), first.stderr);
  assert.match(first.stderr, /estimated training time: at most ~\d+ (s|min|h) \(teacher /);
  const report = JSON.parse(first.stdout);
  assert.deepEqual(report.models.map((m: { name: string }) => m.name), ['teacher', 'student', 'de-rrd']);
  for (const m of report.models) {
    assert.ok(m.test['HR@5'] >= 0 && m.test['HR@5'] <= 1);
    assert.ok(m.onnxBytes > 0);
    assert.ok(m.latency.some((l: { batch: number; p50Us: number }) => l.batch === 1 && l.p50Us > 0));
    assert.equal(m.history.length, 2);
  }
  assert.equal(report.models[0].dim, 16);
  assert.equal(report.models[2].method, 'de-rrd');
  const html = readFileSync(join(out, 'report.html'), 'utf8');
  assert.match(html, /<table id="accuracy">/);
  assert.match(html, /<table id="comparisons">/);
  // the distilled student against the student and the teacher, at HR@5 and NDCG@10, with p-values in [0, 1]
  assert.deepEqual(report.comparisons.map((c: { against: string; metric: string }) => `${c.against} ${c.metric}`), ['student HR@5', 'student NDCG@10', 'teacher HR@5', 'teacher NDCG@10']);
  for (const c of report.comparisons) {
    assert.ok(c.pValue >= 0 && c.pValue <= 1);
    assert.ok(Math.abs(c.value - c.againstValue - c.diff) < 1e-9);
  }
  assert.match(html, /new Chart\(/);
  // the headline describes what ships: the exported weights evaluated, every metric at the saved epoch
  const shipped = JSON.parse(derrd(['evaluate', join(out, 'de-rrd'), '--data', join(out, 'data'), '--json']).stdout);
  assert.deepEqual(report.models[2].test, shipped.test);
  assert.equal(report.models[2].savedEpoch, shipped.savedEpoch);
  assert.match(html, /<table id="best-epoch">/);
  // paths relative to the report, durations rounded
  assert.equal(report.dataset.source, join('..', 'interactions.tsv'));
  assert.equal(report.models[2].onnx, join('onnx', 'de-rrd.onnx'));
  assert.ok(!JSON.stringify(report).includes(dir), 'no absolute paths of this machine in report.json');
  for (const x of [...Object.values(report.seconds), report.models[0].wallSeconds] as number[]) assert.equal(x, Math.round(x * 10) / 10);
  assert.doesNotMatch(html, /<script src=/);
  assert.ok(existsSync(join(out, 'onnx', 'de-rrd.onnx')));

  const again = derrd(['pipeline', '--data', tsv, '--config', configPath, '--out', out], { timeoutMs: 300_000 });
  assert.equal(again.status, 0, again.stderr);
  for (const step of ['prepare', 'teacher', 'student', 'de-rrd', 'latency']) assert.match(again.stderr, new RegExp(`\\[${step}\\] up to date, skipped`));

  writeFileSync(configPath, JSON.stringify({ ...config, student: { dim: 6 } }));
  const changed = derrd(['pipeline', '--data', tsv, '--config', configPath, '--out', out], { timeoutMs: 300_000 });
  assert.equal(changed.status, 0, changed.stderr);
  assert.match(changed.stderr, /\[teacher\] up to date, skipped/);
  assert.match(changed.stderr, /\[student\] running/);
  assert.match(changed.stderr, /\[de-rrd\] running/);

  // finished checkpoints can stand in for training (a teacher trained elsewhere, or by bench:reproduce)
  const reusedOut = join(dir, 'reused');
  const reuseArgs = ['--teacher-checkpoint', join(out, 'teacher'), '--student-checkpoint', join(out, 'student'), '--distill-checkpoint', join(out, 'de-rrd')];
  const reuse = derrd(['pipeline', '--data', join(out, 'data'), '--config', configPath, '--out', reusedOut, ...reuseArgs, '--json'], { timeoutMs: 300_000 });
  assert.equal(reuse.status, 0, reuse.stderr);
  for (const step of ['teacher', 'student', 'de-rrd']) assert.match(reuse.stderr, new RegExp(`\\[${step}\\] using the finished checkpoint`));
  const reusedReport = JSON.parse(reuse.stdout);
  const original = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8'));
  assert.deepEqual(reusedReport.models.map((m: { test: unknown }) => m.test), original.models.map((m: { test: unknown }) => m.test));
  assert.equal(reusedReport.models[1].dim, 6);
  const wrongMethod = derrd(['pipeline', '--data', join(out, 'data'), '--config', configPath, '--out', reusedOut, '--teacher-checkpoint', join(out, 'teacher'), '--distill-checkpoint', join(out, 'student')]);
  assert.notEqual(wrongMethod.status, 0);
  assert.match(wrongMethod.stderr, /was trained with method none, not de-rrd/);
  const otherData = derrd(['pipeline', '--config', configPath, '--out', join(dir, 'other'), '--teacher-checkpoint', join(out, 'teacher')]);
  assert.notEqual(otherData.status, 0);
  assert.match(otherData.stderr, /--teacher-checkpoint: the checkpoint in .* was trained on another data set/);

  // a misspelled key fails before anything runs, naming the key and its nearest valid name
  writeFileSync(configPath, JSON.stringify({ ...config, teacher: { dimm: 16 } }));
  const typo = derrd(['pipeline', '--data', tsv, '--config', configPath, '--out', join(dir, 'typo')]);
  assert.equal(typo.status, 1);
  assert.match(typo.stderr, /unknown config key "teacher\.dimm" \(did you mean "teacher\.dim"\?/);
  assert.ok(!existsSync(join(dir, 'typo')));
});
