/**
 * A progress bar on stderr. It draws only on a terminal (pipes and CI logs stay clean) and only once a task has
 * run for `delayMs`, so short work prints nothing.
 */
export class Progress {
  private readonly label: string;
  private readonly total: number;
  private readonly started = performance.now();
  private lastDraw = 0;
  private drawn = false;
  private readonly enabled: boolean;
  private readonly delayMs: number;

  constructor(label: string, total: number, options: { enabled?: boolean; delayMs?: number } = {}) {
    this.label = label;
    this.total = total;
    this.enabled = options.enabled ?? (Boolean(process.stderr.isTTY) && !process.env.CI);
    this.delayMs = options.delayMs ?? 2000;
  }

  update(done: number, suffix = ''): void {
    if (!this.enabled) return;
    const now = performance.now();
    if (now - this.started < this.delayMs || now - this.lastDraw < 100) return;
    this.lastDraw = now;
    this.drawn = true;
    const width = 30;
    const frac = this.total > 0 ? Math.min(1, done / this.total) : 0;
    const filled = Math.round(frac * width);
    const elapsed = (now - this.started) / 1000;
    const eta = frac > 0 ? elapsed / frac - elapsed : 0;
    process.stderr.write(
      `\r${this.label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${this.total} ${elapsed.toFixed(1)}s eta ${eta.toFixed(0)}s ${suffix}\x1b[K`,
    );
  }

  done(): void {
    if (this.enabled && this.drawn) process.stderr.write('\r\x1b[K');
  }
}
