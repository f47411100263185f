/**
 * A second thread for the work that tfjs-wasm leaves on one core in Node: scoring and ranking (evaluation, teacher
 * rankings) and the dense optimizer pass of the native BPR step.
 *
 * Work is a job of numbered chunks; the calling thread and the helper claim chunks from a shared counter until none
 * is left (work stealing), so a helper that is busy, descheduled or still starting only means the caller does more
 * chunks itself. A chunk's result never depends on which thread ran it, so results are the same on one thread or two.
 * Jobs are run synchronously (`run`: the caller takes part and returns when every chunk is done) or started in the
 * background (`start`: the helper works on it while the caller does something else, e.g. evaluate epoch e while
 * epoch e + 1 trains; `finish()` takes part in what is left and waits). The helper serves foreground jobs first.
 *
 * Why not a worker pool library: the optimizer job runs once per batch, so hand-offs must cost microseconds, with
 * the data in a shared WebAssembly memory both threads run SIMD kernels on; this is a shared counter, a message port
 * and Atomics.wait (as distill/expert-lane.ts, the DE kernel's lane, does).
 */
import { availableParallelism } from 'node:os';
import { MessageChannel, type MessagePort, type Worker } from 'node:worker_threads';
import { InputError } from '@derrd/core';
import { runChunk, type JobArgs, type JobKind, type ThreadContext } from './jobs.js';
import { startWorker } from './worker-options.js';

/** control words: [0] request sequence, [1] helper ready, [2] chunks the helper has finished (for tests) */
export const CONTROL = { request: 0, ready: 1, helperChunks: 2 } as const;
export const SLOTS = 64;
/** per slot: [0] (generation << 20) | next chunk, [1] chunks done, [2] failed */
export const SLOT_WORDS = 4;
export const CONTROL_WORDS = 4 + SLOTS * SLOT_WORDS;
export const ERROR_BYTES = 2048;
export const MAX_CHUNKS = 1 << 20;
const GENERATIONS = 1 << 11;

export type HelperMessage =
  | { type: 'attach'; arena: number; memory: WebAssembly.Memory }
  | { type: 'detach'; arena: number }
  | { type: 'job'; slot: number; gen: number; chunks: number; background: boolean; arena: number; kind: JobKind; args: JobArgs }
  | { type: 'quit' };

/** How long the caller waits without any chunk finishing before it gives up on the helper. */
const STALL_TIMEOUT_MS = 120_000;

export const slotBase = (slot: number): number => 4 + slot * SLOT_WORDS;

/** Claims the next chunk of the job in `slot` of generation `gen`; -1 when none is left (or the slot moved on). */
export function claimChunk(control: Int32Array, slot: number, gen: number, chunks: number): number {
  const at = slotBase(slot);
  for (;;) {
    const word = Atomics.load(control, at);
    if (word >>> 20 !== gen) return -1;
    const next = word & (MAX_CHUNKS - 1);
    if (next >= chunks) return -1;
    if (Atomics.compareExchange(control, at, word, word + 1) === word) return next;
  }
}

export interface Job {
  kind: JobKind;
  /** an arena from attach() */
  arena: number;
  chunks: number;
  args: JobArgs;
  /** called on the calling thread after each chunk it ran (progress reports) */
  onChunk?: () => void;
}

/** A job started in the background; finish() must be called before the slot's data is reused. */
export interface PendingJob {
  finish(): void;
}

interface ArenaEntry {
  memory: WebAssembly.Memory;
  context: ThreadContext | null;
}

export class Helper {
  private readonly worker: Worker | null;
  private readonly port: MessagePort | null;
  readonly control: Int32Array;
  private readonly errorText: Uint8Array;
  private readonly arenas: ArenaEntry[] = [];
  private sequence = 0;
  private nextSlot = 0;
  private readonly generation = new Int32Array(SLOTS);
  private readonly busy = new Uint8Array(SLOTS);
  private closed = false;

  /** threads: 1 runs every chunk on the calling thread (no worker) */
  constructor(threads: 1 | 2) {
    const shared = new SharedArrayBuffer(CONTROL_WORDS * 4 + ERROR_BYTES);
    this.control = new Int32Array(shared, 0, CONTROL_WORDS);
    this.errorText = new Uint8Array(shared, CONTROL_WORDS * 4, ERROR_BYTES);
    if (threads === 1) {
      this.worker = null;
      this.port = null;
      return;
    }
    const { port1, port2 } = new MessageChannel();
    this.port = port1;
    this.worker = startWorker('./helper-worker', import.meta.url, { workerData: { shared, port: port2 }, transferList: [port2] });
    // an idle helper must not keep the process alive
    this.worker.unref();
    this.port.unref();
  }

  get threads(): 1 | 2 {
    return this.worker ? 2 : 1;
  }

  /** Makes `memory` (a shared WebAssembly.Memory) known to the helper; jobs name it by the returned id. */
  attach(memory: WebAssembly.Memory): number {
    const arena = this.arenas.length;
    this.arenas.push({ memory, context: null });
    if (this.worker) this.post({ type: 'attach', arena, memory });
    return arena;
  }

  /** Forgets an arena (after its last job finished), so that both threads can let its memory go. */
  detach(arena: number): void {
    if (!this.arenas[arena]) return;
    delete this.arenas[arena];
    if (this.worker) this.post({ type: 'detach', arena });
  }

  /** Runs every chunk of `job` on this thread and the helper; returns when all are done. */
  run(job: Job): void {
    this.start(job, false).finish();
  }

  /** Starts `job` on the helper (this thread joins in at finish()). With one thread it runs now. */
  start(job: Job, background = true): PendingJob {
    if (!(job.chunks >= 0 && job.chunks < MAX_CHUNKS)) throw new Error(`job of ${job.chunks} chunks`);
    const slot = this.takeSlot();
    const at = slotBase(slot);
    const gen = (this.generation[slot] = (this.generation[slot] + 1) % GENERATIONS);
    Atomics.store(this.control, at + 1, 0);
    Atomics.store(this.control, at + 2, 0);
    Atomics.store(this.control, at, gen << 20);
    if (this.worker && job.chunks > 0 && this.arenas[job.arena]) {
      this.post({ type: 'job', slot, gen, chunks: job.chunks, background, arena: job.arena, kind: job.kind, args: job.args });
    }
    let finished = false;
    const finish = () => {
      if (finished) return;
      finished = true;
      this.participate(job, slot, gen);
      this.waitDone(slot, job.chunks);
      this.busy[slot] = 0;
    };
    if (!this.worker) finish();
    return { finish };
  }

  close(): void {
    if (this.closed) return;
    if (this.worker) {
      this.post({ type: 'quit' });
      void this.worker.terminate();
    }
    this.closed = true;
  }

  private context(arena: number): ThreadContext {
    const a = this.arenas[arena];
    if (!a) throw new Error(`unknown or detached arena ${arena}`);
    a.context ??= { memory: a.memory, thread: 0, scratch: new Map() };
    return a.context;
  }

  private participate(job: Job, slot: number, gen: number): void {
    const context = this.context(job.arena);
    for (let c = claimChunk(this.control, slot, gen, job.chunks); c >= 0; c = claimChunk(this.control, slot, gen, job.chunks)) {
      // a chunk that throws leaves its slot marked busy for good: the helper may still be counting chunks into it
      runChunk(job.kind, context, job.args, c);
      Atomics.add(this.control, slotBase(slot) + 1, 1);
      job.onChunk?.();
    }
  }

  private waitDone(slot: number, chunks: number): void {
    const at = slotBase(slot) + 1;
    let last = Atomics.load(this.control, at);
    let since = Date.now();
    while (last < chunks && !Atomics.load(this.control, slotBase(slot) + 2)) {
      Atomics.wait(this.control, at, last, 1000);
      const now = Atomics.load(this.control, at);
      if (now !== last) {
        last = now;
        since = Date.now();
      } else if (Date.now() - since > STALL_TIMEOUT_MS) {
        this.closed = true;
        void this.worker?.terminate();
        throw new Error(`the helper thread did not finish its part within ${STALL_TIMEOUT_MS / 1000} s; run with DERRD_THREADS=1 to use one thread`);
      }
    }
    if (Atomics.load(this.control, slotBase(slot) + 2)) {
      const text = new TextDecoder().decode(this.errorText.slice()).replace(/\0+$/, '');
      throw new Error(`helper thread: ${text}`);
    }
  }

  private takeSlot(): number {
    for (let k = 0; k < SLOTS; k++) {
      const slot = (this.nextSlot + k) % SLOTS;
      if (!this.busy[slot]) {
        this.busy[slot] = 1;
        this.nextSlot = (slot + 1) % SLOTS;
        return slot;
      }
    }
    throw new Error(`more than ${SLOTS} unfinished helper jobs`);
  }

  private post(message: HelperMessage): void {
    if (this.closed) throw new Error('Helper used after close');
    this.port!.postMessage(message);
    this.sequence++;
    Atomics.store(this.control, CONTROL.request, this.sequence);
    Atomics.notify(this.control, CONTROL.request);
  }
}

/**
 * Threads for scoring, evaluation and the native training step: DERRD_THREADS (1 or 2) when set, else 2 where the
 * machine has a second core. Results are the same floats either way.
 */
export function helperThreads(): 1 | 2 {
  const env = process.env.DERRD_THREADS;
  if (env !== undefined && env !== '') {
    if (env !== '1' && env !== '2') throw new InputError(`DERRD_THREADS must be 1 or 2 (got "${env}")`);
    return env === '1' ? 1 : 2;
  }
  return availableParallelism() >= 2 ? 2 : 1;
}

let shared: Helper | undefined;
let threadsOverride: 1 | 2 | undefined;

/** The process's helper (created on first use). */
export function helper(): Helper {
  shared ??= new Helper(threadsOverride ?? helperThreads());
  return shared;
}

/** Threads for helpers created from now on (undefined: back to DERRD_THREADS / the core count); for benchmarks and tests. */
export function setHelperThreads(threads: 1 | 2 | undefined): void {
  shared?.close();
  shared = undefined;
  threadsOverride = threads;
}
