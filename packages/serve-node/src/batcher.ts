/**
 * Dynamic batching with a bounded queue, after Triton's dynamic batcher: a request that arrives while a worker is free
 * runs at once (no waiting when the model is idle); requests that arrive while every worker is busy form the next
 * batch, up to `maxBatch` users. A positive `maxWaitUs` (Triton's max_queue_delay) lets a batch that is not full wait
 * that long for company, timed to the microsecond rather than rounded up to a timer millisecond. A full queue rejects
 * at once, and a request still queued after `deadlineMs` is rejected instead of run, so neither memory nor latency
 * grows without bound.
 */
export interface BatchRequest<R> {
  /** users this request contributes (a POST may carry several) */
  size: number;
  enqueuedAt: number;
  resolve(result: R): void;
  reject(error: Error): void;
}

export class OverloadError extends Error {
  readonly retryAfterSeconds: number;
  readonly kind: 'queue-full' | 'deadline';
  constructor(kind: 'queue-full' | 'deadline', retryAfterSeconds: number) {
    super(kind === 'queue-full' ? 'server overloaded: request queue is full' : 'server overloaded: request waited past its deadline');
    this.name = 'OverloadError';
    this.kind = kind;
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

export interface BatcherOptions {
  maxBatch: number;
  /** 0: a batch runs as soon as a worker is free; > 0: a batch that is not full waits up to this long for company */
  maxWaitUs: number;
  /** most users waiting (not counting the batches being run) */
  maxQueue: number;
  deadlineMs: number;
  /** batches that may run at the same time (one per worker) */
  concurrency: number;
  /** the clock, ms (tests pass a fake one); default performance.now */
  now?: () => number;
}

/** Below this a wait is timed by re-checking the clock once per event-loop turn (timers have millisecond steps). */
const FINE_WAIT_MS = 2;

export class MicroBatcher<Q extends BatchRequest<R>, R> {
  private queue: Q[] = [];
  private head = 0;
  private queuedUsers = 0;
  private running = 0;
  private waitUntil = 0;
  private waitArmed = false;
  private readonly options: BatcherOptions;
  private readonly now: () => number;
  private readonly runBatch: (batch: Q[]) => Promise<void>;
  private idleWaiters: (() => void)[] = [];
  onBatch?: (users: number) => void;

  constructor(options: BatcherOptions, runBatch: (batch: Q[]) => Promise<void>) {
    if (!(options.concurrency >= 1)) throw new Error(`concurrency must be >= 1, got ${options.concurrency}`);
    this.options = options;
    this.now = options.now ?? (() => performance.now());
    this.runBatch = runBatch;
  }

  /** users waiting for a model run */
  get depth(): number {
    return this.queuedUsers;
  }

  /** batches being run now */
  get inFlight(): number {
    return this.running;
  }

  submit(request: Q): void {
    if (this.queuedUsers + request.size > this.options.maxQueue) {
      request.reject(new OverloadError('queue-full', 1));
      return;
    }
    this.queue.push(request);
    this.queuedUsers += request.size;
    this.pump();
  }

  private get pending(): number {
    return this.queue.length - this.head;
  }

  private pump(): void {
    while (this.running < this.options.concurrency && this.pending > 0) {
      if (this.options.maxWaitUs > 0 && this.queuedUsers < this.options.maxBatch) {
        const until = this.queue[this.head].enqueuedAt + this.options.maxWaitUs / 1000;
        if (this.now() < until) {
          this.armWait(until);
          return;
        }
      }
      this.dispatch();
    }
    if (this.running === 0 && this.pending === 0) this.notifyIdle();
  }

  private armWait(until: number): void {
    this.waitUntil = until;
    if (this.waitArmed) return;
    this.waitArmed = true;
    const check = () => {
      const left = this.waitUntil - this.now();
      if (left > 0 && this.pending > 0 && this.queuedUsers < this.options.maxBatch) {
        if (left > FINE_WAIT_MS) setTimeout(check, Math.floor(left - FINE_WAIT_MS / 2));
        else setImmediate(check);
        return;
      }
      this.waitArmed = false;
      this.pump();
    };
    check();
  }

  private dispatch(): void {
    const now = this.now();
    const batch: Q[] = [];
    let users = 0;
    while (this.pending > 0) {
      const next = this.queue[this.head];
      if (now - next.enqueuedAt > this.options.deadlineMs) {
        this.take();
        next.reject(new OverloadError('deadline', 1));
        continue;
      }
      if (batch.length > 0 && users + next.size > this.options.maxBatch) break;
      this.take();
      batch.push(next);
      users += next.size;
    }
    if (batch.length === 0) return;
    this.running++;
    this.onBatch?.(users);
    this.runBatch(batch)
      .catch((err: Error) => { for (const r of batch) r.reject(err); })
      .finally(() => {
        this.running--;
        this.pump();
      });
  }

  private take(): void {
    const q = this.queue[this.head];
    this.queue[this.head] = undefined as unknown as Q;
    this.head++;
    this.queuedUsers -= q.size;
    // reset or compact now and then instead of shifting on every request
    if (this.head === this.queue.length) {
      this.queue.length = 0;
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
  }

  private notifyIdle(): void {
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }

  /** Resolves when nothing is queued or running (graceful shutdown, reload). */
  drain(): Promise<void> {
    if (this.running === 0 && this.pending === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }
}
