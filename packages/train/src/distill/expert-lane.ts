/**
 * A worker thread that runs a share of the DE expert kernels' pairs (distill/expert-kernel.ts) while the calling thread
 * runs the rest. tfjs-wasm trains on one thread in Node, so on a machine with a second core the DE mixture — most of
 * a DE-RRD step at high temperature — was using one core of two.
 *
 * The calls are synchronous (a tfjs custom op must return its value): the thread posts the command on a message port,
 * wakes the worker through a shared control word and blocks in Atomics.wait until the worker says done. Kernels
 * register their shared WebAssembly memory once; each command names the kernel, the phase and the pair range.
 */
import { availableParallelism } from 'node:os';
import { InputError } from '@derrd/core';
import { MessageChannel, type MessagePort, type Worker } from 'node:worker_threads';
import type { MixtureDims } from './expert-kernel.js';
import type { MixtureLoops } from './native-mixture.js';
import { startWorker } from '../parallel/worker-options.js';

/** indexes into the control words shared with the worker */
export const CONTROL = { request: 0, done: 1, failed: 2, ready: 3 } as const;
export const CONTROL_BYTES = 16;
export const ERROR_BYTES = 2048;

export interface LaneCommand {
  id: number;
  phase: 'forward' | 'backward';
  /** the calling kernel's loops: the worker runs the same ones */
  loops: MixtureLoops;
  e: number;
  p: number;
  q0: number;
  q1: number;
}

export type LaneMessage = { type: 'register'; id: number; memory: WebAssembly.Memory; dims: MixtureDims } | { type: 'run'; command: LaneCommand } | { type: 'quit' };

/** How long a kernel call waits for the worker before giving up (a dead worker never answers). */
const ANSWER_TIMEOUT_MS = 120_000;
/** ... and for a worker that has not even started (its module failed to load, say) */
const START_TIMEOUT_MS = 20_000;

export class ExpertLane {
  private readonly worker: Worker;
  private readonly port: MessagePort;
  private readonly control: Int32Array;
  private readonly errorText: Uint8Array;
  private sequence = 0;
  private nextId = 0;
  private pending = false;
  private closed = false;

  constructor() {
    const shared = new SharedArrayBuffer(CONTROL_BYTES + ERROR_BYTES);
    this.control = new Int32Array(shared, 0, CONTROL_BYTES / 4);
    this.errorText = new Uint8Array(shared, CONTROL_BYTES);
    const { port1, port2 } = new MessageChannel();
    this.port = port1;
    this.worker = startWorker('./expert-lane-worker', import.meta.url, { workerData: { shared, port: port2 }, transferList: [port2] });
    // an idle lane must not keep the process alive
    this.worker.unref();
    this.port.unref();
  }

  register(memory: WebAssembly.Memory, dims: MixtureDims): number {
    const id = this.nextId++;
    this.post({ type: 'register', id, memory, dims });
    return id;
  }

  start(command: LaneCommand): void {
    if (this.pending) throw new Error('ExpertLane.start while a command is running');
    this.post({ type: 'run', command });
    this.pending = true;
  }

  /** Blocks until the worker has run the last command; rethrows its error. */
  finish(): void {
    if (!this.pending) return;
    this.pending = false;
    const started = Date.now();
    for (;;) {
      const done = Atomics.load(this.control, CONTROL.done);
      if (done === this.sequence) break;
      const waited = Date.now() - started;
      const ready = Atomics.load(this.control, CONTROL.ready) === 1;
      if (waited > ANSWER_TIMEOUT_MS || (!ready && waited > START_TIMEOUT_MS)) {
        this.closed = true;
        void this.worker.terminate();
        throw new Error(`the DE worker thread ${ready ? 'did not answer' : 'did not start'} within ${Math.round(waited / 1000)} s; run with DERRD_DE_THREADS=1 to keep DE on one thread`);
      }
      Atomics.wait(this.control, CONTROL.done, done, 1000);
    }
    if (Atomics.load(this.control, CONTROL.failed)) {
      const text = new TextDecoder().decode(this.errorText.slice()).replace(/\0+$/, '');
      throw new Error(`DE worker thread: ${text}`);
    }
  }

  close(): void {
    if (this.closed) return;
    this.post({ type: 'quit' });
    this.closed = true;
    void this.worker.terminate();
  }

  private post(message: LaneMessage): void {
    if (this.closed) throw new Error('ExpertLane used after close');
    this.port.postMessage(message);
    this.sequence++;
    Atomics.store(this.control, CONTROL.request, this.sequence);
    Atomics.notify(this.control, CONTROL.request);
  }
}

/**
 * Threads for the DE kernels: DERRD_DE_THREADS (1 or 2) when set, else 2 where the machine has a second core.
 * The result is the same floats either way.
 */
export function deThreads(): 1 | 2 {
  const env = process.env.DERRD_DE_THREADS;
  if (env !== undefined && env !== '') {
    if (env !== '1' && env !== '2') throw new InputError(`DERRD_DE_THREADS must be 1 or 2 (got "${env}")`);
    return env === '1' ? 1 : 2;
  }
  return availableParallelism() >= 2 ? 2 : 1;
}

let sharedLane: ExpertLane | null | undefined;
let threadsOverride: 1 | 2 | undefined;
/** The process's one lane (created on first use), or null on one thread. */
export function expertLane(): ExpertLane | null {
  if (sharedLane === undefined) sharedLane = (threadsOverride ?? deThreads()) === 2 ? new ExpertLane() : null;
  return sharedLane;
}

/** Threads for DE kernels created from now on (undefined: back to DERRD_DE_THREADS / the core count); for benchmarks. */
export function setDeThreads(threads: 1 | 2 | undefined): void {
  sharedLane?.close();
  sharedLane = undefined;
  threadsOverride = threads;
}
