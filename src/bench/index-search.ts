// `echoclip index bench`: archive-scale numbers on synthetic f16 embeddings — index write
// throughput (clips/s through the atomic shard + manifest writer), index load time, and exact
// top-k search latency (GEMM over f16 chunks streamed to the GPU + host merge) at 10 k / 100 k /
// 1 M clips — with peak host memory. Writes JSON (default bench/index-search.json) and a table.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { UsageError } from '../errors.js';
import { requestDevice } from '../gpu/device.js';
import { toF16Array } from '../gpu/dtype.js';
import { INDEX_FORMAT, INDEX_VERSION, type IndexHeader } from '../index-archive/format.js';
import { topK } from '../index-archive/search.js';
import { IndexWriter, gatherVectors, openIndex } from '../index-archive/store-node.js';
import { flagInt, flagString, parseArgs } from '../cli/args.js';

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296 - 0.5;
  };
}

/** `rows` synthetic f16 embeddings: a random 64 k-row block repeated (the GEMM work is the same). */
export function syntheticF16(rows: number, dim: number, seed = 1): Uint16Array {
  const blockRows = Math.min(rows, 65536);
  const r = rng(seed);
  const block = toF16Array(Float32Array.from({ length: blockRows * dim }, r));
  const out = new Uint16Array(rows * dim);
  for (let o = 0; o < out.length; o += block.length) out.set(block.subarray(0, Math.min(block.length, out.length - o)), o);
  return out;
}

let peak = 0;
function sampleMemory(): number {
  const m = process.memoryUsage();
  peak = Math.max(peak, m.rss);
  return m.rss;
}

async function time(fn: () => Promise<unknown>, repeats: number): Promise<{ median: number; min: number; max: number }> {
  const t: number[] = [];
  for (let i = 0; i < repeats; i++) {
    const t0 = performance.now();
    await fn();
    t.push(performance.now() - t0);
    sampleMemory();
  }
  t.sort((a, b) => a - b);
  return { median: t[t.length >> 1]!, min: t[0]!, max: t[t.length - 1]! };
}

export async function indexBenchCommand(argv: string[]): Promise<number> {
  const args = parseArgs(argv, { sizes: 'value', dim: 'value', top: 'value', queries: 'value', repeats: 'value', 'write-clips': 'value', device: 'value', out: 'value', help: 'switch' }, 'index bench');
  if (args.flags.has('help')) {
    process.stdout.write('usage: echoclip index bench [--sizes 10000,100000,1000000] [--dim 512] [--queries 1] [--top 10] [--repeats 3] [--write-clips 2000] [--device D] [--out bench/index-search.json]\n');
    return 0;
  }
  const sizes = (flagString(args, 'sizes') ?? '10000,100000,1000000').split(',').map(Number);
  if (sizes.some((n) => !Number.isInteger(n) || n < 1)) throw new UsageError('--sizes', 'must be positive integers separated by commas');
  const D = flagInt(args, 'dim', 'index bench', 512);
  const Q = flagInt(args, 'queries', 'index bench', 1);
  const K = flagInt(args, 'top', 'index bench', 10);
  const repeats = flagInt(args, 'repeats', 'index bench', 3);
  const writeClips = flagInt(args, 'write-clips', 'index bench', 2000);
  const gpu = await requestDevice({ adapter: flagString(args, 'device') });
  const cases: Record<string, unknown>[] = [];
  try {
    // Write path: 16 frames per clip, 256 clips per shard file (the default --flush-every).
    const dir = await mkdtemp(path.join(tmpdir(), 'echoclip-index-bench-'));
    try {
      const header: IndexHeader = { format: INDEX_FORMAT, version: INDEX_VERSION, kind: 'clips', model: { weightsSha256: 'bench', weightDtype: 'f32', embedDim: D }, preprocessing: { frames: '0:32:2', trueRgb: false, imageSize: 224 }, storage: 'f16', patientSaltId: null };
      const w = await IndexWriter.open(dir, header, { resume: false, tag: 'clips' });
      const r = rng(7);
      const frames = Float32Array.from({ length: 16 * D }, r);
      const video = frames.subarray(0, D);
      const t0 = performance.now();
      for (let i = 0; i < writeClips; i++) {
        w.add({ type: 'clip', path: `clip-${String(i).padStart(7, '0')}.avi`, size: 1, mtimeMs: 0, sha256: '0'.repeat(64), frames: 16 }, { frames, video });
        if (w.pendingCount >= 256) await w.flush();
      }
      await w.flush();
      const writeMs = performance.now() - t0;
      const t1 = performance.now();
      const idx = await openIndex(dir);
      await gatherVectors(idx, idx.clips);
      const loadMs = performance.now() - t1;
      cases.push({ name: 'index write (storage only, 16 frames/clip)', clips: writeClips, ms: writeMs, clips_per_s: (writeClips * 1000) / writeMs });
      cases.push({ name: 'index open + load clip vectors', clips: writeClips, ms: loadMs, clips_per_s: (writeClips * 1000) / loadMs });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    for (const n of sizes) {
      const cand = { data: syntheticF16(n, D, n), rows: n, dim: D };
      const q = Float32Array.from({ length: Q * D }, rng(3));
      sampleMemory();
      await topK(gpu, q, cand, K); // warm-up: pipeline compile, pool
      const t = await time(() => topK(gpu, q, cand, K), repeats);
      cases.push({ name: 'search top-k (exact, GEMM over f16 chunks)', clips: n, dim: D, queries: Q, top: K, median_ms: t.median, min_ms: t.min, max_ms: t.max, clips_per_s: (n * 1000) / t.median, candidate_bytes: cand.data.byteLength, rss_bytes: sampleMemory() });
      process.stderr.write(`index bench: ${n} clips: search ${t.median.toFixed(1)} ms (median of ${repeats})\n`);
    }
  } finally {
    gpu.destroy();
  }
  const report = { suite: 'index', adapter: gpu.adapter, f16: gpu.f16, started: new Date().toISOString(), peak_rss_bytes: peak, cases };
  const out = flagString(args, 'out') ?? 'bench/index-search.json';
  await writeFile(out, JSON.stringify(report, null, 2) + '\n');
  for (const c of cases) process.stdout.write(`${String(c.name).padEnd(46)} ${String(c.clips).padStart(8)}  ${c.median_ms !== undefined ? `${(c.median_ms as number).toFixed(1)} ms` : `${(c.clips_per_s as number).toFixed(0)} clips/s`}\n`);
  process.stdout.write(`peak RSS ${(peak / 2 ** 20).toFixed(0)} MiB → ${out}\n`);
  return 0;
}
