/**
 * The packages as a user gets them: every workspace is packed (`npm run pack`), the README's packages are installed
 * from the tarballs into a fresh project outside the repository (npm's cache is warm after `npm ci`;
 * --prefer-offline), and the installed code, not the repository's, runs the README's blocks as written:
 * `npx derrd --help`, a pipeline into models/pipeline, `derrd serve` and its curl lines, the Node example on
 * @derrd/runtime, the browser recipe (the installed `derrd-web-assets`, esbuild's CLI) on @derrd/web in headless
 * Chromium with COOP/COEP, whose top-10 must equal the Node example's, and `derrd demo`.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { copyFileSync, createReadStream, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { extname, join, normalize, sep } from 'node:path';
import { createInterface } from 'node:readline';
import { chromium } from 'playwright-core';
import { README, argvOf, readmeCode, readmeCommands } from './readme.js';

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
  // `npm run pack`, as docs/guide.md tells a maintainer (it refuses stale build outputs)
  const r = spawnSync('npm', ['run', '--silent', 'pack', '--', join(work, 'tarballs'), '--json'], { cwd: ROOT, encoding: 'utf8', timeout: 300_000 });
  assert.equal(r.status, 0, `npm run pack: ${r.stdout}\n${r.stderr}`);
  packed = JSON.parse(r.stdout) as Packed[];
});

// the fresh project holds ~800 MB of node_modules (onnxruntime-node's native libraries for every platform)
after(() => { if (work) rmSync(work, { recursive: true, force: true }); });

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

/** Two adjacent free ports (derrd serve takes port + 1 for its admin API). */
async function freePortPair(): Promise<number> {
  for (;;) {
    const a = createServer();
    await new Promise<void>((r) => a.listen(0, '127.0.0.1', r));
    const port = (a.address() as { port: number }).port;
    const b = createServer();
    const ok = await new Promise<boolean>((r) => { b.once('error', () => r(false)); b.listen(port + 1, '127.0.0.1', () => r(true)); });
    a.close();
    if (ok) {
      b.close();
      return port;
    }
  }
}

/** A child process's output lines until one matches, or its exit. */
function waitForLine(child: ChildProcess, stream: 'stdout' | 'stderr', pattern: RegExp, timeoutMs = 120_000): Promise<RegExpExecArray> {
  return new Promise((resolveLine, reject) => {
    let seen = '';
    const timer = setTimeout(() => reject(new Error(`no line matching ${pattern} within ${timeoutMs} ms:\n${seen}`)), timeoutMs);
    createInterface({ input: child[stream]! }).on('line', (line) => {
      seen += line + '\n';
      const m = pattern.exec(line);
      if (m) {
        clearTimeout(timer);
        resolveLine(m);
      }
    });
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`exited with ${code} before a line matching ${pattern}:\n${seen}`)); });
  });
}

function stop(child: ChildProcess): Promise<void> {
  return new Promise((r) => {
    if (child.exitCode !== null) return r();
    child.once('exit', () => r());
    child.kill('SIGTERM');
  });
}

test('installed from the tarballs into a fresh project, the README run as written: npx derrd --help, the pipeline, serve + curl, the Node example, the browser recipe bundled with esbuild in headless Chromium (the same top-10 as Node), the demo', { skip: !existsSync(CHROMIUM) && 'Debian chromium is not installed (.ci/run installs it with apt)' }, async () => {
  const app = join(work, 'my-app');
  mkdirSync(app);
  const tarball = Object.fromEntries(packed.map((p) => [p.name, `file:${join(work, 'tarballs', p.filename)}`]));
  // the README's install lines, each a package we pack
  const installs = readmeCommands('install').map((l) => argvOf(l).argv);
  for (const argv of installs) assert.ok(argv.length === 3 && argv[0] === 'npm' && argv[1] === 'install' && tarball[argv[2]], argv.join(' '));
  // the allowScripts line the README gives users, as written there
  const allowLine = /`("allowScripts": \{[^`]*\})`/.exec(readFileSync(README, 'utf8'));
  assert.ok(allowLine, 'README.md has no `"allowScripts": {...}` line');
  writeFileSync(join(app, 'package.json'), JSON.stringify({
    name: 'my-app', private: true, type: 'module',
    dependencies: Object.fromEntries(installs.map((argv) => [argv[2], tarball[argv[2]]])),
    // until the packages are on the registry, their @derrd/* dependencies resolve to the tarballs too
    overrides: tarball,
    ...JSON.parse(`{${allowLine[1]}}`),
  }, null, 2));
  // --omit=optional: @tensorflow/tfjs-node's installer would download libtensorflow where there is internet
  const install = run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--omit=optional'], app, 600_000);
  const warnings = (install.stdout + install.stderr).split('\n').filter((l) => /^npm (warn|error)/i.test(l));
  // what may remain is npm's notice on two dependencies' optional scripts (docs/guide.md says how to silence it)
  for (const w of warnings) assert.match(w, /^npm warn install-scripts(\s*$|\s+\d+ packages? ha(s|ve) install scripts|\s+(protobufjs|core-js|@derrd\/train)@|\s+Run `npm install-scripts ls`)/, `npm install printed: ${w}\n${install.stderr}`);

  const help = run('npx', ['derrd', '--help'], app);
  assert.match(help.stdout, /^Usage: derrd /);
  assert.equal(help.stderr, '');

  // models/pipeline as `npm start` leaves it, from the installed command on a small data set (a small config)
  const bin = join(app, 'node_modules', '@derrd', 'cli', 'bin', 'derrd.js');
  const derrd = (...args: string[]) => run(process.execPath, [bin, ...args], app, 600_000);
  derrd('data', 'synth', '-o', 'ratings.tsv', '--users', '150', '--items', '200', '--seed', '4');
  writeFileSync(join(app, 'small.json'), JSON.stringify({
    backend: 'wasm', candidates: 50, teacher: { dim: 16, epochs: 2, 'batch-size': 256, lr: 0.01 }, student: { dim: 4 },
    distill: { epochs: 1, experts: 3, 'rrd-top-n': 50, 'rrd-k': 5, 'rrd-l': 5, 'de-threads': '2' },
    latency: { 'reps-b1': 5, 'reps-b64': 2, threads: 1, providers: ['cpu'] },
  }));
  const pipeline = derrd('pipeline', '--data', 'ratings.tsv', '--config', 'small.json');
  // @derrd/train's install script built the native DE kernel (this machine has a C compiler), and the run used it
  assert.ok(existsSync(join(app, 'node_modules', '@derrd', 'train', 'native', 'build', 'Release', 'derrd_expert.node')), 'the installed @derrd/train has no native DE kernel');
  assert.match(pipeline.stderr, /^DE kernel: native loops \((avx2|generic)\) on 2 threads$/m);
  assert.match(pipeline.stdout, /^next: npx derrd demo --teacher models\/pipeline\/teacher\.onnx --student models\/pipeline\/de-rrd\.onnx /m);
  // the files the README says a pipeline leaves in models/pipeline/
  const listed = readmeCode('outputs').split('\n').map((l) => l.split(/\s+/)[0]).filter(Boolean)
    .flatMap((p) => { const m = /^(.*)\{([^}]+)\}(.*)$/.exec(p); return m ? m[2].split(',').map((x) => m[1] + x + m[3]) : [p]; });
  assert.ok(listed.length >= 6, listed.join(' '));
  for (const path of listed) assert.ok(existsSync(join(app, path)), `README.md lists ${path}, which the pipeline did not write`);
  const ids = JSON.parse(readFileSync(join(app, 'models', 'pipeline', 'de-rrd.ids.json'), 'utf8')) as { users: string[]; items: string[] };
  assert.ok(ids.users.includes('42') && ids.users.includes('7') && ids.items.includes('3'), 'the README examples\' ids are in the data');
  const asInstalled = (argv: string[]) => (argv[0] === 'npx' && argv[1] === 'derrd' ? [process.execPath, bin, ...argv.slice(2)] : argv);

  // the README's serve block: the server, then each curl, on a free port instead of 8080
  const port = await freePortPair();
  const serveLines = readmeCommands('serve').map((l) => asInstalled(argvOf(l.replaceAll('8080', String(port))).argv));
  assert.deepEqual(serveLines.map((a) => a[0]), [process.execPath, 'curl', 'curl']);
  const server = spawn(serveLines[0][0], serveLines[0].slice(1), { cwd: app, stdio: ['ignore', 'pipe', 'pipe'], env: userEnv() });
  try {
    await waitForLine(server, 'stderr', /^serving .* on http/);
    const answers = serveLines.slice(1).map((argv) => JSON.parse(run(argv[0], ['-sS', ...argv.slice(1)], app).stdout) as Record<string, unknown>);
    const one = answers[0] as { user: string; items: { item: string }[] };
    assert.equal(one.user, '42');
    assert.equal(one.items.length, 10);
    const many = answers[1] as { results: { user: string; items: unknown[] }[] };
    assert.deepEqual(many.results.map((r) => [r.user, r.items.length]), [['42', 5], ['7', 5]]);
  } finally {
    await stop(server);
  }

  // (a) the README's Node example, and the same for a dozen users
  writeFileSync(join(app, 'recommend.mjs'), readmeCode('node-code') + [
    'const users = rec.idMaps.users.slice(0, 12);',
    'console.log(JSON.stringify({ first: items[0], users, all: (await rec.recommend(users, 10)).items, provider: rec.provider }));',
    'await rec.close();',
  ].join('\n'));
  const node = JSON.parse(run(process.execPath, ['recommend.mjs'], app).stdout) as { first: string[]; users: string[]; all: string[][]; provider: string };
  assert.equal(node.provider, 'cpu');
  assert.equal(node.first.length, 10);
  assert.ok(!node.first.includes('3'));
  for (const row of node.all) assert.equal(row.length, 10);

  // (b) the README's browser recipe: ORT's files by the installed bin, the example bundled by esbuild's CLI
  const site = join(app, 'public');
  mkdirSync(join(site, 'models'), { recursive: true });
  for (const f of ['de-rrd.onnx', 'de-rrd.ids.json']) copyFileSync(join(app, 'models', 'pipeline', f), join(site, 'models', f));
  mkdirSync(join(app, 'src'));
  writeFileSync(join(app, 'src', 'app.js'), readmeCode('browser-code') + [
    'const users = rec.userIds.slice(0, 12);',
    'const all = [];',
    'for (const u of users) all.push((await rec.recommend(u, 10)).items.map((x) => x.item));',
    'globalThis.derrdResult = { first: items.map((x) => x.item), users, all, threads: rec.threads, isolated: globalThis.crossOriginIsolated };',
    "document.body.dataset.ready = 'true';",
  ].join('\n'));
  writeFileSync(join(site, 'index.html'), '<!doctype html><html><head><meta charset="utf-8"><title>my app</title></head><body><script type="module" src="/app.js"></script></body></html>\n');
  const meta = join(work, 'esbuild-meta.json');
  const browserLines = readmeCommands('browser').map((l) => argvOf(l).argv);
  assert.deepEqual(browserLines.map((a) => a.slice(0, 2).join(' ')), ['npx derrd-web-assets', 'npx esbuild']);
  assert.match(run(browserLines[0][0], browserLines[0].slice(1), app).stdout, /ort-wasm-simd-threaded\.wasm/);
  // esbuild is the bundler a user brings: the repository's copy, run in the app (it resolves @derrd/web there)
  run(join(ROOT, 'node_modules', '.bin', 'esbuild'), [...browserLines[1].slice(2), `--metafile=${meta}`, '--log-level=warning'], app);
  const inputs = Object.keys((JSON.parse(readFileSync(meta, 'utf8')) as { inputs: Record<string, unknown> }).inputs);
  assert.ok(inputs.some((i) => i.startsWith('node_modules/@derrd/web/dist/')) && inputs.some((i) => i.startsWith('node_modules/@derrd/runtime-common/dist/')), inputs.join('\n'));
  assert.ok(inputs.every((i) => !i.includes('onnxruntime-node') && !i.startsWith('..') && !i.startsWith('/')), `the bundle pulls code from outside the app or onnxruntime-node:\n${inputs.join('\n')}`);

  const TYPES: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.mjs': 'text/javascript', '.wasm': 'application/wasm', '.json': 'application/json' };
  const web = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const file = normalize(join(site, path === '/' ? 'index.html' : path));
    if (!file.startsWith(site + sep) || !existsSync(file) || !statSync(file).isFile()) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream', 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' });
    createReadStream(file).pipe(res);
  });
  await new Promise<void>((r) => web.listen(0, '127.0.0.1', r));
  const context = await chromium.launchPersistentContext(mkdtempSync(join(tmpdir(), 'derrd-chromium-')), {
    executablePath: CHROMIUM, headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const demoLine = readmeCommands('demo').map((l) => asInstalled(argvOf(l).argv));
  assert.equal(demoLine.length, 1);
  let demo: ChildProcess | null = null;
  try {
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`http://127.0.0.1:${(web.address() as { port: number }).port}/`);
    await page.waitForSelector('body[data-ready="true"]', { state: 'attached', timeout: 120_000 });
    assert.deepEqual(errors, []);
    const inPage = await page.evaluate(() => (globalThis as unknown as { derrdResult: { first: string[]; users: string[]; all: string[][]; threads: number; isolated: boolean } }).derrdResult);
    assert.equal(inPage.isolated, true);
    assert.ok(inPage.threads >= 1);
    assert.deepEqual(inPage.first, node.first, 'the README\'s browser and Node examples disagree');
    assert.deepEqual(inPage.users, node.users);
    assert.deepEqual(inPage.all, node.all, 'the bundled page and the Node script disagree on the top-10');

    // the README's demo line (on a free port): the page from the installed @derrd/cli and @derrd/web
    demo = spawn(demoLine[0][0], [...demoLine[0].slice(1), '--port', '0'], { cwd: app, stdio: ['ignore', 'pipe', 'pipe'], env: userEnv() });
    const url = (JSON.parse((await waitForLine(demo, 'stdout', /^\{"url".*$/))[0]) as { url: string }).url;
    const demoPage = await context.newPage();
    demoPage.on('pageerror', (e) => errors.push(e.message));
    await demoPage.goto(url);
    await demoPage.waitForSelector('body[data-ready="true"]', { state: 'attached', timeout: 120_000 });
    assert.deepEqual(errors, []);
    assert.equal(await demoPage.textContent('#student-title'), 'Student: bpr d=4, distilled with de-rrd');
  } finally {
    await context.close();
    web.close();
    if (demo) await stop(demo);
  }
});
