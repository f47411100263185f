/**
 * Issue-15 benchmark: `derrd serve` (student and teacher, and the student with --workers 0) against its two floors, a plain Fastify server answering a
 * constant JSON of the same size, and plain Fastify + onnxruntime-node with one synchronous run per request (student).
 * In one invocation each server is started in turn and loaded with autocannon (127.0.0.1, GET /v1/recommend, 512
 * rotating users, k = 10) at 1, 16 and 64 connections, interleaved over --rounds rounds; each cell is the median over
 * the rounds. Prints req/s, p50/p99 and the ratios to the floors; writes bench/results/serve.{json,md}.
 *   npm run bench:serve [-- --teacher runs/cu-bpr-teacher --student runs/cu-bpr-student --seconds 10 --rounds 2 --warmup 5]
 * Without checkpoints (or with --synthetic) it serves random weights of the CiteULike shapes: serving speed does not
 * depend on the values.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import autocannon from 'autocannon';
import {
  CARD_FILE, CARD_FORMAT_VERSION, Rng, WEIGHTS_FILE, encodeSafetensors, prepareFromInteractions, readCard, saveDataset, sha256, writeFileAtomic, type ModelCard,
} from '@derrd/core';
import { exportCheckpoint } from '@derrd/export';

const root = resolve(import.meta.dirname, '..');
const argv = process.argv.slice(2);
const arg = (name: string, fallback: string) => { const k = argv.indexOf(`--${name}`); return k >= 0 ? argv[k + 1] : fallback; };
const seconds = Number(arg('seconds', '10'));
const rounds = Number(arg('rounds', '2'));
/** load before the measured cells, so the JIT has optimised the servers' hot paths */
const warmupSeconds = Number(arg('warmup', '5'));
const CONNECTIONS = [1, 16, 64];
const K = 10;
if (!(seconds > 0) || !Number.isInteger(rounds) || rounds < 1) { console.error('--seconds must be > 0 and --rounds a positive integer'); process.exit(2); }
const CLI = join(root, 'packages', 'cli', 'dist', 'main.js');
const FLOOR = join(root, 'scripts', 'bench-serve-floor.ts');
const work = mkdtempSync(join(tmpdir(), 'derrd-bench-serve-'));

/** CiteULike's prepared shape (the data set the runs are trained on). */
const SHAPE = { users: 5219, items: 25181, teacherDim: 200, studentDim: 20 };

/** A prepared data set of exactly SHAPE's size: user u interacts with a band of items, so every item appears. */
function syntheticDataset(dir: string): { path: string; hash: string } {
  const users: string[] = [];
  const items: string[] = [];
  const perUser = Math.ceil((SHAPE.items * 2) / SHAPE.users) + 4;
  for (let u = 0; u < SHAPE.users; u++) {
    for (let j = 0; j < perUser; j++) {
      users.push(String(u));
      items.push(String((u * (perUser - 4) + j) % SHAPE.items));
    }
  }
  const ds = prepareFromInteractions({ source: 'bench-serve synthetic', users, items, lines: users.map((_u, k) => k + 1) }, { kind: 'synthetic', path: null, sha256: null }, { numCandidates: 99, idOrder: 'numeric' });
  if (ds.numUsers !== SHAPE.users || ds.numItems !== SHAPE.items) throw new Error(`synthetic data set is ${ds.numUsers} × ${ds.numItems}, expected ${SHAPE.users} × ${SHAPE.items}`);
  saveDataset(ds, dir);
  return { path: dir, hash: ds.manifest.hash };
}

/** A BPR checkpoint with seeded random weights (what `derrd export` reads), for benchmarking without trained runs. */
function randomCheckpoint(dir: string, name: string, dim: number, data: { path: string; hash: string }, seed: number): string {
  const rng = new Rng(seed);
  const table = (rows: number) => Float32Array.from({ length: rows * dim }, () => (rng.float() - 0.5) * 0.2);
  const bytes = encodeSafetensors({ user: { dtype: 'F32', shape: [SHAPE.users, dim], data: table(SHAPE.users) }, item: { dtype: 'F32', shape: [SHAPE.items, dim], data: table(SHAPE.items) } });
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, WEIGHTS_FILE), bytes);
  const now = new Date().toISOString();
  const card: ModelCard = {
    format: 'derrd-model', formatVersion: CARD_FORMAT_VERSION, name,
    model: { kind: 'bpr', numUsers: SHAPE.users, numItems: SHAPE.items, dim, parameters: (SHAPE.users + SHAPE.items) * dim },
    dataset: data, config: { model: 'bpr', dim, seed, note: 'random weights for bench:serve' }, method: { name: 'none' },
    backend: { name: 'none', tfjsVersion: 'none', threads: 1 }, status: 'max-epochs', epochsRun: 0, savedEpoch: 0,
    metrics: { protocol: 'sampled', selected: {}, bestEpochs: {}, saved: null }, history: [], wallSeconds: 0,
    weights: { file: WEIGHTS_FILE, sha256: sha256(bytes) }, createdAt: now, updatedAt: now, derrdVersion: '0.1.0',
  };
  writeFileSync(join(dir, CARD_FILE), JSON.stringify(card, null, 2));
  return dir;
}

const hasWeights = (dir: string) => existsSync(join(dir, CARD_FILE)) && readCard(dir).weights !== null;
const given = { teacher: resolve(arg('teacher', join(root, 'runs', 'cu-bpr-teacher'))), student: resolve(arg('student', join(root, 'runs', 'cu-bpr-student'))) };
const synthetic = argv.includes('--synthetic') || !hasWeights(given.teacher) || !hasWeights(given.student);
let checkpoints = given;
if (synthetic) {
  if (!argv.includes('--synthetic')) console.error(`no checkpoints with weights at ${given.teacher} and ${given.student}: serving random weights of the CiteULike shapes instead`);
  const data = syntheticDataset(join(work, 'data'));
  checkpoints = {
    teacher: randomCheckpoint(join(work, 'teacher'), 'random-bpr-teacher', SHAPE.teacherDim, data, 1),
    student: randomCheckpoint(join(work, 'student'), 'random-bpr-student', SHAPE.studentDim, data, 2),
  };
}
const models: Record<'teacher' | 'student', { path: string; numUsers: number; dim: number; status: string; bytes: number }> = {} as never;
for (const role of ['teacher', 'student'] as const) {
  const e = await exportCheckpoint({ checkpoint: checkpoints[role], out: join(work, `${role}.onnx`) });
  models[role] = { path: e.path, numUsers: e.card.model.numUsers, dim: e.card.model.dim, status: synthetic ? 'random weights' : e.card.status, bytes: e.bytes };
}

interface Contender { name: string; model: 'teacher' | 'student'; command: string[] }
const serve = (model: 'teacher' | 'student', extra: string[] = []): string[] => [CLI, 'serve', '--model', models[model].path, '--port', '0', '--json', '--max-queue', '4096', ...extra];
const contenders: Contender[] = [
  { name: 'derrd student', model: 'student', command: serve('student') },
  { name: 'derrd teacher', model: 'teacher', command: serve('teacher') },
  // the model on the event loop, no worker hand-off: what the workers cost at low load
  { name: 'derrd student --workers 0', model: 'student', command: serve('student', ['--workers', '0']) },
  { name: 'floor: constant JSON', model: 'student', command: ['--import', 'tsx', FLOOR, 'constant', '--model', models.student.path] },
  { name: 'floor: Fastify + onnxruntime per request', model: 'student', command: ['--import', 'tsx', FLOOR, 'ort', '--model', models.student.path] },
];

async function start(c: Contender): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, c.command, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (b) => { stderr += String(b); });
  const line = await new Promise<string>((ok, fail) => {
    createInterface({ input: child.stdout! }).once('line', ok);
    child.once('exit', (code) => fail(new Error(`${c.name} exited (${code}) before listening:\n${stderr}`)));
  });
  return { child, url: (JSON.parse(line) as { url: string }).url };
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
}

/**
 * CPU time (ms) of each thread of a process, from /proc (Linux; null elsewhere). Wall-clock rates on a busy machine
 * move with the other load; CPU time per request moves much less, so the table reports both.
 */
function threadCpuMs(pid: number): Map<string, number> | null {
  try {
    const out = new Map<string, number>();
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      try {
        const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
        const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        out.set(tid, (Number(fields[11]) + Number(fields[12])) * 10);
      } catch {
        // the thread ended between the listing and the read
      }
    }
    return out;
  } catch {
    return null;
  }
}

/** derrd's batch-size histogram totals, from /metrics (null for the floors). */
async function batchTotals(url: string): Promise<{ sum: number; count: number } | null> {
  try {
    const text = await (await fetch(`${url}/metrics`)).text();
    const sum = /^derrd_batch_users_sum (\S+)$/m.exec(text);
    const count = /^derrd_batch_users_count (\S+)$/m.exec(text);
    return sum && count ? { sum: Number(sum[1]), count: Number(count[1]) } : null;
  } catch {
    return null;
  }
}

interface Cell {
  contender: string; round: number; connections: number; requestsPerSec: number; p50Ms: number; p99Ms: number; non2xx: number; errors: number; timeouts: number;
  /** server CPU per answered request, all threads and the main (event-loop) thread, µs; null off Linux */
  serverCpuUs: number | null; mainThreadCpuUs: number | null;
  /** the load generator's own CPU per request, µs */
  clientCpuUs: number;
  /** mean users per model run (derrd only) */
  meanBatch: number | null;
}
const cells: Cell[] = [];
const loadAverages: number[][] = [];
for (let round = 1; round <= rounds; round++) {
  // rotate the start so no contender always runs first (or last) in a round
  const order = contenders.map((_c, k) => contenders[(k + round - 1) % contenders.length]);
  for (const c of order) {
    const { child, url } = await start(c);
    try {
      const numUsers = models[c.model].numUsers;
      const requests = Array.from({ length: 512 }, (_v, k) => ({ method: 'GET' as const, path: `/v1/recommend?user=${(k * 37) % numUsers}&k=${K}` }));
      await autocannon({ url, connections: 8, duration: warmupSeconds, requests });
      for (const connections of CONNECTIONS) {
        loadAverages.push(loadavg());
        const cpu0 = threadCpuMs(child.pid!);
        const batches0 = await batchTotals(url);
        const self0 = process.cpuUsage();
        const r = await autocannon({ url, connections, duration: seconds, requests });
        const self = process.cpuUsage(self0);
        const cpu1 = threadCpuMs(child.pid!);
        const batches1 = await batchTotals(url);
        const per = (ms: number) => (ms * 1000) / Math.max(1, r.requests.total);
        let serverCpuUs: number | null = null;
        let mainThreadCpuUs: number | null = null;
        if (cpu0 && cpu1) {
          serverCpuUs = per([...cpu1].reduce((sum, [tid, ms]) => sum + ms - (cpu0.get(tid) ?? 0), 0));
          mainThreadCpuUs = per((cpu1.get(String(child.pid)) ?? 0) - (cpu0.get(String(child.pid)) ?? 0));
        }
        const meanBatch = batches0 && batches1 && batches1.count > batches0.count ? (batches1.sum - batches0.sum) / (batches1.count - batches0.count) : null;
        const cell: Cell = {
          contender: c.name, round, connections, requestsPerSec: r.requests.average, p50Ms: r.latency.p50, p99Ms: r.latency.p99, non2xx: r.non2xx, errors: r.errors, timeouts: r.timeouts,
          serverCpuUs, mainThreadCpuUs, clientCpuUs: (self.user + self.system) / Math.max(1, r.requests.total), meanBatch,
        };
        cells.push(cell);
        console.error(JSON.stringify(cell));
      }
    } finally {
      await stop(child);
    }
  }
}

const median = (xs: number[]) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
const summary = contenders.map((c) => ({
  contender: c.name,
  cells: CONNECTIONS.map((connections) => {
    const mine = cells.filter((x) => x.contender === c.name && x.connections === connections);
    return {
      connections, requestsPerSec: median(mine.map((x) => x.requestsPerSec)), p50Ms: median(mine.map((x) => x.p50Ms)), p99Ms: median(mine.map((x) => x.p99Ms)),
      perRound: mine.map((x) => Math.round(x.requestsPerSec)), non2xx: mine.reduce((s, x) => s + x.non2xx, 0), errors: mine.reduce((s, x) => s + x.errors + x.timeouts, 0),
      serverCpuUs: mine.every((x) => x.serverCpuUs !== null) ? median(mine.map((x) => x.serverCpuUs!)) : null,
      mainThreadCpuUs: mine.every((x) => x.mainThreadCpuUs !== null) ? median(mine.map((x) => x.mainThreadCpuUs!)) : null,
      meanBatch: mine.every((x) => x.meanBatch !== null) ? median(mine.map((x) => x.meanBatch!)) : null,
    };
  }),
}));
const rps = (name: string, connections: number) => summary.find((s) => s.contender === name)!.cells.find((x) => x.connections === connections)!;
const student = 'derrd student', teacher = 'derrd teacher', constant = 'floor: constant JSON', perRequest = 'floor: Fastify + onnxruntime per request';
/** per-round ratios too: the spread says how far the machine's noise reaches */
const ratio = (a: string, b: string, connections: number) => {
  const per = Array.from({ length: rounds }, (_v, r) => {
    const x = cells.find((c) => c.contender === a && c.connections === connections && c.round === r + 1)!;
    const y = cells.find((c) => c.contender === b && c.connections === connections && c.round === r + 1)!;
    return x.requestsPerSec / y.requestsPerSec;
  });
  return { value: rps(a, connections).requestsPerSec / rps(b, connections).requestsPerSec, perRound: per };
};
const targets = [
  { what: 'c=1: derrd student / Fastify + onnxruntime per request', ...ratio(student, perRequest, 1), target: 0.8 },
  { what: 'c=64: derrd student / constant JSON', ...ratio(student, constant, 64), target: 0.6 },
  { what: 'c=64: derrd student / derrd teacher', ...ratio(student, teacher, 64), target: 2.5 },
];
const p99 = rps(student, 64).p99Ms;

const f2 = (x: number) => x.toFixed(2);
const lines = [
  `derrd serve vs its floors: GET /v1/recommend, k = ${K}, 512 rotating users, autocannon in the benchmark process on 127.0.0.1, ${warmupSeconds} s warm-up per server start, ${seconds} s per cell, ${rounds} interleaved rounds (cells: median over rounds).`,
  `Models: BPR teacher d=${models.teacher.dim} and student d=${models.student.dim}, ${SHAPE.users.toLocaleString('en-US')} users × ${SHAPE.items.toLocaleString('en-US')} items (${synthetic ? 'random weights of the CiteULike shapes' : `CiteULike checkpoints: ${checkpoints.teacher} (${models.teacher.status}), ${checkpoints.student} (${models.student.status})`}).`,
  `derrd serve with its defaults (workers, threads, --max-wait-us 0); machine: ${availableParallelism()} cores (${cpus()[0]?.model ?? 'unknown'}), Node ${process.version}, load average at the cells' starts ${f2(median(loadAverages.map((l) => l[0])))} (median).`,
  '',
  '| server | c=1 req/s | p50 / p99 ms | c=16 req/s | p50 / p99 ms | c=64 req/s | p50 / p99 ms | per round (c=1; 16; 64) | non-2xx / errors |',
  '|---|---|---|---|---|---|---|---|---|',
  ...summary.map((s) => `| ${s.contender} | ${s.cells.map((x) => `${Math.round(x.requestsPerSec).toLocaleString('en-US')} | ${x.p50Ms} / ${x.p99Ms}`).join(' | ')} | ${s.cells.map((x) => x.perRound.join(', ')).join('; ')} | ${s.cells.reduce((a, x) => a + x.non2xx, 0)} / ${s.cells.reduce((a, x) => a + x.errors, 0)} |`),
  '',
  '| ratio | value | per round | target | met |',
  '|---|---|---|---|---|',
  ...targets.map((t) => `| ${t.what} | ${f2(t.value)}x | ${t.perRound.map(f2).join(', ')} | >= ${t.target}x | ${t.value >= t.target ? 'yes' : 'no'} |`),
  `| c=64: derrd student p99 | ${p99} ms | | <= 10 ms | ${p99 <= 10 ? 'yes' : 'no'} |`,
];
if (summary.some((x) => x.cells.some((c) => c.serverCpuUs !== null))) {
  const f0 = (x: number | null) => (x === null ? '–' : x.toFixed(0));
  lines.push(
    '',
    'CPU time per request (from /proc; moves less with other load than req/s): server process, all threads / its event-loop thread; derrd: mean users per model run.',
    '',
    '| server | c=1 µs (all / main) | c=16 µs | c=64 µs | mean batch (c=1; 16; 64) |',
    '|---|---|---|---|---|',
    ...summary.map((x) => `| ${x.contender} | ${x.cells.map((c) => `${f0(c.serverCpuUs)} / ${f0(c.mainThreadCpuUs)}`).join(' | ')} | ${x.cells.map((c) => (c.meanBatch === null ? '–' : c.meanBatch.toFixed(1))).join('; ')} |`),
  );
}
console.log(lines.join('\n'));
mkdirSync(join(root, 'bench', 'results'), { recursive: true });
writeFileAtomic(join(root, 'bench', 'results', 'serve.json'), JSON.stringify({
  benchmark: 'serve', node: process.version, cores: availableParallelism(), seconds, rounds, warmupSeconds, k: K, synthetic,
  models: Object.fromEntries(Object.entries(models).map(([k, m]) => [k, { dim: m.dim, status: m.status, bytes: m.bytes }])),
  contenders: contenders.map((c) => ({ name: c.name, command: c.command.map((a) => a.startsWith(work) ? `<tmp>/${a.slice(work.length + 1)}` : a.startsWith(root) ? a.slice(root.length + 1) : a) })),
  summary, ratios: targets, studentP99MsAt64: p99, cells, loadAverages,
}, null, 2) + '\n');
writeFileAtomic(join(root, 'bench', 'results', 'serve.md'), lines.join('\n') + '\n');
