// Dense-op benchmarks at the full-size EchoCLIP shapes (ConvNeXt-Base at 224×224: channels
// 128/256/512/1024 at 56/28/14/7; text width 512, 77 tokens, MLP 2048): linear layers with their
// fused epilogues as the models use them, the patchify convolutions and the 7×7 depthwise conv,
// in f32 and (where the adapter has shader-f16) with f16 storage. The depthwise conv and the fused
// depthwise + LayerNorm time every variant of their family (the kernel-variant table).
import type { Gpu } from '../gpu/device.js';
import { Tensor } from '../gpu/tensor.js';
import { packConv2dWeight, patchConv2d } from '../kernels/conv2d.js';
import { depthwiseConv2d, packDepthwiseWeight } from '../kernels/depthwise.js';
import { depthwiseConv2dLayerNorm, type DepthwiseLayerNormVariant } from '../kernels/depthwise-layernorm.js';
import { linear } from '../kernels/gemm/index.js';
import { selectGemmVariant } from '../kernels/gemm/select.js';
import { chooseVariant } from '../kernels/variants.js';
import type { FloatDType } from '../kernels/wgsl.js';
import { timeGpu, type BenchCase, type TimingOptions } from './harness.js';
import { asBenchVariants, benchVariants, variantCase, type BenchVariant } from './kernels.js';

/** Deterministic small values (timing does not depend on them; NaN/denormal-free). */
function filled(n: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = ((i * 7919) % 1000) / 1000 - 0.5;
  return out;
}

function dtypes(gpu: Gpu): FloatDType[] {
  return gpu.f16 ? ['f32', 'f16'] : ['f32'];
}

// One wall-clock sample waits for the GPU, and small kernels finish faster than that wait
// resolves (Dawn polls in ~8 ms steps on some platforms): record enough back-to-back dispatches
// for ~0.2 GFLOP per sample and report per-dispatch times.
const FLOPS_PER_SAMPLE = 2e8;
const MAX_REPS = 32;

async function measure(gpu: Gpu, name: string, shape: string, dtype: FloatDType, variant: string, flops: number, bytes: number, timing: TimingOptions, run: () => void): Promise<BenchCase> {
  const reps = Math.min(MAX_REPS, Math.max(1, Math.round(FLOPS_PER_SAMPLE / flops)));
  gpu.pool.resetPeak();
  const t = await timeGpu(gpu, () => {
    for (let i = 0; i < reps; i++) run();
  }, timing);
  const median = t.median_ms / reps;
  return {
    suite: 'kernels-dense', name, shape, dtype, impl: 'echoclip', variant,
    median_ms: median, min_ms: t.min_ms / reps, max_ms: t.max_ms / reps, repeats: t.repeats,
    gflops: flops / (median * 1e6), gbps: bytes / (median * 1e6), peak_gpu_bytes: gpu.pool.peakBytes,
  };
}

interface LinearCase {
  label: string;
  rows: number;
  inF: number;
  outF: number;
  /** Epilogue as the model uses it. */
  epilogue: 'bias' | 'bias+gelu' | 'bias+scale+residual' | 'none';
}

/** The linear layers of both towers (rows = N·H·W for the image tower, 77 tokens for text). */
export const LINEAR_CASES: readonly LinearCase[] = [
  { label: 'convnext s0 fc1', rows: 3136, inF: 128, outF: 512, epilogue: 'bias+gelu' },
  { label: 'convnext s0 fc2', rows: 3136, inF: 512, outF: 128, epilogue: 'bias+scale+residual' },
  { label: 'convnext s3 fc1', rows: 49, inF: 1024, outF: 4096, epilogue: 'bias+gelu' },
  { label: 'text in_proj', rows: 77, inF: 512, outF: 1536, epilogue: 'bias' },
  { label: 'text mlp fc1', rows: 77, inF: 512, outF: 2048, epilogue: 'bias+gelu' },
];

export async function benchLinear(gpu: Gpu, timing: TimingOptions, cases: readonly LinearCase[] = LINEAR_CASES): Promise<BenchCase[]> {
  const out: BenchCase[] = [];
  for (const c of cases) {
    for (const dt of dtypes(gpu)) {
      const x = Tensor.from(gpu, filled(c.rows * c.inF), [c.rows, c.inF], dt);
      const w = Tensor.from(gpu, filled(c.outF * c.inF), [c.outF, c.inF], dt);
      const bias = c.epilogue === 'none' ? undefined : Tensor.from(gpu, filled(c.outF), [c.outF], dt);
      const scale = c.epilogue === 'bias+scale+residual' ? Tensor.from(gpu, filled(c.outF), [c.outF], dt) : undefined;
      const y = Tensor.from(gpu, filled(c.rows * c.outF), [c.rows, c.outF], dt);
      // The residual variant updates y in place (x += gamma ⊙ f(x)), as the ConvNeXt block does.
      const run = () => void linear(x, w, bias, { gelu: c.epilogue === 'bias+gelu', scale, residual: scale ? y : undefined, out: y });
      const el = dt === 'f16' ? 2 : 4;
      const bytes = el * (c.rows * c.inF + c.outF * c.inF + c.rows * c.outF * (scale ? 2 : 1));
      // The variant the GEMM selection gives this call (table, shape class, tuning cache).
      const variant = selectGemmVariant(gpu, { M: c.rows, N: c.outF, K: c.inF, batch: 1, dtypes: [dt, dt] });
      out.push(await measure(gpu, `linear ${c.label} (${c.epilogue})`, `${c.rows}x${c.inF}->${c.outF}`, dt, variant, 2 * c.rows * c.inF * c.outF, bytes, timing, run));
      for (const t of [x, w, bias, scale, y]) t?.release();
    }
  }
  return out;
}

/** Stem (NCHW pixels, k4 s4) and the three downsamples (NHWC, k2 s2) of ConvNeXt-Base at 224². */
/** `batch` images per call (the gpu suite runs a real batch; the kernels suite batch 1). */
export async function benchPatchConv(gpu: Gpu, timing: TimingOptions, batch = 1): Promise<BenchCase[]> {
  const out: BenchCase[] = [];
  const convs = [
    { label: 'stem', layout: 'nchw' as const, H: 224, Cin: 3, Cout: 128, k: 4 },
    { label: 'downsample s1', layout: 'nhwc' as const, H: 56, Cin: 128, Cout: 256, k: 2 },
    { label: 'downsample s2', layout: 'nhwc' as const, H: 28, Cin: 256, Cout: 512, k: 2 },
    { label: 'downsample s3', layout: 'nhwc' as const, H: 14, Cin: 512, Cout: 1024, k: 2 },
  ];
  for (const c of convs) {
    for (const dt of dtypes(gpu)) {
      const Ho = c.H / c.k;
      const xShape = c.layout === 'nchw' ? [batch, c.Cin, c.H, c.H] : [batch, c.H, c.H, c.Cin];
      const wt = [c.Cout, c.Cin, c.k, c.k];
      const wData = filled(c.Cout * c.Cin * c.k * c.k);
      const packed = c.layout === 'nhwc' ? packConv2dWeight(wData, wt) : { data: wData, shape: wt };
      const x = Tensor.from(gpu, filled(batch * c.Cin * c.H * c.H), xShape, dt);
      const w = Tensor.from(gpu, packed.data, packed.shape, dt);
      const bias = Tensor.from(gpu, filled(c.Cout), [c.Cout], dt);
      const y = Tensor.empty(gpu, [batch, Ho, Ho, c.Cout], dt);
      const el = dt === 'f16' ? 2 : 4;
      const flops = 2 * batch * Ho * Ho * c.Cout * c.Cin * c.k * c.k;
      const bytes = el * (x.size + w.size + y.size);
      const variant = selectGemmVariant(gpu, { M: batch * Ho * Ho, N: c.Cout, K: c.Cin * c.k * c.k, batch: 1, dtypes: [dt, dt] });
      out.push(await measure(gpu, `conv2d ${c.label} k${c.k}s${c.k} ${c.layout}`, `${batch > 1 ? `${batch}x` : ''}${c.H}x${c.H}x${c.Cin}->${Ho}x${Ho}x${c.Cout}`, dt, `implicit gemm ${variant}`, flops, bytes, timing, () => void patchConv2d(x, w, { inputLayout: c.layout, bias, out: y })));
      for (const t of [x, w, bias, y]) t.release();
    }
  }
  return out;
}

const STAGES = [[56, 128], [28, 256], [14, 512], [7, 1024]] as const;

/**
 * The 7×7 depthwise conv of each ConvNeXt-Base stage (NHWC, pad 3, bias): the device's default
 * variant, or each of `variants` (a launcher without a variant option: the default is switched).
 */
export async function benchDepthwise(gpu: Gpu, timing: TimingOptions, variants?: readonly (string | BenchVariant)[], batch = 1): Promise<BenchCase[]> {
  const out: BenchCase[] = [];
  const list = asBenchVariants(variants ?? [chooseVariant(gpu, 'depthwise')]);
  for (const [i, [H, C]] of STAGES.entries()) {
    for (const dt of dtypes(gpu)) {
      const x = Tensor.from(gpu, filled(batch * H * H * C), [batch, H, H, C], dt);
      const wp = packDepthwiseWeight(filled(C * 49), [C, 1, 7, 7]);
      const w = Tensor.from(gpu, wp.data, wp.shape, dt);
      const bias = Tensor.from(gpu, filled(C), [C], dt);
      const y = Tensor.empty(gpu, [batch, H, H, C], dt);
      const el = dt === 'f16' ? 2 : 4;
      const shape = `${batch > 1 ? `${batch}x` : ''}${H}x${H}x${C}`;
      for (const { name: variant } of list.filter((v) => i === 0 || !v.firstOnly)) {
        out.push(await variantCase(gpu, 'depthwise', { suite: 'kernels-dense', name: 'depthwise 7x7', shape, dtype: dt, variant }, () =>
          measure(gpu, 'depthwise 7x7', shape, dt, variant, 2 * 49 * batch * H * H * C, el * (2 * batch * H * H * C + 49 * C), timing, () => void depthwiseConv2d(x, w, { bias, out: y }))));
      }
      for (const t of [x, w, bias, y]) t.release();
    }
  }
  return out;
}

/** ConvNeXt's conv_dw → norm (7×7 depthwise, then LayerNorm over C) at the first and last stage, every variant. */
export async function benchDepthwiseLayerNorm(gpu: Gpu, timing: TimingOptions, variants: readonly (string | BenchVariant)[] = benchVariants(gpu, 'depthwise-layernorm'), batch = 1): Promise<BenchCase[]> {
  const out: BenchCase[] = [];
  const list = asBenchVariants(variants);
  for (const [i, [H, C]] of [STAGES[0], STAGES[3]].entries()) {
    for (const dt of dtypes(gpu)) {
      const x = Tensor.from(gpu, filled(batch * H * H * C), [batch, H, H, C], dt);
      const wp = packDepthwiseWeight(filled(C * 49), [C, 1, 7, 7]);
      const w = Tensor.from(gpu, wp.data, wp.shape, dt);
      const bias = Tensor.from(gpu, filled(C), [C], dt);
      const lnWeight = Tensor.from(gpu, filled(C), [C]), lnBias = Tensor.from(gpu, filled(C), [C]);
      const y = Tensor.empty(gpu, [batch, H, H, C], dt);
      const el = dt === 'f16' ? 2 : 4;
      const shape = `${batch > 1 ? `${batch}x` : ''}${H}x${H}x${C}`;
      for (const { name: variant } of list.filter((v) => i === 0 || !v.firstOnly)) {
        out.push(await variantCase(gpu, 'depthwise-layernorm', { suite: 'kernels-dense', name: 'depthwise 7x7 + layernorm', shape, dtype: dt, variant }, () =>
          measure(gpu, 'depthwise 7x7 + layernorm', shape, dt, variant, 2 * 49 * batch * H * H * C, el * (2 * batch * H * H * C + 49 * C), timing, () =>
            void depthwiseConv2dLayerNorm(x, w, { bias, lnWeight, lnBias, eps: 1e-6, variant: variant as DepthwiseLayerNormVariant, out: y }))));
      }
      for (const t of [x, w, bias, lnWeight, lnBias, y]) t.release();
    }
  }
  return out;
}

/** Square matmul sizes the dense cases are compared against (4.2 MFLOP … 0.9 GFLOP). */
export const MATMUL_REFERENCE_SIZES = [128, 192, 256, 384, 512, 768] as const;

/**
 * Sets each case's vs_matmul: its rate over the best reference matmul rate at the size whose
 * FLOP count is nearest on a log scale, of the same dtype (f32 when that dtype has no reference).
 */
export function compareToMatmul(cases: readonly BenchCase[], reference: readonly BenchCase[]): BenchCase[] {
  return cases.map((c) => {
    if (c.gflops === null) return c;
    const flops = c.gflops * c.median_ms * 1e6;
    const pool = reference.filter((r) => r.gflops !== null && r.dtype === c.dtype);
    const ref = pool.length ? pool : reference.filter((r) => r.gflops !== null && r.dtype === 'f32');
    if (!ref.length) return c;
    const dist = (r: BenchCase) => Math.abs(Math.log((r.gflops! * r.median_ms * 1e6) / flops));
    const nearest = Math.min(...ref.map(dist));
    const best = Math.max(...ref.filter((r) => dist(r) === nearest).map((r) => r.gflops!));
    return { ...c, vs_matmul: c.gflops / best };
  });
}

/** All dense-op cases (what `echoclip bench --suite kernels` runs), each with its vs_matmul. */
export async function benchDense(gpu: Gpu, timing: TimingOptions): Promise<BenchCase[]> {
  const reference: BenchCase[] = [];
  for (const n of MATMUL_REFERENCE_SIZES) reference.push(...(await benchLinear(gpu, timing, [{ label: `reference ${n}³`, rows: n, inF: n, outF: n, epilogue: 'none' }])));
  const cases = [...(await benchLinear(gpu, timing)), ...(await benchPatchConv(gpu, timing)), ...(await benchDepthwise(gpu, timing, benchVariants(gpu, 'depthwise'))), ...(await benchDepthwiseLayerNorm(gpu, timing))];
  return [...reference, ...compareToMatmul(cases, reference)];
}
