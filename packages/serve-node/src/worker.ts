/**
 * A piscina worker that owns one onnxruntime session and runs batches in dense ids, so model runs (a synchronous
 * native call in onnxruntime-node) never block the server's event loop. The session is opened when the worker starts;
 * a failure is kept and returned by every task, so the pool's warm-up reports it instead of crashing the worker.
 */
import { workerData, threadId } from 'node:worker_threads';
import { createRecommender, type FlatResult, type Provider, type Recommender } from '@derrd/runtime';

export interface WorkerInit {
  path: string;
  bytes: Uint8Array;
  provider: Provider;
  threads: number;
}

export interface BatchTask {
  kind: 'batch';
  users: Int32Array;
  k: number;
  /** CSR exclusions; absent when no user of the batch excludes anything */
  excludeOffsets?: Int32Array;
  excludeItems?: Int32Array;
}

/**
 * Warm-up: every worker of a new pool must run one query before the pool serves. Each warm-up task counts itself in
 * `barrier` and waits until all `workers` tasks have arrived, so the tasks land on distinct workers.
 */
export interface WarmupTask {
  kind: 'warmup';
  barrier: Int32Array;
  workers: number;
  k: number;
  timeoutMs: number;
}

export interface WarmupResult {
  threadId: number;
  ms: number;
}

export type BatchResult = FlatResult & { runMs: number };

const init = workerData as WorkerInit;
let failure: Error | null = null;
let rec: Recommender | null = null;
const ready: Promise<void> = createRecommender({ path: init.path, bytes: init.bytes }, { provider: init.provider, threads: init.threads, idMaps: 'none' })
  .then((r) => { rec = r; })
  .catch((err: Error) => { failure = err; });

export default async function handle(task: BatchTask | WarmupTask): Promise<BatchResult | WarmupResult> {
  if (!rec) await ready;
  if (failure) {
    if (task.kind === 'warmup') {
      Atomics.add(task.barrier, 0, 1);
      Atomics.notify(task.barrier, 0);
    }
    throw failure;
  }
  const session = rec!;
  if (task.kind === 'warmup') {
    const t0 = performance.now();
    await session.recommendFlat(Int32Array.of(0), task.k);
    const ms = performance.now() - t0;
    Atomics.add(task.barrier, 0, 1);
    Atomics.notify(task.barrier, 0);
    const deadline = Date.now() + task.timeoutMs;
    for (let seen = Atomics.load(task.barrier, 0); seen < task.workers; seen = Atomics.load(task.barrier, 0)) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`only ${seen} of ${task.workers} workers started within ${task.timeoutMs} ms`);
      Atomics.wait(task.barrier, 0, seen, left);
    }
    return { threadId, ms };
  }
  const t0 = performance.now();
  const exclude = task.excludeOffsets && task.excludeItems ? { offsets: task.excludeOffsets, items: task.excludeItems } : undefined;
  const out = await session.recommendFlat(task.users, task.k, exclude);
  return { ...out, runMs: performance.now() - t0 };
}
