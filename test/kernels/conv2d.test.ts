import { describe, expect, it } from 'vitest';
import { Tensor } from '../../src/gpu/tensor.js';
import { packConv2dWeight, patchConv2d, permuteHost } from '../../src/kernels/conv2d.js';
import type { MatmulVariant } from '../../src/kernels/gemm/index.js';
import { golden, loadGoldens, toleranceFor } from '../helpers/goldens.js';
import { randomArray, testGpu } from '../helpers/gpu.js';

const OPS = 'ops.safetensors';
const NCHW_TO_NHWC = [0, 2, 3, 1];

/** PyTorch Conv2d(k = stride, no padding) on NCHW, float64 accumulation; returns NCHW. */
function patchConvRef(x: Float32Array, [N, Cin, H, W]: number[], w: Float32Array, [Cout, , kh, kw]: number[], bias?: Float32Array): { data: Float32Array; shape: number[] } {
  const Ho = Math.floor(H / kh), Wo = Math.floor(W / kw);
  const out = new Float32Array(N * Cout * Ho * Wo);
  for (let n = 0; n < N; n++) for (let co = 0; co < Cout; co++) for (let oy = 0; oy < Ho; oy++) for (let ox = 0; ox < Wo; ox++) {
    let s = bias ? bias[co] : 0;
    for (let ci = 0; ci < Cin; ci++) for (let dy = 0; dy < kh; dy++) for (let dx = 0; dx < kw; dx++) {
      s += x[((n * Cin + ci) * H + oy * kh + dy) * W + ox * kw + dx] * w[((co * Cin + ci) * kh + dy) * kw + dx];
    }
    out[((n * Cout + co) * Ho + oy) * Wo + ox] = s;
  }
  return { data: out, shape: [N, Cout, Ho, Wo] };
}

function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}

describe('permuteHost / packConv2dWeight', () => {
  it('permutes axes like numpy.transpose and rejects non-permutations', () => {
    const x = Float32Array.from({ length: 24 }, (_, i) => i);
    const r = permuteHost(x, [2, 3, 4], [2, 0, 1]);
    expect(r.shape).toEqual([4, 2, 3]);
    // out[k][i][j] = x[i][j][k]
    expect(r.data[(3 * 2 + 1) * 3 + 2]).toBe(x[(1 * 3 + 2) * 4 + 3]);
    expect(Array.from(permuteHost(x, [2, 3, 4], [0, 1, 2]).data)).toEqual(Array.from(x));
    expect(() => permuteHost(x, [2, 3, 4], [0, 0, 1])).toThrowError(/not a permutation/);
    const w = packConv2dWeight(new Uint16Array(2 * 3 * 2 * 2).map((_, i) => i), [2, 3, 2, 2]);
    expect(w.shape).toEqual([2, 2, 2, 3]);
    expect(w.data).toBeInstanceOf(Uint16Array);
    expect(w.data[1]).toBe(4); // [co 0, dy 0, dx 0, ci 1] = PyTorch [0, 1, 0, 0]
  });
});

// Each distinct kernel configuration costs a pipeline compile (~1 s on a CPU adapter): the GPU
// variants run the three goldens (NCHW k4 stem, NHWC k2 downsample), the odd shapes run the
// default variant (and split-K once with K = 640, two slices through patch rows).
describe.each<MatmulVariant>(['regblock', 'tiled', 'tiled128', 'splitk'])('patchConv2d %s', (variant) => {
  // Split-K (K = 48 here: one slice) runs the stem; its NHWC case is the K = 640 odd shape below.
  it.each(variant === 'splitk' ? ['conv_stem'] : ['conv_stem', 'conv_stem_224'])('%s: NCHW pixels → NHWC, PyTorch weight order (golden)', async (name) => {
    const gpu = await testGpu();
    const g = await loadGoldens(OPS);
    const x = golden(g, `${name}.in.x`), w = golden(g, `${name}.in.weight`), b = golden(g, `${name}.in.bias`), o = golden(g, `${name}.out`);
    const y = patchConv2d(Tensor.from(gpu, x.data, x.shape), Tensor.from(gpu, w.data, w.shape), { inputLayout: 'nchw', bias: Tensor.from(gpu, b.data, b.shape), variant });
    const want = permuteHost(o.data as Float32Array, o.shape, NCHW_TO_NHWC);
    expect(y.shape).toEqual(want.shape);
    expect(await y.toFloat32()).toBeAllclose(want.data, { rtol: 0, atol: toleranceFor(OPS, `${name}.out`) });
  });

  it('conv_down: NHWC → NHWC with the packed weight (golden)', async () => {
    const gpu = await testGpu();
    const g = await loadGoldens(OPS);
    const x = golden(g, 'conv_down.in.x'), w = golden(g, 'conv_down.in.weight'), b = golden(g, 'conv_down.in.bias'), o = golden(g, 'conv_down.out');
    const xs = permuteHost(x.data as Float32Array, x.shape, NCHW_TO_NHWC);
    const ws = packConv2dWeight(w.data as Float32Array, w.shape);
    const y = patchConv2d(Tensor.from(gpu, xs.data, xs.shape), Tensor.from(gpu, ws.data, ws.shape), { inputLayout: 'nhwc', bias: Tensor.from(gpu, b.data, b.shape), variant });
    const want = permuteHost(o.data as Float32Array, o.shape, NCHW_TO_NHWC);
    expect(y.shape).toEqual([2, 7, 8, 19]);
    expect(await y.toFloat32()).toBeAllclose(want.data, { rtol: 0, atol: toleranceFor(OPS, 'conv_down.out') });
  });
});

describe('patchConv2d odd shapes', () => {
  // Odd shapes the goldens do not cover: k = s = 3, vec4 NHWC runs (Cin % 4 == 0), a W that
  // leaves a remainder, no bias, batch 3.
  it.each([
    ['nhwc', [3, 8, 10, 13], [6, 8, 3, 3], undefined],
    ['nchw', [1, 5, 9, 7], [9, 5, 2, 3], undefined],
    ['nhwc', [1, 160, 4, 7], [6, 160, 2, 2], 'splitk'],
  ] as const)('%s input %j, weight %j against the CPU reference (variant %s)', async (layout, xShape, wShape, variant) => {
    const gpu = await testGpu();
    const x = randomArray(xShape.reduce((p: number, d: number) => p * d, 1), 41);
    const w = randomArray(wShape.reduce((p: number, d: number) => p * d, 1), 42);
    const ref = patchConvRef(x, [...xShape], w, [...wShape]);
    const want = permuteHost(ref.data, ref.shape, NCHW_TO_NHWC);
    const xs = layout === 'nhwc' ? permuteHost(x, xShape, NCHW_TO_NHWC) : { data: x, shape: [...xShape] };
    const ws = layout === 'nhwc' ? packConv2dWeight(w, wShape) : { data: w, shape: [...wShape] };
    const y = patchConv2d(Tensor.from(gpu, xs.data, xs.shape), Tensor.from(gpu, ws.data, ws.shape), { inputLayout: layout, variant });
    expect(y.shape).toEqual(want.shape);
    expect(await y.toFloat32()).toBeAllclose(want.data, { rtol: 1e-5, atol: 1e-5 });
  });
});

describe('patchConv2d f16 storage', () => {
  it.each<MatmulVariant | undefined>([undefined, 'tiled128-f16'])('conv_stem_224 and conv_down with f16 input and weight (variant %s, within 2e-3)', async (variant) => {
    const gpu = await testGpu();
    if (!gpu.f16) {
      // SwiftShader has no shader-f16: f16 tensors must be refused with the typed error.
      expect(() => patchConv2d(Tensor.empty(gpu, [1, 3, 8, 8], 'f16'), Tensor.empty(gpu, [4, 3, 4, 4]), { inputLayout: 'nchw' })).toThrowError(/shader-f16/);
      return;
    }
    const g = await loadGoldens(OPS);
    for (const [name, layout] of [['conv_stem_224', 'nchw'], ['conv_down', 'nhwc']] as const) {
      const x = golden(g, `${name}.in.x`), w = golden(g, `${name}.in.weight`), b = golden(g, `${name}.in.bias`), o = golden(g, `${name}.out`);
      const xs = layout === 'nhwc' ? permuteHost(x.data as Float32Array, x.shape, NCHW_TO_NHWC) : { data: x.data as Float32Array, shape: x.shape };
      const ws = layout === 'nhwc' ? packConv2dWeight(w.data as Float32Array, w.shape) : { data: w.data as Float32Array, shape: w.shape };
      const y = patchConv2d(Tensor.from(gpu, xs.data, xs.shape, 'f16'), Tensor.from(gpu, ws.data, ws.shape, 'f16'), { inputLayout: layout, bias: Tensor.from(gpu, b.data, b.shape), dtype: 'f32', variant });
      const want = permuteHost(o.data as Float32Array, o.shape, NCHW_TO_NHWC).data;
      expect(await y.toFloat32()).toBeAllclose(want, { rtol: 2e-3, atol: 2e-3 * maxAbs(want) });
    }
  });
});

describe('patchConv2d shape errors', () => {
  it('names the fix for a PyTorch-order weight on NHWC input, a too-small image and a bias mismatch', async () => {
    const gpu = await testGpu();
    const x = Tensor.empty(gpu, [1, 8, 8, 16]);
    expect(() => patchConv2d(x, Tensor.empty(gpu, [32, 16, 2, 2]), { inputLayout: 'nhwc' })).toThrowError(/packConv2dWeight/);
    expect(() => patchConv2d(Tensor.empty(gpu, [1, 3, 3, 3]), Tensor.empty(gpu, [8, 3, 4, 4]), { inputLayout: 'nchw' })).toThrowError(/smaller than the 4×4 kernel/);
    expect(() => patchConv2d(x, Tensor.empty(gpu, [32, 2, 2, 16]), { inputLayout: 'nhwc', bias: Tensor.empty(gpu, [31]) })).toThrowError(/Cout = 32/);
    expect(() => patchConv2d(Tensor.empty(gpu, [8, 8, 16]), Tensor.empty(gpu, [32, 2, 2, 16]), { inputLayout: 'nhwc' })).toThrowError(/\[N, H, W, Cin\]/);
  });
});
