// A small progress bar for stderr. On a terminal it redraws one line (throttled); otherwise
// (logs, CI) it prints a line at each 25 % step so logs stay short.

export interface ProgressBar {
  /** Reports `done` units of `total` (total may be unknown). */
  update(done: number, total?: number): void;
  /** Ends the bar (prints the final state and a newline). */
  finish(): void;
}

export interface ProgressStream {
  write(s: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export interface ProgressOptions {
  stream?: ProgressStream;
  /** Units: 'bytes' shows MB and MB/s; 'items' shows counts. */
  unit?: 'bytes' | 'items';
  /** Minimum time between redraws on a terminal. */
  intervalMs?: number;
  now?: () => number;
}

function fmtAmount(n: number, unit: 'bytes' | 'items'): string {
  if (unit === 'items') return String(n);
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)} GB`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)} MB`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} kB`;
  return `${n} B`;
}

/** One progress line (pure: used by the bar and by tests). */
export function renderProgress(label: string, done: number, total: number | undefined, elapsedMs: number, width = 80, unit: 'bytes' | 'items' = 'bytes'): string {
  const rate = elapsedMs > 0 ? (done / elapsedMs) * 1000 : 0;
  const rateText = unit === 'bytes' ? `${fmtAmount(rate, 'bytes')}/s` : `${rate.toFixed(1)}/s`;
  if (total === undefined || total <= 0) return `${label} ${fmtAmount(done, unit)} ${rateText}`;
  const frac = Math.min(1, Math.max(0, done / total));
  const tail = ` ${(frac * 100).toFixed(0).padStart(3)}% ${fmtAmount(done, unit)}/${fmtAmount(total, unit)} ${rateText}`;
  const barWidth = Math.max(10, Math.min(40, width - label.length - tail.length - 3));
  const filled = Math.round(frac * barWidth);
  return `${label} [${'#'.repeat(filled)}${'.'.repeat(barWidth - filled)}]${tail}`;
}

export function progressBar(label: string, opts: ProgressOptions = {}): ProgressBar {
  const stream = opts.stream ?? process.stderr;
  const unit = opts.unit ?? 'bytes';
  const now = opts.now ?? Date.now;
  const tty = stream.isTTY === true;
  const interval = opts.intervalMs ?? 100;
  const t0 = now();
  let last = -Infinity;
  let lastStep = -1;
  let done = 0;
  let total: number | undefined;
  let finished = false;
  const line = (): string => renderProgress(label, done, total, now() - t0, stream.columns ?? 80, unit);
  return {
    update(d: number, t?: number): void {
      if (finished) return;
      done = d;
      if (t !== undefined) total = t;
      if (tty) {
        if (now() - last < interval) return;
        last = now();
        stream.write(`\r${line()}\x1b[K`);
      } else if (total) {
        const step = Math.floor((done / total) * 4);
        if (step > lastStep && step < 4) { lastStep = step; stream.write(`${line()}\n`); }
      }
    },
    finish(): void {
      if (finished) return;
      finished = true;
      stream.write(tty ? `\r${line()}\x1b[K\n` : `${line()}\n`);
    },
  };
}

/**
 * Progress for several files (hub downloads): one bar per file name, finished when it completes.
 * Returns a callback in the shape of HubOptions.onProgress.
 */
export function fileProgress(opts: ProgressOptions = {}): (p: { file: string; received: number; total: number | undefined }) => void {
  const bars = new Map<string, ProgressBar>();
  return ({ file, received, total }) => {
    let bar = bars.get(file);
    if (!bar) { bar = progressBar(file, opts); bars.set(file, bar); }
    bar.update(received, total);
    if (total !== undefined && received >= total) bar.finish();
  };
}
