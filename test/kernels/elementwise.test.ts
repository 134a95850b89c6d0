import { describe, expect, it } from 'vitest';
import { ShapeError } from '../../src/errors.js';
import { Tensor } from '../../src/gpu/tensor.js';
import { add, addScaled, cast, gelu, type GeluKind } from '../../src/kernels/elementwise.js';
import { toF16Array } from '../../src/gpu/dtype.js';
import { foldWorkgroups } from '../../src/kernels/wgsl.js';
import { geluRef } from '../helpers/cpu-ref.js';
import { golden, loadGoldens, toleranceFor } from '../helpers/goldens.js';
import { randomArray, testGpu } from '../helpers/gpu.js';

describe('gelu', () => {
  it.each([
    ['erf', 'gelu_erf'], ['tanh', 'gelu_tanh'], ['quick', 'quick_gelu'],
  ] as const)('%s matches the %s golden, and differs from the other kinds', async (kind, name) => {
    const gpu = await testGpu();
    const g = await loadGoldens('ops.safetensors');
    const x = golden(g, `${name}.in.x`);
    const got = await gelu(Tensor.from(gpu, x.data, x.shape), { kind }).toFloat32();
    const atol = toleranceFor('ops.safetensors', `${name}.out`);
    expect(got).toBeAllclose(golden(g, `${name}.out`).data, { rtol: 0, atol });
    // The goldens of the other kinds must NOT match (they differ by more than 10× atol: erf vs tanh by 4.7e-4).
    for (const other of ['gelu_erf', 'gelu_tanh', 'quick_gelu'].filter((o) => o !== name)) {
      const want = golden(g, `${other}.out`).data;
      expect(Math.max(...got.map((v, i) => Math.abs(v - want[i])))).toBeGreaterThan(10 * atol);
    }
  });

  it.each([4096, 37, 1])('exact GELU matches a float64 reference on %i values incl. tails (vec4 and scalar paths)', async (n) => {
    const gpu = await testGpu();
    const x = randomArray(n, n).map((v) => v * 12);
    const got = await gelu(Tensor.from(gpu, x, [n])).toFloat32();
    expect(got).toBeAllclose(x.map(geluRef), { rtol: 2e-6, atol: 2e-7 });
  });

  it('large tensors fold the grid into 2-D', async () => {
    const gpu = await testGpu();
    const max = gpu.limits.maxComputeWorkgroupsPerDimension;
    const n = max * 256 + 1001; // scalar path (odd), one more than a 1-D grid holds
    const a = new Float32Array(n).map((_, i) => (i % 1000) * 0.5);
    const b = new Float32Array(n).fill(1);
    const got = await add(Tensor.from(gpu, a, [n]), Tensor.from(gpu, b, [n])).toFloat32();
    for (const i of [0, 1, max * 256 - 1, max * 256, n - 2, n - 1]) expect(got[i]).toBe(a[i] + 1);
    let bad = 0;
    for (let i = 0; i < n; i++) if (got[i] !== a[i] + 1) bad++;
    expect(bad).toBe(0);
  });
});

describe('gelu f16 storage against the f32 golden', () => {
  it('gelu_erf with f16 in/out within 2e-3 relative', async () => {
    const gpu = await testGpu();
    const g = await loadGoldens('ops.safetensors');
    const x = golden(g, 'gelu_erf.in.x');
    const run = () => gelu(Tensor.from(gpu, x.data, x.shape, 'f16'));
    if (!gpu.f16) return expect(run).toThrowError(/no shader-f16/);
    expect(await run().toFloat32()).toBeAllclose(golden(g, 'gelu_erf.out').data, { rtol: 2e-3, atol: 1e-3 });
  });
});

describe('foldWorkgroups', () => {
  it('keeps small grids 1-D and covers large ones with x <= max', () => {
    expect(foldWorkgroups(10, 65535)).toEqual([10, 1]);
    for (const n of [65536, 200000, 65535 * 3 + 1]) {
      const [x, y] = foldWorkgroups(n, 65535);
      expect(x).toBeLessThanOrEqual(65535);
      expect(x * y).toBeGreaterThanOrEqual(n);
      expect(x * (y - 1)).toBeLessThan(n);
    }
  });
});

describe('residual add and layer scale', () => {
  it.each([[3, 7, 13], [2, 5, 128]])('add and x + gamma ⊙ y on [%i, %i, %i] (channels-last)', async (N, S, C) => {
    const gpu = await testGpu();
    const x = randomArray(N * S * C, 1);
    const y = randomArray(N * S * C, 2);
    const gamma = randomArray(C, 3);
    const tx = Tensor.from(gpu, x, [N, S, C]);
    const ty = Tensor.from(gpu, y, [N, S, C]);
    expect(await add(tx, ty).toFloat32()).toBeAllclose(x.map((v, i) => v + y[i]), { rtol: 0, atol: 1e-7 });
    const got = await addScaled(tx, Tensor.from(gpu, gamma, [C]), ty).toFloat32();
    expect(got).toBeAllclose(x.map((v, i) => v + gamma[i % C] * y[i]), { rtol: 1e-7, atol: 1e-7 });
  });

  it('f16 operands where the adapter has shader-f16 (refused otherwise)', async () => {
    const gpu = await testGpu();
    const [R, C] = [9, 64];
    const x = randomArray(R * C, 4).map((v) => v * 3);
    const y = randomArray(R * C, 5);
    const gamma = randomArray(C, 6);
    if (!gpu.f16) {
      expect(() => gelu(Tensor.from(gpu, x, [R, C], 'f16'))).toThrow(ShapeError);
      return;
    }
    const xh = Tensor.from(gpu, x, [R, C], 'f16');
    const yh = Tensor.from(gpu, y, [R, C], 'f16');
    const [xr, yr] = [await xh.toFloat32(), await yh.toFloat32()];
    const g = gelu(xh);
    expect(g.dtype).toBe('f16');
    expect(await g.toFloat32()).toBeAllclose(xr.map(geluRef), { rtol: 2e-3, atol: 1e-3 });
    expect(await addScaled(xh, Tensor.from(gpu, gamma, [C]), yh).toFloat32()).toBeAllclose(xr.map((v, i) => v + gamma[i % C] * yr[i]), { rtol: 2e-3, atol: 1e-3 });
  });

  it('rejects mismatched operands with a ShapeError', async () => {
    const gpu = await testGpu();
    const x = Tensor.zeros(gpu, [4, 8]);
    expect(() => add(x, Tensor.zeros(gpu, [4, 7]))).toThrowError(/operands must match/);
    expect(() => addScaled(x, Tensor.zeros(gpu, [4]), x)).toThrowError(/gamma.*must be f32 \[8\]/);
    expect(() => gelu(x, { out: Tensor.zeros(gpu, [4, 8], 'i32') })).toThrow(ShapeError);
  });
});

describe('cast', () => {
  // Normal values, halfway cases (ties to even), f16 subnormals, overflow to ±inf, ±0, NaN.
  const values = [...randomArray(61, 9).map((v) => v * 300), 1 + 2 ** -11, 1 + 3 * 2 ** -11, 2 ** -20, -(2 ** -24), 65504, 65520, -1e6, 0, -0, NaN, 3.14159];

  it.each([values.length, 64])('f32 → f16 rounds like the host conversion, and f16 → f32 is exact (%i values)', async (n) => {
    const gpu = await testGpu();
    const x = Float32Array.from({ length: n }, (_, i) => values[i % values.length]);
    if (!gpu.f16) {
      expect(() => cast(Tensor.from(gpu, x, [n]), 'f16')).toThrowError(/shader-f16/);
      return;
    }
    const h = cast(Tensor.from(gpu, x, [n]), 'f16');
    expect(h.dtype).toBe('f16');
    expect(Array.from((await h.read()) as Uint16Array)).toEqual(Array.from(toF16Array(x)));
    const back = await cast(h, 'f32').toFloat32();
    expect(Array.from(back)).toEqual(Array.from(await h.toFloat32()));
  });

  it('rejects a wrong out tensor and a non-float dtype', async () => {
    const gpu = await testGpu();
    const x = Tensor.from(gpu, new Float32Array(8), [8]);
    expect(() => cast(x, 'f32', { out: Tensor.empty(gpu, [7]) })).toThrowError(ShapeError);
    expect(() => cast(x, 'i32' as 'f32')).toThrowError(/f32 or f16/);
  });
});
