import { describe, expect, it } from 'vitest';
import { fileProgress, progressBar, renderProgress } from '../../src/cli/progress.js';

function sink(isTTY: boolean): { stream: { write(s: string): boolean; isTTY: boolean; columns: number }; out: string[] } {
  const out: string[] = [];
  return { stream: { write: (s: string) => { out.push(s); return true; }, isTTY, columns: 100 }, out };
}

describe('progress bar', () => {
  it('renders a bar with percentage, amounts and rate', () => {
    expect(renderProgress('weights', 50_000_000, 100_000_000, 2000, 100)).toMatch(/^weights \[#{10,}\.{10,}\]  50% 50\.0 MB\/100\.0 MB 25\.0 MB\/s$/);
    expect(renderProgress('x', 1500, undefined, 1000)).toBe('x 1.5 kB 1.5 kB/s');
    expect(renderProgress('n', 3, 4, 1000, 80, 'items')).toMatch(/ 75% 3\/4 3\.0\/s$/);
    expect(renderProgress('over', 7, 4, 0, 80, 'items')).toMatch(/\[#+\] 100%/);
  });

  it('on a terminal redraws one line, throttled, and ends with a newline', () => {
    const { stream, out } = sink(true);
    let t = 0;
    const bar = progressBar('f', { stream, now: () => t, intervalMs: 100 });
    bar.update(1, 10); t = 50; bar.update(2, 10); t = 150; bar.update(3, 10);
    bar.finish(); bar.finish();
    expect(out.length).toBe(3);
    expect(out.every((s) => s.startsWith('\r'))).toBe(true);
    expect(out[2].endsWith('\n')).toBe(true);
  });

  it('in logs prints at most one line per quarter', () => {
    const { stream, out } = sink(false);
    const bar = progressBar('f', { stream, unit: 'items' });
    for (let i = 0; i <= 100; i++) bar.update(i, 100);
    bar.finish();
    expect(out.length).toBe(5); // 0 %, 25 %, 50 %, 75 %, and the final line
  });

  it('fileProgress keeps one bar per file and finishes each at its total', () => {
    const { stream, out } = sink(false);
    const cb = fileProgress({ stream });
    cb({ file: 'a', received: 0, total: 10 });
    cb({ file: 'b', received: 5, total: undefined });
    cb({ file: 'a', received: 10, total: 10 });
    expect(out.filter((s) => s.startsWith('a ')).length).toBe(2);
    expect(out.at(-1)).toMatch(/^a \[#+\] 100%/);
  });
});
