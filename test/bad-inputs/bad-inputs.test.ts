/**
 * The bad-input corpus (issue 18): every row is one bad input to one derrd command, with the exit code and the
 * phrase its message must have; no row may print a stack trace or change anything outside its declared output.
 * Adding a case is adding a row to one of the rows-*.ts tables.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  OTHER_CLI, STACK, buildFixtures, changedPaths, readOnlySimulated, runRow, skipReason, snapshot, writeRowFiles, type Family, type Fixtures, type Row,
} from './corpus.ts';
import { DATA_FILE_ROWS } from './rows-data.ts';
import { PREPARED_ROWS } from './rows-prepared.ts';
import { FLAG_ROWS } from './rows-flags.ts';
import { CONFIG_ROWS } from './rows-config.ts';
import { CHECKPOINT_ROWS } from './rows-checkpoints.ts';
import { ONNX_ROWS } from './rows-onnx.ts';
import { OUTPUT_ROWS } from './rows-outputs.ts';
import { HTTP_ROWS } from './rows-http.ts';
import { startServer } from './http.ts';

export const CORPUS: Record<Family, Row[]> = {
  'data files': DATA_FILE_ROWS,
  'prepared data sets': PREPARED_ROWS,
  flags: FLAG_ROWS,
  'config keys': CONFIG_ROWS,
  checkpoints: CHECKPOINT_ROWS,
  'ONNX files': ONNX_ROWS,
  'outputs and file systems': OUTPUT_ROWS,
};

let fixtures: Fixtures;
const base = mkdtempSync(join(tmpdir(), 'derrd-bad-inputs-'));
// rows run as another user need to reach their dirs
chmodSync(base, 0o755);

before(async () => {
  fixtures = await buildFixtures();
});

after(() => {
  // directories a row made unwritable, so that they can be removed
  const open = (dir: string) => {
    chmodSync(dir, 0o755);
    for (const e of readdirSync(dir)) if (statSync(join(dir, e)).isDirectory()) open(join(dir, e));
  };
  for (const d of [base, fixtures?.dir]) {
    if (!d) continue;
    open(d);
    rmSync(d, { recursive: true, force: true });
  }
});

test('the corpus: at least 120 rows, each name unique', () => {
  const rows: { name: string }[] = [...Object.values(CORPUS).flat(), ...HTTP_ROWS];
  const counts = { ...Object.fromEntries(Object.entries(CORPUS).map(([f, r]) => [f, r.length])), HTTP: HTTP_ROWS.length };
  process.stdout.write(`# corpus rows per family: ${JSON.stringify(counts)}, total ${rows.length}${OTHER_CLI ? `, spawned with ${OTHER_CLI}` : ''}\n`);
  assert.ok(rows.length >= 120, `${rows.length} rows`);
  assert.equal(new Set(rows.map((r) => r.name)).size, rows.length, 'row names are unique');
});

let serial = 0;
for (const [family, rows] of Object.entries(CORPUS)) {
  describe(family, () => {
    for (const row of rows) {
      const skip = skipReason(row);
      test(`${row.failure ? `[failure ${row.failure}] ` : ''}${row.name}`, { skip: skip ?? false }, async () => {
        const rowDir = mkdtempSync(join(base, `${String(serial++).padStart(3, '0')}-`));
        chmodSync(rowDir, 0o777);
        writeRowFiles(rowDir, row.files ?? {}, fixtures);
        row.setup?.(rowDir);
        const before = snapshot(rowDir, row.output);
        const r = await runRow(row, rowDir);
        const shown = `derrd ${row.args.join(' ')}\nexit ${r.status}\nstderr: ${r.stderr}\nstdout: ${r.stdout.slice(0, 2000)}`;
        assert.equal(r.status, row.exit, shown);
        const says = row.readOnly && readOnlySimulated() ? 'no permission to write in' : row.says;
        const text = row.exit === 0 ? r.stderr + r.stdout : r.stderr;
        if (typeof says === 'string') assert.ok(text.includes(says), `message lacks "${says}"\n${shown}`);
        else assert.match(text, says, shown);
        assert.doesNotMatch(r.stderr, STACK, `a stack trace\n${shown}`);
        if (row.exit !== 0) assert.ok(r.stderr.trim().split('\n').length <= 3, `a short message expected\n${shown}`);
        assert.deepEqual(changedPaths(before, snapshot(rowDir, row.output)), [], `changed outside the declared output (${(row.output ?? []).join(', ') || 'none'})\n${shown}`);
        await row.after?.(rowDir, r);
      });
    }
  });
}

describe('HTTP', () => {
  for (const row of HTTP_ROWS) {
    test(`${row.failure ? `[failure ${row.failure}] ` : ''}${row.name}`, async () => {
      const rowDir = mkdtempSync(join(base, `${String(serial++).padStart(3, '0')}-`));
      writeRowFiles(rowDir, row.files ?? { 'model.onnx': { fixture: 'model.onnx' }, 'model.ids.json': { fixture: 'model.ids.json' } }, fixtures);
      row.setup?.(rowDir);
      const user = (JSON.parse(readFileSync(join(rowDir, 'model.ids.json'), 'utf8')) as { users: string[] }).users[0];
      const fill = (text: string) => text.replaceAll('{user}', user);
      const before = snapshot(rowDir);
      const server = await startServer(rowDir, row.withData ?? false);
      try {
        const body = typeof row.body === 'function' ? row.body(rowDir) : row.body;
        const r = await (row.admin ? server.admin : server.app).inject({
          method: row.method, url: fill(row.url), ...(body !== undefined ? { payload: fill(body), headers: { 'content-type': 'application/json', ...row.headers } } : {}),
        });
        const shown = `${row.method} ${fill(row.url)}${body !== undefined ? ` ${fill(body)}` : ''}\nstatus ${r.statusCode}\nbody: ${r.body.slice(0, 2000)}`;
        assert.equal(r.statusCode, row.status, shown);
        // the message as a client reads it: the error's message of a JSON answer, else the body
        let message = r.body;
        try {
          const parsed = JSON.parse(r.body) as { error?: string | { message?: string } };
          const m = typeof parsed.error === 'string' ? parsed.error : parsed.error?.message;
          if (typeof m === 'string') message = m;
        } catch { /* not JSON: the body itself */ }
        if (typeof row.says === 'string') assert.ok(message.includes(row.says), `answer lacks "${row.says}"\n${shown}`);
        else assert.match(message, row.says, shown);
        assert.doesNotMatch(r.body, STACK, `a stack trace\n${shown}`);
        if (row.status === 405) assert.ok(r.headers.allow, `405 without an Allow header\n${shown}`);
        await row.after?.(server, rowDir);
      } finally {
        await server.close();
      }
      assert.deepEqual(changedPaths(before, snapshot(rowDir)), [], 'the request changed files in the row\'s dir');
    });
  }
});
