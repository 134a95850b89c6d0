import { describe, expect, it } from 'vitest';
import { fromF16Array, toF16Array } from '../../src/gpu/dtype.js';
import { Tensor } from '../../src/gpu/tensor.js';
import { permuteHost } from '../../src/kernels/conv2d.js';
import { DEPTHWISE_TILES, defaultDepthwiseTile, depthwiseConv2d, depthwiseTileLabel, packDepthwiseWeight, type DepthwiseTile } from '../../src/kernels/depthwise.js';
import { depthwiseConv2dLayerNorm, fusedWorkgroup, type DepthwiseLayerNormVariant } from '../../src/kernels/depthwise-layernorm.js';
import { depthwiseRef as depthwiseRefTapMajor, layerNormRef } from '../../src/selfcheck/cpu-ref.js';
import { golden, loadGoldens, toleranceFor } from '../helpers/goldens.js';
import { randomArray, testGpu } from '../helpers/gpu.js';

const OPS = 'ops.safetensors';
const NCHW_TO_NHWC = [0, 2, 3, 1];

/** Depthwise conv, stride 1, zero padding, on NHWC with the PyTorch weight [C, 1, kh, kw] (float64). */
function depthwiseRef(x: Float32Array, [N, H, W, C]: number[], w: Float32Array, kh: number, kw: number, pad: number, bias?: Float32Array): Float32Array {
  const Ho = H + 2 * pad - kh + 1, Wo = W + 2 * pad - kw + 1;
  const out = new Float32Array(N * Ho * Wo * C);
  for (let n = 0; n < N; n++) for (let oy = 0; oy < Ho; oy++) for (let ox = 0; ox < Wo; ox++) for (let c = 0; c < C; c++) {
    let s = bias ? bias[c] : 0;
    for (let dy = 0; dy < kh; dy++) for (let dx = 0; dx < kw; dx++) {
      const iy = oy + dy - pad, ix = ox + dx - pad;
      if (iy >= 0 && iy < H && ix >= 0 && ix < W) s += x[((n * H + iy) * W + ix) * C + c] * w[(c * kh + dy) * kw + dx];
    }
    out[((n * Ho + oy) * Wo + ox) * C + c] = s;
  }
  return out;
}

async function runGolden(name: string, opts: { dtype?: 'f16'; tile?: Partial<DepthwiseTile> } = {}) {
  const gpu = await testGpu();
  const g = await loadGoldens(OPS);
  const x = golden(g, `${name}.in.x`), w = golden(g, `${name}.in.weight`), b = golden(g, `${name}.in.bias`), o = golden(g, `${name}.out`);
  const xs = permuteHost(x.data as Float32Array, x.shape, NCHW_TO_NHWC);
  const ws = packDepthwiseWeight(w.data as Float32Array, w.shape);
  const y = depthwiseConv2d(Tensor.from(gpu, xs.data, xs.shape, opts.dtype), Tensor.from(gpu, ws.data, ws.shape, opts.dtype), {
    bias: Tensor.from(gpu, b.data, b.shape), dtype: 'f32', tile: opts.tile,
  });
  const want = permuteHost(o.data as Float32Array, o.shape, NCHW_TO_NHWC);
  expect(y.shape).toEqual(want.shape);
  return { got: await y.toFloat32(), want: want.data };
}

describe('depthwiseConv2d (7×7, pad 3, NHWC)', () => {
  // Both generators (row tile with a loop over kernel rows; 2-D tile fully unrolled), vec4 and
  // scalar lanes, and tiles that do not divide the output.
  const H1 = { tileH: 1, vec4: true }, H2 = { vec4: false };
  it.each([
    ['conv_dw', { ...H1, tileW: 8 }], ['conv_dw_small', { ...H1, tileW: 8 }], ['conv_dw', { ...H1, tileW: 4 }], ['conv_dw', { ...H1, tileW: 3 }],
    ['conv_dw', { ...H2, tileH: 7, tileW: 7 }], ['conv_dw_small', { ...H2, tileH: 7, tileW: 7 }], ['conv_dw', { tileH: 2, tileW: 3, vec4: true }], ['conv_dw', { ...H2, tileH: 1, tileW: 5 }],
  ] as const)('%s golden (tile %j)', async (name, tile) => {
    const { got, want } = await runGolden(name, { tile });
    expect(got).toBeAllclose(want, { rtol: 0, atol: toleranceFor(OPS, `${name}.out`) });
  });

  // vec4 path (C % 4 == 0), several batches, a width that is not a multiple of the tile, no bias,
  // and a 3×5 kernel with padding 1 (asymmetric output size).
  it.each([
    [[2, 9, 11, 16], 7, 7, 3],
    [[1, 6, 13, 8], 3, 5, 1],
  ] as const)('odd shape %j, %i×%i kernel, pad %i against the CPU reference (default and 3×2 vec4 tiles)', async (shape, kh, kw, pad) => {
    const gpu = await testGpu();
    const C = shape[3];
    const x = randomArray(shape.reduce((p: number, d: number) => p * d, 1), 51);
    const w = randomArray(C * kh * kw, 52);
    const ws = packDepthwiseWeight(w, [C, 1, kh, kw]);
    for (const tile of [undefined, { tileH: 3, tileW: 2, vec4: true }]) {
      const y = depthwiseConv2d(Tensor.from(gpu, x, shape), Tensor.from(gpu, ws.data, ws.shape), { padding: pad, tile });
      expect(y.shape).toEqual([shape[0], shape[1] + 2 * pad - kh + 1, shape[2] + 2 * pad - kw + 1, C]);
      expect(await y.toFloat32()).toBeAllclose(depthwiseRef(x, [...shape], w, kh, kw, pad), { rtol: 1e-5, atol: 1e-5 });
    }
  });

  // The workgroup-staged halo tiles (GPU default). conv_dw has C = 13: scalar lanes, and 13
  // channels over lanes of 8 leave a channel-group tail.
  it('conv_dw golden with the staged halo8x8 tile', async () => {
    const { got, want } = await runGolden('conv_dw', { tile: DEPTHWISE_TILES.halo8x8 });
    expect(got).toBeAllclose(want, { rtol: 0, atol: toleranceFor(OPS, 'conv_dw.out') });
  });

  // Staged vec4 lanes with a channel-group tail (C4 = 4 over 3 lanes); the backward's use (rotated
  // kernel, per-axis padding k − 1 − pad) on a 5×3 map smaller than the 8×8 tile, with padding
  // larger than the image on one axis; a 2-D invocation tile inside the workgroup tile.
  it.each([
    [[2, 9, 11, 16], 7, 7, [3, 3], false, { tileH: 1, tileW: 4, vec4: true, halo: { rows: 2, cols: 3, lanes: 3 } }],
    [[1, 5, 3, 8], 7, 7, [3, 5], true, DEPTHWISE_TILES.halo8x8],
    [[2, 6, 5, 6], 3, 5, [1, 3], true, { tileH: 2, tileW: 3, vec4: true, halo: { rows: 2, cols: 2, lanes: 8 } }],
  ] as const)('staged halo on %j, %i×%i kernel, padding %j, flipped %s, against the CPU reference', async (shape, kh, kw, pad, flip, tile) => {
    const gpu = await testGpu();
    const C = shape[3];
    const x = randomArray(shape.reduce((p: number, d: number) => p * d, 1), 61);
    const ws = randomArray(kh * kw * C, 62), b = randomArray(C, 63);
    const y = depthwiseConv2d(Tensor.from(gpu, x, [...shape]), Tensor.from(gpu, ws, [kh, kw, C]), { bias: Tensor.from(gpu, b, [C]), padding: pad, flipKernel: flip, tile });
    expect(await y.toFloat32()).toBeAllclose(depthwiseRefTapMajor(x, shape, ws, kh, kw, pad, { bias: b, flip }), { rtol: 1e-5, atol: 1e-5 });
  });

  it('the default tile follows the variant table, and the label names the staging', async () => {
    const gpu = await testGpu();
    expect(defaultDepthwiseTile(gpu)).toEqual(gpu.kernelProfile === 'software' ? DEPTHWISE_TILES.scalar7x7 : DEPTHWISE_TILES.halo8x8);
    expect(depthwiseTileLabel(DEPTHWISE_TILES.halo8x8)).toBe('tile 1x4 vec4 halo 8x8x8');
    expect(depthwiseTileLabel(DEPTHWISE_TILES.scalar7x7)).toBe('tile 7x7 scalar');
  });

  it('f16 input and weight, f32 accumulation, against the f32 golden (within 2e-3)', async () => {
    const gpu = await testGpu();
    if (!gpu.f16) {
      // SwiftShader has no shader-f16: f16 tensors must be refused with the typed error.
      expect(() => depthwiseConv2d(Tensor.empty(gpu, [1, 8, 8, 4], 'f16'), Tensor.empty(gpu, [7, 7, 4]))).toThrowError(/shader-f16/);
      return;
    }
    for (const tile of [undefined, DEPTHWISE_TILES.halo8x8]) {
      const { got, want } = await runGolden('conv_dw', { dtype: 'f16', tile });
      const scale = want.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
      expect(got).toBeAllclose(want, { rtol: 2e-3, atol: 2e-3 * scale });
    }
  });

  it('rejects a PyTorch-order weight (naming the repack) and a channel mismatch', async () => {
    const gpu = await testGpu();
    const x = Tensor.empty(gpu, [1, 8, 8, 16]);
    expect(() => depthwiseConv2d(x, Tensor.empty(gpu, [16, 1, 7, 7]))).toThrowError(/packDepthwiseWeight/);
    expect(() => depthwiseConv2d(x, Tensor.empty(gpu, [7, 7, 12]))).toThrowError(/C = 16/);
    expect(() => depthwiseConv2d(x, Tensor.empty(gpu, [7, 7, 16]), { bias: Tensor.empty(gpu, [15]) })).toThrowError(/C = 16 values/);
    expect(() => packDepthwiseWeight(new Float32Array(16 * 49), [16, 2, 7, 7])).toThrowError(/\[C, 1, kh, kw\]/);
    expect(() => depthwiseConv2d(x, Tensor.empty(gpu, [7, 7, 16]), { tile: { tileH: 9 } })).toThrowError(/tileH/);
    expect(() => depthwiseConv2d(x, Tensor.empty(gpu, [7, 7, 16]), { tile: { tileW: 0.5 } })).toThrowError(/tileW/);
    expect(() => depthwiseConv2d(x, Tensor.empty(gpu, [7, 7, 16]), { tile: { halo: { rows: 2, cols: 2, lanes: 0 } } })).toThrowError(/halo lanes/);
    expect(() => depthwiseConv2d(x, Tensor.empty(gpu, [7, 7, 16]), { tile: { tileH: 8, tileW: 16, halo: { rows: 32, cols: 8, lanes: 1 } } })).toThrowError(/workgroup memory/);
  });
});

describe('depthwiseConv2dLayerNorm (ConvNeXt conv_dw → norm)', () => {
  const eps = 1e-6;
  /** float64 conv reference, then LayerNorm over C of its (f32) output. */
  function fusedRef(x: Float32Array, shape: readonly number[], w: Float32Array, k: number, pad: number, bias: Float32Array | undefined, g: Float32Array, gb: Float32Array) {
    const conv = depthwiseRefTapMajor(x, shape, w, k, k, [pad, pad], { bias });
    return { conv, y: layerNormRef(conv, g, gb, shape[3], eps) };
  }

  async function check(shape: readonly number[], opts: { bias?: boolean; variant: DepthwiseLayerNormVariant; dtype?: 'f16'; seed: number; pixels?: number }) {
    const gpu = await testGpu();
    const C = shape[3], n = shape.reduce((a, b) => a * b, 1);
    // f16 storage: the reference sees the f16-rounded input and weight.
    const round = (a: Float32Array) => (opts.dtype ? fromF16Array(toF16Array(a)) : a);
    const x = round(randomArray(n, opts.seed)), w = round(randomArray(49 * C, opts.seed + 1)), b = opts.bias ? randomArray(C, opts.seed + 2) : undefined;
    const g = randomArray(C, opts.seed + 3).map((v) => 1 + 0.3 * v), gb = randomArray(C, opts.seed + 4);
    const conv = Tensor.empty(gpu, [...shape], opts.dtype ?? 'f32');
    const y = depthwiseConv2dLayerNorm(Tensor.from(gpu, x, [...shape], opts.dtype), Tensor.from(gpu, w, [7, 7, C], opts.dtype), {
      bias: b && Tensor.from(gpu, b, [C]), lnWeight: Tensor.from(gpu, g, [C]), lnBias: Tensor.from(gpu, gb, [C]), eps, convOut: conv, variant: opts.variant, pixels: opts.pixels,
    });
    expect(y.shape).toEqual([...shape]);
    const want = fusedRef(x, shape, w, 7, 3, b, g, gb);
    const tol = opts.dtype ? { rtol: 2e-3, atol: 2e-3 * want.conv.reduce((m, v) => Math.max(m, Math.abs(v)), 1) } : { rtol: 1e-5, atol: 1e-5 };
    expect(await conv.toFloat32()).toBeAllclose(want.conv, tol);
    expect(await y.toFloat32()).toBeAllclose(want.y, opts.dtype ? { rtol: 2e-3, atol: 2e-3 * 4 } : { rtol: 1e-5, atol: 1e-5 });
  }

  // C = 13: scalar lanes, one 16-wide workgroup; Wo = 17 leaves a 1-pixel tail of the last 4-pixel
  // run. The subgroup reductions where the adapter has subgroups (lavapipe: 8 wide, SwiftShader: 4).
  it.each(['fused', 'fused-subgroup', 'unfused'] as const)('%s on [2, 6, 17, 13] with bias against the CPU reference', async (variant) => {
    const gpu = await testGpu();
    if (variant === 'fused-subgroup' && !gpu.subgroups) {
      expect(() => depthwiseConv2dLayerNorm(Tensor.empty(gpu, [1, 8, 8, 4]), Tensor.empty(gpu, [7, 7, 4]), { lnWeight: Tensor.empty(gpu, [4]), lnBias: Tensor.empty(gpu, [4]), variant })).toThrowError(/subgroups/);
      return;
    }
    await check([2, 6, 17, 13], { bias: true, variant, seed: 71 });
  });

  // vec4 lanes over several channel slots per invocation: C = 264 is 64 invocations × 2 slots, the
  // second mostly past C (C = 1024, ConvNeXt-Base stage 4, is 64 × 4: the same code with more
  // slots); runs of 2 pixels (Wo = 5: a 1-pixel tail), which keeps llvmpipe's compile short.
  it('fused on [1, 4, 5, 264] (2 channel slots per invocation, 2-pixel runs) against the CPU reference', async () => {
    expect(fusedWorkgroup(1024 / 4)).toEqual({ wg: 64, slots: 4 });
    expect(fusedWorkgroup(264 / 4)).toEqual({ wg: 64, slots: 2 });
    await check([1, 4, 5, 264], { variant: (await testGpu()).subgroups ? 'fused-subgroup' : 'fused', seed: 81, pixels: 2 });
  });

  it('fused with f16 storage (input, weight, outputs), f32 statistics, within 2e-3', async () => {
    const gpu = await testGpu();
    if (!gpu.f16) {
      expect(() => depthwiseConv2dLayerNorm(Tensor.empty(gpu, [1, 8, 8, 4], 'f16'), Tensor.empty(gpu, [7, 7, 4]), { lnWeight: Tensor.empty(gpu, [4]), lnBias: Tensor.empty(gpu, [4]) })).toThrowError(/shader-f16/);
      return;
    }
    await check([2, 5, 6, 24], { bias: true, variant: 'fused', dtype: 'f16', seed: 91 });
  });

  it('rejects a wrong LayerNorm affine, an aliased convOut and a bad pixel run', async () => {
    const gpu = await testGpu();
    const x = Tensor.empty(gpu, [1, 8, 8, 16]), w = Tensor.empty(gpu, [7, 7, 16]), g = Tensor.empty(gpu, [16]);
    expect(() => depthwiseConv2dLayerNorm(x, w, { lnWeight: Tensor.empty(gpu, [15]), lnBias: g })).toThrowError(/lnWeight: must be f32 \[16\]/);
    const out = Tensor.empty(gpu, [1, 8, 8, 16]);
    expect(() => depthwiseConv2dLayerNorm(x, w, { lnWeight: g, lnBias: g, out, convOut: out })).toThrowError(/shares a buffer with out/);
    expect(() => depthwiseConv2dLayerNorm(x, w, { lnWeight: g, lnBias: g, variant: 'fused', pixels: 5 })).toThrowError(/pixels/);
    expect(() => depthwiseConv2dLayerNorm(x, Tensor.empty(gpu, [16, 1, 7, 7]), { lnWeight: g, lnBias: g })).toThrowError(/packDepthwiseWeight/);
  });
});
