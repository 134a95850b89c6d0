import { describe, expect, it } from 'vitest';
import { ShapeError } from '../../src/errors.js';
import { Tensor } from '../../src/gpu/tensor.js';
import { argmaxPool, globalAvgPool, l2Normalize } from '../../src/kernels/pooling.js';
import { golden, loadGoldens, toleranceFor } from '../helpers/goldens.js';
import { randomArray, testGpu } from '../helpers/gpu.js';
import { nchwToNhwc } from './misc-ref.js';

function l2Ref(x: ArrayLike<number>, D: number): Float32Array {
  const out = new Float32Array(x.length);
  for (let r = 0; r < x.length / D; r++) {
    let s = 0;
    for (let d = 0; d < D; d++) s += x[r * D + d] ** 2;
    const n = Math.max(Math.sqrt(s), 1e-12);
    for (let d = 0; d < D; d++) out[r * D + d] = x[r * D + d] / n;
  }
  return out;
}

describe('globalAvgPool (NHWC)', () => {
  it('matches the avgpool golden (NCHW input permuted to NHWC)', async () => {
    const gpu = await testGpu();
    const g = await loadGoldens('ops.safetensors');
    const x = golden(g, 'avgpool.in.x');
    const [N, C, H, W] = x.shape;
    const y = globalAvgPool(Tensor.from(gpu, nchwToNhwc(x.data, N, C, H, W), [N, H, W, C]));
    expect(y.shape).toEqual([N, C]);
    expect(await y.toFloat32()).toBeAllclose(golden(g, 'avgpool.out').data, { rtol: 0, atol: toleranceFor('ops.safetensors', 'avgpool.out') });
  });

  it('matches the CPU reference at the ConvNeXt-Base head shape [2, 7, 7, 1024] and an odd one', async () => {
    const gpu = await testGpu();
    for (const [N, H, W, C] of [[2, 7, 7, 1024], [3, 5, 1, 13]]) {
      const x = randomArray(N * H * W * C, C);
      const want = new Float32Array(N * C);
      for (let n = 0; n < N; n++) for (let c = 0; c < C; c++) {
        let s = 0;
        for (let i = 0; i < H * W; i++) s += x[(n * H * W + i) * C + c];
        want[n * C + c] = s / (H * W);
      }
      expect(await globalAvgPool(Tensor.from(gpu, x, [N, H, W, C])).toFloat32()).toBeAllclose(want, { rtol: 0, atol: 1e-6 });
    }
    expect(() => globalAvgPool(Tensor.zeros(gpu, [2, 3, 4]))).toThrowError(/NHWC/);
    expect(() => globalAvgPool(Tensor.zeros(gpu, [2, 0, 4, 3]))).toThrowError(/empty/);
  });
});

describe('globalAvgPool f16 storage against the f32 golden', () => {
  it('f16 input, f32 output, within 2e-3 relative', async () => {
    const gpu = await testGpu();
    const g = await loadGoldens('ops.safetensors');
    const x = golden(g, 'avgpool.in.x');
    const [N, C, H, W] = x.shape;
    const run = () => globalAvgPool(Tensor.from(gpu, nchwToNhwc(x.data, N, C, H, W), [N, H, W, C], 'f16'), { dtype: 'f32' });
    if (!gpu.f16) return expect(run).toThrowError(/no shader-f16/);
    const y = run();
    expect(y.dtype).toBe('f32');
    expect(await y.toFloat32()).toBeAllclose(golden(g, 'avgpool.out').data, { rtol: 2e-3, atol: 2e-4 });
  });
});

describe('l2Normalize', () => {
  it('matches the l2norm golden and a reference with a zero row (eps keeps it 0, not NaN)', async () => {
    const gpu = await testGpu();
    const g = await loadGoldens('ops.safetensors');
    const x = golden(g, 'l2norm.in.x');
    expect(await l2Normalize(Tensor.from(gpu, x.data, x.shape)).toFloat32()).toBeAllclose(golden(g, 'l2norm.out').data, { rtol: 0, atol: toleranceFor('ops.safetensors', 'l2norm.out') });
    const D = 512;
    const xr = randomArray(3 * D, 9);
    xr.fill(0, D, 2 * D);
    const got = await l2Normalize(Tensor.from(gpu, xr, [3, D])).toFloat32();
    expect(got).toBeAllclose(l2Ref(xr, D), { rtol: 0, atol: 1e-7 });
    expect(got.slice(D, 2 * D).every((v) => v === 0)).toBe(true);
  });
});

describe('argmaxPool (EOT pooling)', () => {
  it('matches the eot_pool golden', async () => {
    const gpu = await testGpu();
    const g = await loadGoldens('ops.safetensors');
    const x = golden(g, 'eot_pool.in.x');
    const tok = golden(g, 'eot_pool.tokens');
    const y = argmaxPool(Tensor.from(gpu, x.data, x.shape), Tensor.from(gpu, tok.data as Int32Array, tok.shape, 'i32'));
    expect(y.shape).toEqual([x.shape[0], x.shape[2]]);
    expect(await y.toFloat32()).toBeAllclose(golden(g, 'eot_pool.out').data, { rtol: 0, atol: toleranceFor('ops.safetensors', 'eot_pool.out') });
  });

  it('takes the FIRST position of the largest id (torch.argmax) and checks shapes', async () => {
    const gpu = await testGpu();
    const [B, T, D] = [3, 5, 7];
    const x = randomArray(B * T * D, 2);
    const tokens = new Int32Array([1, 9, 3, 9, 0, /**/ 4, 4, 4, 4, 4, /**/ 0, 0, 0, 0, 2]);
    const pick = [1, 0, 4];
    const want = new Float32Array(B * D).map((_, o) => x[(Math.floor(o / D) * T + pick[Math.floor(o / D)]) * D + (o % D)]);
    expect(Array.from(await argmaxPool(Tensor.from(gpu, x, [B, T, D]), Tensor.from(gpu, tokens, [B, T])).toFloat32())).toEqual(Array.from(want));
    expect(() => argmaxPool(Tensor.zeros(gpu, [B, T, D]), Tensor.zeros(gpu, [B, T]))).toThrowError(/tokens.*must be i32/);
    expect(() => argmaxPool(Tensor.zeros(gpu, [B, T]), Tensor.zeros(gpu, [B, T], 'i32'))).toThrow(ShapeError);
  });
});
