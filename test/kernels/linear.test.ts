import { describe, expect, it } from 'vitest';
import { Tensor } from '../../src/gpu/tensor.js';
import { linear, matmul, type MatmulVariant } from '../../src/kernels/gemm/index.js';
import { geluRef, matmulRef } from '../helpers/cpu-ref.js';
import { golden, loadGoldens, toleranceFor } from '../helpers/goldens.js';
import { randomArray, testGpu } from '../helpers/gpu.js';

const OPS = 'ops.safetensors';
function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}

// Each distinct kernel configuration costs a pipeline compile (~1 s on a CPU adapter), so the
// tiled variant (the real-GPU path; matmul.test.ts covers it broadly) runs only the linear golden.
describe('goldens', () => {
  it.each<MatmulVariant>(['regblock', 'tiled'])('linear: x[3,5,37]·W[29,37]ᵀ + b keeps the leading dims (%s)', async (variant) => {
    const gpu = await testGpu();
    const g = await loadGoldens(OPS);
    const x = golden(g, 'linear.in.x'), w = golden(g, 'linear.in.weight'), b = golden(g, 'linear.in.bias');
    const y = linear(Tensor.from(gpu, x.data, x.shape), Tensor.from(gpu, w.data, w.shape), Tensor.from(gpu, b.data, b.shape), { variant });
    expect(y.shape).toEqual([3, 5, 29]);
    expect(await y.toFloat32()).toBeAllclose(golden(g, 'linear.out').data, { rtol: 0, atol: toleranceFor(OPS, 'linear.out') });
  });

  it('linear_nobias (the 256→64 visual projection)', async () => {
    const gpu = await testGpu();
    const g = await loadGoldens(OPS);
    const x = golden(g, 'linear_nobias.in.x'), w = golden(g, 'linear_nobias.in.weight');
    const y = linear(Tensor.from(gpu, x.data, x.shape), Tensor.from(gpu, w.data, w.shape));
    expect(await y.toFloat32()).toBeAllclose(golden(g, 'linear_nobias.out').data, { rtol: 0, atol: toleranceFor(OPS, 'linear_nobias.out') });
  });

  it.each([
    ['matmul', 'a', 'b'], ['matmul_text_projection', 'pooled', 'text_projection'],
  ])('%s golden', async (name, an, bn) => {
    const gpu = await testGpu();
    const g = await loadGoldens(OPS);
    const a = golden(g, `${name}.in.${an}`), b = golden(g, `${name}.in.${bn}`);
    const y = matmul(Tensor.from(gpu, a.data, a.shape), Tensor.from(gpu, b.data, b.shape));
    expect(await y.toFloat32()).toBeAllclose(golden(g, `${name}.out`).data, { rtol: 0, atol: toleranceFor(OPS, `${name}.out`) });
  });
});

describe('fused residual + scale epilogue (ConvNeXt: x + gamma ⊙ (h·Wᵀ + b))', () => {
  // N = 13 exercises the scalar store path, N = 16 the vec4 one.
  it.each([
    [30, 13, 52, false], [30, 16, 64, true], [30, 13, 52, true],
  ])('M=%i N=%i K=%i, in place: %s', async (M, N, K, inPlace) => {
    const gpu = await testGpu();
    const h = randomArray(M * K, 61), w = randomArray(N * K, 62), b = randomArray(N, 63), gamma = randomArray(N, 64), res = randomArray(M * N, 65);
    const lin = matmulRef(h, w, M, N, K, { transB: true });
    const want = lin.map((v, i) => res[i] + gamma[i % N] * (v + b[i % N]));
    const rt = Tensor.from(gpu, res, [M, N]);
    const y = linear(Tensor.from(gpu, h, [M, K]), Tensor.from(gpu, w, [N, K]), Tensor.from(gpu, b, [N]), {
      scale: Tensor.from(gpu, gamma, [N]), residual: rt, out: inPlace ? rt : undefined,
    });
    if (inPlace) expect(y).toBe(rt);
    expect(await y.toFloat32()).toBeAllclose(want, { rtol: 1e-5, atol: 1e-5 });
  });

  it('GELU then scale, residual from another tensor (vec4 path)', async () => {
    const gpu = await testGpu();
    const [M, N, K] = [9, 8, 12];
    const x = randomArray(M * K, 71).map((v) => 2 * v), w = randomArray(N * K, 72), s = randomArray(N, 73), r = randomArray(M * N, 74);
    const lin = matmulRef(x, w, M, N, K, { transB: true });
    const want = lin.map((v, i) => r[i] + s[i % N] * geluRef(v));
    const y = linear(Tensor.from(gpu, x, [M, K]), Tensor.from(gpu, w, [N, K]), undefined, { gelu: true, scale: Tensor.from(gpu, s, [N]), residual: Tensor.from(gpu, r, [M, N]) });
    expect(await y.toFloat32()).toBeAllclose(want, { rtol: 1e-5, atol: 2e-6 });
  });
});

describe.each<MatmulVariant>(['tiled128', 'splitk'])('fused epilogues, GPU variant %s', (variant) => {
  // K = 520 gives split-K two slices, so the summing pass applies the epilogue to real partials.
  it.each([[30, 13, 520, true], [9, 8, 520, false]])('M=%i N=%i K=%i: bias, GELU, scale, residual (in place: %s)', async (M, N, K, inPlace) => {
    const gpu = await testGpu();
    const h = randomArray(M * K, 61).map((v) => v * 0.1), w = randomArray(N * K, 62), b = randomArray(N, 63), gamma = randomArray(N, 64), res = randomArray(M * N, 65);
    const want = matmulRef(h, w, M, N, K, { transB: true }).map((v, i) => res[i] + gamma[i % N] * geluRef(v + b[i % N]));
    const rt = Tensor.from(gpu, res, [M, N]);
    const y = linear(Tensor.from(gpu, h, [M, K]), Tensor.from(gpu, w, [N, K]), Tensor.from(gpu, b, [N]), {
      gelu: true, scale: Tensor.from(gpu, gamma, [N]), residual: rt, out: inPlace ? rt : undefined, variant,
    });
    if (inPlace) expect(y).toBe(rt);
    expect(await y.toFloat32()).toBeAllclose(want, { rtol: 1e-5, atol: 1e-5 });
  });
});

describe('f16 storage, f32 accumulation', () => {
  // Real text-tower shape (in_proj) plus an odd one; f16 weights with f32 activations, and
  // everything f16. Compared with the f32 CPU result: f16 storage rounds each operand by ≤ 2^-11.
  it.each([
    [77, 1536, 512, 'weights', 'regblock'], [77, 1536, 512, 'all', 'regblock'], [33, 29, 37, 'all', 'tiled'],
    // fc2's split-K shape (8 slices) with f16 weights (tiled128-f16: matmul.test.ts and below).
    [77, 256, 2048, 'weights', 'splitk'],
  ] as const)('M=%i N=%i K=%i, f16 %s (%s)', async (M, N, K, which, variant) => {
    const gpu = await testGpu();
    // SwiftShader has no shader-f16: there f16 tensors must be refused with the typed error.
    if (!gpu.f16) {
      expect(() => linear(Tensor.empty(gpu, [M, K]), Tensor.empty(gpu, [N, K], 'f16'))).toThrowError(/shader-f16/);
      return;
    }
    const x = randomArray(M * K, 81), w = randomArray(N * K, 82), b = randomArray(N, 83);
    const want = matmulRef(x, w, M, N, K, { transB: true }).map((v, i) => v + b[i % N]);
    const xt = Tensor.from(gpu, x, [M, K], which === 'all' ? 'f16' : 'f32');
    const bt = Tensor.from(gpu, b, [N], which === 'all' ? 'f16' : 'f32');
    const y = linear(xt, Tensor.from(gpu, w, [N, K], 'f16'), bt, { variant });
    expect(y.dtype).toBe(which === 'all' ? 'f16' : 'f32');
    expect(await y.toFloat32()).toBeAllclose(want, { rtol: 2e-3, atol: 2e-3 * maxAbs(want) });
  });
});

describe('tiled128-f16 fused epilogue, all f16', () => {
  it('x += gamma ⊙ GELU(h·Wᵀ + b) in place (f32 epilogue on f16 storage)', async () => {
    const gpu = await testGpu();
    if (!gpu.f16) return; // f16 tensors are refused without shader-f16 (tested above)
    const [M, N, K] = [30, 16, 520];
    const up = (a: Float32Array, shape: number[]) => Tensor.from(gpu, a, shape, 'f16');
    const h = up(randomArray(M * K, 66), [M, K]), w = up(randomArray(N * K, 67).map((v) => v * 0.1), [N, K]);
    const b = up(randomArray(N, 68), [N]), gamma = up(randomArray(N, 69), [N]), x = up(randomArray(M * N, 70), [M, N]);
    const [hf, wf, bf, gf, xf] = await Promise.all([h, w, b, gamma, x].map((t) => t.toFloat32()));
    const want = matmulRef(hf, wf, M, N, K, { transB: true }).map((v, i) => xf[i] + gf[i % N] * geluRef(v + bf[i % N]));
    const y = linear(h, w, b, { gelu: true, scale: gamma, residual: x, out: x, variant: 'tiled128-f16' });
    expect(await y.toFloat32()).toBeAllclose(want, { rtol: 2e-3, atol: 2e-3 * maxAbs(want) });
  });
});

describe('linear shape errors', () => {
  it('checks in_features, weight rank, bias, residual and f16 availability', async () => {
    const gpu = await testGpu();
    const x = Tensor.empty(gpu, [2, 3, 8]);
    expect(() => linear(x, Tensor.empty(gpu, [4, 7]))).toThrowError(/in_features = 7/);
    expect(() => linear(x, Tensor.empty(gpu, [4, 8, 1]))).toThrowError(/\[out_features, in_features\]/);
    expect(() => linear(x, Tensor.empty(gpu, [4, 8]), Tensor.empty(gpu, [5]))).toThrowError(/4 values/);
    expect(() => linear(x, Tensor.empty(gpu, [4, 8]), undefined, { residual: Tensor.empty(gpu, [2, 3, 5]) })).toThrowError(/residual/);
    expect(() => linear(x, Tensor.empty(gpu, [8, 8]), undefined, { out: x })).toThrowError(/shares a buffer/);
    if (!gpu.f16) expect(() => linear(x, Tensor.empty(gpu, [4, 8], 'f16'))).toThrowError(/shader-f16/);
  });
});
