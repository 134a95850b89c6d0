// Side-by-side runs: for each case, compute our result, then for every peer build its version,
// check it computes the same values (within the case's tolerance) and only then time it. A peer
// that cannot load, run or match gets a case with an `error` instead of numbers — never dropped.
// Every impl is timed the same way: one step = submit the work and wait until it is done (our
// kernels and TF.js: GPU done, inputs/outputs resident; ONNX Runtime: session.run, whose inputs and
// outputs pass through host memory; towers: host in → host out for everyone).
import type { Gpu } from '../../gpu/device.js';
import { summarize, type BenchCase, type Impl, type Timing, type TimingOptions } from '../harness.js';
import { createOrtSession, type Feed, type OrtImpl } from './ort.js';
import { loadTfWebGpu, type Tf } from './tfjs.js';

/** A bench case that may carry an equality check or an error in place of numbers. */
export type ReportCase = BenchCase & {
  /** Why this impl has no numbers (failed to load, run, or match our result). */
  error?: string;
  /** The equality check done before timing: max |peer − ours| and the allowed bound. */
  check?: { max_abs_diff: number; tolerance: number };
};

/** One implementation of a case, ready to step. */
export interface Runner {
  /** One timed iteration; resolves when the work is complete. */
  step(): Promise<void>;
  /** The last step's result on the host, in our layout. */
  output(): Promise<Float32Array>;
  release(): void | Promise<void>;
  /** Bytes of GPU memory this impl holds at its peak, where known. */
  peakBytes?(): number | null;
}

export interface OnnxVersion {
  model: Uint8Array;
  feeds: Feed[];
  /** Peer output → our layout (e.g. NCHW → NHWC). */
  toOurs?: (y: Float32Array) => Float32Array;
}

export interface PeerCase {
  suite: string;
  name: string;
  shape: string;
  dtype: string;
  /** Work per step, for GFLOP/s, GB/s and items/s. */
  flops?: number;
  bytes?: number;
  items?: number;
  /** Allowed max |Δ| relative to max(1, max |ours|). */
  rtol: number;
  ours(gpu: Gpu): Promise<Runner>;
  /** Variant label of our side (kernel family). */
  oursVariant: string;
  onnx?(): OnnxVersion | Promise<OnnxVersion>;
  tf?(tf: Tf): Runner | Promise<Runner>;
}

// PyTorch runs in its own process (src/bench/peers/pytorch.ts), not through comparePeers.
export type PeerImpl = Exclude<Impl, 'echoclip' | 'pytorch-cpu' | 'pytorch'>;
export const PEERS: readonly PeerImpl[] = ['onnxruntime-node', 'onnxruntime-web', 'tfjs'];

export interface CompareOptions {
  timing: TimingOptions;
  peers?: readonly PeerImpl[];
  log?: (line: string) => void;
}

/** Times `step` `repeats` times after `warmup` (bounded by maxSeconds). */
export async function timeSteps(step: () => Promise<void>, opts: TimingOptions): Promise<Timing> {
  for (let i = 0; i < opts.warmup; i++) await step();
  const samples: number[] = [];
  const deadline = performance.now() + (opts.maxSeconds ?? Infinity) * 1000;
  for (let i = 0; i < opts.repeats; i++) {
    const t0 = performance.now();
    await step();
    samples.push(performance.now() - t0);
    if (performance.now() > deadline) break;
  }
  return summarize(samples);
}

/** max |a − b| (Infinity on length mismatch or any NaN). */
export function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return Infinity;
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (!(d <= m)) m = Number.isNaN(d) ? Infinity : d;
  }
  return m;
}

function maxAbs(a: Float32Array): number {
  let m = 0;
  for (const v of a) m = Math.max(m, Math.abs(v));
  return m;
}

function ortRunner(impl: OrtImpl, v: OnnxVersion): Promise<Runner> {
  return createOrtSession(impl, v.model, 'webgpu').then((s) => {
    let last: Float32Array | null = null;
    return {
      async step() {
        last = await s.run(v.feeds);
      },
      async output() {
        if (!last) throw new Error('output() before step()');
        return v.toOurs ? v.toOurs(last) : last;
      },
      release: () => s.release(),
    };
  });
}

async function peerRunner(impl: PeerImpl, c: PeerCase): Promise<Runner | string> {
  if (impl === 'tfjs') {
    if (!c.tf) return 'no TF.js version of this case';
    return c.tf(await loadTfWebGpu());
  }
  if (!c.onnx) return 'no ONNX graph for this case';
  return ortRunner(impl, await c.onnx());
}

const peerVariant = (impl: PeerImpl) => (impl === 'tfjs' ? 'webgpu backend' : 'webgpu EP');

function message(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).split('\n')[0].slice(0, 300);
}

/**
 * Runs every case for us and each peer; returns one ReportCase per (case, impl). All impls of a
 * case are loaded and checked first, then timed in interleaved rounds (ours, peer 1, peer 2, …,
 * repeat), so a load change on a shared machine hits every impl alike instead of whichever
 * happened to run during it.
 */
export async function comparePeers(gpu: Gpu, cases: readonly PeerCase[], opts: CompareOptions): Promise<ReportCase[]> {
  const peers = opts.peers ?? PEERS;
  const log = opts.log ?? (() => undefined);
  const out: ReportCase[] = [];
  for (const c of cases) {
    const base = { suite: c.suite, name: c.name, shape: c.shape, dtype: c.dtype };
    const failed = (impl: Impl, variant: string, error: string): ReportCase => ({ ...base, impl, variant, median_ms: NaN, min_ms: NaN, max_ms: NaN, repeats: 0, gflops: null, gbps: null, peak_gpu_bytes: null, error });
    const live: { impl: Impl; variant: string; runner: Runner; check?: ReportCase['check'] }[] = [];
    const results = new Map<Impl, ReportCase>();
    try {
      let ref: Float32Array;
      try {
        const ours = await c.ours(gpu);
        live.push({ impl: 'echoclip', variant: c.oursVariant, runner: ours });
        await ours.step();
        ref = await ours.output();
      } catch (e) {
        // Without our result there is nothing to check the peers against: report and move on.
        out.push(failed('echoclip', c.oursVariant, `failed to run: ${message(e)}`));
        for (const impl of peers) out.push(failed(impl, peerVariant(impl), 'not run: echoclip failed, so there is no result to check against'));
        log(`${c.name} ${c.shape} echoclip: ${message(e)}`);
        continue;
      }
      const tol = c.rtol * Math.max(1, maxAbs(ref));
      for (const impl of peers) {
        const variant = peerVariant(impl);
        let runner: Runner | string;
        try {
          runner = await peerRunner(impl, c);
        } catch (e) {
          runner = `failed to load: ${message(e)}`;
        }
        if (typeof runner === 'string') {
          results.set(impl, failed(impl, variant, runner));
          log(`${c.name} ${c.shape} ${impl}: ${runner}`);
          continue;
        }
        try {
          await runner.step();
          const diff = maxAbsDiff(await runner.output(), ref);
          if (diff <= tol) {
            live.push({ impl, variant, runner, check: { max_abs_diff: diff, tolerance: tol } });
            continue;
          }
          results.set(impl, failed(impl, variant, `result differs from echoclip: max |Δ| = ${diff.toExponential(2)} > ${tol.toExponential(2)}`));
          log(`${c.name} ${c.shape} ${impl}: MISMATCH ${diff}`);
        } catch (e) {
          results.set(impl, failed(impl, variant, `failed to run: ${message(e)}`));
          log(`${c.name} ${c.shape} ${impl}: ${message(e)}`);
        }
        await runner.release();
      }
      const samples = await timeInterleaved(live, opts.timing, (impl, e) => {
        results.set(impl, failed(impl, live.find((l) => l.impl === impl)!.variant, `failed while timing: ${message(e)}`));
      });
      for (const l of live) {
        const got = samples.get(l.impl);
        if (!got || results.has(l.impl)) continue;
        const t = summarize(got);
        results.set(l.impl, {
          ...base, impl: l.impl, variant: l.variant, ...t,
          gflops: c.flops ? c.flops / (t.median_ms * 1e6) : null,
          gbps: c.bytes ? c.bytes / (t.median_ms * 1e6) : null,
          peak_gpu_bytes: l.runner.peakBytes?.() ?? null,
          ...(c.items ? { items_per_s: (c.items * 1000) / t.median_ms } : {}),
          ...(l.check ? { check: l.check } : {}),
        });
        log(`${c.name} ${c.shape} ${l.impl}: ${t.median_ms.toFixed(2)} ms${l.check ? ` (max |Δ| ${l.check.max_abs_diff.toExponential(1)})` : ''}`);
      }
      for (const impl of ['echoclip' as const, ...peers]) {
        const r = results.get(impl);
        if (r) out.push(r);
      }
    } finally {
      for (const l of live) await l.runner.release();
    }
  }
  return out;
}

/**
 * Warm-up, then rounds of one timed step per live impl until `repeats` rounds are done or
 * `maxSeconds` has passed (at least one round). An impl that throws leaves the rotation.
 */
async function timeInterleaved(live: readonly { impl: Impl; runner: Runner }[], opts: TimingOptions, onError: (impl: Impl, e: unknown) => void): Promise<Map<Impl, number[]>> {
  const samples = new Map<Impl, number[]>(live.map((l) => [l.impl, []]));
  let active = [...live];
  const drop = (impl: Impl, e: unknown) => {
    onError(impl, e);
    samples.delete(impl);
    active = active.filter((l) => l.impl !== impl);
  };
  for (const l of [...active]) {
    try {
      for (let i = 0; i < opts.warmup; i++) await l.runner.step();
    } catch (e) {
      drop(l.impl, e);
    }
  }
  const deadline = performance.now() + (opts.maxSeconds ?? Infinity) * 1000;
  for (let r = 0; r < opts.repeats && active.length; r++) {
    for (const l of [...active]) {
      try {
        const t0 = performance.now();
        await l.runner.step();
        samples.get(l.impl)!.push(performance.now() - t0);
      } catch (e) {
        drop(l.impl, e);
      }
    }
    if (performance.now() > deadline) break;
  }
  return samples;
}
