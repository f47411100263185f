import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { SettingError, checkConfig, type ConfigSection } from '@derrd/core';
import { renderConfigDoc } from '../src/config-doc.js';
import { addSettingOptions, readFlags } from '../src/flags.js';
import { UsageError } from '../src/output.js';
import { PIPELINE_SCHEMA, PIPELINE_SECTIONS } from '../src/recipes.js';
import { DEMO_SETTINGS, PREPARE_SETTINGS, SYNTH_SETTINGS, type Setting } from '../src/settings.js';
import { DISTILL_COMMAND_SETTINGS } from '../src/commands/distill.js';
import { derrd, ROOT } from './helpers.js';

test('docs/config.md is what the settings table generates (run `npm run docs:config` after changing a setting)', () => {
  assert.equal(readFileSync(join(ROOT, 'docs', 'config.md'), 'utf8'), renderConfigDoc());
});

test('derrd config --print: the full effective configuration per recipe, a valid config file that prints itself back; a file merges over the recipe', () => {
  const dir = mkdtempSync(join(tmpdir(), 'derrd-config-'));
  const print = (args: string[]) => {
    const r = derrd(['config', '--print', ...args]);
    assert.equal(r.status, 0, r.stderr);
    return JSON.parse(r.stdout);
  };
  const demo = print([]);
  const paper = print(['--recipe', 'paper']);
  assert.equal(demo.recipe, 'demo');
  assert.deepEqual([demo.teacher.dim, demo.student.dim, demo.distill.epochs, demo.distill.experts], [64, 8, 30, 10]);
  assert.deepEqual([paper.teacher.dim, paper.student.dim, paper.distill.epochs, paper.distill.experts, paper.teacher.lr], [200, 20, 1000, 30, 0.001]);
  // inherited: the student and the distilled student train like the teacher unless told otherwise
  assert.equal(demo.student.lr, 0.01);
  assert.equal(demo.distill.lr, 0.01);
  assert.equal(demo.distill['lambda-de'], 0.01);
  const file = join(dir, 'c.json');
  writeFileSync(file, JSON.stringify(paper));
  assert.deepEqual(print(['--config', file]), paper);
  writeFileSync(file, JSON.stringify({ recipe: 'paper', teacher: { model: 'neumf' }, distill: { method: 'rrd' }, student: { lr: 0.005 } }));
  const neumf = print(['--config', file]);
  assert.deepEqual([neumf.teacher['batch-size'], neumf.teacher['weight-decay'], neumf.student['batch-size'], neumf.distill['lambda-rrd'], neumf.distill['rrd-score'], neumf.distill.lr], [512, 1e-4, 512, 0.1, 'sigmoid', 0.005]);
  const r = derrd(['config']);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /--print/);
});

/** Parses argv with the settings' own flags, as the CLI does, and returns the error message. */
function flagError(settings: readonly Setting[], argv: string[], prefix = ''): string {
  const cmd = new Command('x').exitOverride();
  addSettingOptions(cmd, settings, { prefix });
  cmd.parse(argv, { from: 'user' });
  try {
    readFlags(cmd, settings, prefix);
  } catch (err) {
    assert.ok(err instanceof UsageError, String(err));
    return err.message;
  }
  return 'accepted';
}

function keyError(schema: ConfigSection, config: unknown): string {
  try {
    checkConfig(config, schema, 'c.json');
  } catch (err) {
    assert.ok(err instanceof SettingError, String(err));
    return err.message;
  }
  return 'accepted';
}

test('every numeric setting has a range, for flags and config keys alike; unknown keys are refused at every level with the nearest name', () => {
  const distill = { settings: DISTILL_COMMAND_SETTINGS };
  const cases: [string, RegExp][] = [
    [flagError(DISTILL_COMMAND_SETTINGS, ['--tau-start', '-1']), /^--tau-start must be a number > 0, got "-1"$/],
    [flagError(DISTILL_COMMAND_SETTINGS, ['--rrd-temperature', '0']), /^--rrd-temperature must be a number > 0, got "0"$/],
    [flagError(DISTILL_COMMAND_SETTINGS, ['--lambda-de', '-5']), /^--lambda-de must be a number > 0, got "-5"$/],
    [flagError(DISTILL_COMMAND_SETTINGS, ['--experts', '2.5']), /^--experts must be an integer >= 1, got "2.5"$/],
    [flagError(DISTILL_COMMAND_SETTINGS, ['--select-cutoff', '7']), /^--select-cutoff must be one of 5\|10\|20, got "7"$/],
    [flagError(DISTILL_COMMAND_SETTINGS, ['--dim', '1e9']), /^--dim must be an integer >= 1 and <= 65536, got "1e9"$/],
    [flagError(DISTILL_COMMAND_SETTINGS, ['--lr', 'fast']), /^--lr must be a number > 0, got "fast"$/],
    [flagError(PREPARE_SETTINGS, ['--candidates', '-3']), /^--candidates must be an integer >= 0, got "-3"$/],
    [flagError(SYNTH_SETTINGS, ['--popularity-exponent', '-1']), /^--popularity-exponent must be a number >= 0, got "-1"$/],
    [flagError(PIPELINE_SECTIONS.distill.settings, ['--distill-tau-end', '0'], 'distill-'), /^--distill-tau-end must be a number > 0, got "0"$/],
    [flagError(PIPELINE_SECTIONS.latency.settings, ['--latency-providers', 'cpu,tpu'], 'latency-'), /^--latency-providers must be a comma-separated list of cpu\|cuda\|webgpu\|wasm, got "cpu,tpu"$/],
    [flagError(DEMO_SETTINGS, ['--port', '99999']), /^--port must be an integer >= 0 and <= 65535, got "99999"$/],
    [flagError(DISTILL_COMMAND_SETTINGS, ['--tau-start', '0.5', '--experts', '4']), /^accepted$/],
    [keyError(distill, { 'tau-start': -1 }), /config key "tau-start" must be a number > 0, got -1/],
    [keyError(distill, { 'rrd-temperature': 0 }), /config key "rrd-temperature" must be a number > 0, got 0/],
    [keyError(distill, { 'lambda-de': -5 }), /config key "lambda-de" must be a number > 0, got -5/],
    [keyError(distill, { 'lambda-dee': 1 }), /unknown config key "lambda-dee" \(did you mean "lambda-de"\?/],
    [keyError(distill, { experts: '10' }), /config key "experts" must be an integer >= 1, got "10"/],
    [keyError(PIPELINE_SCHEMA, { distill: { 'tau-start': -1 } }), /config key "distill\.tau-start" must be a number > 0, got -1/],
    [keyError(PIPELINE_SCHEMA, { teacherr: {} }), /unknown config key "teacherr" \(did you mean "teacher"\?/],
    [keyError(PIPELINE_SCHEMA, { dimm: 4 }), /unknown config key "dimm" \(did you mean "[a-z-]+"\?/],
    [keyError(PIPELINE_SCHEMA, { dim: 4 }), /unknown config key "dim" \("dim" is a setting of "teacher" and "student" and "distill"/],
    [keyError(PIPELINE_SCHEMA, { teacher: { dim: 4, maxEpochs: 3 } }), /unknown config key "teacher\.maxEpochs" \(renamed: use "epochs"/],
    [keyError(PIPELINE_SCHEMA, { latency: { threads: 0 } }), /config key "latency\.threads" must be an integer >= 1 and <= 256, got 0/],
    [keyError(PIPELINE_SCHEMA, { latency: { providers: [] } }), /config key "latency\.providers" must be a comma-separated list/],
    [keyError(PIPELINE_SCHEMA, { methodSettings: { de: { numExperts: 3 } } }), /unknown config key "methodSettings" \(the method's settings are keys of the distill section now/],
    [keyError(PIPELINE_SCHEMA, { student: [] }), /config section "student" must be a JSON object/],
    [keyError(PIPELINE_SCHEMA, { 'min-rating': null, teacher: { checkpoint: null } }), /^accepted$/],
    [keyError({ settings: PREPARE_SETTINGS }, { 'min-user': '5' }), /config key "min-user" must be an integer >= 0, got "5"/],
  ];
  for (const [message, expected] of cases) assert.match(message, expected);
  assert.ok(cases.length >= 25);
});

test('the CLI refuses an out-of-range flag with exit 2 and a config key with exit 1, one line each, before reading any data', () => {
  const dir = mkdtempSync(join(tmpdir(), 'derrd-ranges-'));
  const distill = ['distill', '--teacher', join(dir, 't'), '--data', join(dir, 'd'), '-o', join(dir, 'never')];
  let r = derrd([...distill, '--rrd-temperature', '0']);
  assert.equal(r.status, 2);
  assert.equal(r.stderr, 'derrd: --rrd-temperature must be a number > 0, got "0"\n');
  const file = join(dir, 'c.json');
  writeFileSync(file, JSON.stringify({ 'lambda-de': -5 }));
  r = derrd([...distill, '--config', file]);
  assert.equal(r.status, 1);
  assert.equal(r.stderr, `derrd: error: ${file}: config key "lambda-de" must be a number > 0, got -5\n`);
});
