import { describe, expect, it } from 'vitest';
import { ShapeError } from '../../src/errors.js';
import { Tensor } from '../../src/gpu/tensor.js';
import type { RowVariant } from '../../src/kernels/layernorm.js';
import { softmax } from '../../src/kernels/softmax.js';
import { golden, loadGoldens, toleranceFor } from '../helpers/goldens.js';
import { randomArray, testGpu } from '../helpers/gpu.js';
import { softmaxRef } from './misc-ref.js';

const VARIANTS: RowVariant[] = ['row', 'workgroup', 'subgroup'];

describe.each(VARIANTS)('softmax %s', (variant) => {
  it.each([['softmax', false], ['softmax_causal', true]] as const)('matches the %s golden', async (name, causal) => {
    const gpu = await testGpu();
    if (variant === 'subgroup' && !gpu.subgroups) return expect(() => softmax(Tensor.zeros(gpu, [2, 3]), { variant })).toThrowError(/subgroups/);
    const g = await loadGoldens('ops.safetensors');
    const x = golden(g, `${name}.in.x`);
    const y = await softmax(Tensor.from(gpu, x.data, x.shape), { causal, variant }).toFloat32();
    expect(y).toBeAllclose(golden(g, `${name}.out`).data, { rtol: 0, atol: toleranceFor('ops.safetensors', `${name}.out`) });
  });

  // Rows narrower than a subgroup (C = 1, 3), causal rows of every length up to 130, C = 1024-ish.
  it.each([
    [5, 77, 77, true, 1], [1, 200, 1, false, 1], [9, 1, 1, true, 1], [4, 130, 130, true, 0.125], [3, 64, 1, false, 40], [7, 3, 3, true, 1], [1, 3, 1023, false, 4],
  ])('matches the CPU reference on %i×[%i, %i] (causal %s, scale %f; large scores do not overflow)', async (B, R, C, causal, scale) => {
    const gpu = await testGpu();
    if (variant === 'subgroup' && !gpu.subgroups) return;
    const x = randomArray(B * R * C, R + C);
    const y = await softmax(Tensor.from(gpu, x, [B, R, C]), { causal, variant, scale }).toFloat32();
    const want = softmaxRef(x.map((v) => v * scale), C, causal ? C : 0);
    expect(y).toBeAllclose(want, { rtol: 0, atol: 2e-6 });
    if (causal) expect(y.every((v, i) => (i % C) <= Math.floor(i / C) % C || v === 0)).toBe(true);
  });
});

describe('softmax f16 storage against the f32 goldens', () => {
  // Rounding the scores (|x| up to 10.9) to f16 moves them by up to half an ulp, 2⁻⁸ ≈ 3.9e-3, and a
  // probability by about that much relative (plus its own rounding): the bound is 5e-3, not 2e-3.
  it.each([['softmax', false], ['softmax_causal', true]] as const)('%s with f16 in/out within 5e-3 relative', async (name, causal) => {
    const gpu = await testGpu();
    const g = await loadGoldens('ops.safetensors');
    const x = golden(g, `${name}.in.x`);
    const run = () => softmax(Tensor.from(gpu, x.data, x.shape, 'f16'), { causal });
    if (!gpu.f16) return expect(run).toThrowError(/no shader-f16/);
    expect(await run().toFloat32()).toBeAllclose(golden(g, `${name}.out`).data, { rtol: 5e-3, atol: 1e-4 });
  });
});

describe('softmax checks', () => {
  it('f16 storage (where available) and shape errors', async () => {
    const gpu = await testGpu();
    expect(() => softmax(Tensor.zeros(gpu, [3, 4]), { causal: true })).toThrowError(/square scores/);
    expect(() => softmax(Tensor.zeros(gpu, [3, 4]), { out: Tensor.zeros(gpu, [3, 5]) })).toThrow(ShapeError);
    if (!gpu.f16) return;
    const x = randomArray(6 * 13 * 13, 3).map((v) => v * 4);
    const xh = Tensor.from(gpu, x, [6, 13, 13], 'f16');
    const xr = await xh.toFloat32();
    for (const variant of gpu.subgroups ? [undefined, 'subgroup' as const] : [undefined]) {
      expect(await softmax(xh, { causal: true, variant }).toFloat32()).toBeAllclose(softmaxRef(xr, 13, 13), { rtol: 2e-3, atol: 1e-3 });
    }
  });
});
