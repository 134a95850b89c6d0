// The kernel selfcheck on this adapter (lavapipe; SwiftShader does not run test/selfcheck): every
// planned odd-shape check passes, each names its family, variant, dtype, shape, profile and seed,
// and both profiles' variants of the profile-dependent families are covered.
import { describe, expect, it } from 'vitest';
import { Seeds } from '../../src/selfcheck/harness.js';
import { kernelChecks } from '../../src/selfcheck/kernels.js';
import type { CheckResult } from '../../src/selfcheck/types.js';
import { testGpu } from '../helpers/gpu.js';

describe('selfcheck kernels at odd shapes', () => {
  it('every variant either profile selects passes, f32 and f16 storage', async () => {
    const gpu = await testGpu();
    const plan = kernelChecks(gpu, 'odd', new Seeds(Date.now() >>> 0));
    const results: CheckResult[] = [];
    for (const c of plan.checks) results.push(...(await c.run()));
    const failed = results.filter((r) => !r.pass).map((r) => `${r.name} ${r.variant} ${r.dtype} ${r.shape} seed ${r.seed}: ${r.error ?? r.maxAbsErr}`);
    expect(failed).toEqual([]);
    for (const r of results) {
      expect(r.group).toBe('kernel');
      expect(r.seed).toBeTypeOf('number');
      expect(r.tol).toBeGreaterThanOrEqual(0);
      expect(['software', 'gpu', 'both']).toContain(r.profile);
    }
    const variants = (name: string) => new Set(results.filter((r) => r.name === name).map((r) => `${r.variant}/${r.profile}`));
    expect(variants('matmul')).toEqual(new Set(['regblock/software', 'tiled/gpu']));
    expect(variants('layernorm')).toEqual(new Set(['row/software', 'workgroup/gpu']));
    expect(variants('attention')).toEqual(new Set(['rowblock/software', 'tiled/gpu']));
    expect(variants('depthwise7x7')).toEqual(new Set(['tile 7x7 scalar/software', 'tile 1x4 vec4/gpu']));
    expect(variants('linear-backward.dweight')).toEqual(new Set(['regblock/software', 'tiled/gpu']));
    expect(variants('depthwise7x7-backward.dx')).toEqual(new Set(['tile 7x7 scalar/software', 'tile 1x4 vec4/gpu']));
    if (gpu.f16) expect(results.some((r) => r.dtype === 'f16' && r.name === 'linear')).toBe(true);
    else expect(plan.skipped.map((s) => s.why)).toContain('the adapter has no shader-f16');
  }, 900_000);
});
