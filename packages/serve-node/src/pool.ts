/**
 * The worker pool of one loaded model (piscina): each worker owns an onnxruntime session on the model's bytes. A pool
 * serves only after every worker has run a warm-up query; a reload builds a new pool and closes the old one once its
 * running batches are done.
 */
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import { RuntimeError, createRecommender, type Provider } from '@derrd/runtime';
import type { BatchResult, BatchTask, WarmupResult, WarmupTask, WorkerInit } from './worker.js';

const WORKER_FILE = fileURLToPath(new URL('./worker.js', import.meta.url));

export interface PoolOptions {
  path: string;
  bytes: Uint8Array;
  provider: Provider;
  threads: number;
  /** worker threads; 0 runs the model on the calling thread (the event loop) */
  workers: number;
  warmupK: number;
  /** how long the workers may take to start and warm up */
  startTimeoutMs?: number;
}

export interface ModelPool {
  readonly workers: number;
  /** slowest worker's warm-up query, ms */
  readonly warmupMs: number;
  run(task: Omit<BatchTask, 'kind'>): Promise<BatchResult>;
  /** batches running now */
  inFlight(): number;
  /** waits for running batches, then stops the workers */
  close(): Promise<void>;
}

/** workers = 0: one session on this thread; every run blocks the event loop while it lasts. */
async function startInline(o: PoolOptions): Promise<ModelPool> {
  const rec = await createRecommender({ path: o.path, bytes: o.bytes }, { provider: o.provider, threads: o.threads, idMaps: 'none' });
  const t0 = performance.now();
  try {
    await rec.recommendFlat(Int32Array.of(0), o.warmupK);
  } catch (err) {
    await rec.close();
    throw err;
  }
  const warmupMs = performance.now() - t0;
  let running = 0;
  let closed: Promise<void> | null = null;
  return {
    workers: 0,
    warmupMs,
    run: async (task) => {
      running++;
      try {
        const t = performance.now();
        const exclude = task.excludeOffsets && task.excludeItems ? { offsets: task.excludeOffsets, items: task.excludeItems } : undefined;
        const out = await rec.recommendFlat(task.users, task.k, exclude);
        return { ...out, runMs: performance.now() - t };
      } finally {
        running--;
      }
    },
    inFlight: () => running,
    close: () => (closed ??= rec.close()),
  };
}

export async function startPool(o: PoolOptions): Promise<ModelPool> {
  if (o.workers === 0) return startInline(o);
  const init: WorkerInit = { path: o.path, bytes: o.bytes, provider: o.provider, threads: o.threads };
  const piscina = new Piscina<BatchTask | WarmupTask, BatchResult | WarmupResult>({
    filename: WORKER_FILE, minThreads: o.workers, maxThreads: o.workers, concurrentTasksPerWorker: 1, idleTimeout: 2 ** 31 - 1,
    workerData: init, recordTiming: false, atomics: 'sync',
  });
  // a worker that dies is replaced by piscina; its task rejects, which the batch's requests see as a 500
  piscina.on('error', () => undefined);
  const timeoutMs = o.startTimeoutMs ?? 60_000;
  const barrier = new Int32Array(new SharedArrayBuffer(4));
  let warm: WarmupResult[];
  try {
    warm = (await Promise.all(Array.from({ length: o.workers }, () =>
      piscina.run({ kind: 'warmup', barrier, workers: o.workers, k: o.warmupK, timeoutMs })))) as WarmupResult[];
  } catch (err) {
    await piscina.destroy();
    const message = (err as Error).message ?? String(err);
    throw new RuntimeError(message);
  }
  let running = 0;
  return {
    workers: o.workers,
    warmupMs: Math.max(...warm.map((w) => w.ms)),
    run: async (task) => {
      running++;
      try {
        return (await piscina.run({ kind: 'batch', ...task })) as BatchResult;
      } finally {
        running--;
      }
    },
    inFlight: () => running,
    close: () => piscina.close(),
  };
}
