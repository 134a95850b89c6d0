// `pytorchChecks` (part of `echoclip selfcheck`): the full-size EchoCLIP, seeded synthetic weights
// written as safetensors, ours on the test adapter vs PyTorch on this machine (CPU torch here).
// Slow on a software adapter (~10 s per frame through the image tower), so 1 frame + 2 prompts.
import { describe, expect, it } from 'vitest';
import { probePytorch } from '../../src/bench/peers/pytorch.js';
import { pytorchChecks, TOWER_RTOL, TOWER_RTOL_F16 } from '../../src/selfcheck/pytorch.js';
import { testGpu } from '../helpers/gpu.js';

const hasTorch = (await probePytorch()).peer !== null;

describe('pytorchChecks', () => {
  // f32 weights only here (the f16-weight comparison doubles a 1.5-minute test; the portable
  // bundle's selfcheck runs both on every GPU).
  it.runIf(hasTorch)('full-size towers match PyTorch (f32 weights)', async () => {
    const gpu = await testGpu();
    const lines: string[] = [];
    const r = await pytorchChecks(gpu, { deadline: performance.now() + 900_000, log: (l) => lines.push(l), frames: 1, prompts: 2, dtypes: ['f32'] });
    expect(r.skipped).toEqual([]);
    const dtypes = ['f32'];
    expect(r.checks.map((c) => `${c.name} ${c.dtype}`)).toEqual(dtypes.flatMap((d) => [`echoclip.image_features ${d}`, `echoclip.text_features ${d}`]));
    for (const c of r.checks) {
      expect(c.error, c.name).toBeUndefined();
      expect(c.group).toBe('pytorch');
      expect(c.tol).toBe(c.dtype === 'f16' ? TOWER_RTOL_F16 : TOWER_RTOL);
      expect(c.maxRelErr!, `${c.name} ${c.variant}`).toBeLessThanOrEqual(c.tol);
      expect(c.pass).toBe(true);
    }
    expect(r.checks[0].shape).toBe('1x3x224x224->512');
    expect(r.checks[1].shape).toBe('2x77->512');
    expect(lines.join('\n')).toMatch(/torch 1\.|torch 2\./);
    process.stderr.write(`${lines.join('\n')}\n`); // the measured errors, for the record
  }, 1_200_000);

  it('without torch (or out of time) it reports a skipped entry, never a pass', async () => {
    const gpu = await testGpu();
    const prev = process.env.ECHOCLIP_PYTHON;
    process.env.ECHOCLIP_PYTHON = 'none';
    try {
      const r = await pytorchChecks(gpu, { deadline: performance.now() + 60_000, log: () => undefined });
      expect(r.checks).toEqual([]);
      expect(r.skipped).toEqual([{ what: 'full-size EchoCLIP vs PyTorch', why: expect.stringMatching(/ECHOCLIP_PYTHON=none/) }]);
    } finally {
      if (prev === undefined) delete process.env.ECHOCLIP_PYTHON;
      else process.env.ECHOCLIP_PYTHON = prev;
    }
    if (!hasTorch) return;
    const r = await pytorchChecks(gpu, { deadline: performance.now() + 1_000, log: () => undefined, frames: 1, prompts: 1 });
    expect(r.checks).toEqual([]);
    expect(r.skipped.length).toBeGreaterThan(0);
    expect(r.skipped[0].why).toMatch(/time budget/);
  });
});
