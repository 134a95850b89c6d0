// Benchmark harness: warm-up, repeated timed runs, median/min/max, rates. Writes the JSON shape
// documented for `echoclip bench` (docs/cli.md). Times are wall-clock around submit → GPU done,
// which is what a user waits for; the per-dispatch GPU profile is available separately.
import type { AdapterDescription, Gpu } from '../gpu/device.js';

export type Impl = 'echoclip' | 'onnxruntime-web' | 'onnxruntime-node' | 'tfjs' | 'pytorch-cpu' | 'pytorch';

export interface BenchCase {
  suite: string;
  name: string;
  shape: string;
  dtype: string;
  impl: Impl;
  variant: string;
  median_ms: number;
  min_ms: number;
  max_ms: number;
  gflops: number | null;
  gbps: number | null;
  peak_gpu_bytes: number | null;
  items_per_s?: number;
  /**
   * Dense ops: this case's GFLOP/s over the best square matmul measured in the same run at the
   * nearest FLOP count (what the kernels issue's "≥ 70 % of matmul" goal compares; the same run,
   * because software-adapter rates drift 2× with machine load).
   */
  vs_matmul?: number;
  /** Tower cases of `--suite gpu`: our items/s over PyTorch's best autocast eager items/s, same card and batch. */
  vs_pytorch?: number;
  repeats: number;
  /** Why this case has no numbers (a variant that failed to compile or run here). */
  error?: string;
}

export interface BenchReport {
  adapter: AdapterDescription;
  started: string;
  cases: BenchCase[];
}

export interface TimingOptions {
  warmup: number;
  repeats: number;
  /** Stop repeating once this much time was spent (keeps CPU-adapter runs bounded). */
  maxSeconds?: number;
}

export interface Timing {
  median_ms: number;
  min_ms: number;
  max_ms: number;
  repeats: number;
}

/** Seeded values in [-scale/2, scale/2) (a 32-bit LCG), so every benchmark input is reproducible. */
export function seeded(n: number, seed: number, scale = 1): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = (s / 2 ** 32 - 0.5) * scale;
  }
  return out;
}

export function summarize(samples: number[]): Timing {
  const s = [...samples].sort((a, b) => a - b);
  const mid = s.length >> 1;
  const median = s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
  return { median_ms: median, min_ms: s[0], max_ms: s[s.length - 1], repeats: s.length };
}

/** Times `run` (which records GPU work) until the GPU is done, `repeats` times after `warmup`. */
export async function timeGpu(gpu: Gpu, run: () => void | Promise<void>, opts: TimingOptions): Promise<Timing> {
  for (let i = 0; i < opts.warmup; i++) {
    await run();
    await gpu.sync();
  }
  const samples: number[] = [];
  const deadline = performance.now() + (opts.maxSeconds ?? Infinity) * 1000;
  for (let i = 0; i < opts.repeats; i++) {
    const t0 = performance.now();
    await run();
    await gpu.sync();
    samples.push(performance.now() - t0);
    if (performance.now() > deadline) break;
  }
  return summarize(samples);
}

function pct(r: number | undefined): string {
  return r === undefined ? '' : `${(100 * r).toFixed(0)} %`;
}

/** A plain-text table for stderr. */
export function formatTable(cases: readonly BenchCase[]): string {
  const head = ['suite', 'name', 'shape', 'dtype', 'impl', 'variant', 'median ms', 'min ms', 'GFLOP/s', 'GB/s', 'vs matmul'];
  const rows = cases.map((c) => [c.suite, c.name, c.shape, c.dtype, c.impl, c.variant, c.median_ms.toFixed(2), c.min_ms.toFixed(2), c.gflops?.toFixed(2) ?? '', c.gbps?.toFixed(2) ?? '', pct(c.vs_matmul)]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]) => r.map((v, i) => v.padEnd(widths[i])).join('  ');
  return [line(head), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

/** A Markdown table (README / bench/RESULTS.md). */
export function formatMarkdown(report: BenchReport): string {
  const a = report.adapter;
  const lines = [
    `Adapter: ${a.description} (${a.runtime}${a.fallback ? ', software' : ''}; features: ${a.features.filter((f) => ['shader-f16', 'subgroups', 'timestamp-query'].includes(f)).join(', ') || 'none'}) — ${report.started}`,
    '',
    '| suite | name | shape | dtype | impl | variant | median ms | min ms | GFLOP/s | GB/s | vs matmul |',
    '|---|---|---|---|---|---|---:|---:|---:|---:|---:|',
    ...report.cases.map((c) => `| ${c.suite} | ${c.name} | ${c.shape} | ${c.dtype} | ${c.impl} | ${c.variant} | ${c.median_ms.toFixed(2)} | ${c.min_ms.toFixed(2)} | ${c.gflops?.toFixed(2) ?? ''} | ${c.gbps?.toFixed(2) ?? ''} | ${pct(c.vs_matmul)} |`),
  ];
  return lines.join('\n') + '\n';
}
