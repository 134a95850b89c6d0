import { describe, expect, it } from 'vitest';
import { ShapeError } from '../../src/errors.js';
import { Tensor } from '../../src/gpu/tensor.js';
import { argmaxPool, defaultL2NormVariant, defaultPoolingVariant, globalAvgPool, l2Normalize } from '../../src/kernels/pooling.js';
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

// The subgroup variants (lavapipe: 8 lanes, SwiftShader: 4) on the goldens and on odd shapes:
// fewer positions / tokens / channels than a subgroup or a workgroup, more outputs than one block
// (avg pool: 64 per workgroup), f16 storage where the adapter has it.
describe('pooling and L2 subgroup variants', () => {
  const variant = 'subgroup' as const;

  it('are the real-GPU defaults where the device has subgroups, and refused without them', async () => {
    const gpu = await testGpu();
    const gpuDefault = gpu.kernelProfile === 'gpu' && gpu.subgroups;
    expect(defaultPoolingVariant(gpu)).toBe(gpuDefault ? 'subgroup' : 'invocation');
    expect(defaultL2NormVariant(gpu)).toBe(gpuDefault ? 'subgroup' : 'row');
    if (!gpu.subgroups) expect(() => l2Normalize(Tensor.zeros(gpu, [2, 3]), { variant })).toThrowError(/subgroups/);
  });

  it('globalAvgPool: the golden and odd shapes, f32 and f16 input', async () => {
    const gpu = await testGpu();
    if (!gpu.subgroups) return;
    const g = await loadGoldens('ops.safetensors');
    const gx = golden(g, 'avgpool.in.x');
    const [gN, gC, gH, gW] = gx.shape;
    const nhwc = nchwToNhwc(gx.data, gN, gC, gH, gW);
    expect(await globalAvgPool(Tensor.from(gpu, nhwc, [gN, gH, gW, gC]), { variant }).toFloat32()).toBeAllclose(golden(g, 'avgpool.out').data, { rtol: 0, atol: toleranceFor('ops.safetensors', 'avgpool.out') });
    for (const [N, H, W, C] of [[2, 7, 7, 77], [3, 1, 3, 1], [1, 2, 1, 130]]) {
      const x = randomArray(N * H * W * C, C + H);
      const want = new Float32Array(N * C);
      for (let n = 0; n < N; n++) for (let c = 0; c < C; c++) {
        let s = 0;
        for (let i = 0; i < H * W; i++) s += x[(n * H * W + i) * C + c];
        want[n * C + c] = s / (H * W);
      }
      expect(await globalAvgPool(Tensor.from(gpu, x, [N, H, W, C]), { variant }).toFloat32(), `[${N}, ${H}, ${W}, ${C}]`).toBeAllclose(want, { rtol: 0, atol: 1e-6 });
    }
    if (!gpu.f16) return;
    const y = globalAvgPool(Tensor.from(gpu, nhwc, [gN, gH, gW, gC], 'f16'), { dtype: 'f32', variant });
    expect(await y.toFloat32()).toBeAllclose(golden(g, 'avgpool.out').data, { rtol: 2e-3, atol: 2e-4 });
  });

  it('l2Normalize: the golden and rows of 1, 3, 77 and 1023 values (one zero row), f32 and f16', async () => {
    const gpu = await testGpu();
    if (!gpu.subgroups) return;
    const g = await loadGoldens('ops.safetensors');
    const gx = golden(g, 'l2norm.in.x');
    expect(await l2Normalize(Tensor.from(gpu, gx.data, gx.shape), { variant }).toFloat32()).toBeAllclose(golden(g, 'l2norm.out').data, { rtol: 0, atol: toleranceFor('ops.safetensors', 'l2norm.out') });
    for (const [R, D] of [[3, 1], [5, 3], [9, 77], [2, 1023]]) {
      const x = randomArray(R * D, D).map((v) => v * 3);
      x.fill(0, D, 2 * D);
      const got = await l2Normalize(Tensor.from(gpu, x, [R, D]), { variant }).toFloat32();
      expect(got, `[${R}, ${D}]`).toBeAllclose(l2Ref(x, D), { rtol: 0, atol: 1e-6 });
      expect(got.slice(D, 2 * D).every((v) => v === 0)).toBe(true);
    }
    if (!gpu.f16) return;
    const xh = Tensor.from(gpu, randomArray(7 * 77, 5), [7, 77], 'f16');
    const xr = await xh.toFloat32();
    expect(await l2Normalize(xh, { variant }).toFloat32()).toBeAllclose(l2Ref(xr, 77), { rtol: 2e-3, atol: 2e-3 });
  });

  it('argmaxPool: the golden, the FIRST largest id, rows longer than a workgroup, f16', async () => {
    const gpu = await testGpu();
    if (!gpu.subgroups) return;
    const g = await loadGoldens('ops.safetensors');
    const gx = golden(g, 'eot_pool.in.x');
    const tok = golden(g, 'eot_pool.tokens');
    const y = argmaxPool(Tensor.from(gpu, gx.data, gx.shape), Tensor.from(gpu, tok.data as Int32Array, tok.shape, 'i32'), { variant });
    expect(await y.toFloat32()).toBeAllclose(golden(g, 'eot_pool.out').data, { rtol: 0, atol: toleranceFor('ops.safetensors', 'eot_pool.out') });
    // T = 77 > 64 invocations: the largest id only past position 64 in one row; twice in another,
    // the later copy (66) in a lower invocation (2) than the first (10); negative ids; T = 1.
    const [B, T, D] = [4, 77, 3];
    const tokens = new Int32Array(B * T).map((_, i) => (i * 7919) % 500);
    const pick = [70, 10, 10, 0];
    tokens[0 * T + 70] = 1000;
    tokens[1 * T + 10] = 900; tokens[1 * T + 66] = 900;
    for (let t = 0; t < T; t++) tokens[2 * T + t] = -5 - t;
    tokens[2 * T + 10] = -1;
    tokens[3 * T + 0] = 600;
    const x = randomArray(B * T * D, 8);
    const want = new Float32Array(B * D).map((_, o) => x[(Math.floor(o / D) * T + pick[Math.floor(o / D)]) * D + (o % D)]);
    const got = await argmaxPool(Tensor.from(gpu, x, [B, T, D]), Tensor.from(gpu, tokens, [B, T]), { variant }).toFloat32();
    expect(Array.from(got)).toEqual(Array.from(want));
    const one = await argmaxPool(Tensor.from(gpu, x.subarray(0, 2 * D), [2, 1, D]), Tensor.from(gpu, new Int32Array([3, 4]), [2, 1]), { variant }).toFloat32();
    expect(Array.from(one)).toEqual(Array.from(x.subarray(0, 2 * D)));
    if (!gpu.f16) return;
    const xh = Tensor.from(gpu, x, [B, T, D], 'f16');
    const xr = await xh.toFloat32();
    const gotH = await argmaxPool(xh, Tensor.from(gpu, tokens, [B, T]), { variant }).toFloat32();
    expect(Array.from(gotH)).toEqual(Array.from(new Float32Array(B * D).map((_, o) => xr[(Math.floor(o / D) * T + pick[Math.floor(o / D)]) * D + (o % D)])));
  });
});
