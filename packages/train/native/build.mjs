#!/usr/bin/env node
/**
 * Builds the optional native DE kernel (binding.gyp → build/Release/derrd_expert.node) with node-gyp. Run as
 * @derrd/train's install script and by `npm run build:native`. Without a C compiler or node-gyp the install still
 * succeeds: training then runs the WebAssembly kernel (the same floats, slower) and its log says why.
 *   node native/build.mjs [--if-stale] [--strict]
 * --if-stale: only when a source is newer than the built module; --strict: a failed build exits 1 with node-gyp's output.
 * DERRD_SKIP_NATIVE=1 skips the build.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const dir = dirname(fileURLToPath(import.meta.url));
const built = join(dir, 'build', 'Release', 'derrd_expert.node');
const sources = ['binding.gyp', 'expert_mixture.c', 'expert_mixture.h'].map((f) => join(dir, f));
const strict = process.argv.includes('--strict');
const notBuilt = (why, detail = '') => {
  if (strict) {
    if (detail) process.stderr.write(detail);
    console.error(`derrd: the native DE kernel was not built: ${why}`);
    process.exit(1);
  }
  console.log(`derrd: the native DE kernel was not built (${why}); training runs the WebAssembly kernel: the same results, slower. Retry with npm run build:native.`);
  process.exit(0);
};

if (process.env.DERRD_SKIP_NATIVE === '1') notBuilt('DERRD_SKIP_NATIVE=1');
if (process.argv.includes('--if-stale') && existsSync(built)) {
  const builtAt = statSync(built).mtimeMs;
  if (sources.every((s) => statSync(s).mtimeMs <= builtAt)) process.exit(0);
}
// npm runs scripts with its own node-gyp in npm_config_node_gyp; outside npm, the one bundled with npm
const gyp = process.env.npm_config_node_gyp || join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
if (!existsSync(gyp)) notBuilt(`node-gyp not found at ${gyp}`);
const args = [gyp, 'rebuild'];
// headers of the running node where they are installed (no download: this may run offline)
const prefix = [process.config.variables?.node_prefix, join(dirname(process.execPath), '..')].find((p) => p && existsSync(join(p, 'include', 'node', 'node_api.h')));
if (!process.env.npm_config_nodedir && prefix) args.push(`--nodedir=${prefix}`);
const run = spawnSync(process.execPath, args, { cwd: dir, encoding: 'utf8' });
if (run.status !== 0 || !existsSync(built)) {
  const output = `${run.stdout ?? ''}${run.stderr ?? ''}`;
  const first = output.split('\n').find((l) => /error|ERR!/.test(l) && !/gyp ERR! (cwd|node -v|node-gyp -v|command|System)/.test(l)) ?? run.error?.message ?? `node-gyp exited ${run.status}`;
  notBuilt(first.trim(), output);
}
