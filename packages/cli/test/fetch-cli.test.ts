import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { existsSync, mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { CLI, CITEULIKE, ROOT } from './helpers.js';

/** derrd run asynchronously (the HTTP server lives in this process). */
function derrdAsync(args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: ROOT });
    let stdout = '', stderr = '';
    child.stdout.on('data', (b) => { stdout += String(b); });
    child.stderr.on('data', (b) => { stderr += String(b); });
    child.on('exit', (status) => resolve({ status, stdout, stderr }));
  });
}

/** A local HTTP server for the fetch tests: /users.dat serves `raw`, /corrupt.dat a file with the wrong sha256. */
async function serveFiles(raw: Buffer | null): Promise<{ base: string; hits: () => number; close: () => void }> {
  let hits = 0;
  const server = createServer((req, res) => {
    hits++;
    if (req.url === '/users.dat' && raw) res.writeHead(200).end(raw);
    else if (req.url === '/corrupt.dat') res.writeHead(200).end('3 1 2 3\n');
    else res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { base: `http://127.0.0.1:${(server.address() as { port: number }).port}`, hits: () => hits, close: () => server.close() };
}

const USERS_DAT = join(CITEULIKE, 'raw', 'users.dat');

test('data fetch citeulike: a corrupted download saves nothing; HTTP errors and unknown data sets are plain errors', async () => {
  const server = await serveFiles(null);
  const dir = mkdtempSync(join(tmpdir(), 'derrd-fetch-'));
  try {
    const bad = await derrdAsync(['data', 'fetch', 'citeulike', '--url', `${server.base}/corrupt.dat`, '--cache', join(dir, 'cache'), '-o', join(dir, 'bad')]);
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /sha256 [0-9a-f]{64}, expected [0-9a-f]{64} \(changed upstream or corrupted\); nothing was saved/);
    assert.ok(!existsSync(join(dir, 'bad')));
    assert.ok(!existsSync(join(dir, 'cache', 'citeulike')) || readdirSync(join(dir, 'cache', 'citeulike')).length === 0);
    const missing = await derrdAsync(['data', 'fetch', 'citeulike', '--url', `${server.base}/nope`, '--cache', join(dir, 'cache'), '-o', join(dir, 'nope')]);
    assert.match(missing.stderr, /download failed from .*HTTP 404/);
    assert.match((await derrdAsync(['data', 'fetch', 'movielens'])).stderr, /unknown data set "movielens"/);
  } finally {
    server.close();
  }
});

// the success path needs the real file (its sha256 is pinned): without it this test is reported as skipped, not passed
test('data fetch citeulike: downloads over HTTP (127.0.0.1), checks the sha256, caches and prepares', { skip: !existsSync(USERS_DAT) && `shared CiteULike users.dat not present at ${USERS_DAT}` }, async () => {
  const server = await serveFiles(readFileSync(USERS_DAT));
  const dir = mkdtempSync(join(tmpdir(), 'derrd-fetch-'));
  try {
    const ok = await derrdAsync(['data', 'fetch', 'citeulike', '--url', `${server.base}/users.dat`, '--cache', join(dir, 'cache'), '-o', join(dir, 'cu'), '--json']);
    assert.equal(ok.status, 0, ok.stderr);
    const result = JSON.parse(ok.stdout);
    assert.equal(result.downloaded, true);
    assert.deepEqual([result.counts.users, result.counts.items, result.counts.interactions], [5219, 25181, 125580]);
    const hitsBefore = server.hits();
    const cached = await derrdAsync(['data', 'fetch', 'citeulike', '--url', `${server.base}/users.dat`, '--cache', join(dir, 'cache'), '-o', join(dir, 'cu'), '--force', '--json']);
    assert.equal(JSON.parse(cached.stdout).downloaded, false);
    assert.equal(server.hits(), hitsBefore);
  } finally {
    server.close();
  }
});
