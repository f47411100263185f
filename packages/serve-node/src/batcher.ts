/**
 * Micro-batching with a bounded queue: concurrent requests are run together (up to `maxBatch` users, waiting at
 * most `maxWaitUs` for company), one model run at a time. A full queue rejects at once, and a request still queued
 * after `deadlineMs` is rejected instead of run, so neither memory nor latency grows without bound.
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
  maxWaitUs: number;
  /** most users waiting (not counting the batch being run) */
  maxQueue: number;
  deadlineMs: number;
}

export class MicroBatcher<Q extends BatchRequest<R>, R> {
  private queue: Q[] = [];
  private queuedUsers = 0;
  private running = false;
  private timer: NodeJS.Timeout | null = null;
  private readonly options: BatcherOptions;
  private readonly runBatch: (batch: Q[]) => Promise<void>;
  private idleWaiters: (() => void)[] = [];
  onBatch?: (users: number) => void;

  constructor(options: BatcherOptions, runBatch: (batch: Q[]) => Promise<void>) {
    this.options = options;
    this.runBatch = runBatch;
  }

  get depth(): number {
    return this.queuedUsers;
  }

  submit(request: Q): void {
    if (this.queuedUsers + request.size > this.options.maxQueue) {
      request.reject(new OverloadError('queue-full', 1));
      return;
    }
    this.queue.push(request);
    this.queuedUsers += request.size;
    this.schedule();
  }

  private schedule(): void {
    if (this.running) return;
    if (this.queuedUsers >= this.options.maxBatch) {
      this.flush();
    } else if (!this.timer) {
      this.timer = setTimeout(() => this.flush(), Math.max(0, this.options.maxWaitUs / 1000));
    }
  }

  private flush(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    if (this.running || this.queue.length === 0) {
      if (!this.running) this.notifyIdle();
      return;
    }
    const now = performance.now();
    const batch: Q[] = [];
    let users = 0;
    while (this.queue.length > 0) {
      const next = this.queue[0];
      if (now - next.enqueuedAt > this.options.deadlineMs) {
        this.queue.shift();
        this.queuedUsers -= next.size;
        next.reject(new OverloadError('deadline', 1));
        continue;
      }
      if (batch.length > 0 && users + next.size > this.options.maxBatch) break;
      this.queue.shift();
      this.queuedUsers -= next.size;
      batch.push(next);
      users += next.size;
    }
    if (batch.length === 0) {
      this.notifyIdle();
      return;
    }
    this.running = true;
    this.onBatch?.(users);
    this.runBatch(batch)
      .catch((err: Error) => { for (const r of batch) r.reject(err); })
      .finally(() => {
        this.running = false;
        if (this.queue.length > 0) this.flush();
        else this.notifyIdle();
      });
  }

  private notifyIdle(): void {
    if (this.running || this.queue.length > 0) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }

  /** Resolves when nothing is queued or running (graceful shutdown, reload). */
  drain(): Promise<void> {
    if (!this.running && this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }
}
