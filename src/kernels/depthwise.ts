// Depthwise 2-D convolution, stride 1, zero padding, NHWC — the ConvNeXt block's 7×7 conv_dw.
//
// Each invocation computes TW (8 on software adapters, 4 on GPUs) consecutive output pixels along W for 4 channels (one vec4; scalar
// when C % 4 != 0). Per kernel row it loads the TW + kw - 1 input pixels it needs once and reuses
// each for up to kw taps, all held in registers (the dx/tile loops are unrolled at generation time
// so they stay registers, not memory): a 7×7 filter then costs ~(TW+6)/TW loads per output row
// instead of 7. Invocations are channel-fastest, so neighbouring SIMD lanes (software adapters) or
// threads (GPUs) read neighbouring addresses; no workgroup memory is needed on either.
// The weight is read tap-major, [kh, kw, C], so one vec4 load fetches a tap for 4 channels: repack
// the PyTorch [C, 1, kh, kw] weight ONCE at load time with `packDepthwiseWeight`.
import { ShapeError } from '../errors.js';
import type { Gpu } from '../gpu/device.js';
import type { HostArray } from '../gpu/dtype.js';
import { Tensor } from '../gpu/tensor.js';
import { permuteHost } from './conv2d.js';
import { checkFloatTensor, foldWorkgroups, packParams, wgslEnableF16, wgslFloatType, wgslParamsStruct, wgslStorage, type FloatDType } from './wgsl.js';

export interface DepthwiseOptions {
  bias?: Tensor;
  /** Zero padding on each side (default (k - 1) / 2: "same" output for odd kernels). */
  padding?: number;
  out?: Tensor;
  /** dtype of a newly allocated output (default: x's dtype). */
  dtype?: FloatDType;
  /** Output pixels per invocation along W (default by adapter, see defaultDepthwiseTile). */
  tileW?: number;
}

interface DwKey {
  kh: number;
  kw: number;
  tw: number;
  vec: boolean;
  bias: boolean;
  tX: FloatDType;
  tW: FloatDType;
  tB: FloatDType;
  tO: FloatDType;
}

const PARAMS = wgslParamsStruct('Params', ['H', 'W', 'Ho', 'Wo', 'C4', 'XB', 'total', 'pad']);
const WG = 64;

/**
 * Output pixels per invocation along W. Software adapters: 8 (measured on lavapipe at the four
 * ConvNeXt-Base stage shapes, 8 was 0-25 % faster than 4 and 1.5-2× faster than 2: fewer
 * redundant input loads per output); GPUs: 4 keeps register use low and the grid wide.
 */
export function defaultDepthwiseTile(gpu: Gpu): number {
  return gpu.kernelProfile === 'software' ? 8 : 4;
}

/** PyTorch depthwise weight [C, 1, kh, kw] → tap-major [kh, kw, C]. */
export function packDepthwiseWeight<T extends HostArray>(data: T, shape: readonly number[]): { data: T; shape: number[] } {
  if (shape.length !== 4 || shape[1] !== 1) throw new ShapeError('depthwise weight', `must be [C, 1, kh, kw], got [${shape.join(', ')}]`);
  const [C, , kh, kw] = shape;
  const r = permuteHost(data, [C, kh * kw], [1, 0]);
  return { data: r.data, shape: [kh, kw, C] };
}

/** WGSL for one depthwise configuration (exported for tests). */
export function depthwiseWgsl(k: DwKey): string {
  const V = k.vec ? 'vec4f' : 'f32';
  const span = k.tw + k.kw - 1;
  const tiles = [...Array(k.tw).keys()];
  const f16 = [k.tX, k.tW, k.tO, k.bias ? k.tB : 'f32'].includes('f16');
  let taps = '';
  for (let dx = 0; dx < k.kw; dx++) {
    taps += `    { let w = ${V}(Wt[(dy * ${k.kw}u + ${dx}u) * p.C4 + c4]);\n`;
    taps += tiles.map((t) => `      acc[${t}] += w * x${t + dx};`).join('\n') + '\n    }\n';
  }
  return /* wgsl */ `${wgslEnableF16(f16)}${PARAMS.code}${wgslStorage(0, 'X', `array<${wgslFloatType(k.tX, k.vec)}>`, 'read')}${wgslStorage(1, 'Wt', `array<${wgslFloatType(k.tW, k.vec)}>`, 'read')}${
    k.bias ? wgslStorage(2, 'Bias', `array<${wgslFloatType(k.tB, k.vec)}>`, 'read') : ''
  }${wgslStorage(k.bias ? 3 : 2, 'Y', `array<${wgslFloatType(k.tO, k.vec)}>`, 'read_write')}@group(0) @binding(${k.bias ? 4 : 3}) var<uniform> p: Params;

// Input pixel ix of row base rb (pixel index of column 0), zero outside the image.
fn ldx(rb: u32, ix: i32, c4: u32) -> ${V} {
  let inside = ix >= 0 && ix < i32(p.W);
  return select(${V}(0.0), ${V}(X[(rb + u32(clamp(ix, 0, i32(p.W) - 1))) * p.C4 + c4]), inside);
}

@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let id = (wid.y * nwg.x + wid.x) * ${WG}u + lid.x;
  if (id >= p.total) { return; }
  let c4 = id % p.C4;
  var t = id / p.C4;
  let xb = t % p.XB;
  t = t / p.XB;
  let oy = t % p.Ho;
  let n = t / p.Ho;
  let ox0 = xb * ${k.tw}u;
  let b = ${k.bias ? `${V}(Bias[c4])` : `${V}(0.0)`};
  var acc = array<${V}, ${k.tw}>(${tiles.map(() => 'b').join(', ')});
  let ix0 = i32(ox0) - i32(p.pad);
  for (var dy = 0u; dy < ${k.kh}u; dy++) {
    let iy = i32(oy + dy) - i32(p.pad);
    if (iy < 0 || iy >= i32(p.H)) { continue; }
    let rb = (n * p.H + u32(iy)) * p.W;
${[...Array(span).keys()].map((e) => `    let x${e} = ldx(rb, ix0 + ${e}, c4);`).join('\n')}
${taps}  }
  let ob = ((n * p.Ho + oy) * p.Wo + ox0) * p.C4 + c4;
${tiles.map((t) => `  if (ox0 + ${t}u < p.Wo) { Y[ob + ${t}u * p.C4] = ${wgslFloatType(k.tO, k.vec)}(acc[${t}]); }`).join('\n')}
}
`;
}

/**
 * Depthwise conv (PyTorch Conv2d(C, C, k, padding=pad, groups=C)) on NHWC x [N, H, W, C] with the
 * tap-major weight [kh, kw, C] (packDepthwiseWeight) and optional bias [C]. Returns NHWC
 * [N, H + 2·pad - kh + 1, W + 2·pad - kw + 1, C].
 */
export function depthwiseConv2d(x: Tensor, weight: Tensor, opts: DepthwiseOptions = {}): Tensor {
  const gpu = x.gpu;
  checkFloatTensor(gpu, x, 'depthwise input');
  checkFloatTensor(gpu, weight, 'depthwise weight');
  if (x.shape.length !== 4) throw new ShapeError('depthwise input', `must be NHWC [N, H, W, C], got [${x.shape.join(', ')}]`);
  const [N, H, W, C] = x.shape;
  if (weight.shape.length !== 3 || weight.shape[2] !== C) {
    const hint = weight.shape.length === 4 ? 'this looks like PyTorch order [C, 1, kh, kw]: repack it once with packDepthwiseWeight' : 'check the layer';
    throw new ShapeError('depthwise weight', `must be tap-major [kh, kw, C] with C = ${C}, got [${weight.shape.join(', ')}]`, { hint });
  }
  const [kh, kw] = weight.shape;
  if (kh === 0 || kw === 0) throw new ShapeError('depthwise weight', `has an empty kernel [${weight.shape.join(', ')}]`);
  const pad = opts.padding ?? Math.floor((Math.max(kh, kw) - 1) / 2);
  if (!Number.isInteger(pad) || pad < 0) throw new ShapeError('depthwise padding', `must be a non-negative integer, got ${pad}`);
  const Ho = H + 2 * pad - kh + 1;
  const Wo = W + 2 * pad - kw + 1;
  if (Ho <= 0 || Wo <= 0) throw new ShapeError('depthwise input', `padded size ${H + 2 * pad}×${W + 2 * pad} is smaller than the ${kh}×${kw} kernel`);
  if (opts.bias) {
    checkFloatTensor(gpu, opts.bias, 'depthwise bias');
    if (opts.bias.size !== C) throw new ShapeError('depthwise bias', `must have C = ${C} values, got [${opts.bias.shape.join(', ')}]`);
  }
  const tw = opts.tileW ?? defaultDepthwiseTile(gpu);
  if (!Number.isInteger(tw) || tw < 1 || tw > 16) throw new ShapeError('depthwise tileW', `must be an integer in 1..16, got ${tw}`);
  const outShape = [N, Ho, Wo, C];
  const out = opts.out ?? Tensor.empty(gpu, outShape, opts.dtype ?? (x.dtype as FloatDType), 'depthwise.out');
  checkFloatTensor(gpu, out, 'depthwise out');
  if (out.size !== N * Ho * Wo * C) throw new ShapeError('depthwise out', `must hold [${outShape.join(', ')}], has [${out.shape.join(', ')}]`);
  if (out.buffer === x.buffer) throw new ShapeError('depthwise out', 'shares a buffer with the input', { hint: 'neighbouring pixels are still needed: write to a separate tensor' });
  const vec = C % 4 === 0;
  const C4 = vec ? C / 4 : C;
  const XB = Math.ceil(Wo / tw);
  const total = N * Ho * XB * C4;
  if (total === 0) return out;
  const key: DwKey = { kh, kw, tw, vec, bias: !!opts.bias, tX: x.dtype as FloatDType, tW: weight.dtype as FloatDType, tB: (opts.bias?.dtype ?? 'f32') as FloatDType, tO: out.dtype as FloatDType };
  const [gx, gy] = foldWorkgroups(Math.ceil(total / WG), gpu.limits.maxComputeWorkgroupsPerDimension);
  gpu.dispatch({
    kernel: { name: `depthwise${kh}x${kw}`, code: depthwiseWgsl(key), storage: opts.bias ? ['read', 'read', 'read', 'read_write'] : ['read', 'read', 'read_write'], uniformBytes: PARAMS.bytes },
    bindings: [x, weight, ...(opts.bias ? [opts.bias] : []), out],
    uniforms: packParams(PARAMS.bytes, [H, W, Ho, Wo, C4, XB, total, pad]),
    workgroups: [gx, gy],
  });
  return out;
}
