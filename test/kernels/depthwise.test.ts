import { describe, expect, it } from 'vitest';
import { Tensor } from '../../src/gpu/tensor.js';
import { permuteHost } from '../../src/kernels/conv2d.js';
import { depthwiseConv2d, packDepthwiseWeight, type DepthwiseTile } from '../../src/kernels/depthwise.js';
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

  it('f16 input and weight, f32 accumulation, against the f32 golden (within 2e-3)', async () => {
    const gpu = await testGpu();
    if (!gpu.f16) {
      // SwiftShader has no shader-f16: f16 tensors must be refused with the typed error.
      expect(() => depthwiseConv2d(Tensor.empty(gpu, [1, 8, 8, 4], 'f16'), Tensor.empty(gpu, [7, 7, 4]))).toThrowError(/shader-f16/);
      return;
    }
    const { got, want } = await runGolden('conv_dw', { dtype: 'f16' });
    const scale = want.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    expect(got).toBeAllclose(want, { rtol: 2e-3, atol: 2e-3 * scale });
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
  });
});
