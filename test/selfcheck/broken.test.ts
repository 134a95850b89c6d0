// A selfcheck must be able to fail: an output the kernel leaves unwritten (poisoning), a wrong
// reference, an output buffer that was not poisoned, and a typed error inside a check.
import { describe, expect, it } from 'vitest';
import { ShapeError } from '../../src/errors.js';
import { Tensor } from '../../src/gpu/tensor.js';
import { linear } from '../../src/kernels/gemm/index.js';
import { assertPoisoned, maxErrors, measure, poisoned, poisonPool, randomArray, Rng } from '../../src/selfcheck/harness.js';
import { linearRef } from '../../src/selfcheck/cpu-ref.js';
import { testGpu } from '../helpers/gpu.js';

const META = { group: 'kernel' as const, name: 'linear', variant: 'test', dtype: 'f32', shape: '9x12->7' };

describe('selfcheck failures are caught', () => {
  it('an element the kernel does not write stays NaN and fails the check', async () => {
    const gpu = await testGpu();
    const rng = new Rng(7);
    const x = randomArray(rng, 9 * 12), w = randomArray(rng, 7 * 12);
    const want = linearRef(x, w, null, 9, 7, 12);
    const [r] = await measure(META, async () => {
      // The kernel writes only the first 8 of the 9 output rows (a view of the poisoned output).
      const out = poisoned(gpu, [9, 7]);
      linear(Tensor.from(gpu, x.subarray(0, 8 * 12), [8, 12]), Tensor.from(gpu, w, [7, 12]), undefined, { out: out.slice0(0, 8) });
      const got = await out.toFloat32();
      expect(Number.isNaN(got[8 * 7])).toBe(true);
      return [{ got, want, tol: 1e-5 }];
    });
    expect(r.pass).toBe(false);
    expect(r.maxAbsErr).toBe(Infinity);
    // The same check with every row written passes (so the failure above is the unwritten row).
    const [ok] = await measure(META, async () => {
      const out = poisoned(gpu, [9, 7]);
      linear(Tensor.from(gpu, x, [9, 12]), Tensor.from(gpu, w, [7, 12]), undefined, { out });
      return [{ got: await out.toFloat32(), want, tol: 1e-5 }];
    });
    expect(ok.pass).toBe(true);
  });

  it('a reference off by 1e-3 in one element fails an f32 check', async () => {
    const gpu = await testGpu();
    const rng = new Rng(8);
    const x = randomArray(rng, 9 * 12), w = randomArray(rng, 7 * 12);
    const want = linearRef(x, w, null, 9, 7, 12);
    want[20] += 1e-3;
    const [r] = await measure(META, async () => [{ got: await linear(Tensor.from(gpu, x, [9, 12]), Tensor.from(gpu, w, [7, 12])).toFloat32(), want, tol: 1e-5 }]);
    expect(r.pass).toBe(false);
    expect(r.maxAbsErr).toBeGreaterThan(9e-4);
    expect(maxErrors([1, 2, 3], [1, 2, 3]).maxAbs).toBe(0);
    expect(maxErrors([1, 2], [1, 2, 3]).maxAbs).toBe(Infinity);
  });

  it('an output that did not come from the poisoned pool is refused; typed errors become failed checks', async () => {
    const gpu = await testGpu();
    gpu.pool.trim();
    const bufs = poisonPool(gpu, [{ shape: [5, 3] }]);
    const fromPool = Tensor.empty(gpu, [5, 3]);
    expect(() => assertPoisoned(bufs, fromPool, 'test')).not.toThrow();
    expect(Array.from(await fromPool.toFloat32()).every(Number.isNaN)).toBe(true);
    // Exact-size allocation: a different size class, so never one of the poisoned buffers.
    const other = Tensor.from(gpu, new Float32Array(15), [5, 3], 'f32', 'other', true);
    expect(() => assertPoisoned(bufs, other, 'test')).toThrow(/not allocated from a poisoned buffer/);
    const [r] = await measure(META, async () => {
      linear(Tensor.from(gpu, new Float32Array(6), [2, 3]), Tensor.from(gpu, new Float32Array(8), [2, 4]));
      return [];
    });
    expect(r.pass).toBe(false);
    expect(r.error).toMatch(/in_features/);
    expect(() => linear(Tensor.from(gpu, new Float32Array(6), [2, 3]), Tensor.from(gpu, new Float32Array(8), [2, 4]))).toThrow(ShapeError);
  });
});
