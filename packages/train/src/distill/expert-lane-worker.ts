/**
 * The worker side of ExpertLane: waits on the shared control word, drains the port, runs the named kernel's pair
 * range on its own instance of the SIMD loops bound to that kernel's shared memory, then signals done.
 */
import { receiveMessageOnPort, workerData, type MessagePort } from 'node:worker_threads';
import { instantiateExpertSimd, type ExpertSimd } from '../wasm/expert-simd.js';
import { mixtureLayout, runMixturePhase, type MixtureDims } from './expert-kernel.js';
import { CONTROL, CONTROL_BYTES, ERROR_BYTES, type LaneMessage } from './expert-lane.js';

const { shared, port } = workerData as { shared: SharedArrayBuffer; port: MessagePort };
const control = new Int32Array(shared, 0, CONTROL_BYTES / 4);
const errorText = new Uint8Array(shared, CONTROL_BYTES, ERROR_BYTES);
const kernels = new Map<number, { simd: ExpertSimd; dims: MixtureDims }>();

Atomics.store(control, CONTROL.ready, 1);
let seen = 0;
let quit = false;
while (!quit) {
  Atomics.wait(control, CONTROL.request, seen);
  const request = Atomics.load(control, CONTROL.request);
  let failed = 0;
  try {
    for (let received = receiveMessageOnPort(port); received; received = receiveMessageOnPort(port)) {
      const message = received.message as LaneMessage;
      if (message.type === 'register') {
        const simd = instantiateExpertSimd(message.memory);
        if (!simd) throw new Error('WebAssembly SIMD is unavailable in the worker');
        kernels.set(message.id, { simd, dims: message.dims });
      } else if (message.type === 'run') {
        const c = message.command;
        const kernel = kernels.get(c.id);
        if (!kernel) throw new Error(`unknown kernel ${c.id}`);
        const { at } = mixtureLayout(kernel.dims, c.e, c.p);
        runMixturePhase(c.loops, c.phase, kernel.simd, kernel.dims, at, c.e, c.p, { q0: c.q0, q1: c.q1, thread: 1 });
      } else {
        quit = true;
      }
    }
  } catch (err) {
    failed = 1;
    errorText.fill(0);
    errorText.set(new TextEncoder().encode((err as Error).stack ?? String(err)).subarray(0, ERROR_BYTES));
  }
  seen = request;
  // sticky: a later wake that finds nothing to run must not clear an error the caller has not read yet
  if (failed) Atomics.store(control, CONTROL.failed, 1);
  Atomics.store(control, CONTROL.done, request);
  Atomics.notify(control, CONTROL.done);
}
port.close();
