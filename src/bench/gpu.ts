// `echoclip bench --suite gpu`: what a real GPU is worth, in one budgeted run. Cases in order of
// importance — the towers (with PyTorch on the same card right after them), end-to-end zero-shot,
// square matmul, every kernel variant side by side (the variant table), the dense ops at a real batch, a per-kernel GPU-time breakdown of one image-tower
// pass, the training step — each started only if the time left covers its estimate, so a cut run
// still has what matters most and lists the rest under `skipped`. On software adapters every size
// shrinks (matmul 256³, towers at batch 1, text 1–2) so CI can run it in about a minute.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Gpu } from '../gpu/device.js';
import type { ProfileRecord } from '../gpu/recorder.js';
import { parseSafetensors } from '../io/safetensors.js';
import type { GemmMath } from '../kernels/gemm/index.js';
import { EchoClipModel } from '../models/clip.js';
import type { ClipConfig } from '../models/config.js';
import type { WeightDType } from '../models/parameters.js';
import type { Precision } from '../autograd/tape.js';
import { escapeXml } from './chart.js';
import { benchE2e } from './e2e.js';
import { formatMarkdown, type BenchCase, type TimingOptions } from './harness.js';
import { benchDepthwise, benchDepthwiseLayerNorm, benchLinear, benchPatchConv, LINEAR_CASES } from './kernels-dense.js';
import { benchMatmul, benchVariants } from './kernels.js';
import { benchAttention, benchAvgPool, benchL2Norm, benchLayerNorm, benchSoftmax } from './kernels-misc.js';
import { prepareTuning, TuningTable, type TuningEntry } from '../kernels/tuning.js';
import { timeSteps, type ReportCase } from './peers/compare.js';
import { benchZeroShotEf } from './peers/e2e.js';
import { featureError, probePytorch, writeModelFiles, type PytorchPeer, type TorchBenchCase, type TorchInfo } from './peers/pytorch.js';
import type { PeerReport, Skipped } from './peers/report.js';
import { benchPixels, benchPrompts, TOWER_RTOL } from './peers/tower-cases.js';
import { syntheticWeights } from './synthetic.js';
import { benchTrain } from './train.js';

export const SUITE = 'gpu';

/** Sizes the issue asks for on a real GPU, and what a software adapter runs instead. */
export interface GpuSizes {
  matmul: number[];
  imageBatches: number[];
  textBatches: number[];
  /** Frames of the zero-shot clip. */
  e2eFrames: number;
  /** Batch of the dense-op cases (image rows = 56²·batch, text rows = 77·textBatch). */
  denseImageBatch: number;
  denseTextBatch: number;
  breakdownFrames: number;
  trainBatches: number[];
}

export const GPU_SIZES: Readonly<GpuSizes> = { matmul: [1024, 2048, 4096, 8192], imageBatches: [1, 20, 64, 256], textBatches: [1, 202, 553, 1024], e2eFrames: 20, denseImageBatch: 64, denseTextBatch: 202, breakdownFrames: 64, trainBatches: [32, 128] };
export const SOFTWARE_SIZES: Readonly<GpuSizes> = { matmul: [256], imageBatches: [1], textBatches: [1], e2eFrames: 1, denseImageBatch: 1, denseTextBatch: 1, breakdownFrames: 1, trainBatches: [2] };

export type Group = 'towers' | 'pytorch' | 'e2e' | 'matmul' | 'variants' | 'dense' | 'breakdown' | 'train';

/** One step of the suite: what it is, how long it is expected to take, and the work. */
export interface PlanItem {
  group: Group;
  what: string;
  /** Seconds it is expected to take; the item is skipped when less than that is left. */
  estimateS: number;
  run: () => Promise<ReportCase[]>;
  /** Clean-up (releasing models) runs whatever the time left. */
  always?: boolean;
}

/** Time left and the order of work; separate from the cases so the ordering is testable alone. */
export async function runPlan(items: readonly PlanItem[], deadline: number, log: (l: string) => void, now: () => number = () => performance.now(), live?: { cases: ReportCase[]; skipped: Skipped[] }): Promise<{ cases: ReportCase[]; skipped: Skipped[]; ran: string[] }> {
  const { cases, skipped } = live ?? { cases: [] as ReportCase[], skipped: [] as Skipped[] };
  const ran: string[] = [];
  for (const item of items) {
    const left = (deadline - now()) / 1000;
    if (!item.always && left < item.estimateS) {
      skipped.push({ what: `${item.group}: ${item.what}`, why: `time budget: ${Math.max(0, left).toFixed(0)} s left, ~${item.estimateS.toFixed(0)} s needed` });
      continue;
    }
    const t0 = now();
    try {
      cases.push(...(await item.run()));
      ran.push(`${item.group}: ${item.what}`);
    } catch (e) {
      // One failure (an out-of-memory batch, a driver error) must not cost the rest of the run.
      skipped.push({ what: `${item.group}: ${item.what}`, why: `failed: ${(e instanceof Error ? e.message : String(e)).split('\n')[0].slice(0, 300)}` });
    }
    log(`${item.group}: ${item.what}: ${((now() - t0) / 1000).toFixed(1)} s`);
  }
  return { cases, skipped, ran };
}

export interface GpuSuiteOptions {
  budgetS: number;
  timing: TimingOptions;
  config: ClipConfig;
  log: (line: string) => void;
  /** Inputs for the CLI-path zero-shot (cold/warm prompt cache, EF and all 16 tasks). */
  e2e?: { video: string; prompts: string; vocab: string };
  /** Overrides the sizes (tests). */
  sizes?: Partial<GpuSizes>;
  /** Arrays the run appends to as it goes, so an interrupted caller can still write what finished. */
  live?: { cases: ReportCase[]; skipped: Skipped[] };
}

/** One row of the per-kernel breakdown: total GPU time of a kernel label over one pass. */
export interface KernelShare {
  kernel: string;
  calls: number;
  ms: number;
  share: number;
}

/** Card, driver and runtime as the machine names them. */
export interface GpuMachineInfo {
  /** `nvidia-smi` name and driver version, where the tool exists. */
  nvidia_smi: string | null;
  node: string;
  pytorch: TorchInfo | null;
  pytorch_reason: string | null;
}

export interface GpuReport extends PeerReport {
  suite: 'gpu';
  budget_s: number;
  sizes: GpuSizes;
  machine_info: GpuMachineInfo;
  breakdown: { frames: number; total_ms: number; kernels: KernelShare[] } | null;
  /** The kernel choices tuned for this adapter (the cache file's entries, with every variant's time). */
  tuning?: { cache: string | null; entries: TuningEntry[] } | null;
}

/** Sums the profile per kernel label, largest first. */
export function kernelBreakdown(records: readonly ProfileRecord[]): KernelShare[] {
  const by = new Map<string, { calls: number; ms: number }>();
  for (const r of records) {
    const e = by.get(r.label) ?? { calls: 0, ms: 0 };
    e.calls++;
    e.ms += r.ms;
    by.set(r.label, e);
  }
  const total = [...by.values()].reduce((a, e) => a + e.ms, 0);
  return [...by.entries()].map(([kernel, e]) => ({ kernel, calls: e.calls, ms: e.ms, share: total > 0 ? e.ms / total : 0 })).sort((a, b) => b.ms - a.ms);
}

/** The PyTorch number a tower case is held to: the best autocast (f16/bf16) eager configuration. */
export function bestAutocastEager(cases: readonly ReportCase[], name: string, shape: string): ReportCase | null {
  const pool = cases.filter((c) => c.impl === 'pytorch' && c.name === name && c.shape === shape && !c.error && c.items_per_s && /^autocast/.test(c.dtype) && !/compile/.test(c.variant));
  return pool.length ? pool.reduce((a, b) => (b.items_per_s! > a.items_per_s! ? b : a)) : null;
}

/** Sets vs_pytorch on each of our tower cases that has a PyTorch autocast number. */
export function attachVsPytorch(cases: readonly ReportCase[]): ReportCase[] {
  return cases.map((c) => {
    if (c.impl !== 'echoclip' || !/_tower$/.test(c.name) || !c.items_per_s) return c;
    const peer = bestAutocastEager(cases, c.name, c.shape);
    return peer ? { ...c, vs_pytorch: c.items_per_s / peer.items_per_s! } : c;
  });
}

function nvidiaSmi(): Promise<string | null> {
  return new Promise((resolve) => {
    execFile('nvidia-smi', ['--query-gpu=name,driver_version', '--format=csv,noheader'], { timeout: 10_000 }, (err, stdout) => resolve(err ? null : stdout.trim().split('\n')[0] || null));
  });
}

const towerShape = (tower: 'image' | 'text', n: number, c: ClipConfig) => (tower === 'image' ? `${n}x3x${c.vision.imageSize}x${c.vision.imageSize}` : `${n}x${c.text.contextLength}`);

/** Our f32 features of each tower's smallest batch, kept to check PyTorch's against. */
type Refs = Map<string, Float32Array>;

function towerItems(gpu: Gpu, s: GpuSizes, opts: GpuSuiteOptions, refs: Refs): { f32: PlanItem[]; f16: PlanItem[]; release: PlanItem } {
  const soft = gpu.adapter.fallback;
  const config = opts.config;
  const source = syntheticWeights(config);
  let held: { key: string; model: EchoClipModel } | null = null;
  const model = async (dtype: WeightDType, math: GemmMath) => {
    if (held?.key === `${dtype}/${math}`) return held.model;
    held?.model.release();
    held = null;
    gpu.pool.trim();
    held = { key: `${dtype}/${math}`, model: await EchoClipModel.load(gpu, source, config, { dtype, math }) };
    return held.model;
  };
  const items: PlanItem[] = [];
  // f32; f16 weights with f32 math (exact products); on real GPUs also f16 math (autocast-like: the
  // f16-arithmetic GEMMs, PyTorch autocast's semantics).
  const configs: [WeightDType, GemmMath][] = gpu.f16 ? [['f32', 'f32'], ['f16', 'f32'], ...(soft ? [] : [['f16', 'f16'] as [WeightDType, GemmMath]])] : [['f32', 'f32']];
  // Interleaved by batch (text 1, image 1, text 202, image 20, …) so a cut run keeps both towers.
  const order: ['image' | 'text', number][] = [];
  for (let i = 0; i < Math.max(s.imageBatches.length, s.textBatches.length); i++) {
    if (i < s.textBatches.length) order.push(['text', s.textBatches[i]]);
    if (i < s.imageBatches.length) order.push(['image', s.imageBatches[i]]);
  }
  for (const [dtype, math] of configs) {
    const label = math === 'f16' ? `${dtype} weights, f16 math` : `${dtype} weights`;
    for (const [tower, n] of order) {
      // Software (lavapipe, 2 shared cores): ~17 s per frame, ~2 s per prompt, plus a model load.
      const estimateS = soft ? (tower === 'image' ? 18 * n : 2 * n) + 3 : tower === 'image' ? 2 + n * 0.05 : 2 + n * 0.01;
      items.push({
        group: 'towers', what: `${tower} tower ${towerShape(tower, n, config)} ${label}`, estimateS,
        async run() {
          const m = await model(dtype, math);
          const x = tower === 'image' ? benchPixels(n, config.vision.imageSize) : benchPrompts(n, config.text.contextLength);
          let out: Float32Array | null = null;
          // One pass of exactly n items (the batch named in the case), not the default micro-batch.
          const step = async () => void (out = tower === 'image' ? await m.encodeImages(x as Float32Array, { microBatch: n }) : await m.encodeTexts(x as Int32Array, { microBatch: n }));
          gpu.pool.resetPeak();
          // Software adapters: one call, timed (pipeline compilation is cached WGSL + a fraction of
          // the ~17 s a frame takes there); GPUs: a compiling call, then warm-up and timed repeats.
          if (!soft) await step();
          const t = await timeSteps(step, soft ? { warmup: 0, repeats: 1 } : opts.timing);
          if (dtype === 'f32' && math === 'f32' && n === Math.min(...(tower === 'image' ? s.imageBatches : s.textBatches))) refs.set(`${tower}_b${n}`, out!);
          return [{ suite: SUITE, name: `${tower}_tower`, shape: towerShape(tower, n, config), dtype: math === 'f16' ? 'f16 math' : dtype, impl: 'echoclip', variant: soft ? `${gpu.kernelProfile}, first call` : gpu.kernelProfile, ...t, gflops: null, gbps: null, peak_gpu_bytes: gpu.pool.peakBytes, items_per_s: (n * 1000) / t.median_ms }];
        },
      });
    }
  }
  const release: PlanItem = { group: 'towers', what: 'release the tower model', estimateS: 0, always: true, run: async () => (held?.model.release(), (held = null), gpu.pool.trim(), []) };
  return { f32: items.filter((i) => i.what.endsWith('f32 weights')), f16: items.filter((i) => i.what.includes('f16 weights')), release };
}

function pytorchItem(gpu: Gpu, s: GpuSizes, opts: GpuSuiteOptions, peer: PytorchPeer, refs: Refs, deadline: number, skipped: Skipped[]): PlanItem {
  const soft = gpu.adapter.fallback;
  const config = opts.config;
  const cuda = peer.info.cuda;
  // CPU torch (CI, dev machines): f32 eager at the smallest batches only, to exercise the path.
  const imageBatches = cuda ? s.imageBatches : [Math.min(...s.imageBatches)];
  const textBatches = cuda ? s.textBatches : s.textBatches.slice(0, 2);
  return {
    group: 'pytorch', what: `PyTorch ${peer.info.torch} on ${cuda ? peer.info.device_name : 'CPU'}: image ${imageBatches.join('/')}, text ${textBatches.join('/')}`,
    // Full size on CPU torch: ~10 s to write the 606 MB file, ~10 s to load it, then the cases.
    estimateS: soft || !cuda ? 30 : 60,
    async run() {
      const files = await writeModelFiles(syntheticWeights(config), config, 'F32');
      const refDir = await mkdtemp(path.join(tmpdir(), 'echoclip-torch-ref-'));
      try {
        const refOut = path.join(refDir, 'ref.safetensors');
        // The script's budget covers its cases (it starts counting after loading the weights).
        const budget = Math.max(10, (deadline - performance.now()) / 1000 - 15);
        opts.log(`pytorch: bench within ${budget.toFixed(0)} s`);
        const r = await peer.bench(files, { image_batches: imageBatches, text_batches: textBatches, budget_s: budget, warmup: cuda ? 3 : 0, repeats: cuda ? 20 : 1, case_s: cuda ? 8 : 20, ref_out: refOut }, { timeoutMs: (budget + 120) * 1000 });
        const theirs = await parseSafetensors(new Uint8Array(await readFile(refOut).catch(() => new Uint8Array())), refOut).catch(() => null);
        // PyTorch's f32 result vs ours on the same inputs: a mismatch means its numbers are not
        // of the same computation, so they are reported as an error, never as a ratio.
        const mismatch = new Map<string, string>();
        const agreement = new Map<string, { max_abs_diff: number; tolerance: number }>();
        for (const [key, ours] of refs) {
          const t = theirs?.get(key) ? ((await theirs.read(key)).data as Float32Array) : undefined;
          const tower = key.split('_')[0];
          if (!t) { mismatch.set(tower, `no PyTorch f32 reference for ${key}`); continue; }
          const e = featureError(t, ours);
          if (e.maxRel <= TOWER_RTOL) agreement.set(tower, { max_abs_diff: e.maxAbs, tolerance: TOWER_RTOL * e.scale });
          else mismatch.set(tower, `PyTorch f32 differs from echoclip: max |Δ| / max(1, max |ours|) = ${e.maxRel.toExponential(2)} > ${TOWER_RTOL}`);
        }
        for (const k of r.skipped) {
          opts.log(`pytorch skipped ${k.what}: ${k.why}`);
          skipped.push({ what: `pytorch: ${k.what.replace(/^pytorch /, '')}`, why: k.why });
        }
        return r.cases.map((c) => torchCase(c, config, r.device, mismatch.get(c.tower), agreement.get(c.tower)));
      } finally {
        await files.release();
        await rm(refDir, { recursive: true, force: true });
      }
    },
  };
}

/** A PyTorch case also carries its configuration's error against PyTorch f32 on the same inputs. */
export type GpuCase = ReportCase & { rel_err_vs_torch_f32?: number };

function torchCase(c: TorchBenchCase, config: ClipConfig, device: string, mismatch: string | undefined, check: { max_abs_diff: number; tolerance: number } | undefined): GpuCase {
  const dtype = c.precision === 'f32' ? 'f32' : `autocast ${c.precision}`;
  const base = { suite: SUITE, name: `${c.tower}_tower`, shape: towerShape(c.tower, c.batch, config), dtype, impl: 'pytorch' as const, variant: `${c.variant} (${device})`, gflops: null, gbps: null, peak_gpu_bytes: null };
  const error = c.error ?? mismatch;
  if (error || c.median_ms === undefined) return { ...base, median_ms: NaN, min_ms: NaN, max_ms: NaN, repeats: 0, error: error ?? 'no timing' };
  return {
    ...base, median_ms: c.median_ms, min_ms: c.min_ms!, max_ms: c.max_ms!, repeats: c.repeats!, items_per_s: c.items_per_s,
    // f32: the check against ours; every configuration: its error against PyTorch f32.
    ...(check && c.precision === 'f32' ? { check } : {}),
    rel_err_vs_torch_f32: c.rel_err,
  };
}

function e2eItems(gpu: Gpu, s: GpuSizes, opts: GpuSuiteOptions): PlanItem[] {
  const soft = gpu.adapter.fallback;
  const items: PlanItem[] = [{
    group: 'e2e', what: `zero-shot EF, 1 clip x ${s.e2eFrames} frames, cached prompts`, estimateS: soft ? 30 * s.e2eFrames + 10 : 10,
    run: async () => (await benchZeroShotEf(gpu, opts.config, { frames: s.e2eFrames, timing: soft ? { warmup: 0, repeats: 1, maxSeconds: 20 } : opts.timing, log: opts.log })).map((c) => ({ ...c, suite: SUITE })),
  }];
  if (soft) return items; // the CLI path decodes 20 frames: minutes on a software adapter
  if (opts.e2e) {
    items.push({ group: 'e2e', what: 'zero-shot through the CLI: EF and all 16 tasks, cold and warm prompt cache', estimateS: 60, run: async () => (await benchE2e(gpu, { ...opts.e2e!, log: opts.log, taskSets: ['ejection_fraction', 'all'] })).map((c) => ({ ...c, suite: SUITE })) });
  }
  return items;
}

function kernelItems(gpu: Gpu, s: GpuSizes, opts: GpuSuiteOptions): PlanItem[] {
  const soft = gpu.adapter.fallback;
  const t = opts.timing;
  const mark = (cases: BenchCase[], name?: (c: BenchCase) => string) => cases.map((c) => ({ ...c, suite: SUITE, ...(name ? { name: name(c) } : {}) }));
  const items: PlanItem[] = s.matmul.map((n) => ({
    group: 'matmul' as const, what: `square matmul ${n}³ (f32${gpu.f16 ? ', f16 storage' : ''})`, estimateS: soft ? 4 : 2 + (n / 4096) ** 3 * 4,
    // linear with no epilogue = x·Wᵀ, the matmul the towers run, in every storage dtype.
    run: async () => mark(await benchLinear(gpu, t, [{ label: `${n}³`, rows: n, inF: n, outF: n, epilogue: 'none' }]), () => 'matmul'),
  }));
  const scaled = LINEAR_CASES.map((c) => {
    const batch = c.label.startsWith('text') ? s.denseTextBatch : s.denseImageBatch;
    return { ...c, rows: c.rows * batch, label: `${c.label} x${batch}` };
  });
  items.push({ group: 'dense', what: `linear layers at batch ${s.denseImageBatch} frames / ${s.denseTextBatch} prompts`, estimateS: soft ? 15 : 10, run: async () => mark(await benchLinear(gpu, t, scaled)) });
  const b = s.denseImageBatch;
  items.push({ group: 'dense', what: `patchify convolutions (stem, downsamples), batch ${b}`, estimateS: soft ? 10 * b : 5, run: async () => mark(await benchPatchConv(gpu, t, b)) });
  items.push({ group: 'dense', what: `7x7 depthwise convolution per stage, batch ${b}`, estimateS: soft ? 25 * b : 5, run: async () => mark(await benchDepthwise(gpu, t, undefined, b)) });
  return items;
}

/**
 * Every variant of every family side by side (the kernel-variant table, experimental ones when
 * enabled), at the suite's sizes: square matmul up to 4096³ in f32 and f16 storage, the row
 * kernels and attention at the text batch, depthwise (+ LayerNorm) at the image batch; each row
 * carries its variant's name.
 */
function variantItems(gpu: Gpu, s: GpuSizes, opts: GpuSuiteOptions): PlanItem[] {
  const soft = gpu.adapter.fallback;
  const t = opts.timing;
  const mark = (cases: BenchCase[]) => cases.map((c) => ({ ...c, suite: SUITE }));
  const n = (f: Parameters<typeof benchVariants>[1]) => benchVariants(gpu, f, false).length;
  const sizes = s.matmul.filter((m) => m <= 4096);
  const P = s.denseTextBatch, B = s.denseImageBatch;
  return [
    {
      group: 'variants', what: `matmul ${sizes.join('/')}³, every variant (${benchVariants(gpu, 'matmul', false).map((v) => v.name).join(', ')})`,
      estimateS: (gpu.f16 ? 2 : 1) * n('matmul') * (soft ? 4 : sizes.reduce((a, m) => a + 1 + (m / 4096) ** 3 * 4, 0)),
      run: async () => mark(await benchMatmul(gpu, sizes, benchVariants(gpu, 'matmul', false), t, SUITE)),
    },
    {
      group: 'variants', what: `layernorm, softmax, attention, pooling, l2norm at ${P} prompts / ${B} frames, every variant`,
      estimateS: soft ? 30 : 15,
      run: async () => mark([
        ...(await benchLayerNorm(gpu, t, benchVariants(gpu, 'layernorm', false))),
        ...(await benchSoftmax(gpu, t, [P], benchVariants(gpu, 'softmax', false))),
        ...(await benchAttention(gpu, t, [P], benchVariants(gpu, 'attention', false))),
        ...(await benchAvgPool(gpu, t, benchVariants(gpu, 'pooling', false), [[B, P]])),
        ...(await benchL2Norm(gpu, t, benchVariants(gpu, 'l2norm', false), [P])),
      ]),
    },
    {
      group: 'variants', what: `7x7 depthwise and depthwise + LayerNorm at batch ${B}, every variant`,
      estimateS: soft ? 60 * B : 10,
      run: async () => mark([...(await benchDepthwise(gpu, t, benchVariants(gpu, 'depthwise', false), B)), ...(await benchDepthwiseLayerNorm(gpu, t, benchVariants(gpu, 'depthwise-layernorm', false), B))]),
    },
  ];
}

function breakdownItem(gpu: Gpu, s: GpuSizes, opts: GpuSuiteOptions, sink: (b: GpuReport['breakdown']) => void): PlanItem {
  const soft = gpu.adapter.fallback;
  const n = s.breakdownFrames;
  return {
    group: 'breakdown', what: `per-kernel GPU time of one image-tower pass at ${n} frames (timestamp queries)`, estimateS: soft ? 25 * n + 10 : 15,
    async run() {
      if (!gpu.adapter.features.includes('timestamp-query')) throw new Error('the adapter has no timestamp-query');
      const m = await EchoClipModel.load(gpu, syntheticWeights(opts.config), opts.config, { dtype: gpu.f16 ? 'f16' : 'f32' });
      try {
        const px = benchPixels(n, opts.config.vision.imageSize);
        await m.encodeImages(px, { microBatch: n }); // compiles outside the profiled pass
        const records = await gpu.profile(async () => void (await m.encodeImages(px, { microBatch: n })));
        if (!records) throw new Error('timestamp queries unavailable on this device');
        const kernels = kernelBreakdown(records);
        const total = kernels.reduce((a, k) => a + k.ms, 0);
        sink({ frames: n, total_ms: total, kernels });
        opts.log(`breakdown: ${records.length} dispatches, ${total.toFixed(1)} ms GPU; top: ${kernels.slice(0, 3).map((k) => `${k.kernel} ${(100 * k.share).toFixed(0)} %`).join(', ')}`);
        return [];
      } finally {
        m.release();
        gpu.pool.trim();
      }
    },
  };
}

function trainItems(gpu: Gpu, s: GpuSizes, opts: GpuSuiteOptions): PlanItem[] {
  const soft = gpu.adapter.fallback;
  const precisions: Precision[] = gpu.f16 ? ['f32', 'mixed'] : ['f32'];
  return precisions.flatMap((precision) => s.trainBatches.map((n) => ({
    group: 'train' as const, what: `train step ${precision} batch ${n}`, estimateS: soft ? 150 * n : 10 + n * 0.3,
    run: async () => (await benchTrain(gpu, { batches: [n], precisions: [precision], config: opts.config, log: opts.log })).map((c) => ({ ...c, suite: SUITE })),
  })));
}

/** Runs the suite within `budgetS` seconds; returns the report (cases, skips, breakdown, machine). */
export async function runGpuSuite(gpu: Gpu, opts: GpuSuiteOptions): Promise<Omit<GpuReport, 'adapter' | 'started' | 'machine'>> {
  const t0 = performance.now();
  const deadline = t0 + opts.budgetS * 1000;
  const sizes: GpuSizes = { ...(gpu.adapter.fallback ? SOFTWARE_SIZES : GPU_SIZES), ...opts.sizes };
  // Tune first, as the first model load would (real adapters, what the cache lacks, ~3 s), so that
  // every default-variant case below runs the tuned choice.
  await prepareTuning(gpu, 'auto', { log: opts.log });
  const probe = await probePytorch();
  opts.log(probe.peer ? `pytorch: ${probe.peer.info.executable}, torch ${probe.peer.info.torch}, ${probe.peer.info.cuda ? probe.peer.info.device_name : 'CPU'}` : `pytorch: ${probe.reason}`);
  const refs: Refs = new Map();
  const live = opts.live ?? { cases: [] as ReportCase[], skipped: [] as Skipped[] };
  let breakdown: GpuReport['breakdown'] = null;
  const towers = towerItems(gpu, sizes, opts, refs);
  // f32 towers, then PyTorch (checked against their result), then f16 weights. A software adapter
  // (CI, ~1 min budget, ~17 s per frame) moves the matmul ahead of PyTorch and the f16 towers so
  // that a short run still covers several groups; on a GPU the whole list fits the budget.
  const matmul = kernelItems(gpu, sizes, opts).filter((i) => i.group === 'matmul');
  const soft = gpu.adapter.fallback;
  const items: PlanItem[] = [
    ...towers.f32,
    // Software adapters: the (sub-second) 256³ matmul before PyTorch, whose CPU run can take the
    // rest of a one-minute budget, so a short run always has two groups.
    ...(soft ? matmul : []),
    ...(probe.peer ? [{ ...towers.release, what: 'release the f32 tower model' }, pytorchItem(gpu, sizes, opts, probe.peer, refs, deadline, live.skipped)] : []),
    ...towers.f16,
    towers.release,
    ...e2eItems(gpu, sizes, opts),
    ...(soft ? [] : matmul),
    ...variantItems(gpu, sizes, opts),
    ...kernelItems(gpu, sizes, opts).filter((i) => i.group === 'dense'),
    breakdownItem(gpu, sizes, opts, (b) => (breakdown = b)),
    ...trainItems(gpu, sizes, opts),
  ];
  const r = await runPlan(items, deadline, opts.log, undefined, live);
  const skipped: Skipped[] = [...r.skipped];
  if (!probe.peer) skipped.push({ what: 'pytorch: the towers in PyTorch on this machine', why: probe.reason });
  if (gpu.adapter.fallback) skipped.push({ what: 'GPU-sized cases (matmul to 8192³, towers to 256 frames / 1024 prompts, train batch 32/128)', why: `software adapter: shrunk to matmul ${sizes.matmul.join('/')}³, towers ${sizes.imageBatches.join('/')} frames / ${sizes.textBatches.join('/')} prompts, train batch ${sizes.trainBatches.join('/')}` });
  if (!opts.e2e && !gpu.adapter.fallback) skipped.push({ what: 'e2e: zero-shot through the CLI (cold/warm prompt cache, all 16 tasks)', why: 'needs --video, --prompts and --vocab' });
  return {
    suite: 'gpu', budget_s: opts.budgetS, sizes, cases: attachVsPytorch(r.cases), skipped, breakdown,
    tuning: gpu.tuning instanceof TuningTable && gpu.tuning.file ? { cache: gpu.tuning.store?.location ?? null, entries: gpu.tuning.file.entries } : null,
    machine_info: { nvidia_smi: await nvidiaSmi(), node: process.version, pytorch: probe.peer?.info ?? null, pytorch_reason: probe.reason },
  };
}

const fmt = (v: number | undefined | null, d = 1) => (v === undefined || v === null || !Number.isFinite(v) ? '' : v >= 100 ? v.toFixed(0) : v.toFixed(d));

/** The Markdown page of a gpu run: towers with ratios to PyTorch, the kernel breakdown, all cases, skips. */
export function formatGpuMarkdown(report: GpuReport, command: string, chartPath?: string): string {
  const a = report.adapter, m = report.machine_info;
  const towers = report.cases.filter((c) => /_tower$/.test(c.name));
  const lines = [
    `# echoclip-webgpu on ${a.description}`,
    '',
    `Generated by \`${command}\` (layout: bench/gpu/README.md). Adapter: **${a.description}** (${a.vendor || 'unknown vendor'}${a.architecture ? `, ${a.architecture}` : ''}; ${a.runtime}${a.fallback ? ', software adapter' : ''}); nvidia-smi: ${m.nvidia_smi ?? 'absent'}; Node ${m.node}; PyTorch: ${m.pytorch ? `${m.pytorch.torch} (${m.pytorch.cuda ? `CUDA ${m.pytorch.cuda_version}, ${m.pytorch.device_name}` : 'CPU'}, timm ${m.pytorch.timm ?? 'absent'})` : `none (${m.pytorch_reason})`}. Budget ${report.budget_s} s; run started ${report.started}.`,
    '',
    '## Towers (items/s; vs PyTorch = ours over PyTorch\'s best autocast eager, same batch)',
    '',
    '| tower | shape | impl | dtype | variant | median ms | items/s | vs PyTorch |',
    '|---|---|---|---|---|---:|---:|---:|',
    ...towers.map((c) => `| ${c.name} | ${c.shape} | ${c.impl} | ${c.dtype} | ${c.variant} | ${c.error ? 'error¹' : fmt(c.median_ms, 2)} | ${fmt(c.items_per_s)} | ${c.vs_pytorch === undefined ? '' : `${c.vs_pytorch.toFixed(2)}×`} |`),
  ];
  if (report.tuning?.entries.length) {
    lines.push('', `## Kernel tuning of this adapter (${report.tuning.cache ?? 'not cached'}; ms per variant, summed over the shapes)`, '', '| family | shape class | winner | variant timings |', '|---|---|---|---|');
    for (const e of report.tuning.entries) lines.push(`| ${e.family} | ${e.shapeClass || 'all'} | ${e.winner ?? 'none'} | ${Object.entries(e.timings_ms).map(([v, t]) => `${v} ${t === null ? 'failed' : fmt(t, 3)}`).join(', ')} |`);
  }
  if (report.breakdown) {
    lines.push('', `## GPU time per kernel, one image-tower pass at ${report.breakdown.frames} frames (${fmt(report.breakdown.total_ms, 2)} ms in total)`, '', '| kernel | calls | ms | share |', '|---|---:|---:|---:|');
    for (const k of report.breakdown.kernels) lines.push(`| ${k.kernel} | ${k.calls} | ${fmt(k.ms, 3)} | ${(100 * k.share).toFixed(1)} % |`);
  }
  const rest = report.cases.filter((c) => !/_tower$/.test(c.name) && !c.error);
  if (rest.length) lines.push('', '## Kernels, end to end, training', '', ...formatMarkdown({ ...report, cases: rest }).split('\n').slice(2));
  if (chartPath) lines.push('', `![chart](${chartPath})`);
  const errors = report.cases.filter((c) => c.error);
  if (errors.length) lines.push('', '¹ Errors:', '', ...errors.map((e) => `- ${e.impl} ${e.name} ${e.shape} ${e.variant}: ${e.error}`));
  if (report.skipped?.length) lines.push('', 'Skipped in this run:', '', ...report.skipped.map((s) => `- ${s.what}: ${s.why}`));
  return lines.join('\n') + '\n';
}

/** Horizontal bars of items/s per tower case (ours per dtype, PyTorch per configuration). */
export function renderGpuChart(report: GpuReport): string {
  const rows = report.cases.filter((c) => /_tower$/.test(c.name) && !c.error && c.items_per_s);
  const max = Math.max(1, ...rows.map((c) => c.items_per_s!));
  const W = 900, LABEL = 420, BAR = 12, TOP = 40;
  const H = TOP + rows.length * (BAR + 4) + 20;
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11">`,
    `<rect width="${W}" height="${H}" fill="#fff"/>`,
    `<text x="8" y="18" font-size="13" font-weight="bold">${escapeXml(`echoclip-webgpu towers vs PyTorch — ${report.adapter.description}`)}</text>`,
    `<text x="8" y="32" fill="#555">items/s (longer is faster; linear scale)</text>`,
  ];
  rows.forEach((c, i) => {
    const y = TOP + i * (BAR + 4);
    const w = Math.max(1, ((W - LABEL - 80) * c.items_per_s!) / max);
    out.push(`<text x="${LABEL - 6}" y="${y + BAR - 2}" text-anchor="end">${escapeXml(`${c.name} ${c.shape} ${c.impl} ${c.dtype} ${c.impl === 'pytorch' ? c.variant : ''}`)}</text>`);
    out.push(`<rect x="${LABEL}" y="${y}" width="${w.toFixed(1)}" height="${BAR}" fill="${c.impl === 'echoclip' ? '#1b9e77' : '#d95f02'}"/>`);
    out.push(`<text x="${(LABEL + w + 4).toFixed(1)}" y="${y + BAR - 2}">${escapeXml(fmt(c.items_per_s) + (c.vs_pytorch ? ` (${c.vs_pytorch.toFixed(2)}×)` : ''))}</text>`);
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}
