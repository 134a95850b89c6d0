import { describe, expect, it } from 'vitest';
import { Tensor } from '../../src/gpu/tensor.js';
import { matmul, type MatmulVariant } from '../../src/kernels/gemm/index.js';
import { erf64, geluRef, matmulRef } from '../helpers/cpu-ref.js';
import { randomArray, testGpu } from '../helpers/gpu.js';

// [M, N, K]: degenerate, odd, not-multiple-of-4, the text tower's packed in_proj, and 1000³.
const SHAPES: [number, number, number][] = [
  [1, 1, 1], [3, 5, 7], [1, 17, 33], [33, 1, 9], [4, 4, 4], [5, 8, 12], [64, 64, 64], [65, 63, 67],
  [7, 130, 1], [128, 3, 257], [77, 1536, 512], [200, 96, 100], [1000, 1000, 1000],
];
const VARIANTS: MatmulVariant[] = ['regblock', 'tiled'];

describe('cpu reference helpers', () => {
  it('erf64 matches known values', () => {
    expect(erf64(0.5)).toBeCloseTo(0.5204998778130465, 14);
    expect(erf64(-1)).toBeCloseTo(-0.8427007929497149, 14);
    expect(erf64(3)).toBeCloseTo(0.9999779095030014, 14);
    expect(erf64(-4.2)).toBeCloseTo(-0.9999999971445058, 14);
  });
});

describe.each(VARIANTS)('matmul %s', (variant) => {
  it.each(SHAPES)('C = A·B for M=%i N=%i K=%i', async (M, N, K) => {
    const gpu = await testGpu();
    const a = randomArray(M * K, M * 31 + K);
    const b = randomArray(K * N, N * 17 + K);
    const ta = Tensor.from(gpu, a, [M, K]);
    const tb = Tensor.from(gpu, b, [K, N]);
    const c = matmul(ta, tb, { variant });
    expect(c.shape).toEqual([M, N]);
    // rel 1e-5 of the row's magnitude: |sum| can cancel, so compare against sum |a||b| scale.
    const want = matmulRef(a, b, M, N, K);
    const got = await c.toFloat32();
    const scale = Math.sqrt(K) * 1e-5 + 1e-6;
    expect(got).toBeAllclose(want, { rtol: 1e-5, atol: scale });
    for (const t of [ta, tb, c]) t.release();
  });

  // M % 4 == 0 binds a transposed A as vec4 rows (a partial last row block, M < 8, and a K tail).
  it.each([
    [false, true, [3, 13, 10, 9]], [true, false, [3, 13, 10, 9]], [true, true, [3, 13, 10, 9]],
    [true, false, [2, 12, 10, 9]], [true, true, [2, 12, 10, 8]], [true, false, [2, 4, 6, 8]], [true, false, [1, 20, 8, 17]],
  ] as const)('transposes (transA=%s, transB=%s) on [batch, M, N, K] = %j, batched and broadcast operands', async (transA, transB, dims) => {
    const gpu = await testGpu();
    const [batch, M, N, K] = dims;
    const a = randomArray(batch * M * K, 5);
    const b = randomArray(K * N, 6);
    const ta = Tensor.from(gpu, a, transA ? [batch, K, M] : [batch, M, K]);
    const tb = Tensor.from(gpu, b, transB ? [N, K] : [K, N]);
    const c = matmul(ta, tb, { variant, transA, transB });
    expect(c.shape).toEqual([batch, M, N]);
    const want = matmulRef(a, b, M, N, K, { transA, transB, batch, bBatched: false });
    expect(await c.toFloat32()).toBeAllclose(want, { rtol: 1e-5, atol: 1e-5 });
  });

  it('fused bias + exact GELU epilogue (Linear layout, weight [N, K])', async () => {
    const gpu = await testGpu();
    const [M, N, K] = [21, 36, 20];
    const x = randomArray(M * K, 11).map((v) => v * 3);
    const w = randomArray(N * K, 12);
    const bias = randomArray(N, 13);
    const c = matmul(Tensor.from(gpu, x, [M, K]), Tensor.from(gpu, w, [N, K]), { variant, transB: true, bias: Tensor.from(gpu, bias, [N]), gelu: true });
    const lin = matmulRef(x, w, M, N, K, { transB: true });
    const want = lin.map((v, i) => geluRef(v + bias[i % N]));
    expect(await c.toFloat32()).toBeAllclose(want, { rtol: 1e-5, atol: 2e-6 });
  });
});

describe('matmul edge cases', () => {
  it('K = 0 gives zeros; mismatched shapes are a ShapeError', async () => {
    const gpu = await testGpu();
    const c = matmul(Tensor.from(gpu, [], [2, 0]), Tensor.from(gpu, [], [0, 3]));
    expect(Array.from(await c.toFloat32())).toEqual([0, 0, 0, 0, 0, 0]);
    expect(() => matmul(Tensor.empty(gpu, [2, 3]), Tensor.empty(gpu, [4, 5]))).toThrowError(/inner dimensions differ/);
  });

  it('picks the software variant on fallback adapters', async () => {
    const gpu = await testGpu();
    const { defaultMatmulVariant } = await import('../../src/kernels/gemm/index.js');
    expect(defaultMatmulVariant(gpu)).toBe(gpu.adapter.fallback ? 'regblock' : 'tiled');
  });
});

describe('matmul grid folding', () => {
  // 70000 (row block, batch) pairs exceed the 65535 workgroups a dimension may have: the launcher
  // folds them over two dimensions and every batch must still be computed exactly once. The tiled
  // variant shares the folded block index (BLOCK_INDEX) but would run 70000 256-wide workgroups,
  // minutes on a CPU adapter, so only regblock runs this.
  it.each<MatmulVariant>(['regblock'])('batch 70000 of 1×3·3×2 (%s)', async (variant) => {
    const gpu = await testGpu();
    const batch = 70000;
    const a = randomArray(batch * 3, 91);
    const b = randomArray(3 * 2, 92);
    const c = matmul(Tensor.from(gpu, a, [batch, 1, 3]), Tensor.from(gpu, b, [3, 2]), { variant });
    const want = matmulRef(a, b, 1, 2, 3, { batch, bBatched: false });
    expect(await c.toFloat32()).toBeAllclose(want, { rtol: 1e-5, atol: 1e-6 });
  });
});
