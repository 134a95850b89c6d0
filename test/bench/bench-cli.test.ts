// `echoclip bench` argument checks (before any device is opened) and the e2e case on the tiny
// model configuration (fast on a software adapter).
import { resolve } from 'node:path';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { benchZeroShotEf, EF_PROMPTS } from '../../src/bench/peers/e2e.js';
import { benchCommand } from '../../src/cli/bench.js';
import { UsageError } from '../../src/errors.js';
import { parseOpenClipConfig } from '../../src/models/config.js';
import { FIXTURES } from '../helpers/goldens.js';
import { testGpu } from '../helpers/gpu.js';

describe('echoclip bench arguments', () => {
  it('rejects an unknown suite and an unknown peer with a usage error', async () => {
    await expect(benchCommand(['--suite', 'everything'])).rejects.toThrow(UsageError);
    await expect(benchCommand(['--suite', 'kernels', '--peers', 'node,pytorch'])).rejects.toThrow(/unknown peer 'pytorch'/);
    await expect(benchCommand(['--bogus'])).rejects.toThrow(UsageError);
    await expect(benchCommand(['--suite', 'train', '--precision', 'f32,half'])).rejects.toThrow(/'half' is not one of f32 or mixed/);
    await expect(benchCommand(['--suite', 'train', '--train-batches', '8,1'])).rejects.toThrow(/'1' is not one of integers >= 2/);
    await expect(benchCommand(['--suite', 'train', '--train-batches', '2.5'])).rejects.toThrow(UsageError);
  });
});

describe('e2e zero-shot EF case', () => {
  it('times one clip through the image tower and the regression metric', async () => {
    const gpu = await testGpu();
    const config = parseOpenClipConfig(readFileSync(resolve(FIXTURES, 'echoclip_tiny/open_clip_config.json'), 'utf8'));
    const [c] = await benchZeroShotEf(gpu, config, { frames: 2, timing: { warmup: 0, repeats: 2 } });
    expect(c).toMatchObject({ suite: 'e2e', name: 'zero_shot_ef', impl: 'echoclip', repeats: 2, shape: `1 clip x 2 frames, ${EF_PROMPTS} cached prompts` });
    expect(c.median_ms).toBeGreaterThan(0);
    expect(c.items_per_s).toBeCloseTo(1000 / c.median_ms);
  });
});
