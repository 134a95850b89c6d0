// Depthwise 2-D convolution, stride 1, zero padding, NHWC — the ConvNeXt block's 7×7 conv_dw.
//
// Each invocation computes a TH×TW tile of output pixels for one channel or four (a vec4). Input
// pixels are loaded once per tile row and reused for up to kw taps from registers (the tile loops
// are unrolled at generation time so they stay registers, not memory). Invocations are
// channel-fastest, so neighbouring SIMD lanes (software adapters) or threads (GPUs) read
// neighbouring addresses; no workgroup memory is needed on either.
//  - GPUs: a 1×4 row tile of vec4s with a runtime loop over kernel rows: few registers, wide grid.
//  - Software adapters (llvmpipe/SwiftShader run each invocation as a SIMD lane, where every
//    per-lane buffer load is a gather costing far more than an FMA): a 7×7 tile of scalars with
//    all 49 weights in registers, so each input pixel is loaded once for up to 49 taps — about
//    (13·13 + 49)/49 = 4.4 loads per output instead of 18 for a 1×8 row tile. Scalars, not vec4:
//    the same loads per channel, but a quarter of the LLVM values, which cuts llvmpipe's
//    compile of this unrolled shader from ~80 s to ~11 s. 7 divides every ConvNeXt stage size.
// The weight is read tap-major, [kh, kw, C], so one load fetches a tap for adjacent channels:
// repack the PyTorch [C, 1, kh, kw] weight ONCE at load time with `packDepthwiseWeight`.
import { ShapeError } from '../errors.js';
import type { Gpu } from '../gpu/device.js';
import type { HostArray } from '../gpu/dtype.js';
import { Tensor } from '../gpu/tensor.js';
import { permuteHost } from './conv2d.js';
import { cachedWgsl, checkFloatTensor, foldWorkgroups, packParams, wgslEnableF16, wgslFloatType, wgslPaddedRowLoad, wgslParamsStruct, wgslStorage, type FloatDType } from './wgsl.js';

export interface DepthwiseOptions {
  bias?: Tensor;
  /** Zero padding on each side, or [rows, columns] (default (k - 1) / 2: "same" output for odd kernels). */
  padding?: number | readonly [number, number];
  /**
   * Correlate with the kernel rotated by 180° (tap (dy, dx) reads weight (kh-1-dy, kw-1-dx)): with
   * padding k-1-pad this is the input gradient of a stride-1 depthwise conv, so backward reuses
   * this kernel's register tiling.
   */
  flipKernel?: boolean;
  out?: Tensor;
  /** dtype of a newly allocated output (default: x's dtype). */
  dtype?: FloatDType;
  /** Output tile per invocation and lane width (default by adapter, see defaultDepthwiseTile). */
  tile?: Partial<DepthwiseTile>;
}

export interface DepthwiseTile {
  /** Output rows per invocation (1..8). */
  tileH: number;
  /** Output pixels per invocation along W (1..16). */
  tileW: number;
  /** Four channels per invocation (vec4) when C % 4 == 0; scalars otherwise. */
  vec4: boolean;
}

interface DwKey {
  kh: number;
  kw: number;
  tw: number;
  th: number;
  vec: boolean;
  flip: boolean;
  bias: boolean;
  tX: FloatDType;
  tW: FloatDType;
  tB: FloatDType;
  tO: FloatDType;
}

const PARAMS = wgslParamsStruct('Params', ['H', 'W', 'Ho', 'Wo', 'C4', 'XB', 'YB', 'total', 'padY', 'padX']);
const WG = 64;

/**
 * Tile per adapter, measured on lavapipe at the four ConvNeXt-Base stage shapes (f32 GFLOP/s at
 * 56²×128 / 28²×256 / 14²×512 / 7²×1024): 1×8 vec4 2.7-3.2 / 2.9-3.0 / 2.6-2.7 / 2.8-3.5;
 * 4×8 vec4 6.2-8.7 / 5.4-5.8 / 4.6-4.8 / 3.9-4.3 (57 s compile); 7×7 scalar 6.3-8.8 / 6.0-6.9 /
 * 5.0-5.7 / 4.4-4.7 (11 s compile); 8×8 scalar 5.2-7.8 / 5.3-5.5 / 4.5-4.7 / 3.5-3.7.
 */
export function defaultDepthwiseTile(gpu: Gpu): DepthwiseTile {
  return gpu.kernelProfile === 'software' ? { tileH: 7, tileW: 7, vec4: false } : { tileH: 1, tileW: 4, vec4: true };
}

/** PyTorch depthwise weight [C, 1, kh, kw] → tap-major [kh, kw, C]. */
export function packDepthwiseWeight<T extends HostArray>(data: T, shape: readonly number[]): { data: T; shape: number[] } {
  if (shape.length !== 4 || shape[1] !== 1) throw new ShapeError('depthwise weight', `must be [C, 1, kh, kw], got [${shape.join(', ')}]`);
  const [C, , kh, kw] = shape;
  const r = permuteHost(data, [C, kh * kw], [1, 0]);
  return { data: r.data, shape: [kh, kw, C] };
}

/** WGSL for one depthwise configuration (exported for tests; cached: the 7×7 tile is 75 KB). */
export const depthwiseWgsl = cachedWgsl(generateDepthwiseWgsl);

function generateDepthwiseWgsl(k: DwKey): string {
  const V = k.vec ? 'vec4f' : 'f32';
  const span = k.tw + k.kw - 1;
  const range = (n: number) => [...Array(n).keys()];
  const f16 = [k.tX, k.tW, k.tO, k.bias ? k.tB : 'f32'].includes('f16');
  const loadRow = (indent: string) => range(span).map((e) => `${indent}let x${e} = ldx(rb, ix0 + ${e}, c4);\n`).join('');
  let body = '';
  if (k.th === 1) {
    // Row tile: a runtime loop over kernel rows, the row's kw weights loaded per row (few registers).
    for (const x of range(k.tw)) body += `  var a0_${x} = b;\n`;
    const tap = (dx: number) => (k.flip ? `((${k.kh - 1}u - dy) * ${k.kw}u + ${k.kw - 1 - dx}u)` : `(dy * ${k.kw}u + ${dx}u)`);
    body += `  for (var dy = 0u; dy < ${k.kh}u; dy++) {\n    let iy = iy0 + i32(dy);\n    if (iy < 0 || iy >= i32(p.H)) { continue; }\n    let rb = (n * p.H + u32(iy)) * p.W;\n${loadRow('    ')}`;
    for (let dx = 0; dx < k.kw; dx++) {
      body += `    { let w = ${V}(Wt[${tap(dx)} * p.C4 + c4]);\n`;
      body += range(k.tw).map((x) => `      a0_${x} += w * x${x + dx};`).join('\n') + '\n    }\n';
    }
    body += '  }\n';
  } else {
    // 2-D tile: all kh·kw weights in registers and every input row (fully unrolled) loaded once,
    // feeding each of the TH output rows it overlaps.
    const taps = k.kh * k.kw;
    for (let i = 0; i < taps; i++) body += `  let w${i} = ${V}(Wt[${k.flip ? taps - 1 - i : i}u * p.C4 + c4]);\n`;
    for (const t of range(k.th)) for (const x of range(k.tw)) body += `  var a${t}_${x} = b;\n`;
    for (let r = 0; r < k.th + k.kh - 1; r++) {
      body += `  {\n    let iy = iy0 + ${r};\n    if (iy >= 0 && iy < i32(p.H)) {\n      let rb = (n * p.H + u32(iy)) * p.W;\n${loadRow('      ')}`;
      for (const t of range(k.th)) {
        const dy = r - t;
        if (dy < 0 || dy >= k.kh) continue;
        for (let dx = 0; dx < k.kw; dx++) for (const x of range(k.tw)) body += `      a${t}_${x} += w${dy * k.kw + dx} * x${x + dx};\n`;
      }
      body += '    }\n  }\n';
    }
  }
  for (const t of range(k.th)) for (const x of range(k.tw))
    body += `  if (oy0 + ${t}u < p.Ho && ox0 + ${x}u < p.Wo) { Y[((n * p.Ho + oy0 + ${t}u) * p.Wo + ox0 + ${x}u) * p.C4 + c4] = ${wgslFloatType(k.tO, k.vec)}(a${t}_${x}); }\n`;
  return /* wgsl */ `${wgslEnableF16(f16)}${PARAMS.code}${wgslStorage(0, 'X', `array<${wgslFloatType(k.tX, k.vec)}>`, 'read')}${wgslStorage(1, 'Wt', `array<${wgslFloatType(k.tW, k.vec)}>`, 'read')}${
    k.bias ? wgslStorage(2, 'Bias', `array<${wgslFloatType(k.tB, k.vec)}>`, 'read') : ''
  }${wgslStorage(k.bias ? 3 : 2, 'Y', `array<${wgslFloatType(k.tO, k.vec)}>`, 'read_write')}@group(0) @binding(${k.bias ? 4 : 3}) var<uniform> p: Params;

${wgslPaddedRowLoad('X', V, 'p.W', 'p.C4')}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let id = (wid.y * nwg.x + wid.x) * ${WG}u + lid.x;
  if (id >= p.total) { return; }
  let c4 = id % p.C4;
  var t = id / p.C4;
  let xb = t % p.XB;
  t = t / p.XB;
  let yb = t % p.YB;
  let n = t / p.YB;
  let ox0 = xb * ${k.tw}u;
  let oy0 = yb * ${k.th}u;
  let ix0 = i32(ox0) - i32(p.padX);
  let iy0 = i32(oy0) - i32(p.padY);
  let b = ${k.bias ? `${V}(Bias[c4])` : `${V}(0.0)`};
${body}}
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
  const [padY, padX] = typeof pad === 'number' ? [pad, pad] : pad;
  for (const v of [padY, padX]) if (!Number.isInteger(v) || v < 0) throw new ShapeError('depthwise padding', `must be a non-negative integer, got ${v}`);
  const Ho = H + 2 * padY - kh + 1;
  const Wo = W + 2 * padX - kw + 1;
  if (Ho <= 0 || Wo <= 0) throw new ShapeError('depthwise input', `padded size ${H + 2 * padY}×${W + 2 * padX} is smaller than the ${kh}×${kw} kernel`);
  if (opts.bias) {
    checkFloatTensor(gpu, opts.bias, 'depthwise bias');
    if (opts.bias.size !== C) throw new ShapeError('depthwise bias', `must have C = ${C} values, got [${opts.bias.shape.join(', ')}]`);
  }
  const tile = { ...defaultDepthwiseTile(gpu), ...opts.tile };
  const { tileH: th, tileW: tw } = tile;
  if (!Number.isInteger(tw) || tw < 1 || tw > 16) throw new ShapeError('depthwise tileW', `must be an integer in 1..16, got ${tw}`);
  if (!Number.isInteger(th) || th < 1 || th > 8) throw new ShapeError('depthwise tileH', `must be an integer in 1..8, got ${th}`);
  const outShape = [N, Ho, Wo, C];
  const out = opts.out ?? Tensor.empty(gpu, outShape, opts.dtype ?? (x.dtype as FloatDType), 'depthwise.out');
  checkFloatTensor(gpu, out, 'depthwise out');
  if (out.size !== N * Ho * Wo * C) throw new ShapeError('depthwise out', `must hold [${outShape.join(', ')}], has [${out.shape.join(', ')}]`);
  if (out.buffer === x.buffer) throw new ShapeError('depthwise out', 'shares a buffer with the input', { hint: 'neighbouring pixels are still needed: write to a separate tensor' });
  const vec = tile.vec4 && C % 4 === 0;
  const C4 = vec ? C / 4 : C;
  const XB = Math.ceil(Wo / tw);
  const YB = Math.ceil(Ho / th);
  const total = N * YB * XB * C4;
  if (total === 0) return out;
  const key: DwKey = { kh, kw, tw, th, vec, flip: !!opts.flipKernel, bias: !!opts.bias, tX: x.dtype as FloatDType, tW: weight.dtype as FloatDType, tB: (opts.bias?.dtype ?? 'f32') as FloatDType, tO: out.dtype as FloatDType };
  const [gx, gy] = foldWorkgroups(Math.ceil(total / WG), gpu.limits.maxComputeWorkgroupsPerDimension);
  gpu.dispatch({
    kernel: { name: `depthwise${kh}x${kw}`, code: depthwiseWgsl(key), storage: opts.bias ? ['read', 'read', 'read', 'read_write'] : ['read', 'read', 'read_write'], uniformBytes: PARAMS.bytes },
    bindings: [x, weight, ...(opts.bias ? [opts.bias] : []), out],
    uniforms: packParams(PARAMS.bytes, [H, W, Ho, Wo, C4, XB, YB, total, padY, padX]),
    workgroups: [gx, gy],
  });
  return out;
}

/** "tile 7x7 scalar" — how benchmarks name a tile. */
export function depthwiseTileLabel(t: DepthwiseTile): string {
  return `tile ${t.tileH}x${t.tileW} ${t.vec4 ? 'vec4' : 'scalar'}`;
}
