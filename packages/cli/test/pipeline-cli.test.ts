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
    prepare: { numCandidates: 99 },
    teacher: { dim: 16, maxEpochs: 2, batchSize: 256, lr: 0.01 },
    student: { dim: 4 },
    methodSettings: { de: { numExperts: 3 }, rrd: { topN: 50, interesting: 5, uninteresting: 5 } },
    latency: { repsB1: 20, repsB64: 5, threads: 1, providers: ['cpu'] },
  };
  const configPath = join(dir, 'config.json');
  writeFileSync(configPath, JSON.stringify(config));
  const out = join(dir, 'out');
  const first = derrd(['pipeline', '--data', tsv, '--config', configPath, '--out', out, '--json'], { timeoutMs: 300_000 });
  assert.equal(first.status, 0, first.stderr);
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
  assert.match(html, /new Chart\(/);
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
});
