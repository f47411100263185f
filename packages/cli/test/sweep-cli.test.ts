import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SettingError, checkConfig } from '@derrd/core';
import { buildFrontier, type MeasuredModel } from '../src/frontier.js';
import { SWEEP_SCHEMA } from '../src/recipes.js';
import { CLI, derrd } from './helpers.js';

interface Row {
  name: string; role: string; method: string; dim: number; phi: number; onnxBytes: number; savedEpoch: number; checkpoint: string; reused: boolean;
  test: Record<string, number>; h5Ratio: number; paperH5Ratio: number | null; vsStudent?: { diff: number; pValue: number };
  latency: { provider: string; batch: number; p50Us: number; p95Us: number }[];
}

/** Every number anywhere in `value`, with its path. */
function numbersIn(value: unknown, path = ''): [string, number][] {
  if (typeof value === 'number') return [[path, value]];
  if (value === null || typeof value !== 'object') return [];
  return Object.entries(value).flatMap(([k, v]) => numbersIn(v, `${path}.${k}`));
}

/** Runs the CLI and kills it (SIGKILL, as a crash or a power cut would) once `when` holds for its stderr. */
function runAndKill(args: string[], when: (stderr: string) => boolean): Promise<{ stderr: string; killed: boolean }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, CI: '1' }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    let killed = false;
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      stderr += chunk;
      if (!killed && when(stderr)) {
        killed = true;
        child.kill('SIGKILL');
      }
    });
    child.on('error', reject);
    child.on('exit', () => resolve({ stderr, killed }));
  });
}

const TINY = ['--epochs', '3', '--batch-size', '256', '--lr', '0.01', '--experts', '3', '--rrd-top-n', '50', '--rrd-k', '5', '--rrd-l', '5', '--reps-b1', '5', '--reps-b64', '2', '--threads', '1'];

/** A small prepared synthetic data set (120 users × 400 items, 99 sampled candidates) and its interactions file. */
function smallData(dir: string): { tsv: string; data: string } {
  const tsv = join(dir, 'interactions.tsv');
  const data = join(dir, 'data');
  assert.equal(derrd(['data', 'synth', '-o', tsv, '--users', '120', '--items', '400']).status, 0);
  const p = derrd(['data', 'prepare', '-i', tsv, '-o', data, '--candidates', '99']);
  assert.equal(p.status, 0, p.stderr);
  return { tsv, data };
}

test('derrd sweep trains its teacher and a row per method and size; the rows and ratios are the evaluated checkpoints\'; a killed sweep resumes its run, a re-run skips every step, --reuse finds matching checkpoints', { timeout: 900_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'derrd-sweep-'));
  const { data } = smallData(dir);
  const out = join(dir, 'sweep');
  const args = ['sweep', '--data', data, '--teacher-dim', '16', '--dims', '4,8', '--out', out, ...TINY];

  // killed (as a crash would) in the middle of the last run's training
  const killed = await runAndKill(args, (s) => {
    const at = s.indexOf('[de-rrd-d8] running');
    return at >= 0 && /epoch {4}0 /.test(s.slice(at));
  });
  assert.ok(killed.killed, killed.stderr);
  assert.match(killed.stderr, /estimated training time of the teacher: at most ~\d+ (s|min|h)/);
  assert.match(killed.stderr, /estimated training time of the sweep: at most ~\d+ (s|min|h) for 4 runs/);
  const statePath = join(out, 'sweep.json');
  assert.equal(JSON.parse(readFileSync(statePath, 'utf8'))['de-rrd-d8'].finishedAt, null);

  const first = derrd([...args, '--json'], { timeoutMs: 600_000 });
  assert.equal(first.status, 0, first.stderr);
  assert.match(first.stderr, /de-rrd-d8: .*resumed at epoch [12]/);
  for (const step of ['teacher', 'none-d4', 'de-rrd-d4', 'none-d8']) assert.match(first.stderr, new RegExp(`\\[${step}\\] up to date, skipped`));
  // every model is exported and timed after the last training, so that the timings are taken close together
  const lastTraining = first.stderr.indexOf('[de-rrd-d8] done');
  assert.ok(lastTraining > 0 && first.stderr.indexOf('[latency-teacher] running') > lastTraining && first.stderr.indexOf('[export-none-d4] running') > lastTraining, first.stderr);
  assert.match(first.stderr, /estimated training time of the sweep: at most ~\d+ (s|min|h) for 1 run /);
  const report = JSON.parse(first.stdout) as { teacher: { checkpoint: string; trainedBySweep: boolean }; frontier: { rows: Row[]; dims: number[]; methods: string[] } };
  assert.deepEqual(report.teacher, { ...report.teacher, checkpoint: 'teacher', trainedBySweep: true });
  const rows = report.frontier.rows;
  assert.deepEqual(rows.map((r) => r.name), ['teacher', 'none-d4', 'de-rrd-d4', 'none-d8', 'de-rrd-d8']);
  assert.deepEqual(rows.map((r) => r.dim), [16, 4, 4, 8, 8]);
  const byName = Object.fromEntries(rows.map((r) => [r.name, r]));
  const teacherRow = byName.teacher;
  // every row is what `derrd evaluate` gives for its checkpoint, and the ratio is computed from those evaluations
  const evaluated = Object.fromEntries(rows.map((r) => [r.name, JSON.parse(derrd(['evaluate', join(out, r.checkpoint), '--data', data, '--json']).stdout) as { test: Record<string, number> }]));
  for (const r of rows) {
    assert.deepEqual(r.test, evaluated[r.name].test, r.name);
    assert.equal(r.phi, r.dim / 16);
    assert.ok(Math.abs(r.h5Ratio - evaluated[r.name].test['HR@5'] / evaluated.teacher.test['HR@5']) < 1e-12, r.name);
    assert.ok(r.test['HR@5'] > 0 && r.test['HR@5'] <= 1, r.name);
    assert.deepEqual(r.latency.map((l) => `${l.provider} ${l.batch}`).sort(), ['cpu 1', 'cpu 64', 'wasm 1', 'wasm 64']);
    for (const l of r.latency) assert.ok(l.p50Us > 0 && l.p95Us >= l.p50Us, `${r.name} ${l.provider} B=${l.batch}`);
    assert.ok(r.savedEpoch >= 0 && r.savedEpoch < 3);
  }
  assert.equal(teacherRow.h5Ratio, 1);
  // the ratios differ between runs: not one number copied into every row
  assert.ok(new Set(rows.map((r) => r.h5Ratio)).size > 1, JSON.stringify(rows.map((r) => r.h5Ratio)));
  // ONNX bytes grow with d, for each method, and the teacher (d = 16) is the largest
  for (const m of ['none', 'de-rrd']) assert.ok(byName[`${m}-d8`].onnxBytes > byName[`${m}-d4`].onnxBytes * 1.5, m);
  for (const r of rows.slice(1)) assert.ok(teacherRow.onnxBytes > r.onnxBytes);
  for (const [path, x] of numbersIn(rows)) assert.ok(Number.isFinite(x), `${path} = ${x}`);
  // the paper's Table 3 ratio stands beside the DE-RRD row at φ = 0.5 (BPR, CiteULike: 1.01), and nowhere else here
  assert.deepEqual(rows.map((r) => r.paperH5Ratio), [null, null, null, null, 1.01]);
  for (const r of rows) {
    if (r.method !== 'de-rrd') assert.equal(r.vsStudent, undefined);
    else {
      assert.ok(r.vsStudent!.pValue >= 0 && r.vsStudent!.pValue <= 1);
      assert.ok(Math.abs(r.vsStudent!.diff - (r.test['HR@5'] - byName[`none-d${r.dim}`].test['HR@5'])) < 1e-9);
    }
  }
  assert.ok(existsSync(join(out, 'onnx', 'de-rrd-d8.onnx')) && existsSync(join(out, 'onnx', 'teacher.onnx')));
  const md = readFileSync(join(out, 'report.md'), 'utf8');
  assert.match(md, /\| model \| method \| d \| φ \| parameters \| ONNX bytes \| epoch \| H@5 \| N@5 \| H@10 \|/);
  for (const r of rows) assert.match(md, new RegExp(`^\\| ${r.name} \\| .*\\| ${r.test['HR@5'].toFixed(4)} \\| .*\\| ${r.h5Ratio.toFixed(3)} \\| `, 'm'));
  const html = readFileSync(join(out, 'report.html'), 'utf8');
  assert.match(html, /<table id="frontier">/);
  assert.match(html, /id="frontier-cpu-b64"/);
  assert.doesNotMatch(html, /<script src=/);
  assert.ok(!readFileSync(join(out, 'report.json'), 'utf8').includes(dir), 'no absolute paths of this machine in report.json');

  // a re-run skips every step
  const again = derrd(args, { timeoutMs: 300_000 });
  assert.equal(again.status, 0, again.stderr);
  const stepNames = rows.slice(1).flatMap((r) => [r.name, `export-${r.name}`, `latency-${r.name}`]);
  for (const step of ['teacher', 'export-teacher', 'latency-teacher', ...stepNames]) assert.match(again.stderr, new RegExp(`\\[${step}\\] up to date, skipped`));
  assert.doesNotMatch(again.stderr, /\] running/);
  assert.match(again.stderr, /estimated training time of the sweep: none/);

  // --reuse: finished checkpoints whose card matches a run stand in for it; a run with other settings is trained
  const reuseOut = join(dir, 'reused');
  const teacherArgs = ['--teacher-checkpoint', join(out, 'teacher')];
  const reused = derrd(['sweep', ...teacherArgs, '--dims', '8', '--out', reuseOut, '--reuse', out, ...TINY, '--json'], { timeoutMs: 300_000 });
  assert.equal(reused.status, 0, reused.stderr);
  assert.match(reused.stderr, /\[none-d8\] using the finished checkpoint .*none-d8 \(its model card has this run's data set, settings\)/);
  assert.match(reused.stderr, /\[de-rrd-d8\] using the finished checkpoint .*de-rrd-d8 \(its model card has this run's data set, settings, method and teacher\)/);
  const reusedRows = (JSON.parse(reused.stdout) as { frontier: { rows: Row[] } }).frontier.rows;
  assert.deepEqual(reusedRows.map((r) => [r.name, r.reused, r.test]), [['teacher', false, teacherRow.test], ['none-d8', true, byName['none-d8'].test], ['de-rrd-d8', true, byName['de-rrd-d8'].test]]);
  const otherLr = derrd(['sweep', ...teacherArgs, '--dims', '4', '--methods', 'none', '--out', join(dir, 'other-lr'), '--reuse', out, ...TINY, '--lr', '0.002'], { timeoutMs: 300_000 });
  assert.equal(otherLr.status, 0, otherLr.stderr);
  assert.match(otherLr.stderr, /\[none-d4\] running/);
});

test('derrd pipeline --sweep-dims: the sweep from the pipeline\'s teacher, its own student standing in where the settings match; the frontier in the report and frontier.md', { timeout: 600_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'derrd-pipe-sweep-'));
  const tsv = join(dir, 'interactions.tsv');
  assert.equal(derrd(['data', 'synth', '-o', tsv, '--users', '120', '--items', '400']).status, 0);
  const config = {
    candidates: 99,
    teacher: { dim: 16, epochs: 2, 'batch-size': 256, lr: 0.01 },
    student: { dim: 4 },
    distill: { epochs: 2, experts: 3, 'rrd-top-n': 50, 'rrd-k': 5, 'rrd-l': 5 },
    latency: { 'reps-b1': 5, 'reps-b64': 2, threads: 1, providers: ['cpu'] },
    sweep: { methods: ['none'] },
  };
  const configPath = join(dir, 'config.json');
  writeFileSync(configPath, JSON.stringify(config));
  const out = join(dir, 'out');
  const r = derrd(['pipeline', '--data', tsv, '--config', configPath, '--out', out, '--sweep-dims', '4,6', '--json'], { timeoutMs: 500_000 });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /\[sweep-none-d4\] using the finished checkpoint .*student/);
  assert.match(r.stderr, /\[sweep-none-d6\] running/);
  const report = JSON.parse(r.stdout) as { models: { name: string; test: Record<string, number> }[]; frontier: { rows: Row[] } };
  const rows = report.frontier.rows;
  assert.deepEqual(rows.map((x) => x.name), ['teacher', 'none-d4', 'none-d6']);
  assert.deepEqual(rows[0].test, report.models[0].test);
  assert.deepEqual(rows[1].test, report.models[1].test);
  for (const x of rows) assert.ok(Math.abs(x.h5Ratio - x.test['HR@5'] / report.models[0].test['HR@5']) < 1e-12);
  assert.match(readFileSync(join(out, 'frontier.md'), 'utf8'), /^\| none-d6 \| none \| 6 \| 0\.375 \| /m);
  assert.match(readFileSync(join(out, 'report.html'), 'utf8'), /<table id="frontier">/);
  const again = derrd(['pipeline', '--data', tsv, '--config', configPath, '--out', out, '--sweep-dims', '4,6'], { timeoutMs: 300_000 });
  assert.equal(again.status, 0, again.stderr);
  assert.doesNotMatch(again.stderr, /\] running/);
  const dup = derrd(['pipeline', '--data', tsv, '--config', configPath, '--out', out, '--sweep-dims', '4,4']);
  assert.equal(dup.status, 2);
  assert.match(dup.stderr, /^derrd: --sweep-dims names 4 more than once: list each once$/m);
});

test('derrd sweep refuses bad inputs with a plain message before anything runs', () => {
  const dir = mkdtempSync(join(tmpdir(), 'derrd-sweep-bad-'));
  const out = join(dir, 'out');
  const teacherless = derrd(['sweep', '--teacher-checkpoint', join(dir, 'no-such-teacher'), '--out', out]);
  const cases: [string[], number, RegExp][] = [
    [['--dims', '0,x'], 2, /^derrd: --dims must be a comma-separated list of integers >= 1 and <= 65536, got "0,x" \(not valid: 0, x\)$/m],
    [['--dims', '20,70000'], 2, /^derrd: --dims must be a comma-separated list of integers >= 1 and <= 65536, got "20,70000" \(not valid: 70000\)$/m],
    [['--dims', '10,,20'], 2, /--dims must be .*\(not valid: an empty entry\)/],
    [['--dims', '10,20,10'], 2, /^derrd: --dims names 10 more than once: list each once$/m],
    [['--methods', 'none,de-rrrd'], 2, /^derrd: --methods must be a comma-separated list of none\|de\|rrd\|de-rrd\|rd\|cd\|ir-rrd\|de-ir-rrd, got "none,de-rrrd"$/m],
    [['--reps-b1', '0'], 2, /^derrd: --reps-b1 must be an integer >= 1, got "0"$/m],
  ];
  for (const [flags, status, message] of cases) {
    const r = derrd(['sweep', '--teacher-checkpoint', join(dir, 'no-such-teacher'), '--out', out, ...flags]);
    assert.equal(r.status, status, `${flags.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message);
    assert.doesNotMatch(r.stderr, /internal error|\n\s+at /);
  }
  const neither = derrd(['sweep', '--out', out]);
  assert.equal(neither.status, 2);
  assert.match(neither.stderr, /^derrd: give --teacher-checkpoint <dir> \(a finished teacher\) or --data <dir>/m);
  const both = derrd(['sweep', '--teacher-checkpoint', join(dir, 'no-such-teacher'), '--teacher-dim', '50', '--out', out]);
  assert.equal(both.status, 2);
  assert.match(both.stderr, /^derrd: --teacher-dim sets the teacher the sweep trains, but --teacher-checkpoint gives a finished one/m);
  assert.equal(teacherless.status, 1);
  assert.match(teacherless.stderr, /^derrd: error: .*no-such-teacher/m);
  assert.doesNotMatch(teacherless.stderr, /internal error|\n\s+at /);
  const config = join(dir, 'c.json');
  writeFileSync(config, JSON.stringify({ dims: [10, 'x'] }));
  const badKey = derrd(['sweep', '--teacher-checkpoint', join(dir, 'no-such-teacher'), '--out', out, '--config', config]);
  assert.equal(badKey.status, 1);
  assert.match(badKey.stderr, /config key "dims" must be a comma-separated list of integers >= 1 and <= 65536, got \[10,"x"\] \(not valid: x\)/);
  assert.ok(!existsSync(out), 'nothing written');
});

test('the sweep config: dims take a list or a comma-separated string; a misspelled key gets the nearest name', () => {
  assert.deepEqual(checkConfig({ dims: '10,20', methods: ['none', 'ir-rrd'] }, SWEEP_SCHEMA).dims, [10, 20]);
  assert.deepEqual(checkConfig({ dims: [5, 65536] }, SWEEP_SCHEMA).dims, [5, 65536]);
  assert.throws(() => checkConfig({ dim: [10] }, SWEEP_SCHEMA), (e: unknown) => e instanceof SettingError && /unknown config key "dim" \(did you mean "dims"\?/.test(e.message));
  assert.throws(() => checkConfig({ dims: [] }, SWEEP_SCHEMA), SettingError);
  assert.throws(() => checkConfig({ dims: [2.5] }, SWEEP_SCHEMA), SettingError);
});

test('the frontier: φ and the H@5 ratio per row; the paper\'s Table 3 ratio beside the DE-RRD rows at φ = 1, 0.5 and 0.1 of its base model', () => {
  const model = (name: string, role: MeasuredModel['role'], method: string, dim: number, hr5: number, kind = 'bpr'): MeasuredModel => ({
    name, role, method, kind, dim, parameters: dim * 10, checkpoint: name, reused: false, onnx: `${name}.onnx`, onnxBytes: dim * 40, savedEpoch: 3, epochsRun: 5, status: 'early-stopped',
    test: { 'HR@5': hr5 }, valid: { 'HR@5': hr5 }, wallSeconds: 1, secondsPerEpoch: 0.2, latency: [],
  });
  const f = buildFrontier('sampled', model('teacher', 'teacher', 'none', 200, 0.5), [
    model('none-d20', 'student', 'none', 20, 0.45), model('de-rrd-d20', 'distilled', 'de-rrd', 20, 0.475), model('de-rrd-d100', 'distilled', 'de-rrd', 100, 0.5),
    model('rrd-d200', 'distilled', 'rrd', 200, 0.51), model('de-rrd-d200', 'distilled', 'de-rrd', 200, 0.52), model('de-rrd-d50', 'distilled', 'de-rrd', 50, 0.49),
  ], [20, 50, 100, 200], ['none', 'de-rrd', 'rrd']);
  assert.deepEqual(f.rows.map((r) => r.phi), [1, 0.1, 0.1, 0.5, 1, 1, 0.25]);
  assert.deepEqual(f.rows.map((r) => Math.round(r.h5Ratio * 1000) / 1000), [1, 0.9, 0.95, 1, 1.02, 1.04, 0.98]);
  assert.deepEqual(f.rows.map((r) => r.paperH5Ratio), [null, null, 0.94, 1.01, null, 1.03, null]);
  const neumf = buildFrontier('sampled', model('teacher', 'teacher', 'none', 250, 0.45, 'neumf'), [model('de-rrd-d25', 'distilled', 'de-rrd', 25, 0.44, 'neumf')], [25], ['de-rrd']);
  assert.equal(neumf.rows[1].paperH5Ratio, 0.99);
});
