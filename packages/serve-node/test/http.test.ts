import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { connect, createServer as createNetServer, type AddressInfo } from 'node:net';
import { createServer, type RecommendServer } from '@derrd/serve-node';
import { CLI, makeFixture, type Fixture } from './fixtures.js';

let f: Fixture;
let server: RecommendServer;

before(async () => {
  f = await makeFixture('http');
  server = await createServer({ provider: 'cpu', threads: 1, workers: 1, model: f.models[0], bodyTimeoutMs: 500 });
});

after(async () => {
  await server?.close();
});

/** Runs `derrd serve` until it prints its JSON line (then stops it with SIGTERM) or exits. */
function serve(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, 'serve', '--model', f.models[0], '--json', '--workers', '1', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b) => {
      stdout += String(b);
      if (stdout.includes('\n')) child.kill('SIGTERM');
    });
    child.stderr.on('data', (b) => { stderr += String(b); });
    // 'close', not 'exit': the pipes may still hold output when the process has exited
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

test('a request body that does not arrive in time is answered 408 and its connection closed', { timeout: 20_000 }, async () => {
  const url = new URL(await server.app.listen({ host: '127.0.0.1', port: 0 }));
  const socket = connect(Number(url.port), url.hostname);
  let received = '';
  socket.on('data', (b) => { received += String(b); });
  const closed = new Promise<boolean>((resolve) => {
    socket.once('close', () => resolve(true));
    // far longer than the 500 ms limit: a server without a body timeout keeps the connection open
    setTimeout(() => resolve(false), 8000).unref();
  });
  socket.write('POST /v1/recommend HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"users": [');
  const wasClosed = await closed;
  socket.destroy();
  assert.ok(wasClosed, `the connection stayed open; received: ${JSON.stringify(received)}`);
  assert.match(received, /^HTTP\/1\.1 408/);
  assert.equal((await fetch(`${url.origin}/health/live`)).status, 200);
});

test('a wrong method on a known path is 405 with an Allow header; unknown paths stay 404', async () => {
  const cases: [RecommendServer['app'], string, string, string][] = [
    [server.app, 'DELETE', '/v1/recommend', 'GET, HEAD, POST'],
    [server.app, 'PUT', '/health/live', 'GET, HEAD'],
    [server.app, 'POST', '/metrics', 'GET, HEAD'],
    [server.admin, 'GET', '/admin/reload', 'POST'],
  ];
  for (const [app, method, url, allow] of cases) {
    const r = await app.inject({ method: method as 'GET', url });
    assert.equal(r.statusCode, 405, `${method} ${url}: ${r.statusCode}`);
    assert.equal(r.headers.allow, allow);
    assert.match(r.json().error.message, new RegExp(`${method} is not allowed on ${url.replace('/', '\\/')}`));
  }
  assert.equal((await server.app.inject({ method: 'DELETE', url: '/v2/nothing' })).statusCode, 404);
});

test('derrd serve logs the listen address as it is (0.0.0.0 stays 0.0.0.0)', { timeout: 60_000 }, async () => {
  const r = await serve(['--host', '0.0.0.0', '--port', '0']);
  const { url } = JSON.parse(r.stdout.split('\n')[0]) as { url: string };
  assert.match(url, /^http:\/\/0\.0\.0\.0:\d+$/, r.stderr);
  assert.match(r.stderr, new RegExp(`on ${url.replace(/\./g, '\\.')} \\(all interfaces\\); admin http:\\/\\/127\\.0\\.0\\.1:\\d+`));
  assert.equal(r.code, 0, r.stderr);
});

test('derrd serve on a busy port says "port N is in use", exit 1, no stack trace', { timeout: 60_000 }, async () => {
  const blocker = createNetServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  const port = (blocker.address() as AddressInfo).port;
  try {
    const main = await serve(['--port', String(port), '--admin-port', '0']);
    assert.equal(main.code, 1, main.stderr);
    assert.match(main.stderr, new RegExp(`derrd: error: port ${port} is in use \\(another server is listening there\\): pick another with --port, or 0 for any free port`));
    assert.doesNotMatch(main.stderr, /\n\s+at /);
    const adminPort = await serve(['--port', '0', '--admin-port', String(port)]);
    assert.equal(adminPort.code, 1, adminPort.stderr);
    assert.match(adminPort.stderr, new RegExp(`admin port ${port} is in use .*--admin-port`));
  } finally {
    blocker.close();
  }
});

test('derrd serve --provider webgpu: a clear error without a WebGPU adapter (exit 1, no fallback), or it serves on webgpu', { timeout: 60_000 }, async () => {
  const r = await serve(['--provider', 'webgpu', '--port', '0']);
  if (r.code === 1) {
    assert.match(r.stderr, /derrd: error: no WebGPU adapter: onnxruntime-node's WebGPU provider/);
    assert.doesNotMatch(r.stderr, /serving /);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
  } else {
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /serving .* \(webgpu, /);
  }
});
