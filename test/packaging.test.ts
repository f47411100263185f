/**
 * The packages as a user gets them: every workspace is packed with `npm pack`, the tarballs are installed into a
 * fresh project outside the repository (npm's cache is warm after `npm ci`; --prefer-offline), and the installed
 * code, not the repository's, is run: `npx derrd --help`, a model trained and exported with the installed `derrd`,
 * raw-id recommendations from @derrd/runtime in a Node script, and a page bundled with esbuild from @derrd/web
 * (served with COOP/COEP, ORT's files copied by the installed `derrd-web-assets`) in headless Chromium, whose top-10
 * must equal the Node script's.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, createReadStream, existsSync, mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { extname, join, normalize, sep } from 'node:path';
import { build } from 'esbuild';
import { chromium } from 'playwright-core';

const ROOT = join(import.meta.dirname, '..');
const CHROMIUM = '/usr/bin/chromium';
const ROOT_PACKAGE = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { workspaces: string[] };

interface Packed { name: string; version: string; filename: string; size: number; files: { path: string }[] }
interface Manifest {
  name: string; version: string; description?: string; license?: string; type?: string; main?: string; types?: string;
  repository?: { url?: string; directory?: string }; engines?: { node?: string }; files?: string[];
  exports?: Record<string, unknown>; bin?: Record<string, string>; dependencies?: Record<string, string>;
}

let work: string;
let packed: Packed[];
const manifests = new Map<string, { dir: string; manifest: Manifest }>();

/** npm's environment from the `npm test` that runs this (npm_config_*, npm_package_*) would leak into the child npm. */
function userEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^npm_/i.test(k) && k !== 'INIT_CWD') env[k] = v;
  return env;
}

function run(cmd: string, args: string[], cwd: string, timeout = 300_000) {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', env: userEnv(), timeout });
  assert.equal(r.status, 0, `${cmd} ${args.join(' ')} (in ${cwd}) exited with ${r.status}\n${r.stdout}\n${r.stderr}`);
  return r;
}

before(() => {
  work = mkdtempSync(join(tmpdir(), 'derrd-packaging-'));
  assert.ok(!work.startsWith(ROOT + sep), 'the fresh project must lie outside the repository');
  for (const dir of ROOT_PACKAGE.workspaces) {
    const manifest = JSON.parse(readFileSync(join(ROOT, dir, 'package.json'), 'utf8')) as Manifest;
    manifests.set(manifest.name, { dir, manifest });
  }
  mkdirSync(join(work, 'tarballs'));
  const r = run('npm', ['pack', '--workspaces', '--json', '--pack-destination', join(work, 'tarballs')], ROOT, 120_000);
  packed = JSON.parse(r.stdout) as Packed[];
});

/** Every file path an exports map (or bin map) points at. */
function targets(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (value && typeof value === 'object') return Object.values(value).flatMap(targets);
  return [];
}

test('every package declares what a published package needs and its tarball holds what it declares', () => {
  assert.deepEqual(packed.map((p) => p.name).sort(), [...manifests.keys()].sort());
  for (const p of packed) {
    const { dir, manifest: m } = manifests.get(p.name)!;
    const files = new Set(p.files.map((f) => f.path));
    for (const key of ['description', 'license', 'type', 'types', 'engines', 'files', 'exports', 'repository'] as const) {
      if (key === 'types' && !m.exports?.['.']) continue; // a command (@derrd/cli) has no main entry
      assert.ok(m[key] !== undefined, `${p.name}: package.json has no "${key}"`);
    }
    assert.equal(m.type, 'module');
    assert.equal(m.engines?.node, '>=20', `${p.name}: engines.node`);
    assert.equal(m.repository?.directory, dir, `${p.name}: repository.directory`);
    for (const t of [...targets(m.exports), ...targets(m.bin), ...(m.main ? [m.main] : []), ...(m.types ? [m.types] : [])]) {
      assert.ok(files.has(normalize(t)), `${p.name}: declares ${t}, which the tarball does not hold (is it built?)`);
    }
    // a build left over from a renamed or deleted source file would ship stale code
    for (const f of files) {
      const built = /^dist\/(.+)\.js$/.exec(f);
      if (built) assert.ok(files.has(`src/${built[1]}.ts`), `${p.name}: ${f} has no source in src/ (a stale build: run \`npm run clean && npm run build\`)`);
    }
    for (const [dep, range] of Object.entries(m.dependencies ?? {})) {
      if (dep.startsWith('@derrd/')) assert.equal(range, manifests.get(dep)?.manifest.version, `${p.name} depends on ${dep}@${range}`);
    }
  }
  // the browser library pulls no native or Node-only package: its whole dependency closure among ours
  const closure = new Set<string>();
  const visit = (name: string) => {
    for (const dep of Object.keys(manifests.get(name)?.manifest.dependencies ?? {})) if (!closure.has(dep)) { closure.add(dep); visit(dep); }
  };
  visit('@derrd/web');
  assert.deepEqual([...closure].sort(), ['@derrd/runtime-common', 'onnxruntime-web']);
  assert.deepEqual(Object.keys(manifests.get('@derrd/runtime-common')!.manifest.dependencies ?? {}), []);
});

test('installed from the tarballs into a fresh project: npx derrd --help, a model from the installed derrd, raw-id top-10 from @derrd/runtime in Node equal to a page bundled with esbuild from @derrd/web in headless Chromium', { skip: !existsSync(CHROMIUM) && 'Debian chromium is not installed (.ci/run installs it with apt)' }, async () => {
  const app = join(work, 'my-app');
  mkdirSync(app);
  const dependencies = Object.fromEntries(packed.map((p) => [p.name, `file:${join(work, 'tarballs', p.filename)}`]));
  writeFileSync(join(app, 'package.json'), JSON.stringify({
    name: 'my-app', private: true, type: 'module', dependencies,
    // until the packages are on the registry, their @derrd/* dependencies must resolve to these tarballs too
    overrides: Object.fromEntries(packed.map((p) => [p.name, `$${p.name}`])),
    // the one line docs/guide.md gives users: skip onnxruntime-node's CUDA download (the CPU provider is in the package)
    allowScripts: { 'onnxruntime-node': false },
  }, null, 2));
  // --omit=optional: @tensorflow/tfjs-node's installer would download libtensorflow where there is internet
  const install = run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--omit=optional'], app, 600_000);
  const warnings = (install.stdout + install.stderr).split('\n').filter((l) => /^npm (warn|error)/i.test(l));
  // what is left is npm's own notice on two dependencies' optional scripts (docs/guide.md says how to silence it)
  for (const w of warnings) assert.match(w, /^npm warn install-scripts(\s*$|\s+\d+ packages? ha(s|ve) install scripts|\s+(protobufjs|core-js)@|\s+Run `npm install-scripts ls`)/, `npm install printed: ${w}\n${install.stderr}`);

  const help = run('npx', ['derrd', '--help'], app);
  assert.match(help.stdout, /^Usage: derrd /);
  assert.equal(help.stderr, '');

  // a model made with the installed command (DE-RRD: the tarball's distiller, its kernel and worker thread)
  const derrd = (...args: string[]) => run(process.execPath, [join(app, 'node_modules', '@derrd', 'cli', 'bin', 'derrd.js'), ...args], app);
  derrd('data', 'synth', '-o', 'ratings.tsv', '--users', '150', '--items', '200', '--seed', '4');
  derrd('data', 'prepare', '-i', 'ratings.tsv', '--candidates', '50', '-o', 'data');
  derrd('train', '--data', 'data', '--dim', '8', '--epochs', '2', '--lr', '0.01', '--backend', 'wasm', '-o', 'models/teacher');
  derrd('distill', '--teacher', 'models/teacher', '--data', 'data', '--method', 'de-rrd', '--dim', '4', '--epochs', '1', '--lr', '0.01', '--experts', '3',
    '--rrd-top-n', '50', '--rrd-k', '5', '--rrd-l', '5', '--de-threads', '2', '--backend', 'wasm', '-o', 'models/de-rrd');
  derrd('export', 'models/de-rrd', '-o', 'models/de-rrd.onnx');

  // (a) a Node script, as a user writes it
  writeFileSync(join(app, 'recommend.mjs'), [
    "import { readFileSync } from 'node:fs';",
    "import { createRecommender } from '@derrd/runtime';",
    "const rec = await createRecommender('models/de-rrd.onnx');",
    "const users = JSON.parse(readFileSync('models/de-rrd.ids.json', 'utf8')).users.slice(0, 12);",
    'const { items } = await rec.recommend(users, 10);',
    'console.log(JSON.stringify({ users, items, provider: rec.provider }));',
    'await rec.close();',
  ].join('\n'));
  const node = JSON.parse(run(process.execPath, ['recommend.mjs'], app).stdout) as { users: string[]; items: string[][]; provider: string };
  assert.equal(node.provider, 'cpu');
  assert.equal(node.items.length, 12);
  for (const row of node.items) assert.equal(row.length, 10);

  // (b) a page bundled with esbuild from the installed @derrd/web; ORT's files copied by its bin
  const site = join(app, 'public');
  const assets = run('npx', ['derrd-web-assets', join('public', 'ort')], app);
  assert.match(assets.stdout, /ort-wasm-simd-threaded\.wasm/);
  mkdirSync(join(site, 'models'));
  for (const f of ['de-rrd.onnx', 'de-rrd.ids.json']) copyFileSync(join(app, 'models', f), join(site, 'models', f));
  mkdirSync(join(app, 'src'));
  writeFileSync(join(app, 'src', 'page.js'), [
    "import { loadRecommender } from '@derrd/web';",
    "const rec = await loadRecommender('/models/de-rrd.onnx', { wasmPaths: '/ort/', numThreads: 2 });",
    'const users = rec.userIds.slice(0, 12);',
    'const items = [];',
    'for (const u of users) items.push((await rec.recommend(u, 10)).items.map((x) => x.item));',
    'globalThis.derrdResult = { users, items, threads: rec.threads, isolated: globalThis.crossOriginIsolated };',
    "document.body.dataset.ready = 'true';",
  ].join('\n'));
  writeFileSync(join(site, 'index.html'), '<!doctype html><html><head><meta charset="utf-8"><title>my app</title></head><body><script type="module" src="/page.js"></script></body></html>\n');
  const bundle = await build({ absWorkingDir: app, entryPoints: ['src/page.js'], bundle: true, format: 'esm', platform: 'browser', outfile: join(site, 'page.js'), metafile: true, logLevel: 'silent' });
  const inputs = Object.keys(bundle.metafile.inputs);
  assert.ok(inputs.some((i) => i.startsWith('node_modules/@derrd/web/dist/')) && inputs.some((i) => i.startsWith('node_modules/@derrd/runtime-common/dist/')), inputs.join('\n'));
  assert.ok(inputs.every((i) => !i.includes('onnxruntime-node') && !i.startsWith('..') && !i.startsWith('/')), `the bundle pulls code from outside the app or onnxruntime-node:\n${inputs.join('\n')}`);

  const TYPES: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.mjs': 'text/javascript', '.wasm': 'application/wasm', '.json': 'application/json' };
  const server = createServer((req, res) => {
    const file = normalize(join(site, new URL(req.url ?? '/', 'http://x').pathname === '/' ? 'index.html' : new URL(req.url ?? '/', 'http://x').pathname));
    if (!file.startsWith(site + sep) || !existsSync(file) || !statSync(file).isFile()) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream', 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' });
    createReadStream(file).pipe(res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const context = await chromium.launchPersistentContext(mkdtempSync(join(tmpdir(), 'derrd-chromium-')), {
    executablePath: CHROMIUM, headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  try {
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`http://127.0.0.1:${(server.address() as { port: number }).port}/`);
    await page.waitForSelector('body[data-ready="true"]', { state: 'attached', timeout: 120_000 });
    assert.deepEqual(errors, []);
    const inPage = await page.evaluate(() => (globalThis as unknown as { derrdResult: { users: string[]; items: string[][]; threads: number; isolated: boolean } }).derrdResult);
    assert.equal(inPage.isolated, true);
    assert.equal(inPage.threads, 2);
    assert.deepEqual(inPage.users, node.users);
    assert.deepEqual(inPage.items, node.items, 'the bundled page and the Node script disagree on the top-10');
  } finally {
    await context.close();
    server.close();
  }
});
