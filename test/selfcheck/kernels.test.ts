// The kernel selfcheck on this adapter (lavapipe; SwiftShader does not run test/selfcheck): the
// --quick odd-shape plan passes; every available variant of the kernel-variant table is checked,
// labelled by its name and the profiles it is the default on; the full plan runs the variants no
// profile defaults to at every odd shape; the variant-status section says which ran and passed.
import { describe, expect, it } from 'vitest';
import { Seeds } from '../../src/selfcheck/harness.js';
import { kernelChecks } from '../../src/selfcheck/kernels.js';
import { variantStatus } from '../../src/selfcheck/run.js';
import type { CheckResult } from '../../src/selfcheck/types.js';
import { availableVariants, KERNEL_VARIANTS } from '../../src/kernels/variants.js';
import { tableDefaultOn } from '../../src/kernels/tuning.js';
import { testGpu } from '../helpers/gpu.js';

describe('selfcheck kernels at odd shapes', () => {
  it('every available table variant is checked and passes (quick plan), f32 and f16 storage', async () => {
    const gpu = await testGpu();
    const plan = kernelChecks(gpu, 'odd', new Seeds(Date.now() >>> 0), { quick: true });
    const results: CheckResult[] = [];
    for (const c of plan.checks) results.push(...(await c.run()));
    const failed = results.filter((r) => !r.pass).map((r) => `${r.name} ${r.variant} ${r.dtype} ${r.shape} seed ${r.seed}: ${r.error ?? r.maxAbsErr}`);
    expect(failed).toEqual([]);
    for (const r of results) {
      expect(r.group).toBe('kernel');
      expect(r.seed).toBeTypeOf('number');
      expect(r.tol).toBeGreaterThanOrEqual(0);
      expect(['software', 'gpu', 'both', 'forced']).toContain(r.profile);
    }
    // Every row the adapter can run, under its own name, with its table-default label.
    for (const v of KERNEL_VARIANTS.filter((v) => availableVariants(gpu, v.family).includes(v))) {
      const mine = results.filter((r) => r.family === v.family && r.variant === v.name);
      expect(mine.length, `${v.family}/${v.name}`).toBeGreaterThan(0);
      const on = tableDefaultOn(gpu, v);
      for (const r of mine) expect(r.profile).toBe(on === 'none' ? 'forced' : on);
    }
    const variants = (name: string) => new Set(results.filter((r) => r.name === name).map((r) => `${r.variant}/${r.profile}`));
    expect(variants('matmul')).toContain('regblock/software');
    expect(variants('matmul')).toContain('tiled/gpu');
    expect(variants('depthwise7x7')).toContain('scalar7x7/software');
    expect(variants('linear-backward.dweight')).toContain('regblock/software');
    if (gpu.f16) expect(results.some((r) => r.dtype === 'f16' && r.name === 'linear')).toBe(true);
    else expect(plan.skipped.map((s) => s.why)).toContain('the adapter has no shader-f16');

    const status = variantStatus(gpu, results);
    expect(status.map((s) => `${s.family}/${s.variant}`)).toEqual(KERNEL_VARIANTS.map((v) => `${v.family}/${v.name}`));
    for (const s of status) {
      if (s.available) expect(s.status, `${s.family}/${s.variant}`).toBe('pass');
      else expect(s.reason).toBeTruthy();
    }
    // Experimental variants stay off unless the device enables them.
    for (const s of status.filter((s) => s.experimental && !gpu.experimentalKernels)) expect(s.reason).toMatch(/ECHOCLIP_EXPERIMENTAL_KERNELS=1/);
  }, 900_000);

  it('the full plan runs non-default variants at every odd shape; --quick at one shape per family', async () => {
    const gpu = await testGpu();
    const full = kernelChecks(gpu, 'odd', new Seeds(1));
    const quick = kernelChecks(gpu, 'odd', new Seeds(1), { quick: true });
    const forced = (p: typeof full) => p.checks.filter((c) => c.meta?.profile === 'forced');
    const defaults = (p: typeof full) => p.checks.filter((c) => c.meta?.profile !== 'forced').map((c) => c.what);
    expect(defaults(quick)).toEqual(defaults(full));
    if (!forced(full).length) return; // every variant is some profile's default on this adapter
    expect(forced(quick).length).toBeLessThan(forced(full).length);
    const perFamily = new Map<string, number>();
    for (const c of forced(quick)) perFamily.set(`${c.meta!.family}/${c.meta!.variant}/${c.meta!.dtype}`, (perFamily.get(`${c.meta!.family}/${c.meta!.variant}/${c.meta!.dtype}`) ?? 0) + 1);
    expect([...perFamily.values()].every((n) => n === 1)).toBe(true);
    expect(quick.skipped.some((s) => s.why === '--quick')).toBe(true);
  });
});
