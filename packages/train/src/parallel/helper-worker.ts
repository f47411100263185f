/**
 * The helper thread (parallel/helper.ts): collects jobs from the port, claims chunks of the oldest foreground job
 * (else the oldest background one) and runs them on its own kernel instances over the job's shared memory; sleeps in
 * Atomics.wait when nothing is left to claim.
 */
import { receiveMessageOnPort, workerData, type MessagePort } from 'node:worker_threads';
import { CONTROL, CONTROL_WORDS, ERROR_BYTES, MAX_CHUNKS, claimChunk, slotBase, type HelperMessage } from './helper.js';
import { runChunk, type ThreadContext } from './jobs.js';

type JobMessage = Extract<HelperMessage, { type: 'job' }>;

const { shared, port } = workerData as { shared: SharedArrayBuffer; port: MessagePort };
const control = new Int32Array(shared, 0, CONTROL_WORDS);
const errorText = new Uint8Array(shared, CONTROL_WORDS * 4, ERROR_BYTES);
const contexts = new Map<number, ThreadContext>();
const foreground: JobMessage[] = [];
const background: JobMessage[] = [];
let seen = 0;
let quit = false;

function drain(): void {
  seen = Atomics.load(control, CONTROL.request);
  for (let received = receiveMessageOnPort(port); received; received = receiveMessageOnPort(port)) {
    const message = received.message as HelperMessage;
    if (message.type === 'attach') contexts.set(message.arena, { memory: message.memory, thread: 1, scratch: new Map() });
    else if (message.type === 'detach') contexts.delete(message.arena);
    else if (message.type === 'job') (message.background ? background : foreground).push(message);
    else quit = true;
  }
}

/** Runs one chunk of the first job in `queue` that has one left; false when none has. */
function step(queue: JobMessage[]): boolean {
  while (queue.length > 0) {
    const job = queue[0];
    const chunk = claimChunk(control, job.slot, job.gen, job.chunks);
    if (chunk < 0) {
      queue.shift();
      continue;
    }
    const at = slotBase(job.slot);
    try {
      const context = contexts.get(job.arena);
      if (!context) throw new Error(`unknown arena ${job.arena}`);
      runChunk(job.kind, context, job.args, chunk);
    } catch (err) {
      errorText.fill(0);
      errorText.set(new TextEncoder().encode((err as Error).stack ?? String(err)).subarray(0, ERROR_BYTES));
      Atomics.store(control, at + 2, 1);
      // no more chunks of this job: the caller sees the failure once the claimed ones are counted
      Atomics.store(control, at, (job.gen << 20) | (MAX_CHUNKS - 1));
    }
    Atomics.add(control, at + 1, 1);
    Atomics.notify(control, at + 1);
    Atomics.add(control, CONTROL.helperChunks, 1);
    return true;
  }
  return false;
}

Atomics.store(control, CONTROL.ready, 1);
while (!quit) {
  if (Atomics.load(control, CONTROL.request) !== seen) drain();
  if (quit) break;
  if (step(foreground) || step(background)) continue;
  Atomics.wait(control, CONTROL.request, seen);
}
port.close();
