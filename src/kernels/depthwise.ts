// Depthwise 2-D convolution, stride 1, zero padding, NHWC — the ConvNeXt block's 7×7 conv_dw.
//
// Each invocation computes a TH×TW tile of output pixels for one channel or four (a vec4). Input
// pixels are loaded once per tile row and reused for up to kw taps from registers (the tile loops
// are unrolled at generation time so they stay registers, not memory). Invocations are
// channel-fastest, so neighbouring SIMD lanes (software adapters) or threads (GPUs) read
// neighbouring addresses. Where the input comes from:
//  - GPUs: workgroup-staged halo tiles ('halo8x8'). A workgroup owns an 8×8 output tile × 8 vec4
//    channel lanes; it loads the (8+6)×(8+6) input halo of its channels into workgroup memory once
//    (zero padding by bounds, so no later bounds checks), then each invocation computes a 1×4 row
//    of vec4 outputs from workgroup memory with a loop over kernel rows: ~3 global loads per output
//    instead of 17.5 (L1/L2) for the unstaged 1×4 row tile ('row1x4', kept as a variant).
//  - Software adapters (llvmpipe/SwiftShader run each invocation as a SIMD lane, where every
//    per-lane buffer load is a gather costing far more than an FMA, and workgroup barriers
//    serialise the lanes): a 7×7 tile of scalars straight from the buffer, with all 49 weights in
//    registers, so each input pixel is loaded once for up to 49 taps — about (13·13 + 49)/49 = 4.4
//    loads per output instead of 18 for a 1×8 row tile. Scalars, not vec4: the same loads per
//    channel, but a quarter of the LLVM values, which cuts llvmpipe's compile of this unrolled
//    shader from ~80 s to ~11 s. 7 divides every ConvNeXt stage size.
// The weight is read tap-major, [kh, kw, C], so one load fetches a tap for adjacent channels:
// repack the PyTorch [C, 1, kh, kw] weight ONCE at load time with `packDepthwiseWeight`.
import { ShapeError } from '../errors.js';
import type { Gpu } from '../gpu/device.js';
import type { HostArray } from '../gpu/dtype.js';
import { Tensor } from '../gpu/tensor.js';
import { permuteHost } from './conv2d.js';
import { chooseVariant } from './variants.js';
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
  /**
   * Output tile per invocation, lane width and workgroup staging (default by adapter, see
   * defaultDepthwiseTile). Fields given override the default's; `halo: null` turns staging off.
   */
  tile?: Partial<DepthwiseTile>;
}

/** Workgroup staging of the input: the workgroup's output tile in invocation tiles, and its channel lanes. */
export interface DepthwiseHalo {
  /** Invocation tiles per workgroup along H (the workgroup covers rows·tileH output rows). */
  rows: number;
  /** Invocation tiles per workgroup along W. */
  cols: number;
  /**
   * Channel lanes (vec4s, or scalars without vec4) per workgroup: at most this many — fewer when C
   * has fewer, or when the halo would not fit the adapter's workgroup memory.
   */
  lanes: number;
}

export interface DepthwiseTile {
  /** Output rows per invocation (1..8). */
  tileH: number;
  /** Output pixels per invocation along W (1..16). */
  tileW: number;
  /** Four channels per invocation (vec4) when C % 4 == 0; scalars otherwise. */
  vec4: boolean;
  /** Stage each workgroup's input halo in workgroup memory (null: every invocation reads the buffer). */
  halo: DepthwiseHalo | null;
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
  /** Workgroup staging (lanes already fitted to C and the memory limit), or null. */
  halo: DepthwiseHalo | null;
}

const PARAMS = wgslParamsStruct('Params', ['H', 'W', 'Ho', 'Wo', 'C4', 'XB', 'YB', 'total', 'padY', 'padX', 'CG']);
const WG = 64;

export type DepthwiseVariant = 'scalar7x7' | 'row1x4' | 'halo8x8';

/**
 * The variants (rows of KERNEL_VARIANTS, family 'depthwise'), measured on lavapipe at the four
 * ConvNeXt-Base stage shapes (f32 GFLOP/s at 56²×128 / 28²×256 / 14²×512 / 7²×1024): 1×8 vec4
 * 2.7-3.2 / 2.9-3.0 / 2.6-2.7 / 2.8-3.5; 4×8 vec4 6.2-8.7 / 5.4-5.8 / 4.6-4.8 / 3.9-4.3 (57 s
 * compile); 7×7 scalar 6.3-8.8 / 6.0-6.9 / 5.0-5.7 / 4.4-4.7 (11 s compile); 8×8 scalar 5.2-7.8 /
 * 5.3-5.5 / 4.5-4.7 / 3.5-3.7. Same-run f32 (two runs on a contended 2-core machine): scalar7x7
 * 3.8-5.0 / 7.0-8.2 / 3.4-6.4 / 3.9-7.7, row1x4 0.6-0.8 / 0.7-1.0 / 1.6 / 1.3-2.5, halo8x8
 * 0.6-0.8 / 0.4-0.5 / 0.9-1.5 / 1.2-1.4 — its barriers serialise llvmpipe's lanes. halo8x8 is for
 * GPUs, where it cuts the global (L1/L2) loads per output from 17.5 to ~3 (not yet timed on one).
 */
export const DEPTHWISE_TILES: Readonly<Record<DepthwiseVariant, DepthwiseTile>> = {
  scalar7x7: { tileH: 7, tileW: 7, vec4: false, halo: null },
  row1x4: { tileH: 1, tileW: 4, vec4: true, halo: null },
  halo8x8: { tileH: 1, tileW: 4, vec4: true, halo: { rows: 8, cols: 2, lanes: 8 } },
};

/** The tile the device uses by default (the variant table's choice; see DEPTHWISE_TILES). */
export function defaultDepthwiseTile(gpu: Gpu): DepthwiseTile {
  return DEPTHWISE_TILES[chooseVariant<DepthwiseVariant>(gpu, 'depthwise')];
}

/** PyTorch depthwise weight [C, 1, kh, kw] → tap-major [kh, kw, C]. */
export function packDepthwiseWeight<T extends HostArray>(data: T, shape: readonly number[]): { data: T; shape: number[] } {
  if (shape.length !== 4 || shape[1] !== 1) throw new ShapeError('depthwise weight', `must be [C, 1, kh, kw], got [${shape.join(', ')}]`);
  const [C, , kh, kw] = shape;
  const r = permuteHost(data, [C, kh * kw], [1, 0]);
  return { data: r.data, shape: [kh, kw, C] };
}

/**
 * Where a row tile reads its input. For input row r of the tile (a WGSL expression relative to the
 * tile's first input row): `pre` statements, an optional `inside` condition (false: the row lies
 * outside the image and contributes nothing), `post` statements run when inside; `load(e)` is then
 * pixel e of that row (relative to the tile's first input column).
 */
export interface DepthwiseRowSource {
  row: (r: string, indent: string) => { pre: string; inside: string | null; post: string };
  load: (e: number) => string;
}

/** Buffer rows: bounds-checked rows `iy0 + r` of image n; ldx zero-pads the columns (wgslPaddedRowLoad). */
export function depthwiseBufferRows(c: string): DepthwiseRowSource {
  return {
    row: (r, ind) => ({ pre: `${ind}let iy = iy0 + ${r};\n`, inside: 'iy >= 0 && iy < i32(p.H)', post: `${ind}let rb = (n * p.H + u32(iy)) * p.W;\n` }),
    load: (e) => `ldx(rb, ix0 + ${e}, ${c})`,
  };
}

/**
 * WGSL: `acc(x) += Σ taps` for a 1×tw row of outputs at channel (or vec4) `c`, with a runtime loop
 * over kernel rows that loads the row's tw + kw − 1 input pixels once and its kw weights per row
 * (few registers). Shared by the depthwise kernels and the fused depthwise + LayerNorm kernel.
 */
export function wgslDepthwiseRowLoop(k: { kh: number; kw: number; tw: number; flip: boolean; V: string }, c: string, acc: (x: number) => string, src: DepthwiseRowSource, indent = '  '): string {
  const range = (n: number) => [...Array(n).keys()];
  const tap = (dx: number) => (k.flip ? `((${k.kh - 1}u - dy) * ${k.kw}u + ${k.kw - 1 - dx}u)` : `(dy * ${k.kw}u + ${dx}u)`);
  const i2 = indent + '  ';
  const row = src.row('i32(dy)', i2);
  let s = `${indent}for (var dy = 0u; dy < ${k.kh}u; dy++) {\n${row.pre}${row.inside ? `${i2}if (!(${row.inside})) { continue; }\n` : ''}${row.post}`;
  s += range(k.tw + k.kw - 1).map((e) => `${i2}let x${e} = ${src.load(e)};\n`).join('');
  for (let dx = 0; dx < k.kw; dx++) {
    s += `${i2}{ let w = ${k.V}(Wt[${tap(dx)} * p.C4 + ${c}]);\n`;
    s += range(k.tw).map((x) => `${i2}  ${acc(x)} += w * x${x + dx};`).join('\n') + `\n${i2}}\n`;
  }
  return s + `${indent}}\n`;
}

/** WGSL for one depthwise configuration (exported for tests; cached: the 7×7 tile is 75 KB). */
export const depthwiseWgsl = cachedWgsl(generateDepthwiseWgsl);

function generateDepthwiseWgsl(k: DwKey): string {
  const V = k.vec ? 'vec4f' : 'f32';
  const XT = wgslFloatType(k.tX, k.vec);
  const span = k.tw + k.kw - 1;
  const range = (n: number) => [...Array(n).keys()];
  const f16 = [k.tX, k.tW, k.tO, k.bias ? k.tB : 'f32'].includes('f16');
  const h = k.halo;
  // The halo: (rows·th + kh − 1) × (cols·tw + kw − 1) pixels × lanes, lane-fastest, in X's storage
  // type (f16 halves the footprint and is exact: the input is f16 already).
  const HH = h ? h.rows * k.th + k.kh - 1 : 0;
  const HW = h ? h.cols * k.tw + k.kw - 1 : 0;
  const L = h ? h.lanes : 1;
  const wgSize = h ? h.rows * h.cols * h.lanes : WG;
  const src: DepthwiseRowSource = h
    ? { row: (r, ind) => ({ pre: `${ind}let hb = (hy0 + u32(${r})) * ${HW}u + hx0;\n`, inside: null, post: '' }), load: (e) => `${V}(halo[(hb + ${e}u) * ${L}u + lane])` }
    : depthwiseBufferRows('c4');
  let body = '';
  if (k.th === 1) {
    // Row tile: a runtime loop over kernel rows, the row's kw weights loaded per row (few registers).
    for (const x of range(k.tw)) body += `  var a0_${x} = b;\n`;
    body += wgslDepthwiseRowLoop({ kh: k.kh, kw: k.kw, tw: k.tw, flip: k.flip, V }, 'c4', (x) => `a0_${x}`, src);
  } else {
    // 2-D tile: all kh·kw weights in registers and every input row (fully unrolled) loaded once,
    // feeding each of the TH output rows it overlaps.
    const taps = k.kh * k.kw;
    for (let i = 0; i < taps; i++) body += `  let w${i} = ${V}(Wt[${k.flip ? taps - 1 - i : i}u * p.C4 + c4]);\n`;
    for (const t of range(k.th)) for (const x of range(k.tw)) body += `  var a${t}_${x} = b;\n`;
    for (let r = 0; r < k.th + k.kh - 1; r++) {
      const rw = src.row(`${r}`, '    ');
      const ind = rw.inside ? '      ' : '    ';
      body += `  {\n${rw.pre}${rw.inside ? `    if (${rw.inside}) {\n` : ''}${rw.post.replace(/^ {4}/gm, ind)}`;
      body += range(span).map((e) => `${ind}let x${e} = ${src.load(e)};\n`).join('');
      for (const t of range(k.th)) {
        const dy = r - t;
        if (dy < 0 || dy >= k.kh) continue;
        for (let dx = 0; dx < k.kw; dx++) for (const x of range(k.tw)) body += `${ind}a${t}_${x} += w${dy * k.kw + dx} * x${x + dx};\n`;
      }
      body += rw.inside ? '    }\n  }\n' : '  }\n';
    }
  }
  for (const t of range(k.th)) for (const x of range(k.tw))
    body += `  if (oy0 + ${t}u < p.Ho && ox0 + ${x}u < p.Wo) { Y[((n * p.Ho + oy0 + ${t}u) * p.Wo + ox0 + ${x}u) * p.C4 + c4] = ${wgslFloatType(k.tO, k.vec)}(a${t}_${x}); }\n`;
  const decls = `${wgslEnableF16(f16)}${PARAMS.code}${wgslStorage(0, 'X', `array<${XT}>`, 'read')}${wgslStorage(1, 'Wt', `array<${wgslFloatType(k.tW, k.vec)}>`, 'read')}${
    k.bias ? wgslStorage(2, 'Bias', `array<${wgslFloatType(k.tB, k.vec)}>`, 'read') : ''
  }${wgslStorage(k.bias ? 3 : 2, 'Y', `array<${wgslFloatType(k.tO, k.vec)}>`, 'read_write')}@group(0) @binding(${k.bias ? 4 : 3}) var<uniform> p: Params;
`;
  // Invocation / workgroup index → (channel part fastest, x block, y block, image).
  const tileIndex = (v: string, c: string, cs: string) => `  let ${c} = ${v} % ${cs};
  var t = ${v} / ${cs};
  let xb = t % p.XB;
  t = t / p.XB;
  let yb = t % p.YB;
  let n = t / p.YB;
`;
  const bias = `  let b = ${k.bias ? `${V}(Bias[c4])` : `${V}(0.0)`};\n`;
  if (!h) {
    return /* wgsl */ `${decls}
${wgslPaddedRowLoad('X', V, 'p.W', 'p.C4')}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let id = (wid.y * nwg.x + wid.x) * ${WG}u + lid.x;
  if (id >= p.total) { return; }
${tileIndex('id', 'c4', 'p.C4')}  let ox0 = xb * ${k.tw}u;
  let oy0 = yb * ${k.th}u;
  let ix0 = i32(ox0) - i32(p.padX);
  let iy0 = i32(oy0) - i32(p.padY);
${bias}${body}}
`;
  }
  // Staged: workgroup g = ((n·YB + yb)·XB + xb)·CG + cg — channel groups fastest, so neighbouring
  // workgroups read neighbouring channels of the same pixels. p.total counts workgroups here.
  const TH = h.rows * k.th, TW = h.cols * k.tw;
  return /* wgsl */ `${decls}var<workgroup> halo: array<${XT}, ${HH * HW * L}>;

@compute @workgroup_size(${wgSize})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let g = wid.y * nwg.x + wid.x;
  if (g >= p.total) { return; } // uniform per workgroup: the barrier below stays uniform
${tileIndex('g', 'cg', 'p.CG')}  let iyT = i32(yb * ${TH}u) - i32(p.padY);
  let ixT = i32(xb * ${TW}u) - i32(p.padX);
  for (var i = li; i < ${HH * HW * L}u; i += ${wgSize}u) {
    let c = cg * ${L}u + i % ${L}u;
    let q = i / ${L}u;
    let iy = iyT + i32(q / ${HW}u);
    let ix = ixT + i32(q % ${HW}u);
    var v = ${XT}(0.0);
    if (iy >= 0 && iy < i32(p.H) && ix >= 0 && ix < i32(p.W) && c < p.C4) { v = X[((n * p.H + u32(iy)) * p.W + u32(ix)) * p.C4 + c]; }
    halo[i] = v;
  }
  workgroupBarrier();
  let lane = li % ${L}u;
  let c4 = cg * ${L}u + lane;
  if (c4 >= p.C4) { return; } // the channel tail of the last group (after the barrier)
  let col = (li / ${L}u) % ${h.cols}u;
  let row = li / ${L * h.cols}u;
  let hy0 = row * ${k.th}u;
  let hx0 = col * ${k.tw}u;
  let oy0 = yb * ${TH}u + hy0;
  let ox0 = xb * ${TW}u + hx0;
${bias}${body}}
`;
}

/**
 * The halo staging a launch uses: lanes capped by the channel count and halved until the halo fits
 * the adapter's workgroup memory; a ShapeError when even one lane does not fit or the workgroup is
 * too large.
 */
function fitHalo(gpu: Gpu, h: DepthwiseHalo, k: { th: number; tw: number; kh: number; kw: number; vec: boolean; tX: FloatDType }, C4: number): DepthwiseHalo {
  for (const [v, what] of [[h.rows, 'rows'], [h.cols, 'cols'], [h.lanes, 'lanes']] as const) {
    if (!Number.isInteger(v) || v < 1 || v > 256) throw new ShapeError(`depthwise halo ${what}`, `must be an integer in 1..256, got ${v}`);
  }
  const pixelBytes = (k.vec ? 4 : 1) * (k.tX === 'f16' ? 2 : 4);
  const haloPixels = (h.rows * k.th + k.kh - 1) * (h.cols * k.tw + k.kw - 1);
  // Scalar f16 halos round up to 4-byte slots in some backends: count them as f32.
  const slot = Math.max(pixelBytes, 4);
  let lanes = Math.min(h.lanes, C4);
  while (lanes > 1 && haloPixels * lanes * slot > gpu.limits.maxComputeWorkgroupStorageSize) lanes = Math.ceil(lanes / 2);
  if (haloPixels * lanes * slot > gpu.limits.maxComputeWorkgroupStorageSize) {
    throw new ShapeError('depthwise halo', `${haloPixels} pixels of ${slot} bytes exceed the adapter's ${gpu.limits.maxComputeWorkgroupStorageSize}-byte workgroup memory`, { hint: 'use fewer rows or cols' });
  }
  const size = h.rows * h.cols * lanes;
  if (size > gpu.limits.maxComputeInvocationsPerWorkgroup || size > gpu.limits.maxComputeWorkgroupSizeX) {
    throw new ShapeError('depthwise halo', `a workgroup of ${h.rows}×${h.cols}×${lanes} = ${size} invocations exceeds the adapter's ${Math.min(gpu.limits.maxComputeInvocationsPerWorkgroup, gpu.limits.maxComputeWorkgroupSizeX)}`);
  }
  return { rows: h.rows, cols: h.cols, lanes };
}

/**
 * Depthwise conv (PyTorch Conv2d(C, C, k, padding=pad, groups=C)) on NHWC x [N, H, W, C] with the
 * tap-major weight [kh, kw, C] (packDepthwiseWeight) and optional bias [C]. Returns NHWC
 * [N, H + 2·pad - kh + 1, W + 2·pad - kw + 1, C].
 */
export function depthwiseConv2d(x: Tensor, weight: Tensor, opts: DepthwiseOptions = {}): Tensor {
  const gpu = x.gpu;
  const g = checkDepthwise(x, weight, opts);
  const { N, C, kh, kw, Ho, Wo } = g;
  const tile = { ...defaultDepthwiseTile(gpu), ...opts.tile };
  const { tileH: th, tileW: tw } = tile;
  if (!Number.isInteger(tw) || tw < 1 || tw > 16) throw new ShapeError('depthwise tileW', `must be an integer in 1..16, got ${tw}`);
  if (!Number.isInteger(th) || th < 1 || th > 8) throw new ShapeError('depthwise tileH', `must be an integer in 1..8, got ${th}`);
  const outShape = [N, Ho, Wo, C];
  const out = opts.out ?? Tensor.empty(gpu, outShape, opts.dtype ?? (x.dtype as FloatDType), 'depthwise.out');
  checkDepthwiseOut(x, out, outShape, 'depthwise out');
  const vec = tile.vec4 && C % 4 === 0;
  const C4 = vec ? C / 4 : C;
  const tX = x.dtype as FloatDType;
  const halo = tile.halo ? fitHalo(gpu, tile.halo, { th, tw, kh, kw, vec, tX }, C4) : null;
  // Staged: one workgroup per (n, tile row, tile column, channel group); else one invocation per
  // (n, tile row, tile column, lane), 64 per workgroup.
  const XB = Math.ceil(Wo / (tw * (halo?.cols ?? 1)));
  const YB = Math.ceil(Ho / (th * (halo?.rows ?? 1)));
  const CG = halo ? Math.ceil(C4 / halo.lanes) : 1;
  const total = N * YB * XB * (halo ? CG : C4);
  if (total === 0) return out;
  const key: DwKey = { kh, kw, tw, th, vec, flip: !!opts.flipKernel, bias: !!opts.bias, tX, tW: weight.dtype as FloatDType, tB: (opts.bias?.dtype ?? 'f32') as FloatDType, tO: out.dtype as FloatDType, halo };
  const [gx, gy] = foldWorkgroups(halo ? total : Math.ceil(total / WG), gpu.limits.maxComputeWorkgroupsPerDimension);
  gpu.dispatch({
    kernel: { name: `depthwise${kh}x${kw}${halo ? '/halo' : ''}`, code: depthwiseWgsl(key), storage: opts.bias ? ['read', 'read', 'read', 'read_write'] : ['read', 'read', 'read_write'], uniformBytes: PARAMS.bytes },
    bindings: [x, weight, ...(opts.bias ? [opts.bias] : []), out],
    uniforms: packParams(PARAMS.bytes, [g.H, g.W, Ho, Wo, C4, XB, YB, total, g.padY, g.padX, CG]),
    workgroups: [gx, gy],
  });
  return out;
}

/** Shapes of a depthwise launch: the input, weight, padding and bias checks both launchers share. */
export function checkDepthwise(x: Tensor, weight: Tensor, opts: { bias?: Tensor; padding?: number | readonly [number, number] }, what = 'depthwise') {
  const gpu = x.gpu;
  checkFloatTensor(gpu, x, `${what} input`);
  checkFloatTensor(gpu, weight, `${what} weight`);
  if (x.shape.length !== 4) throw new ShapeError(`${what} input`, `must be NHWC [N, H, W, C], got [${x.shape.join(', ')}]`);
  const [N, H, W, C] = x.shape;
  if (weight.shape.length !== 3 || weight.shape[2] !== C) {
    const hint = weight.shape.length === 4 ? 'this looks like PyTorch order [C, 1, kh, kw]: repack it once with packDepthwiseWeight' : 'check the layer';
    throw new ShapeError(`${what} weight`, `must be tap-major [kh, kw, C] with C = ${C}, got [${weight.shape.join(', ')}]`, { hint });
  }
  const [kh, kw] = weight.shape;
  if (kh === 0 || kw === 0) throw new ShapeError(`${what} weight`, `has an empty kernel [${weight.shape.join(', ')}]`);
  const pad = opts.padding ?? Math.floor((Math.max(kh, kw) - 1) / 2);
  const [padY, padX] = typeof pad === 'number' ? [pad, pad] : pad;
  for (const v of [padY, padX]) if (!Number.isInteger(v) || v < 0) throw new ShapeError(`${what} padding`, `must be a non-negative integer, got ${v}`);
  const Ho = H + 2 * padY - kh + 1;
  const Wo = W + 2 * padX - kw + 1;
  if (Ho <= 0 || Wo <= 0) throw new ShapeError(`${what} input`, `padded size ${H + 2 * padY}×${W + 2 * padX} is smaller than the ${kh}×${kw} kernel`);
  if (opts.bias) {
    checkFloatTensor(gpu, opts.bias, `${what} bias`);
    if (opts.bias.size !== C) throw new ShapeError(`${what} bias`, `must have C = ${C} values, got [${opts.bias.shape.join(', ')}]`);
  }
  return { N, H, W, C, kh, kw, padY, padX, Ho, Wo };
}

/** An output of a depthwise launch: float, the right size, not aliasing the input. */
export function checkDepthwiseOut(x: Tensor, out: Tensor, outShape: readonly number[], what: string): void {
  checkFloatTensor(x.gpu, out, what);
  if (out.size !== outShape.reduce((a, b) => a * b, 1)) throw new ShapeError(what, `must hold [${outShape.join(', ')}], has [${out.shape.join(', ')}]`);
  if (out.buffer === x.buffer) throw new ShapeError(what, 'shares a buffer with the input', { hint: 'neighbouring pixels are still needed: write to a separate tensor' });
}

/** "tile 7x7 scalar", "tile 1x4 vec4 halo 8x8x8" — how benchmarks name a tile. */
export function depthwiseTileLabel(t: DepthwiseTile): string {
  const h = t.halo ? ` halo ${t.halo.rows * t.tileH}x${t.halo.cols * t.tileW}x${t.halo.lanes}` : '';
  return `tile ${t.tileH}x${t.tileW} ${t.vec4 ? 'vec4' : 'scalar'}${h}`;
}
