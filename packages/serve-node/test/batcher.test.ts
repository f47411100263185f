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

test('boundaries: a batch waits until exactly maxWaitUs and no longer; a request of maxBatch users does not wait; a request queued exactly deadlineMs still runs', async () => {
  // 250 µs = 0.25 ms and the clock's steps are exact in binary, so the clock lands on the deadline itself
  const h = harness({ maxWaitUs: 250, maxBatch: 3, deadlineMs: 50 });
  h.submit();
  h.advance(0.125);
  await nextTurn();
  await nextTurn();
  assert.deepEqual(h.batches, [], 'ran before its 250 µs');
  h.advance(0.125);
  await nextTurn();
  await nextTurn();
  assert.deepEqual(h.batches, [[0]], 'still waiting at exactly 250 µs');
  await h.finish();
  // a full batch in one request goes at once
  h.submit(3);
  assert.deepEqual(h.batches, [[0], [1]]);
  // queued behind it for exactly the deadline: run, not rejected
  h.submit(3);
  h.advance(50);
  await h.finish();
  assert.deepEqual(h.batches, [[0], [1], [2]]);
  await h.finish();
  assert.equal(h.settled[2], 'ok');
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

test('multi-user requests: a batch never exceeds maxBatch users unless one request alone does; depth counts queued users', async () => {
  const h = harness({ maxBatch: 4 });
  h.submit(1);
  h.submit(3);
  h.submit(2);
  h.submit(6); // larger than maxBatch: runs alone
  h.submit(1);
  assert.equal(h.batcher.depth, 12);
  await h.finish();
  assert.deepEqual(h.batches, [[0], [1]]);
  assert.equal(h.batcher.depth, 9);
  await h.finish();
  assert.deepEqual(h.batches, [[0], [1], [2]]);
  await h.finish();
  assert.deepEqual(h.batches, [[0], [1], [2], [3]]);
  await h.finish();
  assert.deepEqual(h.batches, [[0], [1], [2], [3], [4]]);
  assert.equal(h.batcher.depth, 0);
});

test('a failed run rejects every request of its batch with its error; the batcher goes on; drain waits for idle', async () => {
  let calls = 0;
  const settled: Record<number, string> = {};
  const batcher = new MicroBatcher<Req, number>({ maxBatch: 3, maxWaitUs: 0, maxQueue: 100, deadlineMs: 1000, concurrency: 1, now: () => 0 }, async (batch) => {
    calls++;
    await nextTurn();
    if (calls === 2) throw new Error('model failed');
    for (const r of batch) r.resolve(r.id);
  });
  const submit = (id: number) => batcher.submit({ id, size: 1, enqueuedAt: 0, resolve: () => { settled[id] = 'ok'; }, reject: (e) => { settled[id] = e.message; } });
  const sizes: number[] = [];
  batcher.onBatch = (users) => sizes.push(users);
  await batcher.drain(); // idle: resolves at once
  for (let id = 0; id < 6; id++) submit(id);
  let drained = false;
  const done = batcher.drain().then(() => { drained = true; });
  await nextTurn();
  assert.equal(drained, false);
  await done;
  assert.deepEqual(sizes, [1, 3, 2]);
  assert.deepEqual(settled, { 0: 'ok', 1: 'model failed', 2: 'model failed', 3: 'model failed', 4: 'ok', 5: 'ok' });
  assert.equal(batcher.inFlight, 0);
  assert.throws(() => new MicroBatcher({ maxBatch: 1, maxWaitUs: 0, maxQueue: 1, deadlineMs: 1, concurrency: 0 }, async () => {}), /concurrency must be >= 1, got 0/);
});

test('thousands of queued requests run in arrival order across the queue\'s compaction', async () => {
  const h = harness({ maxBatch: 500, maxQueue: 5000 });
  const ids = Array.from({ length: 3000 }, () => h.submit());
  while (h.batches.flat().length < ids.length || h.batcher.inFlight > 0) await h.finish();
  assert.deepEqual(h.batches.flat(), ids);
  assert.deepEqual(h.batches.map((b) => b.length), [1, 500, 500, 500, 500, 500, 499]);
  assert.equal(Object.values(h.settled).filter((s) => s === 'ok').length, 3000);
});
