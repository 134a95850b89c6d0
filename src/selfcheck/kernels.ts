// Kernel checks: every variant of the kernel-variant table the adapter can run (src/kernels/
// variants.ts: experimental ones too when the device enables them), in f32 and (where the adapter
// has shader-f16) f16 storage, against the float64 CPU references, on fresh random inputs, with
// every output poisoned (NaN) before the kernel runs. A variant that is neither profile's default
// runs at every shape of the full run, and at one shape per family under --quick. 'odd' shapes exercise the edge paths (partial
// tiles, K tails, scalar fallbacks when a width is not a multiple of 4); 'full' shapes are the
// full-size EchoCLIP layers. Composed only of the kernel launchers.
import { EchoClipError } from '../errors.js';
import type { Gpu } from '../gpu/device.js';
import { Tensor } from '../gpu/tensor.js';
import { attentionCore, type AttentionVariant } from '../kernels/attention.js';
import { clipLoss, clipLossFromFeatures, contrastiveLogits } from '../kernels/contrastive.js';
import { patchConv2d, permuteHost } from '../kernels/conv2d.js';
import { patchConv2dBackward } from '../kernels/conv2d-backward.js';
import { depthwiseConv2d } from '../kernels/depthwise.js';
import { depthwiseConv2dLayerNorm, type DepthwiseLayerNormVariant } from '../kernels/depthwise-layernorm.js';
import { depthwiseConv2dBackward } from '../kernels/depthwise-backward.js';
import { add, addScaled, cast, gelu } from '../kernels/elementwise.js';
import { geluBackward } from '../kernels/elementwise-backward.js';
import { tokenEmbedding } from '../kernels/embedding.js';
import { layerNorm, layerNorm2dNCHW, type RowVariant } from '../kernels/layernorm.js';
import { layerNormBackward } from '../kernels/layernorm-backward.js';
import { linear, matmul, type MatmulVariant } from '../kernels/gemm/index.js';
import { GEMM_VARIANTS } from '../kernels/gemm/variants.js';
import { linearBackward, matmulTransA } from '../kernels/matmul-backward.js';
import { argmaxPool, globalAvgPool, l2Normalize, type L2NormVariant, type PoolingVariant } from '../kernels/pooling.js';
import { softmax } from '../kernels/softmax.js';
import { softmaxBackward } from '../kernels/softmax-backward.js';
import { forcingLookup, tableDefaultOn } from '../kernels/tuning.js';
import { availableVariants, type KernelFamily, type KernelVariant } from '../kernels/variants.js';
import * as ref from './cpu-ref.js';
import { assertPoisoned, gpuView, measure, poisoned, poisonPool, randomArray, releaseAll, Rng, storedAs, type Compared, type FloatDType, type Plan, type Seeds } from './harness.js';

export type ShapeSet = 'odd' | 'full';

/**
 * Tolerances on max|got − want| / max(1, max|want|). f32: the kernels accumulate in f32 (K up to
 * 3136 here), measured ≤ 2e-6 on lavapipe; f16 storage rounds every stored value to 11 bits
 * (≤ 4.9e-4 relative), the bound the kernel tests use (2e-3). f16 inputs alone (f32 output)
 * keep the f32 tolerance: the reference uses the f16-rounded values, and the kernels widen exactly.
 */
const TOL: Record<FloatDType, number> = { f32: 1e-5, f16: 2e-3 };

interface Variant<V> {
  v: V;
  label: string;
  profile: string;
  /** The device (or a view of it: profile, forced variant) the check runs on. */
  gpu: Gpu;
  /** The variant-table family `label` is a row of (the report's variant-status section). */
  family?: KernelFamily;
  /** Neither profile's default: planned at one shape per family when `ctx.extras` is 'once'. */
  extra?: boolean;
  /** Only these storage dtypes (a GEMM body that computes in f16 takes only f16 A and B). */
  dtypes?: FloatDType[];
}

interface Ctx {
  gpu: Gpu;
  seeds: Seeds;
  /** f32, plus f16 where the adapter has shader-f16. */
  dtypes: FloatDType[];
  plan: Plan;
  /** Non-default variants: at every shape ('all') or at the first check of their family per dtype ('once'). */
  extras: 'all' | 'once';
  extrasSeen: Set<string>;
  extrasCut: number;
}

/** A GEMM body that computes in f16 (it takes only f16 A and B). */
const f16Operands = (v: KernelVariant) => v.family === 'matmul' && GEMM_VARIANTS[v.name as MatmulVariant]?.operands === 'f16';

/**
 * Every variant of the family the device can run, from the kernel-variant table, each labelled by
 * its name and by the profiles it is the default on ('forced': neither). Each runs on a view of the
 * device that forces it (so launchers without a variant option — the backward kernels, fused
 * kernels calling forward defaults — select it too) with the profile it is the default on.
 * 'view' lists are for such launchers: a GEMM body that needs f16 A and B is left out (their
 * operands are mixed), as the GEMM selection would quietly replace it.
 */
function tableVariants(gpu: Gpu, family: KernelFamily, use: 'option' | 'view' = 'option'): Variant<string>[] {
  return availableVariants(gpu, family).filter((v) => use === 'option' || !f16Operands(v)).map((v) => {
    const on = tableDefaultOn(gpu, v);
    const view = gpuView(gpu, { profile: on === 'gpu' ? 'gpu' : on === 'none' ? undefined : 'software', tuning: forcingLookup(family, v.name) });
    return { v: v.name, label: v.name, profile: on === 'none' ? 'forced' : on, gpu: view, family, extra: on === 'none', ...(f16Operands(v) ? { dtypes: ['f16'] as FloatDType[] } : {}) };
  });
}

function single(gpu: Gpu, label = 'default'): Variant<null>[] {
  return [{ v: null, label, profile: 'both', gpu }];
}

function once<T>(f: () => T): () => T {
  let done = false;
  let v: T;
  return () => {
    if (!done) { v = f(); done = true; }
    return v;
  };
}

/**
 * Adds one planned check per (dtype, variant). Inputs and the reference are made once per dtype
 * (the same random data for every variant, so the float64 reference is computed once).
 */
function addCase<D, W, V>(ctx: Ctx, c: {
  name: string;
  shape: string;
  dtypes?: FloatDType[];
  variants: Variant<V>[];
  data: (rng: Rng, dt: FloatDType) => D;
  want: (d: D, dt: FloatDType) => W;
  run: (gpu: Gpu, d: D, want: W, v: V, dt: FloatDType) => Promise<Compared[]>;
}): void {
  for (const dt of c.dtypes ?? ['f32']) {
    const seed = ctx.seeds.next();
    const data = once(() => c.data(new Rng(seed), dt));
    const want = once(() => c.want(data(), dt));
    for (const v of c.variants) {
      if (v.dtypes && !v.dtypes.includes(dt)) continue;
      if (v.extra && ctx.extras === 'once') {
        const key = `${v.family}/${v.label}/${dt}`;
        if (ctx.extrasSeen.has(key)) { ctx.extrasCut++; continue; }
        ctx.extrasSeen.add(key);
      }
      const meta = { group: 'kernel' as const, name: c.name, variant: v.label, dtype: dt, shape: c.shape, profile: v.profile, seed, ...(v.family ? { family: v.family } : {}) };
      ctx.plan.checks.push({
        what: `${c.name} ${v.label} ${dt} ${c.shape}`,
        meta,
        run: () => measure(meta, () => c.run(v.gpu, data(), want(), v.v, dt)),
      });
    }
  }
}

const up = (gpu: Gpu, data: Float32Array, shape: readonly number[], dt: FloatDType = 'f32') => Tensor.from(gpu, data, shape, dt);
const numel = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);
const dims = (s: readonly number[]) => s.join('x');

// ---------------------------------------------------------------- dense

interface GemmSpec {
  M: number;
  N: number;
  K: number;
  batch?: number;
  transA?: boolean;
  transB?: boolean;
  /** B is 2-D and broadcast over A's batch. */
  bBroadcast?: boolean;
  bias?: boolean;
  gelu?: boolean;
  scale?: boolean;
  residual?: 'separate' | 'inplace';
  /** Through linear() (x [M, K], weight [N, K]) rather than matmul(). */
  linear?: boolean;
}

function gemmShape(s: GemmSpec): string {
  const flags = [s.transA && 'transA', s.transB && !s.linear && 'transB', s.bBroadcast && 'bcastB', s.bias && 'bias', s.gelu && 'gelu', s.scale && 'scale', s.residual && (s.residual === 'inplace' ? 'residual-inplace' : 'residual')].filter(Boolean);
  return `${s.batch ? `${s.batch}x` : ''}${s.M}x${s.K}->${s.N}${flags.map((f) => `+${f}`).join('')}`;
}

function addGemm(ctx: Ctx, s: GemmSpec): void {
  const batch = s.batch ?? 1;
  const bBatch = batch > 1 && !s.bBroadcast ? batch : 1;
  const lead = s.batch ? [batch] : [];
  const aShape = [...lead, ...(s.transA ? [s.K, s.M] : [s.M, s.K])];
  const bShape = [...(bBatch > 1 ? [bBatch] : []), ...(s.transB ? [s.N, s.K] : [s.K, s.N])];
  const outShape = [...lead, s.M, s.N];
  addCase(ctx, {
    name: s.linear ? 'linear' : 'matmul',
    shape: gemmShape(s),
    dtypes: ctx.dtypes,
    variants: tableVariants(ctx.gpu, 'matmul'),
    data: (rng, dt) => ({
      a: storedAs(randomArray(rng, numel(aShape)), dt),
      b: storedAs(randomArray(rng, numel(bShape)), dt),
      bias: s.bias ? storedAs(randomArray(rng, s.N), dt) : undefined,
      scale: s.scale ? storedAs(randomArray(rng, s.N, 0.4, 0.6), dt) : undefined,
      residual: s.residual ? storedAs(randomArray(rng, numel(outShape)), dt) : undefined,
    }),
    want: (d) => ref.epilogueRef(ref.matmulRef(d.a, d.b, s.M, s.N, s.K, { transA: s.transA, transB: s.transB, batch, aBatched: true, bBatched: bBatch > 1 }), s.N, { bias: d.bias, gelu: s.gelu, scale: d.scale, residual: d.residual }),
    run: async (gpu, d, want, v, dt) => {
      const variant = v as MatmulVariant;
      const a = up(gpu, d.a, aShape, dt), b = up(gpu, d.b, bShape, dt);
      const bias = d.bias && up(gpu, d.bias, [s.N], dt), scale = d.scale && up(gpu, d.scale, [s.N], dt);
      // In place, the output starts as the residual (nothing to poison); an element the kernel
      // skips then keeps the residual's value, which the reference does not.
      const out = s.residual === 'inplace' ? up(gpu, d.residual!, outShape, dt) : poisoned(gpu, outShape, dt);
      const residual = s.residual === 'inplace' ? out : d.residual && up(gpu, d.residual, outShape, dt);
      const epi = { bias, gelu: s.gelu, scale, residual, variant, out };
      if (s.linear) linear(a, b, bias, epi);
      else matmul(a, b, { ...epi, transA: s.transA, transB: s.transB });
      const got = await out.toFloat32();
      releaseAll(a, b, bias, scale, residual, out);
      return [{ got, want, tol: TOL[dt] }];
    },
  });
}

interface ConvSpec {
  layout: 'nchw' | 'nhwc';
  /** [N, Cin, H, W] whatever the layout. */
  x: [number, number, number, number];
  Cout: number;
  k: number;
  bias?: boolean;
}

function convShapes(s: ConvSpec) {
  const [N, Cin, H, W] = s.x;
  const Ho = Math.floor(H / s.k), Wo = Math.floor(W / s.k);
  return {
    x: s.layout === 'nchw' ? [N, Cin, H, W] : [N, H, W, Cin],
    w: s.layout === 'nchw' ? [s.Cout, Cin, s.k, s.k] : [s.Cout, s.k, s.k, Cin],
    y: [N, Ho, Wo, s.Cout],
    K: Cin * s.k * s.k,
  };
}

function addConv(ctx: Ctx, s: ConvSpec): void {
  const sh = convShapes(s);
  addCase(ctx, {
    name: `conv2d-${s.layout}`,
    shape: `${dims(sh.x)} k${s.k}s${s.k}->${s.Cout}${s.bias ? '+bias' : ''}`,
    dtypes: ctx.dtypes,
    variants: tableVariants(ctx.gpu, 'matmul'),
    data: (rng, dt) => ({
      x: storedAs(randomArray(rng, numel(sh.x)), dt),
      w: storedAs(randomArray(rng, numel(sh.w)), dt),
      bias: s.bias ? storedAs(randomArray(rng, s.Cout), dt) : undefined,
    }),
    want: (d) => ref.patchConvRef(d.x, s.layout, s.x, d.w, s.Cout, s.k, s.k, d.bias),
    run: async (gpu, d, want, variant, dt) => {
      const x = up(gpu, d.x, sh.x, dt), w = up(gpu, d.w, sh.w, dt), bias = d.bias && up(gpu, d.bias, [s.Cout], dt);
      const out = poisoned(gpu, sh.y, dt);
      patchConv2d(x, w, { inputLayout: s.layout, bias, out, variant: variant as MatmulVariant });
      const got = await out.toFloat32();
      releaseAll(x, w, bias, out);
      return [{ got, want, tol: TOL[dt] }];
    },
  });
}

interface DwSpec {
  x: [number, number, number, number];
  k: number;
  pad: number;
  bias?: boolean;
}

function addDepthwise(ctx: Ctx, s: DwSpec): void {
  const [N, H, W, C] = s.x;
  const yShape = [N, H + 2 * s.pad - s.k + 1, W + 2 * s.pad - s.k + 1, C];
  addCase(ctx, {
    name: `depthwise${s.k}x${s.k}`,
    shape: `${dims(s.x)} p${s.pad}${s.bias ? '+bias' : ''}`,
    dtypes: ctx.dtypes,
    // No variant option: the view forces the tile.
    variants: tableVariants(ctx.gpu, 'depthwise', 'view'),
    data: (rng, dt) => ({
      x: storedAs(randomArray(rng, numel(s.x)), dt),
      w: storedAs(randomArray(rng, s.k * s.k * C, 0.3), dt),
      bias: s.bias ? storedAs(randomArray(rng, C), dt) : undefined,
    }),
    want: (d) => ref.depthwiseRef(d.x, s.x, d.w, s.k, s.k, [s.pad, s.pad], { bias: d.bias }),
    run: async (gpu, d, want, _v, dt) => {
      const x = up(gpu, d.x, s.x, dt), w = up(gpu, d.w, [s.k, s.k, C], dt), bias = d.bias && up(gpu, d.bias, [C], dt);
      const out = poisoned(gpu, yShape, dt);
      depthwiseConv2d(x, w, { bias, padding: s.pad, out });
      const got = await out.toFloat32();
      releaseAll(x, w, bias, out);
      return [{ got, want, tol: TOL[dt] }];
    },
  });
}

/** Depthwise conv + the LayerNorm over C that follows it (ConvNeXt's conv_dw → norm), with the conv output kept. */
function addDepthwiseLayerNorm(ctx: Ctx, s: DwSpec & { eps: number }): void {
  const [N, H, W, C] = s.x;
  const yShape = [N, H + 2 * s.pad - s.k + 1, W + 2 * s.pad - s.k + 1, C];
  addCase(ctx, {
    name: `depthwise${s.k}x${s.k}-layernorm`,
    shape: `${dims(s.x)} p${s.pad}${s.bias ? '+bias' : ''} eps${s.eps}`,
    dtypes: ctx.dtypes,
    variants: tableVariants(ctx.gpu, 'depthwise-layernorm'),
    data: (rng, dt) => ({
      x: storedAs(randomArray(rng, numel(s.x)), dt),
      w: storedAs(randomArray(rng, s.k * s.k * C, 0.3), dt),
      bias: s.bias ? storedAs(randomArray(rng, C), dt) : undefined,
      lw: randomArray(rng, C, 0.2, 1),
      lb: randomArray(rng, C, 0.1),
    }),
    want: (d) => {
      const conv = ref.depthwiseRef(d.x, s.x, d.w, s.k, s.k, [s.pad, s.pad], { bias: d.bias });
      return { conv, y: ref.layerNormRef(conv, d.lw, d.lb, C, s.eps) };
    },
    run: async (gpu, d, want, v, dt) => {
      const x = up(gpu, d.x, s.x, dt), w = up(gpu, d.w, [s.k, s.k, C], dt), bias = d.bias && up(gpu, d.bias, [C], dt);
      const lnWeight = up(gpu, d.lw, [C]), lnBias = up(gpu, d.lb, [C]);
      const out = poisoned(gpu, yShape, dt), convOut = poisoned(gpu, yShape, dt);
      depthwiseConv2dLayerNorm(x, w, { bias, lnWeight, lnBias, eps: s.eps, padding: s.pad, variant: v as DepthwiseLayerNormVariant, out, convOut });
      const got = [await out.toFloat32(), await convOut.toFloat32()];
      releaseAll(x, w, bias, lnWeight, lnBias, out, convOut);
      return [{ got: got[0], want: want.y, tol: TOL[dt] }, { part: '.conv', got: got[1], want: want.conv, tol: TOL[dt] }];
    },
  });
}

// ---------------------------------------------------------------- norms, softmax, attention

function addLayerNorm(ctx: Ctx, shape: number[], eps: number): void {
  const C = shape[shape.length - 1];
  addCase(ctx, {
    name: 'layernorm',
    shape: `${dims(shape)} eps${eps}`,
    dtypes: ctx.dtypes,
    variants: tableVariants(ctx.gpu, 'layernorm'),
    data: (rng, dt) => ({ x: storedAs(randomArray(rng, numel(shape), 2, 0.5), dt), w: randomArray(rng, C, 0.2, 1), b: randomArray(rng, C, 0.1) }),
    want: (d) => ref.layerNormRef(d.x, d.w, d.b, C, eps),
    run: async (gpu, d, want, v, dt) => {
      const variant = v as RowVariant;
      const x = up(gpu, d.x, shape, dt), w = up(gpu, d.w, [C]), b = up(gpu, d.b, [C]);
      const out = poisoned(gpu, shape, dt);
      layerNorm(x, w, b, { eps, variant, out });
      const got = await out.toFloat32();
      releaseAll(x, w, b, out);
      return [{ got, want, tol: TOL[dt] }];
    },
  });
}

function addLayerNorm2d(ctx: Ctx, [N, C, H, W]: number[]): void {
  addCase(ctx, {
    name: 'layernorm2d-nchw',
    shape: `${dims([N, C, H, W])} eps1e-6`,
    dtypes: ctx.dtypes,
    variants: single(ctx.gpu, 'channels-first'),
    data: (rng, dt) => ({ x: storedAs(randomArray(rng, N * C * H * W, 2, -0.3), dt), w: randomArray(rng, C, 0.2, 1), b: randomArray(rng, C, 0.1) }),
    // The NCHW reference is the last-axis one on the NHWC copy, permuted back.
    want: (d) => permuteHost(ref.layerNormRef(ref.nchwToNhwc(d.x, N, C, H, W), d.w, d.b, C, 1e-6), [N, H, W, C], [0, 3, 1, 2]).data,
    run: async (gpu, d, want, _v: null, dt) => {
      const x = up(gpu, d.x, [N, C, H, W], dt), w = up(gpu, d.w, [C]), b = up(gpu, d.b, [C]);
      const out = poisoned(gpu, [N, C, H, W], dt);
      layerNorm2dNCHW(x, w, b, { eps: 1e-6, out });
      const got = await out.toFloat32();
      releaseAll(x, w, b, out);
      return [{ got, want, tol: TOL[dt] }];
    },
  });
}

function addSoftmax(ctx: Ctx, shape: number[], opts: { causal?: boolean; scale?: number }): void {
  const C = shape[shape.length - 1];
  const scale = opts.scale ?? 1;
  addCase(ctx, {
    name: opts.causal ? 'softmax-causal' : 'softmax',
    shape: `${dims(shape)}${scale !== 1 ? ` scale${scale}` : ''}`,
    dtypes: ctx.dtypes,
    variants: tableVariants(ctx.gpu, 'softmax'),
    data: (rng, dt) => ({ x: storedAs(randomArray(rng, numel(shape), 4), dt) }),
    want: (d) => ref.softmaxRef(d.x.map((v) => v * scale), C, opts.causal ? C : 0),
    run: async (gpu, d, want, v, dt) => {
      const variant = v as RowVariant;
      const x = up(gpu, d.x, shape, dt);
      const out = poisoned(gpu, shape, dt);
      softmax(x, { causal: opts.causal, scale, variant, out });
      const got = await out.toFloat32();
      releaseAll(x, out);
      return [{ got, want, tol: TOL[dt] }];
    },
  });
}

function addAttention(ctx: Ctx, B: number, T: number, D: number, heads: number, causal: boolean): void {
  addCase(ctx, {
    name: 'attention',
    shape: `B${B} T${T} ${heads}x${D / heads}${causal ? ' causal' : ''}`,
    variants: tableVariants(ctx.gpu, 'attention'),
    data: (rng) => ({ qkv: randomArray(rng, B * T * 3 * D, 1.5) }),
    want: (d) => ref.attentionRef(d.qkv, B, T, D, heads, causal),
    run: async (gpu, d, want, variant) => {
      const qkv = up(gpu, d.qkv, [B, T, 3 * D]);
      const out = poisoned(gpu, [B, T, D]);
      attentionCore(qkv, { heads, causal, variant: variant as AttentionVariant, out });
      const got = await out.toFloat32();
      releaseAll(qkv, out);
      return [{ got, want, tol: TOL.f32 }];
    },
  });
}

// ---------------------------------------------------------------- elementwise, pooling, heads

function addElementwise(ctx: Ctx, shape: number[]): void {
  const n = numel(shape);
  const C = shape[shape.length - 1];
  const ops = [
    { name: 'gelu', want: (d: EwData) => d.x.map(ref.geluRef), run: (x: Tensor, _y: Tensor, _g: Tensor, out: Tensor) => gelu(x, { out }) },
    { name: 'add', want: (d: EwData) => d.x.map((v, i) => v + d.y[i]), run: (x: Tensor, y: Tensor, _g: Tensor, out: Tensor) => add(x, y, { out }) },
    { name: 'add-scaled', want: (d: EwData) => d.x.map((v, i) => v + d.g[i % C] * d.y[i]), run: (x: Tensor, y: Tensor, g: Tensor, out: Tensor) => addScaled(x, g, y, { out }) },
  ];
  interface EwData { x: Float32Array; y: Float32Array; g: Float32Array }
  for (const op of ops) {
    addCase(ctx, {
      name: op.name,
      shape: dims(shape),
      dtypes: ctx.dtypes,
      variants: single(ctx.gpu),
      data: (rng, dt): EwData => ({ x: storedAs(randomArray(rng, n, 3), dt), y: storedAs(randomArray(rng, n), dt), g: randomArray(rng, C, 0.4, 0.6) }),
      want: (d) => op.want(d),
      run: async (gpu, d, want, _v, dt) => {
        const x = up(gpu, d.x, shape, dt), y = up(gpu, d.y, shape, dt), g = up(gpu, d.g, [C]);
        const out = poisoned(gpu, shape, dt);
        op.run(x, y, g, out);
        const got = await out.toFloat32();
        releaseAll(x, y, g, out);
        return [{ got, want, tol: TOL[dt] }];
      },
    });
  }
  if (!ctx.dtypes.includes('f16')) return;
  for (const [from, to] of [['f32', 'f16'], ['f16', 'f32']] as const) {
    addCase(ctx, {
      name: `cast-${from}-${to}`,
      shape: dims(shape),
      dtypes: ['f16'],
      variants: single(ctx.gpu),
      data: (rng) => ({ x: storedAs(randomArray(rng, n, 100), from) }),
      // Round to nearest even, bit-exact: the reference is the host's f16 rounding.
      want: (d) => storedAs(d.x, to),
      run: async (gpu, d, want) => {
        const x = up(gpu, d.x, shape, from);
        const out = poisoned(gpu, shape, to);
        cast(x, to, { out });
        const got = await out.toFloat32();
        releaseAll(x, out);
        return [{ got, want, tol: 0, tolKind: 'abs' }];
      },
    });
  }
}

function addPooling(ctx: Ctx, nhwc: [number, number, number, number], rows: [number, number], seq: [number, number, number]): void {
  const [N, H, W, C] = nhwc;
  addCase(ctx, {
    name: 'avgpool',
    shape: dims(nhwc),
    dtypes: ctx.dtypes,
    variants: tableVariants(ctx.gpu, 'pooling'),
    data: (rng, dt) => ({ x: storedAs(randomArray(rng, numel(nhwc), 2, 0.3), dt) }),
    want: (d) => ref.avgPoolRef(d.x, N, H * W, C),
    run: async (gpu, d, want, v, dt) => {
      const x = up(gpu, d.x, nhwc, dt);
      const out = poisoned(gpu, [N, C], dt);
      globalAvgPool(x, { out, variant: v as PoolingVariant });
      const got = await out.toFloat32();
      releaseAll(x, out);
      return [{ got, want, tol: TOL[dt] }];
    },
  });
  const [R, D] = rows;
  addCase(ctx, {
    name: 'l2normalize',
    shape: dims(rows),
    dtypes: ctx.dtypes,
    variants: tableVariants(ctx.gpu, 'l2norm'),
    data: (rng, dt) => ({ x: storedAs(randomArray(rng, R * D, 3), dt) }),
    want: (d) => ref.l2NormalizeRef(d.x, D),
    run: async (gpu, d, want, v, dt) => {
      const x = up(gpu, d.x, rows, dt);
      const out = poisoned(gpu, rows, dt);
      l2Normalize(x, { out, variant: v as L2NormVariant });
      const got = await out.toFloat32();
      releaseAll(x, out);
      return [{ got, want, tol: TOL[dt] }];
    },
  });
  const [B, T, Dt] = seq;
  addCase(ctx, {
    name: 'argmax-pool',
    shape: dims(seq),
    dtypes: ctx.dtypes,
    variants: tableVariants(ctx.gpu, 'eot-pool'),
    // Ids with repeats of the largest one: the FIRST position of the maximum must be pooled.
    data: (rng, dt) => {
      const ids = Int32Array.from({ length: B * T }, () => rng.int(50));
      for (let b = 0; b < B; b++) { const p = rng.int(T); ids[b * T + p] = 1000; ids[b * T + Math.min(T - 1, p + 1 + rng.int(T))] = 1000; }
      return { x: storedAs(randomArray(rng, B * T * Dt), dt), ids };
    },
    want: (d) => ref.argmaxPoolRef(d.x, d.ids, B, T, Dt),
    run: async (gpu, d, want, v, dt) => {
      const x = up(gpu, d.x, seq, dt), ids = Tensor.from(gpu, d.ids, [B, T], 'i32');
      const out = poisoned(gpu, [B, Dt], dt);
      argmaxPool(x, ids, { out, variant: v as PoolingVariant });
      const got = await out.toFloat32();
      releaseAll(x, ids, out);
      return [{ got, want, tol: TOL[dt] }];
    },
  });
}

function addEmbedding(ctx: Ctx, B: number, T: number, V: number, D: number): void {
  addCase(ctx, {
    name: 'embedding',
    shape: `${B}x${T} ids, ${V}x${D}`,
    dtypes: ctx.dtypes,
    variants: single(ctx.gpu),
    // The id range includes 0 and V − 1 (the first and last table rows).
    data: (rng, dt) => {
      const ids = Int32Array.from({ length: B * T }, () => rng.int(V));
      ids[0] = 0;
      ids[B * T - 1] = V - 1;
      return { ids, w: storedAs(randomArray(rng, V * D, 0.1), dt), pos: randomArray(rng, T * D, 0.05) };
    },
    want: (d) => ref.embeddingRef(d.ids, d.w, d.pos, T, D),
    run: async (gpu, d, want, _v, dt) => {
      const ids = Tensor.from(gpu, d.ids, [B, T], 'i32'), w = up(gpu, d.w, [V, D], dt), pos = up(gpu, d.pos, [T, D]);
      const out = poisoned(gpu, [B, T, D]);
      tokenEmbedding(ids, w, pos, { out });
      const got = await out.toFloat32();
      releaseAll(ids, w, pos, out);
      return [{ got, want, tol: TOL.f32 }];
    },
  });
}

function addContrastive(ctx: Ctx, N: number, K: number, D: number, pairs: number): void {
  addCase(ctx, {
    name: 'contrastive-logits',
    shape: `${N}x${D} . ${K}x${D}`,
    variants: single(ctx.gpu),
    data: (rng) => ({ img: ref.l2NormalizeRef(randomArray(rng, N * D), D), txt: ref.l2NormalizeRef(randomArray(rng, K * D), D), ls: Math.log(1 / 0.07) + (rng.next() - 0.5) * 0.6 }),
    want: (d) => ref.logitsRef(d.img, d.txt, N, K, D, d.ls),
    run: async (gpu, d, want) => {
      const img = up(gpu, d.img, [N, D]), txt = up(gpu, d.txt, [K, D]), ls = up(gpu, new Float32Array([d.ls]), [1]);
      const perText = ref.swap01(want, N, K, 1);
      // Both outputs are allocated by the launcher: poisoned through the pool.
      const bufs = poisonPool(gpu, [{ shape: [N, K] }, { shape: [K, N] }]);
      const r = contrastiveLogits(img, txt, ls);
      assertPoisoned(bufs, r.perImage, 'contrastive logits_per_image');
      assertPoisoned(bufs, r.perText, 'contrastive logits_per_text');
      const got = [await r.perImage.toFloat32(), await r.perText.toFloat32()];
      releaseAll(img, txt, ls, r.perImage, r.perText);
      // Logits are up to exp(ls) ≈ 19 in magnitude; the tolerance is relative to that scale.
      return [{ part: '.per_image', got: got[0], want, tol: TOL.f32 }, { part: '.per_text', got: got[1], want: perText, tol: TOL.f32 }];
    },
  });
  addCase(ctx, {
    name: 'clip-loss',
    shape: `${pairs} pairs x${D}, normalize`,
    variants: single(ctx.gpu),
    data: (rng) => ({ img: randomArray(rng, pairs * D), txt: randomArray(rng, pairs * D), ls: Math.log(1 / 0.07) }),
    want: (d) => {
      const L = ref.logitsRef(ref.l2NormalizeRef(d.img, D), ref.l2NormalizeRef(d.txt, D), pairs, pairs, D, d.ls);
      return { L, loss: ref.clipLossRef(L, pairs) };
    },
    run: async (gpu, d, want) => {
      const img = up(gpu, d.img, [pairs, D]), txt = up(gpu, d.txt, [pairs, D]);
      const bufs = poisonPool(gpu, [{ shape: [] }]);
      const loss = clipLossFromFeatures(img, txt, d.ls, { normalize: true });
      assertPoisoned(bufs, loss, 'clip loss');
      const got = await loss.toFloat32();
      // The loss kernel alone, on the reference logits.
      const L = up(gpu, want.L, [pairs, pairs]);
      const bufs2 = poisonPool(gpu, [{ shape: [] }]);
      const loss2 = clipLoss(L);
      assertPoisoned(bufs2, loss2, 'clip loss');
      const got2 = await loss2.toFloat32();
      releaseAll(img, txt, loss, L, loss2);
      return [{ part: '.from_features', got, want: [want.loss], tol: TOL.f32 }, { part: '.from_logits', got: got2, want: [want.loss], tol: TOL.f32 }];
    },
  });
}

// ---------------------------------------------------------------- backward

/** Releases a backward's gradients after reading them (in the order given). */
async function readGrads(bufs: Set<GPUBuffer>, grads: [string, Tensor | undefined][]): Promise<Map<string, Float32Array>> {
  const out = new Map<string, Float32Array>();
  for (const [name, t] of grads) {
    if (!t) throw new EchoClipError(`selfcheck ${name}`, 'the backward kernel returned no such gradient', { hint: 'a bug in the selfcheck: report it' });
    assertPoisoned(bufs, t, name);
    out.set(name, await t.toFloat32());
    t.release();
  }
  return out;
}

function gradParts(got: Map<string, Float32Array>, want: Record<string, Float32Array>, tol: number): Compared[] {
  return Object.entries(want).map(([k, w]) => ({ part: `.${k}`, got: got.get(k)!, want: w, tol }));
}

function addLinearBackward(ctx: Ctx, R: number, K: number, N: number): void {
  addCase(ctx, {
    name: 'linear-backward',
    shape: `${R}x${K}->${N}`,
    dtypes: ctx.dtypes,
    variants: tableVariants(ctx.gpu, 'matmul', 'view'),
    // In f16 the saved input and the weight copy are f16 (mixed precision); dy and the gradients f32.
    data: (rng, dt) => ({ x: storedAs(randomArray(rng, R * K), dt), w: storedAs(randomArray(rng, N * K), dt), dy: randomArray(rng, R * N) }),
    want: (d) => ({ dx: ref.matmulRef(d.dy, d.w, R, K, N), dweight: ref.matmulRef(d.dy, d.x, N, K, R, { transA: true }), dbias: ref.columnSumRef(d.dy, N) }),
    run: async (gpu, d, want, _v, dt) => {
      const x = up(gpu, d.x, [R, K], dt), w = up(gpu, d.w, [N, K], dt), dy = up(gpu, d.dy, [R, N]);
      gpu.pool.trim();
      const bufs = poisonPool(gpu, [{ shape: [R, K] }, { shape: [N, K] }, { shape: [N] }]);
      const g = linearBackward(x, w, dy, { dx: true, dweight: true, dbias: true });
      const got = await readGrads(bufs, [['dx', g.dx], ['dweight', g.dweight], ['dbias', g.dbias]]);
      releaseAll(x, w, dy);
      return gradParts(got, want, TOL.f32);
    },
  });
}

function addMatmulTransA(ctx: Ctx, R: number, M: number, N: number): void {
  addCase(ctx, {
    name: 'matmul-transA-splitK',
    shape: `${R}x${M}^T . ${R}x${N}`,
    variants: tableVariants(ctx.gpu, 'matmul', 'view'),
    data: (rng) => ({ a: randomArray(rng, R * M), b: randomArray(rng, R * N) }),
    want: (d) => ref.matmulRef(d.a, d.b, M, N, R, { transA: true }),
    run: async (gpu, d, want) => {
      const a = up(gpu, d.a, [R, M]), b = up(gpu, d.b, [R, N]);
      const out = poisoned(gpu, [M, N]);
      matmulTransA(a, b, { out });
      const got = await out.toFloat32();
      releaseAll(a, b, out);
      return [{ got, want, tol: TOL.f32 }];
    },
  });
}

function addConvBackward(ctx: Ctx, s: ConvSpec): void {
  const sh = convShapes(s);
  const R = numel(sh.y) / s.Cout;
  addCase(ctx, {
    name: `conv2d-${s.layout}-backward`,
    shape: `${dims(sh.x)} k${s.k}s${s.k}->${s.Cout}`,
    dtypes: ctx.dtypes,
    variants: tableVariants(ctx.gpu, 'matmul', 'view'),
    data: (rng, dt) => ({ x: storedAs(randomArray(rng, numel(sh.x)), dt), w: storedAs(randomArray(rng, numel(sh.w)), dt), dy: randomArray(rng, R * s.Cout) }),
    want: (d) => ref.patchConvBackwardRef(d.x, s.layout, s.x, d.w, s.Cout, s.k, s.k, d.dy),
    run: async (gpu, d, want, _v, dt) => {
      const x = up(gpu, d.x, sh.x, dt), w = up(gpu, d.w, sh.w, dt), dy = up(gpu, d.dy, sh.y);
      gpu.pool.trim();
      const bufs = poisonPool(gpu, [{ shape: sh.x }, { shape: sh.w }, { shape: [s.Cout] }]);
      const g = patchConv2dBackward(x, w, dy, { inputLayout: s.layout });
      const got = await readGrads(bufs, [['dx', g.dx], ['dweight', g.dweight], ['dbias', g.dbias]]);
      releaseAll(x, w, dy);
      return gradParts(got, { dx: want.dx, dweight: want.dweight, dbias: want.dbias }, TOL.f32);
    },
  });
}

function addDepthwiseBackward(ctx: Ctx, s: DwSpec): void {
  const [N, H, W, C] = s.x;
  const yShape = [N, H + 2 * s.pad - s.k + 1, W + 2 * s.pad - s.k + 1, C];
  addCase(ctx, {
    name: `depthwise${s.k}x${s.k}-backward`,
    shape: `${dims(s.x)} p${s.pad}`,
    dtypes: ctx.dtypes,
    // dx runs the forward kernel (rotated taps) with the tile the view forces.
    variants: tableVariants(ctx.gpu, 'depthwise', 'view'),
    data: (rng, dt) => ({ x: storedAs(randomArray(rng, numel(s.x)), dt), w: storedAs(randomArray(rng, s.k * s.k * C, 0.3), dt), dy: randomArray(rng, numel(yShape)) }),
    want: (d) => ref.depthwiseBackwardRef(d.x, s.x, d.w, s.k, s.k, s.pad, d.dy),
    run: async (gpu, d, want, _v, dt) => {
      const x = up(gpu, d.x, s.x, dt), w = up(gpu, d.w, [s.k, s.k, C], dt), dy = up(gpu, d.dy, yShape);
      gpu.pool.trim();
      const bufs = poisonPool(gpu, [{ shape: s.x }, { shape: [s.k, s.k, C] }, { shape: [C] }]);
      const g = depthwiseConv2dBackward(x, w, dy, { padding: s.pad });
      const got = await readGrads(bufs, [['dx', g.dx], ['dweight', g.dweight], ['dbias', g.dbias]]);
      releaseAll(x, w, dy);
      return gradParts(got, want, TOL.f32);
    },
  });
}

function addRowBackward(ctx: Ctx, shape: number[]): void {
  const C = shape[shape.length - 1];
  const n = numel(shape);
  addCase(ctx, {
    name: 'layernorm-backward',
    shape: `${dims(shape)} eps1e-6`,
    dtypes: ctx.dtypes,
    // The forward's row variants (the view forces the family's default).
    variants: tableVariants(ctx.gpu, 'layernorm', 'view'),
    data: (rng, dt) => ({ x: storedAs(randomArray(rng, n, 2, 0.5), dt), w: randomArray(rng, C, 0.2, 1), dy: randomArray(rng, n) }),
    want: (d) => ref.layerNormBackwardRef(d.x, d.w, d.dy, C, 1e-6),
    run: async (gpu, d, want, _v, dt) => {
      const x = up(gpu, d.x, shape, dt), w = up(gpu, d.w, [C]), dy = up(gpu, d.dy, shape);
      gpu.pool.trim();
      const bufs = poisonPool(gpu, [{ shape }, { shape: [C] }, { shape: [C] }]);
      const g = layerNormBackward(x, w, dy, { eps: 1e-6 });
      const got = await readGrads(bufs, [['dx', g.dx], ['dweight', g.dweight], ['dbias', g.dbias]]);
      releaseAll(x, w, dy);
      return gradParts(got, want, TOL.f32);
    },
  });
  addCase(ctx, {
    name: 'gelu-backward',
    shape: dims(shape),
    dtypes: ctx.dtypes,
    variants: single(ctx.gpu),
    data: (rng, dt) => ({ x: storedAs(randomArray(rng, n, 3), dt), dy: randomArray(rng, n) }),
    want: (d) => d.x.map((v, i) => ref.geluGradRef(v) * d.dy[i]),
    run: async (gpu, d, want, _v, dt) => {
      const x = up(gpu, d.x, shape, dt), dy = up(gpu, d.dy, shape);
      const bufs = poisonPool(gpu, [{ shape }]);
      const got = await readGrads(bufs, [['dx', geluBackward(x, dy)]]);
      releaseAll(x, dy);
      return gradParts(got, { dx: want }, TOL.f32);
    },
  });
  addCase(ctx, {
    name: 'softmax-backward',
    shape: dims(shape),
    variants: tableVariants(ctx.gpu, 'softmax', 'view'),
    data: (rng) => ({ y: ref.softmaxRef(randomArray(rng, n, 3), C), dy: randomArray(rng, n) }),
    want: (d) => ref.softmaxBackwardRef(d.y, d.dy, C),
    run: async (gpu, d, want) => {
      const y = up(gpu, d.y, shape), dy = up(gpu, d.dy, shape);
      const bufs = poisonPool(gpu, [{ shape }]);
      const got = await readGrads(bufs, [['dx', softmaxBackward(y, dy)]]);
      releaseAll(y, dy);
      return gradParts(got, { dx: want }, TOL.f32);
    },
  });
}

// ---------------------------------------------------------------- the plan

/**
 * The kernel checks for one shape set. Odd shapes cover every launcher path at small sizes;
 * full shapes are the full-size EchoCLIP layers (ConvNeXt-Base image tower, 512-wide text tower).
 */
export function kernelChecks(gpu: Gpu, set: ShapeSet, seeds: Seeds, opts: { quick?: boolean } = {}): Plan {
  const plan: Plan = { checks: [], skipped: [] };
  // Non-default variants: every odd shape in a full run; one shape per family under --quick and at
  // full size (the odd shapes already cover their edge paths).
  const extras = set === 'odd' && !opts.quick ? 'all' : 'once';
  const ctx: Ctx = { gpu, seeds, dtypes: gpu.f16 ? ['f32', 'f16'] : ['f32'], plan, extras, extrasSeen: new Set(), extrasCut: 0 };
  if (!gpu.f16) plan.skipped.push({ what: `${set}-shape kernel checks in f16 storage`, why: 'the adapter has no shader-f16' });
  if (set === 'odd') {
    addGemm(ctx, { M: 37, N: 29, K: 45, batch: 2 });
    addGemm(ctx, { M: 37, N: 29, K: 45, transB: true, bias: true, gelu: true, linear: true });
    addGemm(ctx, { M: 70, N: 68, K: 64, transB: true, bias: true, scale: true, residual: 'separate', linear: true });
    addGemm(ctx, { M: 33, N: 24, K: 16, transB: true, scale: true, residual: 'inplace', linear: true });
    addGemm(ctx, { M: 37, N: 28, K: 45, transA: true });
    addGemm(ctx, { M: 68, N: 20, K: 45, batch: 3, transA: true, bBroadcast: true });
    addConv(ctx, { layout: 'nchw', x: [2, 3, 30, 38], Cout: 20, k: 4, bias: true });
    addConv(ctx, { layout: 'nchw', x: [1, 3, 32, 40], Cout: 16, k: 4, bias: true });
    addConv(ctx, { layout: 'nhwc', x: [2, 12, 15, 17], Cout: 24, k: 2, bias: true });
    addConv(ctx, { layout: 'nhwc', x: [1, 5, 9, 11], Cout: 7, k: 2 });
    addDepthwise(ctx, { x: [2, 15, 17, 12], k: 7, pad: 3, bias: true });
    addDepthwise(ctx, { x: [1, 5, 3, 6], k: 7, pad: 3, bias: true });
    addDepthwiseLayerNorm(ctx, { x: [2, 9, 11, 12], k: 7, pad: 3, bias: true, eps: 1e-6 });
    addDepthwiseLayerNorm(ctx, { x: [1, 5, 3, 6], k: 7, pad: 3, eps: 1e-5 });
    addLayerNorm(ctx, [37, 45], 1e-6);
    addLayerNorm(ctx, [3, 13, 64], 1e-5);
    addLayerNorm2d(ctx, [2, 13, 5, 7]);
    addSoftmax(ctx, [37, 45], { scale: 0.7 });
    addSoftmax(ctx, [3, 13, 13], { causal: true });
    addAttention(ctx, 3, 13, 45, 5, true);
    addAttention(ctx, 2, 77, 64, 4, false);
    addElementwise(ctx, [7, 11, 13]);
    addElementwise(ctx, [16, 64]);
    addPooling(ctx, [2, 5, 7, 13], [7, 45], [3, 13, 45]);
    addEmbedding(ctx, 3, 13, 97, 45);
    addEmbedding(ctx, 2, 13, 61, 64);
    addContrastive(ctx, 5, 7, 45, 6);
    addLinearBackward(ctx, 37, 45, 29);
    addMatmulTransA(ctx, 1500, 13, 11);
    addConvBackward(ctx, { layout: 'nchw', x: [2, 3, 30, 38], Cout: 20, k: 4 });
    addConvBackward(ctx, { layout: 'nhwc', x: [1, 5, 9, 11], Cout: 7, k: 2 });
    addDepthwiseBackward(ctx, { x: [2, 15, 17, 12], k: 7, pad: 3 });
    addDepthwiseBackward(ctx, { x: [1, 5, 3, 6], k: 7, pad: 3 });
    addRowBackward(ctx, [37, 45]);
  } else {
    addGemm(ctx, { M: 3136, N: 512, K: 128, transB: true, bias: true, gelu: true, linear: true });
    addGemm(ctx, { M: 3136, N: 128, K: 512, transB: true, bias: true, scale: true, residual: 'separate', linear: true });
    addGemm(ctx, { M: 49, N: 4096, K: 1024, transB: true, bias: true, gelu: true, linear: true });
    addGemm(ctx, { M: 77, N: 1536, K: 512, transB: true, bias: true, linear: true });
    addConv(ctx, { layout: 'nchw', x: [1, 3, 224, 224], Cout: 128, k: 4, bias: true });
    addConv(ctx, { layout: 'nhwc', x: [1, 128, 56, 56], Cout: 256, k: 2, bias: true });
    addConv(ctx, { layout: 'nhwc', x: [1, 256, 28, 28], Cout: 512, k: 2, bias: true });
    addConv(ctx, { layout: 'nhwc', x: [1, 512, 14, 14], Cout: 1024, k: 2, bias: true });
    for (const [hw, c] of [[56, 128], [28, 256], [14, 512], [7, 1024]]) addDepthwise(ctx, { x: [1, hw, hw, c], k: 7, pad: 3, bias: true });
    for (const [hw, c] of [[56, 128], [7, 1024]]) addDepthwiseLayerNorm(ctx, { x: [1, hw, hw, c], k: 7, pad: 3, bias: true, eps: 1e-6 });
    for (const [hw, c] of [[56, 128], [28, 256], [14, 512], [7, 1024]]) addLayerNorm(ctx, [hw * hw, c], 1e-6);
    addLayerNorm(ctx, [2, 77, 512], 1e-5);
    addSoftmax(ctx, [8, 77, 77], { causal: true, scale: 0.125 });
    addAttention(ctx, 2, 77, 512, 8, true);
    addElementwise(ctx, [3136, 128]);
    addPooling(ctx, [2, 7, 7, 1024], [20, 512], [8, 77, 512]);
    addEmbedding(ctx, 2, 77, 49408, 512);
    addContrastive(ctx, 20, 553, 512, 32);
    addLinearBackward(ctx, 3136, 128, 512);
    addConvBackward(ctx, { layout: 'nhwc', x: [1, 128, 56, 56], Cout: 256, k: 2 });
    addDepthwiseBackward(ctx, { x: [1, 56, 56, 128], k: 7, pad: 3 });
  }
  if (ctx.extrasCut) plan.skipped.push({ what: `${ctx.extrasCut} ${set}-shape checks of variants that are neither profile's default (each still ran at one shape of its family)`, why: opts.quick ? '--quick' : 'full-size shapes: one per family' });
  return plan;
}
