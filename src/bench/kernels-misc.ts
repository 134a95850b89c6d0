// Benchmarks of the norm / elementwise / softmax / attention / pooling kernels at full-size
// EchoCLIP shapes (ConvNeXt-Base at 224²: 56²×128, 28²×256, 14²×512, 7²×1024; text: 77 tokens,
// width 512, 8 heads × 64, MLP 2048; 202 prompts for the regression zero-shot). Memory-bound ops
// report GB/s of the minimal traffic (each input read once, each output written once);
// attention reports GFLOP/s of the causal core (q·kᵀ and p·v over the unmasked half). Every
// variant of each family the device can run is timed at the same shapes (benchVariants: the
// kernel-variant table; on software adapters the ones no profile defaults to at the first shape).
import type { Gpu } from '../gpu/device.js';
import { Tensor } from '../gpu/tensor.js';
import { attentionCore, multiHeadAttention, type AttentionVariant } from '../kernels/attention.js';
import { addScaled, gelu } from '../kernels/elementwise.js';
import { layerNorm, type RowVariant } from '../kernels/layernorm.js';
import { argmaxPool, globalAvgPool, l2Normalize, type L2NormVariant, type PoolingVariant } from '../kernels/pooling.js';
import { softmax } from '../kernels/softmax.js';
import type { KernelFamily } from '../kernels/variants.js';
import { seeded, timeGpu, type BenchCase, type TimingOptions } from './harness.js';
import { asBenchVariants, benchVariants, variantCase, type BenchVariant } from './kernels.js';

const SUITE = 'kernels';
type Variants = readonly (string | BenchVariant)[];

/** The variants to time at the i-th shape of a suite. */
const at = (variants: Variants, i: number) => asBenchVariants(variants).filter((v) => i === 0 || !v.firstOnly).map((v) => v.name);

async function measure(gpu: Gpu, c: { name: string; shape: string; dtype: string; variant: string; bytes?: number; flops?: number }, run: () => void, timing: TimingOptions): Promise<BenchCase> {
  gpu.pool.resetPeak();
  const t = await timeGpu(gpu, run, timing);
  return {
    suite: SUITE, name: c.name, shape: c.shape, dtype: c.dtype, impl: 'echoclip', variant: c.variant, ...t,
    gflops: c.flops ? c.flops / (t.median_ms * 1e6) : null,
    gbps: c.bytes ? c.bytes / (t.median_ms * 1e6) : null,
    peak_gpu_bytes: gpu.pool.peakBytes,
  };
}

/** One variant's case (a failing variant becomes a case with `error`). */
function measureVariant(gpu: Gpu, family: KernelFamily, c: Parameters<typeof measure>[1], run: () => void, timing: TimingOptions): Promise<BenchCase> {
  return variantCase(gpu, family, { suite: SUITE, name: c.name, shape: c.shape, dtype: c.dtype, variant: c.variant }, () => measure(gpu, c, run, timing));
}

/** LayerNorm at every ConvNeXt stage width and the text tower (1 prompt, 202 prompts). */
export async function benchLayerNorm(gpu: Gpu, timing: TimingOptions, variants: Variants = benchVariants(gpu, 'layernorm')): Promise<BenchCase[]> {
  const cases: BenchCase[] = [];
  for (const [i, [R, C]] of [[3136, 128], [784, 256], [196, 512], [49, 1024], [77, 512], [77 * 202, 512]].entries()) {
    const x = Tensor.from(gpu, seeded(R * C, R), [R, C]);
    const w = Tensor.from(gpu, seeded(C, 1), [C]);
    const b = Tensor.from(gpu, seeded(C, 2), [C]);
    const y = Tensor.empty(gpu, [R, C]);
    for (const variant of at(variants, i)) {
      cases.push(await measureVariant(gpu, 'layernorm', { name: 'layernorm', shape: `${R}x${C}`, dtype: 'f32', variant, bytes: 8 * R * C }, () => void layerNorm(x, w, b, { eps: 1e-6, variant: variant as RowVariant, out: y }), timing));
    }
    for (const t of [x, w, b, y]) t.release();
  }
  return cases;
}

/** Exact GELU and the layer-scale residual on the stage-1 MLP activations (3136 × 512). */
export async function benchElementwise(gpu: Gpu, timing: TimingOptions): Promise<BenchCase[]> {
  const cases: BenchCase[] = [];
  const [R, C] = [3136, 512];
  const dtypes = gpu.f16 ? (['f32', 'f16'] as const) : (['f32'] as const);
  for (const dtype of dtypes) {
    const x = Tensor.from(gpu, seeded(R * C, 3), [R, C], dtype);
    const y = Tensor.empty(gpu, [R, C], dtype);
    const bpe = dtype === 'f16' ? 2 : 4;
    cases.push(await measure(gpu, { name: 'gelu_erf', shape: `${R}x${C}`, dtype, variant: 'vec4', bytes: 2 * bpe * R * C }, () => void gelu(x, { out: y }), timing));
    x.release();
    y.release();
  }
  const [R2, C2] = [3136, 128];
  const x = Tensor.from(gpu, seeded(R2 * C2, 4), [R2, C2]);
  const g = Tensor.from(gpu, seeded(C2, 5), [C2]);
  const y = Tensor.from(gpu, seeded(R2 * C2, 6), [R2, C2]);
  const o = Tensor.empty(gpu, [R2, C2]);
  cases.push(await measure(gpu, { name: 'layer_scale_residual', shape: `${R2}x${C2}`, dtype: 'f32', variant: 'vec4', bytes: 12 * R2 * C2 }, () => void addScaled(x, g, y, { out: o }), timing));
  for (const t of [x, g, y, o]) t.release();
  return cases;
}

/** Causal softmax over text attention scores [B·8, 77, 77] (the unfused path). */
export async function benchSoftmax(gpu: Gpu, timing: TimingOptions, batches: readonly number[] = [1, 202], variants: Variants = benchVariants(gpu, 'softmax')): Promise<BenchCase[]> {
  const cases: BenchCase[] = [];
  const T = 77;
  for (const [i, B] of batches.entries()) {
    const n = B * 8 * T * T;
    const x = Tensor.from(gpu, seeded(n, B), [B * 8, T, T]);
    const y = Tensor.empty(gpu, [B * 8, T, T]);
    for (const variant of at(variants, i)) {
      cases.push(await measureVariant(gpu, 'softmax', { name: 'softmax_causal', shape: `${B * 8}x${T}x${T}`, dtype: 'f32', variant, bytes: 8 * n }, () => void softmax(x, { causal: true, variant: variant as RowVariant, out: y }), timing));
    }
    x.release();
    y.release();
  }
  return cases;
}

/** Fused causal attention core (8 heads × 64, T = 77) and the whole MHA with its projections. */
export async function benchAttention(gpu: Gpu, timing: TimingOptions, batches: readonly number[] = [1, 202], variants: Variants = benchVariants(gpu, 'attention')): Promise<BenchCase[]> {
  const cases: BenchCase[] = [];
  const [T, D, H] = [77, 512, 8];
  const dh = D / H;
  const coreFlops = (B: number) => 2 * B * H * T * (T + 1) * dh; // two products over T(T+1)/2 pairs
  const w = {
    inProjWeight: Tensor.from(gpu, seeded(3 * D * D, 7).map((v) => v * 0.1), [3 * D, D]),
    inProjBias: Tensor.from(gpu, seeded(3 * D, 8), [3 * D]),
    outProjWeight: Tensor.from(gpu, seeded(D * D, 9).map((v) => v * 0.1), [D, D]),
    outProjBias: Tensor.from(gpu, seeded(D, 10), [D]),
  };
  for (const [i, B] of batches.entries()) {
    const qkv = Tensor.from(gpu, seeded(B * T * 3 * D, B), [B, T, 3 * D]);
    const x = Tensor.from(gpu, seeded(B * T * D, B + 1), [B, T, D]);
    const out = Tensor.empty(gpu, [B, T, D]);
    for (const variant of at(variants, i)) {
      cases.push(await measureVariant(gpu, 'attention', { name: 'attention_core', shape: `B${B}xT${T}x${H}h${dh}`, dtype: 'f32', variant, flops: coreFlops(B) }, () => void attentionCore(qkv, { heads: H, causal: true, variant: variant as AttentionVariant, out }), timing));
    }
    const mhaFlops = coreFlops(B) + 2 * B * T * D * 4 * D;
    cases.push(await measure(gpu, { name: 'mha_with_projections', shape: `B${B}xT${T}x${H}h${dh}`, dtype: 'f32', variant: 'default', flops: mhaFlops }, () => void multiHeadAttention(x, w, { heads: H, causal: true, out }), timing));
    for (const t of [qkv, x, out]) t.release();
  }
  for (const t of Object.values(w)) t.release();
  return cases;
}

/**
 * Global average pool of the last stage (7 × 7 × 1024), one image and a 20-frame clip; the text
 * tower's EOT (argmax) pool, [B, 77, 512] at 1 and 202 prompts ('pooling' and 'eot-pool' families).
 */
export async function benchAvgPool(gpu: Gpu, timing: TimingOptions, variants: Variants = benchVariants(gpu, 'pooling'), sizes: readonly [number, number][] = [[1, 1], [20, 202]]): Promise<BenchCase[]> {
  const cases: BenchCase[] = [];
  for (const [i, [N, B]] of sizes.entries()) {
    const x = Tensor.from(gpu, seeded(N * 49 * 1024, N), [N, 7, 7, 1024]);
    const y = Tensor.empty(gpu, [N, 1024]);
    const t = Tensor.from(gpu, seeded(B * 77 * 512, B), [B, 77, 512]);
    const ids = Tensor.from(gpu, Int32Array.from({ length: B * 77 }, (_, j) => (j * 7919) % 49408), [B, 77], 'i32');
    const e = Tensor.empty(gpu, [B, 512]);
    for (const variant of at(variants, i)) {
      cases.push(await measureVariant(gpu, 'pooling', { name: 'avgpool', shape: `${N}x7x7x1024`, dtype: 'f32', variant, bytes: 4 * N * 1024 * 50 }, () => void globalAvgPool(x, { variant: variant as PoolingVariant, out: y }), timing));
      cases.push(await measureVariant(gpu, 'eot-pool', { name: 'eot_pool', shape: `${B}x77x512`, dtype: 'f32', variant, bytes: 4 * B * (77 + 2 * 512) }, () => void argmaxPool(t, ids, { variant: variant as PoolingVariant, out: e }), timing));
    }
    for (const z of [x, y, t, ids, e]) z.release();
  }
  return cases;
}

/** L2 normalisation of the embeddings: 20 frames and 202 prompts × 512. */
export async function benchL2Norm(gpu: Gpu, timing: TimingOptions, variants: Variants = benchVariants(gpu, 'l2norm'), rows: readonly number[] = [20, 202]): Promise<BenchCase[]> {
  const cases: BenchCase[] = [];
  for (const [i, R] of rows.entries()) {
    const x = Tensor.from(gpu, seeded(R * 512, R), [R, 512]);
    const y = Tensor.empty(gpu, [R, 512]);
    for (const variant of at(variants, i)) {
      cases.push(await measureVariant(gpu, 'l2norm', { name: 'l2normalize', shape: `${R}x512`, dtype: 'f32', variant, bytes: 8 * R * 512 }, () => void l2Normalize(x, { variant: variant as L2NormVariant, out: y }), timing));
    }
    x.release();
    y.release();
  }
  return cases;
}

/** All of the above, in one list. */
export async function benchKernelsMisc(gpu: Gpu, timing: TimingOptions): Promise<BenchCase[]> {
  return [
    ...(await benchLayerNorm(gpu, timing)),
    ...(await benchElementwise(gpu, timing)),
    ...(await benchSoftmax(gpu, timing)),
    ...(await benchAttention(gpu, timing)),
    ...(await benchAvgPool(gpu, timing)),
    ...(await benchL2Norm(gpu, timing)),
  ];
}
