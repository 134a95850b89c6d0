import { describe, expect, it } from 'vitest';
import { Tensor } from '../../src/gpu/tensor.js';
import type { Gpu } from '../../src/gpu/device.js';
import { gemmShapeClass, matmul, selectGemmVariant, type MatmulVariant } from '../../src/kernels/gemm/index.js';
import { erf64, geluRef, matmulRef } from '../helpers/cpu-ref.js';
import { randomArray, testGpu } from '../helpers/gpu.js';

// [M, N, K]: degenerate, odd, not-multiple-of-4, the text tower's packed in_proj, and 1000³.
const SHAPES: [number, number, number][] = [
  [1, 1, 1], [3, 5, 7], [1, 17, 33], [33, 1, 9], [4, 4, 4], [5, 8, 12], [64, 64, 64], [65, 63, 67],
  [7, 130, 1], [128, 3, 257], [77, 1536, 512], [200, 96, 100], [1000, 1000, 1000],
];
const VARIANTS: MatmulVariant[] = ['regblock', 'tiled'];

function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}

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

// The GPU variants (tiled-generator configs and split-K), forced. Every distinct kernel key is a
// pipeline (1-4 s of cold llvmpipe compile), so the shapes share keys: K % 4 != 0 and N % 4 != 0
// (scalar loads), N % 4 == 0 (vec4 B and C), all vec4; tile edges (M, N not multiples of 128,
// K < TK, K = 5); split-K with S = 1, S = 3 (a ragged last slice, K % 4 != 0) and S = 4.
const GPU_VARIANTS: MatmulVariant[] = ['tiled128', 'splitk'];
const GPU_SHAPES: [number, number, number][] = [[1, 1, 1], [3, 5, 7], [9, 13, 5], [130, 260, 70], [5, 20, 1001], [77, 96, 1024]];

describe.each(GPU_VARIANTS)('matmul %s (GPU variant)', (variant) => {
  it.each(GPU_SHAPES)('C = A·B for M=%i N=%i K=%i', async (M, N, K) => {
    const gpu = await testGpu();
    const a = randomArray(M * K, M * 31 + K), b = randomArray(K * N, N * 17 + K);
    const c = matmul(Tensor.from(gpu, a, [M, K]), Tensor.from(gpu, b, [K, N]), { variant });
    expect(await c.toFloat32()).toBeAllclose(matmulRef(a, b, M, N, K), { rtol: 1e-5, atol: Math.sqrt(K) * 1e-5 + 1e-6 });
  });

  // Split-K's partial kernel shares the generator's operand code with tiled128: two layouts suffice.
  // (M % 4 == 0 binds a transposed A as vec4; K = 600 gives split-K two slices.)
  const transposes = [[true, true, [3, 13, 10, 9]], [true, false, [2, 132, 20, 600]], [false, true, [3, 13, 10, 9]]] as const;
  it.each(variant === 'splitk' ? transposes.slice(0, 2) : transposes)('transA=%s transB=%s on [batch, M, N, K] = %j, batched A, broadcast B', async (transA, transB, [batch, M, N, K]) => {
    const gpu = await testGpu();
    const a = randomArray(batch * M * K, 5), b = randomArray(K * N, 6);
    const c = matmul(Tensor.from(gpu, a, transA ? [batch, K, M] : [batch, M, K]), Tensor.from(gpu, b, transB ? [N, K] : [K, N]), { variant, transA, transB });
    const want = matmulRef(a, b, M, N, K, { transA, transB, batch, bBatched: false });
    expect(await c.toFloat32()).toBeAllclose(want, { rtol: 1e-5, atol: Math.sqrt(K) * 1e-5 });
  });

  it('fused bias + exact GELU epilogue (Linear layout, weight [N, K])', async () => {
    const gpu = await testGpu();
    const [M, N, K] = [21, 36, 520];
    const x = randomArray(M * K, 11).map((v) => v * 0.2), w = randomArray(N * K, 12), bias = randomArray(N, 13);
    const c = matmul(Tensor.from(gpu, x, [M, K]), Tensor.from(gpu, w, [N, K]), { variant, transB: true, bias: Tensor.from(gpu, bias, [N]), gelu: true });
    const want = matmulRef(x, w, M, N, K, { transB: true }).map((v, i) => geluRef(v + bias[i % N]));
    expect(await c.toFloat32()).toBeAllclose(want, { rtol: 1e-5, atol: 1e-5 });
  });
});

describe('matmul GPU variants with f16 operands', () => {
  // 'tiled128-f16' multiplies and sums runs of 4 products in f16 (tiled.ts header); the others
  // widen f16 storage to f32. Reference: float64 on the f16-rounded operands, 2e-3 of max |C|.
  it.each<[MatmulVariant, number, number, number, boolean]>([
    ['tiled128-f16', 1, 1, 1, false], ['tiled128-f16', 33, 40, 768, false], ['tiled128', 130, 260, 70, false],
  ])('%s M=%i N=%i K=%i transB=%s', async (variant, M, N, K, transB) => {
    const gpu = await testGpu();
    if (!gpu.f16) return; // no shader-f16 (SwiftShader): f16 tensors are refused (linear.test.ts)
    const ta = Tensor.from(gpu, randomArray(M * K, 21), [M, K], 'f16');
    const tb = Tensor.from(gpu, randomArray(K * N, 22), transB ? [N, K] : [K, N], 'f16');
    const c = matmul(ta, tb, { variant, transB, dtype: 'f32' });
    const want = matmulRef(await ta.toFloat32(), await tb.toFloat32(), M, N, K, { transB });
    expect(await c.toFloat32()).toBeAllclose(want, { rtol: 2e-3, atol: 2e-3 * maxAbs(want) });
  });

  it("refuses f32 operands for 'tiled128-f16' with a ShapeError", async () => {
    const gpu = await testGpu();
    expect(() => matmul(Tensor.empty(gpu, [4, 4]), Tensor.empty(gpu, [4, 4]), { variant: 'tiled128-f16' })).toThrowError(/needs f16 A and B/);
    // math 'f16' admits an f32 A only with an f16 B (autocast: the weights are f16).
    expect(() => matmul(Tensor.empty(gpu, [4, 4]), Tensor.empty(gpu, [4, 4]), { variant: 'tiled128-f16', math: 'f16' })).toThrowError(/needs f16 A and B/);
  });

  it("math 'f16': an f32 A is rounded to f16 while staged (autocast), products as for f16 A", async () => {
    const gpu = await testGpu();
    if (!gpu.f16) return;
    const [M, N, K] = [70, 36, 200];
    const a = randomArray(M * K, 31);
    const ta = Tensor.from(gpu, a, [M, K]);
    const tb = Tensor.from(gpu, randomArray(N * K, 32), [N, K], 'f16');
    const c = matmul(ta, tb, { variant: 'tiled128-f16', math: 'f16', transB: true });
    const a16 = await Tensor.from(gpu, a, [M, K], 'f16').toFloat32();
    const want = matmulRef(a16, await tb.toFloat32(), M, N, K, { transB: true });
    expect(await c.toFloat32()).toBeAllclose(want, { rtol: 2e-3, atol: 2e-3 * maxAbs(want) });
  });
});

describe('GEMM variant selection', () => {
  const view = (gpu: Gpu, profile: 'gpu' | 'software', tuned?: string): Gpu =>
    new Proxy(gpu, { get: (t, k) => (k === 'kernelProfile' ? profile : k === 'tuning' ? (tuned ? { pick: () => tuned } : null) : Reflect.get(t, k, t)) });
  const shape = (M: number, N: number, K: number, f16 = false) => ({ M, N, K, batch: 1, dtypes: f16 ? (['f16', 'f16'] as const) : (['f32', 'f32'] as const) });

  it('classes shapes and picks by profile, dtypes and tuning entries', async () => {
    const gpu = await testGpu();
    expect([gemmShapeClass(77, 512, 2048), gemmShapeClass(512, 512, 512), gemmShapeClass(77, 1536, 512), gemmShapeClass(77, 512, 2048, 8)]).toEqual(['small-m', 'large', 'default', 'default']);
    const hw = view(gpu, 'gpu');
    expect(selectGemmVariant(hw, shape(77, 512, 2048))).toBe('splitk');
    expect(selectGemmVariant(hw, shape(512, 512, 512))).toBe('tiled128');
    if (gpu.f16) expect(selectGemmVariant(hw, shape(512, 512, 512, true))).toBe('tiled128-f16');
    // f32 activations × f16 weights: f16 arithmetic only when the call allows it (math 'f16').
    const mixed = { M: 512, N: 512, K: 512, batch: 1, dtypes: ['f32', 'f16'] as const };
    expect(selectGemmVariant(hw, mixed)).toBe('tiled128');
    if (gpu.f16) expect(selectGemmVariant(hw, { ...mixed, math: 'f16' })).toBe('tiled128-f16');
    expect(selectGemmVariant(view(gpu, 'software'), { ...mixed, math: 'f16' })).toBe('regblock');
    // Subgroup matrices (experimental): where enabled, only f16-arithmetic calls that fill a tile.
    if (gpu.f16 && gpu.subgroups) {
      const sgm = new Proxy(hw, { get: (t, k) => (k === 'subgroupMatrix' ? [{ componentType: 'f16', resultComponentType: 'f32', M: 8, N: 8, K: 8 }] : k === 'experimentalKernels' ? true : Reflect.get(t, k, t)) });
      expect(selectGemmVariant(sgm, shape(512, 512, 512, true))).toBe('subgroup-matrix');
      expect(selectGemmVariant(sgm, { ...mixed, math: 'f16' })).toBe('subgroup-matrix');
      expect(selectGemmVariant(sgm, mixed)).toBe('tiled128');
      expect(selectGemmVariant(sgm, shape(32, 512, 512, true))).toBe('tiled');
      expect(selectGemmVariant(sgm, shape(77, 512, 2048))).toBe('splitk');
    }
    expect(selectGemmVariant(hw, shape(77, 1536, 512))).toBe('tiled');
    // CPU adapters keep regblock for every shape.
    for (const s of [shape(77, 512, 2048), shape(512, 512, 512), shape(3, 3, 3)]) expect(selectGemmVariant(view(gpu, 'software'), s)).toBe('regblock');
    // A tuning entry wins where the operands fit it; an unfit one falls back to the shape rules.
    expect(selectGemmVariant(view(gpu, 'gpu', 'regblock'), shape(512, 512, 512))).toBe('regblock');
    expect(selectGemmVariant(view(gpu, 'software', 'tiled128'), shape(8, 8, 8))).toBe('tiled128');
    expect(selectGemmVariant(view(gpu, 'gpu', 'tiled128-f16'), shape(512, 512, 512))).toBe('tiled128');
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
