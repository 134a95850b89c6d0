import { describe, expect, it } from 'vitest';
import { ShaderError, ShapeError } from '../../src/errors.js';
import { Tensor } from '../../src/gpu/tensor.js';
import { defaultRowVariant, layerNorm, layerNorm2dNCHW, type RowVariant } from '../../src/kernels/layernorm.js';
import { wgslEnableSubgroups, wgslSubgroupReduce } from '../../src/kernels/wgsl.js';
import { golden, loadGoldens, toleranceFor } from '../helpers/goldens.js';
import { randomArray, testGpu } from '../helpers/gpu.js';
import { layerNormRef, nchwToNhwc } from './misc-ref.js';

const VARIANTS: RowVariant[] = ['row', 'workgroup', 'subgroup'];

// Both CI adapters have subgroups (lavapipe: 8 lanes, SwiftShader: 4): a view of the device without
// them stands in for an adapter that lacks the feature.
it("the 'subgroup' variant is refused with a typed error where the device has no subgroups", async () => {
  const gpu = await testGpu();
  const bare = new Proxy(gpu, { get: (t, k) => (k === 'subgroups' ? false : Reflect.get(t, k, t)) });
  const z = (shape: number[]) => Object.assign(Object.create(Object.getPrototypeOf(Tensor.zeros(gpu, shape))), Tensor.zeros(gpu, shape), { gpu: bare });
  expect(() => layerNorm(z([2, 4]), z([4]), z([4]), { variant: 'subgroup' })).toThrow(ShaderError);
});

describe.each(VARIANTS)('layerNorm (last axis) %s', (variant) => {

  it.each([
    ['layernorm_cl', 1e-6],
    ['layernorm_text', 1e-5],
  ] as const)('matches the %s golden', async (name, eps) => {
    const gpu = await testGpu();
    const g = await loadGoldens('ops.safetensors');
    const x = golden(g, `${name}.in.x`);
    const y = layerNorm(Tensor.from(gpu, x.data, x.shape), Tensor.from(gpu, golden(g, `${name}.in.weight`).data, [x.shape.at(-1)!]), Tensor.from(gpu, golden(g, `${name}.in.bias`).data, [x.shape.at(-1)!]), { eps, variant });
    expect(y.shape).toEqual(x.shape);
    expect(await y.toFloat32()).toBeAllclose(golden(g, `${name}.out`).data, { rtol: 0, atol: toleranceFor('ops.safetensors', `${name}.out`) });
  });

  it('serves LayerNorm2d in NHWC: layernorm2d_cf golden permuted to channels-last', async () => {
    const gpu = await testGpu();
    const g = await loadGoldens('ops.safetensors');
    const x = golden(g, 'layernorm2d_cf.in.x');
    const [N, C, H, W] = x.shape;
    const y = layerNorm(Tensor.from(gpu, nchwToNhwc(x.data, N, C, H, W), [N, H, W, C]), Tensor.from(gpu, golden(g, 'layernorm2d_cf.in.weight').data, [C]), Tensor.from(gpu, golden(g, 'layernorm2d_cf.in.bias').data, [C]), { eps: 1e-6, variant });
    expect(await y.toFloat32()).toBeAllclose(nchwToNhwc(golden(g, 'layernorm2d_cf.out').data, N, C, H, W), { rtol: 0, atol: toleranceFor('ops.safetensors', 'layernorm2d_cf.out') });
  });

  // vec4 rows (C % 4 == 0) incl. the full-size widths, rows with a large mean (two-pass accuracy),
  // an odd C with more rows than one workgroup, and rows narrower than a subgroup or a workgroup
  // (C = 1, 3, 77) or not a multiple of them (1023).
  it.each([
    [7, 1024, 0], [70, 128, 100], [130, 37, 0], [3, 516, -30], [5, 1, 0], [9, 3, 2], [13, 77, 0], [3, 768, 0], [2, 1023, 5],
  ])('matches the CPU reference on [%i, %i] (offset %i)', async (R, C, off) => {
    const gpu = await testGpu();
    if (variant === 'subgroup' && !gpu.subgroups) return;
    const x = randomArray(R * C, R + C).map((v) => v * 2 + off);
    const w = randomArray(C, 3).map((v) => 1 + v * 0.3);
    const b = randomArray(C, 4);
    const y = layerNorm(Tensor.from(gpu, x, [R, C]), Tensor.from(gpu, w, [C]), Tensor.from(gpu, b, [C]), { eps: 1e-6, variant });
    // |x| ~ 100 costs ~1e-5 relative in the f32 input itself; the deviations are exact.
    expect(await y.toFloat32()).toBeAllclose(layerNormRef(x, w, b, C, 1e-6), { rtol: 0, atol: off ? 2e-4 : 1e-5 });
  });
});

describe('layerNorm2dNCHW (channels-first)', () => {
  it('matches the layernorm2d_cf golden', async () => {
    const gpu = await testGpu();
    const g = await loadGoldens('ops.safetensors');
    const x = golden(g, 'layernorm2d_cf.in.x');
    const C = x.shape[1];
    const y = layerNorm2dNCHW(Tensor.from(gpu, x.data, x.shape), Tensor.from(gpu, golden(g, 'layernorm2d_cf.in.weight').data, [C]), Tensor.from(gpu, golden(g, 'layernorm2d_cf.in.bias').data, [C]), { eps: 1e-6 });
    expect(await y.toFloat32()).toBeAllclose(golden(g, 'layernorm2d_cf.out').data, { rtol: 0, atol: toleranceFor('ops.safetensors', 'layernorm2d_cf.out') });
  });

  it('matches the CPU reference on an odd shape', async () => {
    const gpu = await testGpu();
    const [N, C, H, W] = [3, 19, 5, 11];
    const x = randomArray(N * C * H * W, 77);
    const w = randomArray(C, 8);
    const b = randomArray(C, 9);
    const y = await layerNorm2dNCHW(Tensor.from(gpu, x, [N, C, H, W]), Tensor.from(gpu, w, [C]), Tensor.from(gpu, b, [C]), { eps: 1e-6 }).toFloat32();
    const want = layerNormRef(nchwToNhwc(x, N, C, H, W), w, b, C, 1e-6);
    expect(nchwToNhwc(y, N, C, H, W)).toBeAllclose(want, { rtol: 0, atol: 1e-5 });
  });
});

describe('layerNorm f16 storage', () => {
  it("f16 in and out, f32 statistics, within 2e-3 relative of f32", async () => {
    const gpu = await testGpu();
    if (!gpu.f16) {
      // SwiftShader: no shader-f16, so f16 tensors must be refused with a typed error instead.
      expect(() => layerNorm(Tensor.from(gpu, new Float32Array(8), [2, 4], 'f16'), Tensor.from(gpu, new Float32Array(4), [4]), Tensor.from(gpu, new Float32Array(4), [4]))).toThrow(ShapeError);
      return;
    }
    const [R, C] = [33, 256];
    const x = randomArray(R * C, 5).map((v) => v * 3);
    const w = randomArray(C, 6);
    const b = randomArray(C, 7);
    const xh = Tensor.from(gpu, x, [R, C], 'f16');
    const xr = await xh.toFloat32(); // the f16-rounded input
    for (const variant of gpu.subgroups ? [undefined, 'subgroup' as const] : [undefined]) {
      const y = layerNorm(xh, Tensor.from(gpu, w, [C]), Tensor.from(gpu, b, [C]), { eps: 1e-6, variant });
      expect(y.dtype).toBe('f16');
      expect(await y.toFloat32()).toBeAllclose(layerNormRef(xr, w, b, C, 1e-6), { rtol: 2e-3, atol: 2e-3 });
    }
    const y32 = layerNorm(xh, Tensor.from(gpu, w, [C]), Tensor.from(gpu, b, [C]), { eps: 1e-6, dtype: 'f32', variant: 'workgroup' });
    expect(await y32.toFloat32()).toBeAllclose(layerNormRef(xr, w, b, C, 1e-6), { rtol: 0, atol: 1e-5 });
  });
});

describe('f16 storage against the f32 goldens', () => {
  it.each(['row', 'workgroup', 'subgroup'] as const)('layernorm_cl with f16 in/out (%s) within 2e-3 relative', async (variant) => {
    const gpu = await testGpu();
    if (variant === 'subgroup' && !gpu.subgroups) return;
    const g = await loadGoldens('ops.safetensors');
    const x = golden(g, 'layernorm_cl.in.x');
    const C = x.shape.at(-1)!;
    const run = () => layerNorm(Tensor.from(gpu, x.data, x.shape, 'f16'), Tensor.from(gpu, golden(g, 'layernorm_cl.in.weight').data, [C]), Tensor.from(gpu, golden(g, 'layernorm_cl.in.bias').data, [C]), { eps: 1e-6, variant });
    if (!gpu.f16) return expect(run).toThrowError(/no shader-f16/);
    expect(await run().toFloat32()).toBeAllclose(golden(g, 'layernorm_cl.out').data, { rtol: 2e-3, atol: 2e-3 });
  });
});

describe('layerNorm launcher checks', () => {
  it('rejects mismatched weight/bias and out tensors with a ShapeError', async () => {
    const gpu = await testGpu();
    const x = Tensor.zeros(gpu, [4, 8]);
    expect(() => layerNorm(x, Tensor.zeros(gpu, [7]), Tensor.zeros(gpu, [8]))).toThrowError(/weight.*must be f32 \[8\]/);
    expect(() => layerNorm(x, Tensor.zeros(gpu, [8]), Tensor.zeros(gpu, [8]), { out: Tensor.zeros(gpu, [3, 8]) })).toThrow(ShapeError);
    expect(() => layerNorm2dNCHW(x, Tensor.zeros(gpu, [8]), Tensor.zeros(gpu, [8]))).toThrowError(/expects \[N, C, H, W\]/);
    expect(() => layerNorm(Tensor.zeros(gpu, [4, 8], 'i32'), Tensor.zeros(gpu, [8]), Tensor.zeros(gpu, [8]))).toThrowError(/f32 or f16/);
    expect(defaultRowVariant(gpu)).toBe(gpu.kernelProfile === 'software' ? 'row' : gpu.subgroups ? 'subgroup' : 'workgroup');
  });
});

// The shared subgroup reduction, on workgroups smaller than a subgroup (3 < 4 and 8 lanes), not a
// multiple of it (22) and with many subgroups (256: 64 of SwiftShader's 4 lanes), for f32, i32 and
// a vector type: every invocation must get the exact row total.
describe('wgslSubgroupReduce', () => {
  it.each([3, 22, 256])('workgroup of %i: wg_sum / wg_max of f32, i32 and vec2f', async (S) => {
    const gpu = await testGpu();
    if (!gpu.subgroups) return;
    const G = 3;
    const x = randomArray(G * S, S);
    const code = wgslEnableSubgroups(true) + `@group(0) @binding(0) var<storage, read> X: array<f32>;
@group(0) @binding(1) var<storage, read_write> Y: array<f32>;
${wgslSubgroupReduce(S, 'f32', ['i32', 'vec2f'])}
@compute @workgroup_size(${S})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  sg_init(lid);
  let i = wid.x * ${S}u + lid;
  let v = X[i];
  let k = i32(round(v * 1000.0));
  let v2 = wg_max_vec2f(vec2f(v, -v), lid);
  let out = array<f32, 6>(wg_sum(v, lid), wg_max(v, lid), f32(wg_sum_i32(k, lid)), f32(wg_max_i32(k, lid)), v2.x, -wg_sum_vec2f(vec2f(v, -v), lid).y);
  for (var j = 0u; j < 6u; j++) { Y[i * 6u + j] = out[j]; }
}`;
    const y = Tensor.empty(gpu, [G * S * 6]);
    gpu.dispatch({ kernel: { name: `test/subgroup-reduce-${S}`, code, storage: ['read', 'read_write'], uniformBytes: 0 }, bindings: [Tensor.from(gpu, x, [G * S]), y], workgroups: [G] });
    const got = await y.toFloat32();
    for (let g = 0; g < G; g++) {
      const row = Array.from(x.subarray(g * S, (g + 1) * S));
      const ints = row.map((v) => Math.round(v * 1000));
      const sum = row.reduce((a, b) => a + b, 0);
      const want = [sum, Math.max(...row), ints.reduce((a, b) => a + b, 0), Math.max(...ints), Math.max(...row), sum];
      for (let l = 0; l < S; l++) {
        const o = (g * S + l) * 6;
        for (const j of [0, 5]) expect(Math.abs(got[o + j] - want[j]), `sum ${j}, group ${g}, lane ${l}`).toBeLessThan(2e-6 * S);
        for (const j of [1, 2, 3, 4]) expect(got[o + j], `exact ${j}, group ${g}, lane ${l}`).toBe(Math.fround(want[j]));
      }
    }
  });
});
