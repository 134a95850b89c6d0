// `echoclip probe`'s kernel section on the test adapter (in process): per op family the variant in
// use (per shape class for matmul), every variant of the table with why it is unavailable, the
// subgroup facts, how experimental kernels are enabled, and what a tuning cache changes.
import { afterEach, describe, expect, it } from 'vitest';
import { formatProbeKernels, probeKernels } from '../../src/cli/probe.js';
import type { Gpu } from '../../src/gpu/device.js';
import { installTuning, tuningKey, TUNING_SCHEMA, type TuningFile } from '../../src/kernels/tuning.js';
import { chooseVariant, KERNEL_VARIANTS } from '../../src/kernels/variants.js';
import { testGpu } from '../helpers/gpu.js';

let gpu: Gpu;
afterEach(() => {
  if (gpu) gpu.tuning = null;
});

describe('echoclip probe: kernel variants', () => {
  it('lists every family with the variant it uses and every variant with its availability', async () => {
    gpu = await testGpu();
    const k = probeKernels(gpu);
    expect(k.profile).toBe(gpu.kernelProfile);
    expect(k.families.map((f) => f.family)).toEqual([...new Set(KERNEL_VARIANTS.map((v) => v.family))]);
    for (const f of k.families) {
      expect(f.uses).toBe(chooseVariant(gpu, f.family as never));
      expect(f.source).toBe('table');
      expect(f.variants.map((v) => v.name)).toEqual(KERNEL_VARIANTS.filter((v) => v.family === f.family).map((v) => v.name));
      for (const v of f.variants) {
        if (v.available) expect(v.reason).toBeUndefined();
        else expect(v.reason!.length).toBeGreaterThan(0);
      }
    }
    const matmul = k.families.find((f) => f.family === 'matmul')!;
    expect(matmul.shapeClasses!.map((c) => c.shapeClass)).toEqual(['small-m', 'large', 'default']);
    const sgm = matmul.variants.find((v) => v.name === 'subgroup-matrix')!;
    expect(sgm).toMatchObject({ available: false, experimental: true });
    expect(sgm.reason).toMatch(/experimental, off \(ECHOCLIP_EXPERIMENTAL_KERNELS=1/);
    expect(k.experimental).toMatchObject({ enabled: false });
    expect(k.experimental.howto).toMatch(/allow_unsafe_apis.*--enable-features=WebGPUExperimentalFeatures or an origin trial/);
    expect(k.subgroups).toEqual({ enabled: gpu.subgroups, minSize: gpu.adapter.subgroupMinSize, maxSize: gpu.adapter.subgroupMaxSize });
    expect(k.subgroupMatrix.configs).toEqual(gpu.adapter.subgroupMatrixConfigs);
    const text = formatProbeKernels(k);
    expect(text).toMatch(/^experimental kernels: off — enable with ECHOCLIP_EXPERIMENTAL_KERNELS=1/m);
    expect(text).toMatch(/^ {2}matmul: uses \S+ \[table\]$/m);
    expect(text).toMatch(/^ {4}shape class large \(1024³: 1024x1024->1024 f32\): \S+ \[table\]$/m);
    expect(text).toMatch(/subgroup-matrix +unavailable: .*\(experimental\)$/m);
    expect(text).toMatch(/^subgroup matrices: off; adapter configs: /m);
  });

  it('shows a tuning cache entry as the choice and where it came from', async () => {
    gpu = await testGpu();
    const file: TuningFile = { schema: TUNING_SCHEMA, kind: 'echoclip-tuning', key: tuningKey(gpu), updated: 'now', skipped: [], entries: [{ family: 'matmul', shapeClass: 'large', winner: 'splitk', shapes: [], timings_ms: { splitk: 1 }, method: 'wall-clock' }, { family: 'softmax', shapeClass: '', winner: 'workgroup', shapes: [], timings_ms: { workgroup: 1 }, method: 'wall-clock' }] };
    installTuning(gpu, file, { location: '/cache/tuning/x.json', read: async () => undefined, write: async () => undefined }, { shipped: [] });
    const k = probeKernels(gpu);
    expect(k.tuning).toEqual({ cache: '/cache/tuning/x.json', cacheEntries: 2, shipped: [] });
    expect(k.families.find((f) => f.family === 'softmax')).toMatchObject({ uses: 'workgroup', source: 'cache' });
    expect(k.families.find((f) => f.family === 'matmul')!.shapeClasses!.find((c) => c.shapeClass === 'large')).toMatchObject({ uses: 'splitk', source: 'cache' });
    expect(formatProbeKernels(k)).toMatch(/^tuning: \/cache\/tuning\/x\.json \(2 entries\)/m);
  });
});
