/**
 * The README stays short and every command in it is run: each code block is named (`<!-- readme: NAME -->` above it)
 * and some test in test/ runs the block of that name as written (own-data.test.ts, packaging.test.ts); the first
 * block's three commands are what CI (.ci/run) runs on a clean clone. Links from the README and docs/ resolve.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { README, readmeBlocks, readmeCommands } from './readme.js';

const ROOT = join(import.meta.dirname, '..');
const text = readFileSync(README, 'utf8');

test('README.md is at most 150 lines', () => {
  const lines = text.split('\n').length - (text.endsWith('\n') ? 1 : 0);
  assert.ok(lines <= 150, `README.md has ${lines} lines`);
});

test('every README code block is named and run by a test in test/ (or, for install/test/start, by CI)', () => {
  const blocks = readmeBlocks();
  assert.ok(blocks.length >= 5);
  for (const b of blocks) assert.ok(b.name, `README.md:${b.line}: a code block without a <!-- readme: NAME (which test runs it) --> line above it`);
  const names = blocks.map((b) => b.name!);
  assert.equal(new Set(names).size, names.length, `a block name is used twice: ${names.join(', ')}`);
  const tests = readdirSync(import.meta.dirname).filter((f) => f.endsWith('.test.ts')).map((f) => ({ file: f, source: readFileSync(join(import.meta.dirname, f), 'utf8') }));
  for (const name of names) {
    if (name === 'start') continue;
    const users = tests.filter((t) => t.source.includes(`readmeCommands('${name}')`) || t.source.includes(`readmeCode('${name}')`));
    assert.equal(users.length, 1, `README block "${name}" is run by ${users.length} test files (${users.map((u) => u.file).join(', ') || 'none'}); expected exactly one`);
  }
});

test('the README\'s first three commands are the ones CI runs on a clean clone; npm start is the pipeline', () => {
  assert.equal(readmeBlocks()[0].name, 'start');
  assert.deepEqual(readmeCommands('start'), ['npm ci', 'npm test', 'npm start']);
  const ci = readFileSync(join(ROOT, '.ci', 'run'), 'utf8').split('\n').map((l) => l.trim());
  for (const command of ['npm ci', 'npm test', 'npm start']) assert.ok(ci.some((l) => l === command || l.startsWith(`${command} `) || l.startsWith(`${command} 2>&1`)), `.ci/run does not run \`${command}\``);
  const scripts = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
  assert.equal(scripts.start, 'node packages/cli/dist/main.js pipeline');
});

test('relative links in README.md and docs/*.md point at files that exist', () => {
  const files = [README, ...readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => join(ROOT, 'docs', f))];
  for (const file of files) {
    const source = readFileSync(file, 'utf8');
    for (const m of source.matchAll(/\]\(([^)\s]+)\)/g)) {
      const target = m[1].split('#')[0];
      if (target === '' || /^[a-z]+:/.test(target)) continue;
      assert.ok(existsSync(resolve(dirname(file), target)), `${file.slice(ROOT.length + 1)} links to ${m[1]}, which does not exist`);
    }
  }
});
