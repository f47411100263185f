import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { MicroBatcher, OverloadError, type BatchRequest, type BatcherOptions } from '@derrd/serve-node';

interface Req extends BatchRequest<number> { id: number }

/** A batcher whose runs stay open until the test finishes them; records every batch's request ids. */
function harness(options: Partial<BatcherOptions>) {
  let clock = 0;
  const batches: number[][] = [];
  const open: (() => void)[] = [];
  const settled: Record<number, string> = {};
  const batcher = new MicroBatcher<Req, number>(
    { maxBatch: 4, maxWaitUs: 0, maxQueue: 100, deadlineMs: 1000, concurrency: 1, now: () => clock, ...options },
    (batch) => {
      batches.push(batch.map((r) => r.id));
      return new Promise<void>((resolve) => open.push(() => { for (const r of batch) r.resolve(r.id); resolve(); }));
    },
  );
  let next = 0;
  const submit = (size = 1) => {
    const id = next++;
    batcher.submit({ id, size, enqueuedAt: clock, resolve: () => { settled[id] = 'ok'; }, reject: (e) => { settled[id] = e instanceof OverloadError ? e.kind : e.message; } });
    return id;
  };
  const finish = async () => { open.shift()!(); await nextTurn(); };
  return { batcher, batches, submit, finish, settled, advance: (ms: number) => { clock += ms; } };
}

test('a request that arrives while the model is idle runs at once, in the same turn (no batching wait)', () => {
  const h = harness({});
  h.submit();
  assert.deepEqual(h.batches, [[0]]);
});

test('requests that arrive during a run form the next batch, up to maxBatch users', async () => {
  const h = harness({ maxBatch: 4 });
  h.submit();
  for (let k = 0; k < 6; k++) h.submit();
  assert.deepEqual(h.batches, [[0]]);
  await h.finish();
  assert.deepEqual(h.batches, [[0], [1, 2, 3, 4]]);
  await h.finish();
  assert.deepEqual(h.batches, [[0], [1, 2, 3, 4], [5, 6]]);
  await h.finish();
  assert.equal(h.batcher.inFlight, 0);
  assert.deepEqual(Object.keys(h.settled).length, 7);
});

test('with several workers, as many batches run at once', async () => {
  const h = harness({ concurrency: 2 });
  h.submit();
  h.submit();
  h.submit();
  assert.deepEqual(h.batches, [[0], [1]]);
  assert.equal(h.batcher.inFlight, 2);
  await h.finish();
  assert.deepEqual(h.batches, [[0], [1], [2]]);
});

test('a positive maxWaitUs waits that long for company, timed below a millisecond, and a full batch goes at once', async () => {
  const h = harness({ maxWaitUs: 300, maxBatch: 3 });
  h.submit();
  await nextTurn();
  assert.deepEqual(h.batches, []);
  h.advance(0.2);
  await nextTurn();
  await nextTurn();
  assert.deepEqual(h.batches, [], 'ran before its 300 µs');
  h.submit();
  h.advance(0.11);
  await nextTurn();
  await nextTurn();
  assert.deepEqual(h.batches, [[0, 1]], 'did not run once 300 µs had passed');
  await h.finish();
  // a batch that fills up does not wait
  h.submit();
  h.submit();
  h.submit();
  assert.deepEqual(h.batches, [[0, 1], [2, 3, 4]]);
});

test('a full queue rejects at once; a request queued past its deadline is rejected instead of run', async () => {
  const h = harness({ maxQueue: 2, deadlineMs: 50 });
  h.submit();
  const queued = [h.submit(), h.submit()];
  const over = h.submit();
  assert.equal(h.settled[over], 'queue-full');
  h.advance(60);
  await h.finish();
  for (const id of queued) assert.equal(h.settled[id], 'deadline');
  assert.deepEqual(h.batches, [[0]]);
  await h.batcher.drain();
});
