// LayerNorm: y = (x - mean) / sqrt(var + eps) · weight + bias, biased variance, statistics in f32
// with two passes over the row (mean, then squared deviations), which keeps full f32 accuracy even
// when |mean| >> std (Welford's single pass is not needed: rows are at most a few KiB and cached).
//
// - layerNorm: over the last axis (channels-last). It serves nn.LayerNorm in the text tower, the
//   ConvNeXt block norm, and LayerNorm2d in our NHWC image tower (same math on [N·H·W, C] rows).
//   Variants: 'row' — one invocation per row, no workgroup memory (software adapters: rows are
//   independent SIMD lanes, no barriers); 'workgroup' — 64 invocations per row with a workgroup
//   reduction (real GPUs: a lone thread per 1024-wide row would leave the machine idle).
//   Measured on lavapipe in GB of traffic per CPU-second: 'row' 0.8 / 0.5 / 1.2 on [3136, 128] /
//   [196, 512] / [15554, 512], 'workgroup' 0.10 / 0.27 / 0.35 (its barriers serialise the lanes).
//   'subgroup' (where the device has subgroups; the real-GPU default then): the same 64-wide
//   workgroup per row, its sums through subgroupAdd plus one small workgroup step across the
//   subgroups (2 barriers per sum and 1 per row instead of the tree's 8 per sum). One WGSL body
//   serves all three variants.
// - layerNorm2dNCHW: LayerNorm2d over C of an NCHW tensor (channels-first), one invocation per
//   (n, h, w) position; neighbouring invocations read neighbouring addresses for every channel.
// x and out may be f16 (where the adapter has shader-f16); weight and bias are f32.
import { ShapeError } from '../errors.js';
import type { Gpu } from '../gpu/device.js';
import { Tensor } from '../gpu/tensor.js';
import { chooseVariant } from './variants.js';
import { checkFloatTensor, checkSubgroups, f32Bits, foldWorkgroups, packParams, wgslEnableF16, wgslEnableSubgroups, wgslFloatType, wgslParamsStruct, wgslRowLoop, wgslStorage, type FloatDType, wgslFoldedMain } from './wgsl.js';

export type RowVariant = 'row' | 'workgroup' | 'subgroup';

export interface LayerNormOptions {
  /** 1e-6 for timm (image tower), 1e-5 for nn.LayerNorm (text tower). Default 1e-5. */
  eps?: number;
  /** Output dtype (default: x's dtype). */
  dtype?: FloatDType;
  out?: Tensor;
  /** Force a variant (default: by adapter profile). */
  variant?: RowVariant;
}

const PARAMS = wgslParamsStruct('Params', ['rows', 'C', 'eps', 'inner']);
/** Invocations per workgroup: rows per workgroup in 'row' (and channels-first), invocations per row otherwise. */
const WG = 64;

/** The row variant of LayerNorm (or of softmax: its own table family) on this device. */
export function defaultRowVariant(gpu: Gpu, family: 'layernorm' | 'softmax' = 'layernorm'): RowVariant {
  return chooseVariant<RowVariant>(gpu, family);
}

interface LnKey {
  variant: RowVariant | 'channels-first';
  inT: FloatDType;
  outT: FloatDType;
  vec: boolean;
}

function lnBindings(k: LnKey): string {
  const w = k.vec ? 'vec4f' : 'f32';
  return (
    wgslEnableF16(k.inT === 'f16' || k.outT === 'f16') +
    wgslEnableSubgroups(k.variant === 'subgroup') +
    PARAMS.code +
    wgslStorage(0, 'X', `array<${wgslFloatType(k.inT, k.vec)}>`, 'read') +
    wgslStorage(1, 'W', `array<${w}>`, 'read') +
    wgslStorage(2, 'Bv', `array<${w}>`, 'read') +
    wgslStorage(3, 'Y', `array<${wgslFloatType(k.outT, k.vec)}>`, 'read_write') +
    `@group(0) @binding(4) var<uniform> p: Params;\n`
  );
}

/** WGSL for one LayerNorm configuration (exported for tests). */
export function layerNormWgsl(k: LnKey): string {
  const V = k.vec ? 'vec4f' : 'f32';
  const OV = wgslFloatType(k.outT, k.vec);
  const hsum = k.vec ? 'dot(v, vec4f(1.0))' : 'v';
  const common = lnBindings(k) + `
fn ld(i: u32) -> ${V} { return ${V}(X[i]); }
fn hsum(v: ${V}) -> f32 { return ${hsum}; }
`;
  if (k.variant === 'channels-first') {
    // p.C channels, p.inner = H·W; invocation per (n, s): element (n, c, s) at (n·C + c)·inner + s.
    return common + `${wgslFoldedMain(WG)}  let pos = gid;
  if (pos >= p.rows) { return; }
  let n = pos / p.inner;
  let s = pos % p.inner;
  let base = n * p.C * p.inner + s;
  var sum = 0.0;
  for (var c = 0u; c < p.C; c++) { sum += ld(base + c * p.inner); }
  let mean = sum / f32(p.C);
  var sq = 0.0;
  for (var c = 0u; c < p.C; c++) { let d = ld(base + c * p.inner) - mean; sq += d * d; }
  let rstd = inverseSqrt(sq / f32(p.C) + bitcast<f32>(p.eps));
  for (var c = 0u; c < p.C; c++) {
    let i = base + c * p.inner;
    Y[i] = ${OV}((ld(i) - mean) * rstd * W[c] + Bv[c]);
  }
}
`;
  }
  // Row-major rows of p.C values; with vec the row is p.C/4 vec4s.
  const n = k.vec ? 'p.C / 4u' : 'p.C';
  // One body for every row variant: 'row' loops serially, the others split the row over a workgroup.
  const r = wgslRowLoop(k.variant, WG);
  return common + r.code + `${wgslFoldedMain(WG)}  let row = ${r.row};
  if (row >= p.rows) { return; } // uniform per workgroup in the workgroup variants: their barriers stay uniform
  ${r.init}
  let n = ${n};
  let base = row * n;
  var s = 0.0;
  ${r.loop('i', 'n')} { s += hsum(ld(base + i)); }
  let mean = ${r.sum('s')} / f32(p.C);
  var sq = 0.0;
  ${r.loop('i', 'n')} { let d = ld(base + i) - mean; sq += hsum(d * d); }
  let rstd = inverseSqrt(${r.sum('sq')} / f32(p.C) + bitcast<f32>(p.eps));
  ${r.loop('i', 'n')} { Y[base + i] = ${OV}((ld(base + i) - mean) * rstd * W[i] + Bv[i]); }
}
`;
}

function checkAffine(t: Tensor, C: number, what: string): void {
  if (t.dtype !== 'f32' || t.size !== C) throw new ShapeError(`layer norm ${what}`, `must be f32 [${C}], got ${t.dtype} [${t.shape.join(', ')}]`);
}

function prepareOut(x: Tensor, opts: LayerNormOptions, label: string): Tensor {
  const outT = opts.dtype ?? (x.dtype as FloatDType);
  checkFloatTensor(x.gpu, x, `${label} input`);
  const out = opts.out ?? Tensor.empty(x.gpu, x.shape, outT, `${label}.out`);
  checkFloatTensor(x.gpu, out, `${label} output`);
  if (out.size !== x.size || out.dtype !== outT) throw new ShapeError(`${label} out`, `must be ${outT} with ${x.size} values, got ${out.dtype} [${out.shape.join(', ')}]`);
  return out;
}

/** LayerNorm over the last axis of x (any rank ≥ 1); weight and bias are f32 [C]. */
export function layerNorm(x: Tensor, weight: Tensor, bias: Tensor, opts: LayerNormOptions = {}): Tensor {
  if (x.shape.length < 1) throw new ShapeError('layerNorm', `needs at least 1 dimension, got a scalar`);
  const C = x.shape[x.shape.length - 1];
  checkAffine(weight, C, 'weight');
  checkAffine(bias, C, 'bias');
  const out = prepareOut(x, opts, 'layerNorm');
  const rows = C === 0 ? 0 : x.size / C;
  if (rows === 0) return out;
  const gpu = x.gpu;
  const variant = opts.variant ?? defaultRowVariant(gpu);
  checkSubgroups(gpu, variant, 'layerNorm');
  const vec = C % 4 === 0 && [x, weight, bias, out].every((t) => t.byteOffset % 16 === 0);
  const key: LnKey = { variant, inT: x.dtype as FloatDType, outT: out.dtype as FloatDType, vec };
  const count = variant === 'row' ? Math.ceil(rows / WG) : rows;
  gpu.dispatch({
    kernel: { name: `layernorm/${variant}`, code: layerNormWgsl(key), storage: ['read', 'read', 'read', 'read_write'], uniformBytes: PARAMS.bytes },
    bindings: [x, weight, bias, out],
    uniforms: packParams(PARAMS.bytes, [rows, C, f32Bits(opts.eps ?? 1e-5), 1]),
    workgroups: foldWorkgroups(count, gpu.limits.maxComputeWorkgroupsPerDimension),
  });
  return out;
}

/** LayerNorm2d over the channels of an NCHW tensor [N, C, H, W] (timm LayerNorm2d). */
export function layerNorm2dNCHW(x: Tensor, weight: Tensor, bias: Tensor, opts: Omit<LayerNormOptions, 'variant'> = {}): Tensor {
  if (x.shape.length !== 4) throw new ShapeError('layerNorm2dNCHW', `expects [N, C, H, W], got [${x.shape.join(', ')}]`);
  const [N, C, H, W] = x.shape;
  checkAffine(weight, C, 'weight');
  checkAffine(bias, C, 'bias');
  const out = prepareOut(x, opts, 'layerNorm2dNCHW');
  const positions = N * H * W;
  if (positions === 0 || C === 0) return out;
  const gpu = x.gpu;
  const key: LnKey = { variant: 'channels-first', inT: x.dtype as FloatDType, outT: out.dtype as FloatDType, vec: false };
  gpu.dispatch({
    kernel: { name: 'layernorm/channels-first', code: layerNormWgsl(key), storage: ['read', 'read', 'read', 'read_write'], uniformBytes: PARAMS.bytes },
    bindings: [x, weight, bias, out],
    uniforms: packParams(PARAMS.bytes, [positions, C, f32Bits(opts.eps ?? 1e-5), H * W]),
    workgroups: foldWorkgroups(Math.ceil(positions / WG), gpu.limits.maxComputeWorkgroupsPerDimension),
  });
  return out;
}
