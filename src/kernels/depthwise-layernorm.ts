// Depthwise conv fused with the LayerNorm over channels that follows it in every ConvNeXt block
// (conv_dw → norm): y = LN(dwconv(x) + bias) · lnWeight + lnBias, NHWC.
//
// Variants (family 'depthwise-layernorm'):
//  - 'fused' (GPUs): one workgroup per run of PX ≤ 4 adjacent output pixels of one row, across ALL
//    C channels: invocation i computes the conv for vec4 channels i, i + WG, … (J slots, all in
//    registers; the 1×PX row loop of depthwise.ts), then the mean and the squared deviations of the
//    PX pixels are two vec4 workgroup reductions, and the normalised values are written straight
//    from registers. The conv output never makes the round trip through memory (one write and one
//    read of N·H·W·C values saved, plus a launch), and the statistics keep the exact two-pass form
//    of layerNorm. The un-normalised conv output is written only when asked (`convOut`: the
//    LayerNorm backward of training and activation captures need it).
//  - 'fused-subgroup' (GPUs with subgroups): the same, the reductions by subgroupAdd plus one
//    workgroup-memory step across subgroups instead of a log2(WG)-step tree.
//  - 'unfused' (software adapters): depthwiseConv2d then layerNorm, each with its profile's tiles —
//    on llvmpipe the conv's 7×7 register tile and the barrier-free row LayerNorm beat the fused
//    kernel's workgroup reductions: at the ConvNeXt-Base stages 56²×128 / 28²×256 / 14²×512 /
//    7²×1024, f32, 5.5 / 2.6 / 2.2 / 0.7 ms unfused vs 34 / 60 / 6.0 / 12.7 ms fused (tree) and
//    146 / 72 / 26 / 6.0 ms fused-subgroup, and the fused pipelines compile in 10-40 s each.
// The statistics are f32 whatever the storage dtypes; with f16 storage the fused kernel normalises
// the f32 conv sums where the unfused path first rounds them to f16 (both within 2e-3 of float64).
import { ShapeError } from '../errors.js';
import type { Gpu } from '../gpu/device.js';
import { Tensor } from '../gpu/tensor.js';
import { checkDepthwise, checkDepthwiseOut, depthwiseBufferRows, depthwiseConv2d, wgslDepthwiseRowLoop } from './depthwise.js';
import { layerNorm } from './layernorm.js';
import { chooseVariant } from './variants.js';
import { cachedWgsl, f32Bits, foldWorkgroups, packParams, wgslEnableF16, wgslEnableSubgroups, wgslFloatType, wgslPaddedRowLoad, wgslParamsStruct, wgslStorage, wgslSubgroupReduce, wgslWorkgroupReduce, type FloatDType } from './wgsl.js';

export type DepthwiseLayerNormVariant = 'unfused' | 'fused' | 'fused-subgroup';

export interface DepthwiseLayerNormOptions {
  /** Conv bias [C]. */
  bias?: Tensor;
  /** LayerNorm weight and bias, f32 [C]. */
  lnWeight: Tensor;
  lnBias: Tensor;
  /** 1e-6 for timm's ConvNeXt. Default 1e-5 (as layerNorm). */
  eps?: number;
  /** Conv zero padding, as depthwiseConv2d (default "same"). */
  padding?: number | readonly [number, number];
  /** dtype of a newly allocated output (default: x's dtype). */
  dtype?: FloatDType;
  out?: Tensor;
  /** Also write the un-normalised conv output (with bias) here, [N, Ho, Wo, C]. */
  convOut?: Tensor;
  /** Force a variant (default: the variant table's choice for the device). */
  variant?: DepthwiseLayerNormVariant;
  /** Output pixels per workgroup of the fused kernel (1..4, default 4). */
  pixels?: number;
}

interface FusedKey {
  kh: number;
  kw: number;
  vec: boolean;
  /** Invocations per workgroup (a power of two) and channel slots per invocation. */
  wg: number;
  slots: number;
  px: number;
  subgroups: boolean;
  bias: boolean;
  conv: boolean;
  tX: FloatDType;
  tW: FloatDType;
  tB: FloatDType;
  tO: FloatDType;
  tC: FloatDType;
}

const PARAMS = wgslParamsStruct('Params', ['H', 'W', 'Ho', 'Wo', 'C4', 'XB', 'padY', 'padX', 'total', 'C', 'eps']);

export function defaultDepthwiseLayerNormVariant(gpu: Gpu): DepthwiseLayerNormVariant {
  return chooseVariant<DepthwiseLayerNormVariant>(gpu, 'depthwise-layernorm');
}

/**
 * Workgroup shape for C4 lanes: up to 64 invocations with at most 8 channel slots each (C ≤ 2048
 * in vec4s); wider channels take up to 256 invocations.
 */
export function fusedWorkgroup(C4: number): { wg: number; slots: number } {
  const pow2 = (n: number) => 2 ** Math.ceil(Math.log2(Math.max(1, n)));
  let wg = Math.min(64, pow2(C4));
  if (Math.ceil(C4 / wg) > 8) wg = Math.min(256, pow2(Math.ceil(C4 / 8)));
  return { wg, slots: Math.ceil(C4 / wg) };
}

/** WGSL of the fused kernel (exported for tests). */
export const depthwiseLayerNormWgsl = cachedWgsl((k: FusedKey): string => {
  const V = k.vec ? 'vec4f' : 'f32';
  const range = (n: number) => [...Array(n).keys()];
  const hsum = (v: string) => (k.vec ? `dot(${v}, vec4f(1.0))` : v);
  const f16 = [k.tX, k.tW, k.tO, k.bias ? k.tB : 'f32', k.conv ? k.tC : 'f32'].includes('f16');
  const slots = range(k.slots);
  const pix = range(k.px);
  const vec4Of = (f: (x: number) => string) => `vec4f(${range(4).map((x) => (x < k.px ? f(x) : '0.0')).join(', ')})`;
  const out = (x: number, j: number) => `((n * p.Ho + oy) * p.Wo + ox0 + ${x}u) * p.C4 + c${j}`;
  let b = '';
  // The conv, per slot: lanes past C4 keep zeros (they add nothing to the sums) and write nothing.
  for (const j of slots) {
    b += `  let c${j} = lid + ${j * k.wg}u;\n  let ok${j} = c${j} < p.C4;\n`;
    for (const x of pix) b += `  var a${j}_${x} = ${V}(0.0);\n`;
    b += `  if (ok${j}) {\n`;
    if (k.bias) for (const x of pix) b += `    a${j}_${x} = ${V}(Bias[c${j}]);\n`;
    b += wgslDepthwiseRowLoop({ kh: k.kh, kw: k.kw, tw: k.px, flip: false, V }, `c${j}`, (x) => `a${j}_${x}`, depthwiseBufferRows(`c${j}`), '    ');
    b += '  }\n';
  }
  // Two-pass statistics, the px pixels reduced together as the components of one vec4.
  b += `  let mean = wg_sum(${vec4Of((x) => slots.map((j) => hsum(`a${j}_${x}`)).join(' + '))}, lid) / f32(p.C);\n`;
  for (const j of slots) for (const x of pix) b += `  let d${j}_${x} = select(${V}(0.0), a${j}_${x} - mean[${x}], ok${j});\n`;
  b += `  let rstd = inverseSqrt(wg_sum(${vec4Of((x) => slots.map((j) => hsum(`d${j}_${x} * d${j}_${x}`)).join(' + '))}, lid) / f32(p.C) + bitcast<f32>(p.eps));\n`;
  for (const j of slots) {
    b += `  if (ok${j}) {\n    let gw = ${V}(G[c${j}]);\n    let gb = ${V}(Gb[c${j}]);\n`;
    for (const x of pix) {
      b += `    if (ox0 + ${x}u < p.Wo) {\n      Y[${out(x, j)}] = ${wgslFloatType(k.tO, k.vec)}(d${j}_${x} * rstd[${x}] * gw + gb);\n`;
      if (k.conv) b += `      Conv[${out(x, j)}] = ${wgslFloatType(k.tC, k.vec)}(a${j}_${x});\n`;
      b += '    }\n';
    }
    b += '  }\n';
  }
  let binding = 0;
  const decl = (name: string, type: string, access: 'read' | 'read_write' = 'read') => wgslStorage(binding++, name, type, access);
  const arr = (t: FloatDType) => `array<${wgslFloatType(t, k.vec)}>`;
  const decls =
    decl('X', arr(k.tX)) + decl('Wt', arr(k.tW)) + (k.bias ? decl('Bias', arr(k.tB)) : '') + decl('G', arr('f32')) + decl('Gb', arr('f32')) +
    decl('Y', arr(k.tO), 'read_write') + (k.conv ? decl('Conv', arr(k.tC), 'read_write') : '');
  return /* wgsl */ `${wgslEnableF16(f16)}${wgslEnableSubgroups(k.subgroups)}${PARAMS.code}${decls}@group(0) @binding(${binding}) var<uniform> p: Params;
${wgslPaddedRowLoad('X', V, 'p.W', 'p.C4')}${k.subgroups ? wgslSubgroupReduce(k.wg, 'vec4f') : wgslWorkgroupReduce(k.wg, 'vec4f')}
@compute @workgroup_size(${k.wg})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let g = wid.y * nwg.x + wid.x;
  if (g >= p.total) { return; } // uniform per workgroup: the reductions' barriers stay uniform
${k.subgroups ? '  sg_init(lid);\n' : ''}  let xb = g % p.XB;
  let t = g / p.XB;
  let oy = t % p.Ho;
  let n = t / p.Ho;
  let ox0 = xb * ${k.px}u;
  let ix0 = i32(ox0) - i32(p.padX);
  let iy0 = i32(oy) - i32(p.padY);
${b}}
`;
});

/**
 * LayerNorm over C of the depthwise conv of NHWC x: layerNorm(depthwiseConv2d(x, weight, {bias,
 * padding}), lnWeight, lnBias, {eps}) in one pass on GPUs (see the header). Returns [N, Ho, Wo, C];
 * with `convOut`, also writes the un-normalised conv output there.
 */
export function depthwiseConv2dLayerNorm(x: Tensor, weight: Tensor, opts: DepthwiseLayerNormOptions): Tensor {
  const gpu = x.gpu;
  const s = checkDepthwise(x, weight, opts, 'depthwiseConv2dLayerNorm');
  const { N, C, kh, kw, Ho, Wo } = s;
  for (const [t, what] of [[opts.lnWeight, 'lnWeight'], [opts.lnBias, 'lnBias']] as const) {
    if (!t || t.dtype !== 'f32' || t.size !== C) throw new ShapeError(`depthwiseConv2dLayerNorm ${what}`, `must be f32 [${C}], got ${t ? `${t.dtype} [${t.shape.join(', ')}]` : 'nothing'}`);
  }
  const outShape = [N, Ho, Wo, C];
  const dtype = opts.dtype ?? (x.dtype as FloatDType);
  const out = opts.out ?? Tensor.empty(gpu, outShape, dtype, 'depthwise-layernorm.out');
  checkDepthwiseOut(x, out, outShape, 'depthwiseConv2dLayerNorm out');
  if (opts.convOut) {
    checkDepthwiseOut(x, opts.convOut, outShape, 'depthwiseConv2dLayerNorm convOut');
    if (opts.convOut.buffer === out.buffer) throw new ShapeError('depthwiseConv2dLayerNorm convOut', 'shares a buffer with out');
  }
  const eps = opts.eps ?? 1e-5;
  const variant = opts.variant ?? defaultDepthwiseLayerNormVariant(gpu);
  if (variant === 'unfused') {
    const conv = opts.convOut ?? Tensor.empty(gpu, outShape, dtype, 'depthwise-layernorm.conv');
    depthwiseConv2d(x, weight, { bias: opts.bias, padding: [s.padY, s.padX], out: conv });
    layerNorm(conv.reshape(outShape), opts.lnWeight, opts.lnBias, { eps, out: out.reshape(outShape), dtype: out.dtype as FloatDType });
    if (!opts.convOut) conv.release();
    return out;
  }
  if (variant === 'fused-subgroup' && !gpu.subgroups) throw new ShapeError('depthwiseConv2dLayerNorm', "variant 'fused-subgroup' needs the adapter's subgroups feature", { hint: "use variant 'fused'" });
  const px = opts.pixels ?? 4;
  if (!Number.isInteger(px) || px < 1 || px > 4) throw new ShapeError('depthwiseConv2dLayerNorm pixels', `must be an integer in 1..4, got ${px}`);
  const vec = C % 4 === 0;
  const C4 = vec ? C / 4 : C;
  const XB = Math.ceil(Wo / px);
  const total = N * Ho * XB;
  if (total === 0 || C === 0) return out;
  const { wg, slots } = fusedWorkgroup(C4);
  const key: FusedKey = {
    kh, kw, vec, wg, slots, px, subgroups: variant === 'fused-subgroup', bias: !!opts.bias, conv: !!opts.convOut,
    tX: x.dtype as FloatDType, tW: weight.dtype as FloatDType, tB: (opts.bias?.dtype ?? 'f32') as FloatDType, tO: out.dtype as FloatDType, tC: (opts.convOut?.dtype ?? 'f32') as FloatDType,
  };
  const bindings = [x, weight, ...(opts.bias ? [opts.bias] : []), opts.lnWeight, opts.lnBias, out, ...(opts.convOut ? [opts.convOut] : [])];
  const writes = opts.convOut ? 2 : 1;
  gpu.dispatch({
    kernel: {
      name: `depthwise${kh}x${kw}-layernorm`,
      code: depthwiseLayerNormWgsl(key),
      storage: bindings.map((_, i) => (i >= bindings.length - writes ? 'read_write' : 'read')),
      uniformBytes: PARAMS.bytes,
    },
    bindings,
    uniforms: packParams(PARAMS.bytes, [s.H, s.W, Ho, Wo, C4, XB, s.padY, s.padX, total, C, f32Bits(eps)]),
    workgroups: foldWorkgroups(total, gpu.limits.maxComputeWorkgroupsPerDimension),
  });
  return out;
}
