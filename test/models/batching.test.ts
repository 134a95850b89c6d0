import { describe, expect, it } from 'vitest';
import { GpuOutOfMemoryError, ShapeError, UsageError } from '../../src/errors.js';
import { GPU_ACTIVATION_BUDGET, parseByteSize, planMicroBatch, runChunks, SOFTWARE_ACTIVATION_BUDGET, type AdapterBatchLimits } from '../../src/models/batching.js';

const MiB = 2 ** 20;
// Full-size EchoCLIP: stage-0 MLP hidden per frame (56² × 512 f32), text MLP hidden per prompt (77 × 2048 f32).
const FRAME = 56 * 56 * 512 * 4;
const PROMPT = 77 * 2048 * 4;
const software: AdapterBatchLimits = { fallback: true, maxStorageBufferBindingSize: 2 ** 31, maxBufferSize: 2 ** 31 };
// What Dawn reports on a large NVIDIA card (binding size capped near 4 GiB) and on a small integrated GPU.
const bigGpu: AdapterBatchLimits = { fallback: false, maxStorageBufferBindingSize: 2 ** 32 - 4, maxBufferSize: 2 ** 32 };
const smallGpu: AdapterBatchLimits = { fallback: false, maxStorageBufferBindingSize: 128 * MiB, maxBufferSize: 256 * MiB };

describe('micro-batch sizing', () => {
  it('keeps software adapters at the 16 MiB budget (2 frames, 26 prompts)', () => {
    expect(planMicroBatch({ items: 20, bytesPerItem: FRAME, limits: software })).toEqual({ size: 2, boundBy: 'budget', budget: SOFTWARE_ACTIVATION_BUDGET });
    expect(planMicroBatch({ items: 553, bytesPerItem: PROMPT, limits: software }).size).toBe(26);
  });

  it('gives a real GPU >= 64 frames and >= 256 prompts per pass when the caller has that many', () => {
    const img = planMicroBatch({ items: 256, bytesPerItem: FRAME, limits: bigGpu });
    expect(img.size).toBeGreaterThanOrEqual(64);
    expect(img).toEqual({ size: Math.floor(GPU_ACTIVATION_BUDGET / FRAME), boundBy: 'budget', budget: GPU_ACTIVATION_BUDGET });
    expect(planMicroBatch({ items: 1024, bytesPerItem: PROMPT, limits: bigGpu }).size).toBeGreaterThanOrEqual(256);
    // A 20-frame clip is one pass, not ten.
    expect(planMicroBatch({ items: 20, bytesPerItem: FRAME, limits: bigGpu })).toMatchObject({ size: 20, boundBy: 'items' });
  });

  it('never exceeds a buffer the device can bind, whatever the budget or explicit size', () => {
    const p = planMicroBatch({ items: 256, bytesPerItem: FRAME, limits: smallGpu, activationBudget: 8 * 2 ** 30 });
    expect(p).toMatchObject({ size: Math.floor((128 * MiB) / FRAME), boundBy: 'maxStorageBufferBindingSize' });
    const q = planMicroBatch({ items: 256, bytesPerItem: FRAME, limits: { ...smallGpu, maxStorageBufferBindingSize: 2 ** 31 }, microBatch: 200 });
    expect(q).toMatchObject({ size: Math.floor((256 * MiB) / FRAME), boundBy: 'maxBufferSize' });
    expect(planMicroBatch({ items: 256, bytesPerItem: FRAME, limits: bigGpu, microBatch: 7 })).toMatchObject({ size: 7, boundBy: 'microBatch' });
  });

  it('follows the user budget and runs at least one item per pass', () => {
    expect(planMicroBatch({ items: 1000, bytesPerItem: FRAME, limits: bigGpu, activationBudget: 2 * 2 ** 30 }).size).toBe(Math.floor((2 * 2 ** 30) / FRAME));
    expect(planMicroBatch({ items: 5, bytesPerItem: FRAME, limits: bigGpu, activationBudget: 1 })).toMatchObject({ size: 1, boundBy: 'budget' });
  });

  it('rejects nonsense with typed errors', () => {
    expect(() => planMicroBatch({ items: 5, bytesPerItem: FRAME, limits: bigGpu, activationBudget: -1 })).toThrow(UsageError);
    expect(() => planMicroBatch({ items: 5, bytesPerItem: FRAME, limits: bigGpu, activationBudget: Number.NaN })).toThrow(UsageError);
    expect(() => planMicroBatch({ items: 5, bytesPerItem: FRAME, limits: bigGpu, microBatch: 0 })).toThrow(UsageError);
    expect(() => planMicroBatch({ items: 5, bytesPerItem: FRAME, limits: bigGpu, microBatch: 2.5 })).toThrow(UsageError);
  });
});

describe('--memory sizes', () => {
  it('parses binary units', () => {
    expect(parseByteSize('512MiB')).toBe(512 * MiB);
    expect(parseByteSize('2GiB')).toBe(2 * 2 ** 30);
    expect(parseByteSize('1.5G')).toBe(1.5 * 2 ** 30);
    expect(parseByteSize('800m')).toBe(800 * MiB);
    expect(parseByteSize('4096')).toBe(4096);
    expect(parseByteSize('64kb')).toBe(65536);
  });
  it.each(['', 'lots', '-1G', '0', '1.2.3M', '5iB', '12 parsecs'])('refuses %j', (v) => {
    expect(() => parseByteSize(v)).toThrow(UsageError);
  });
});

describe('out-of-memory retries', () => {
  const oom = () => new GpuOutOfMemoryError('encodeImages', 'the GPU ran out of memory');

  it('halves the pass size until it fits, keeps that size, and covers every item once', async () => {
    const ran: [number, number][] = [];
    const halves: [number, number][] = [];
    let recovered = 0;
    const progress: number[] = [];
    const last = await runChunks(
      50,
      32,
      async (start, count) => {
        if (count > 10) throw oom();
        ran.push([start, count]);
      },
      { onHalve: (from, to) => halves.push([from, to]), recover: () => recovered++, onProgress: (d) => progress.push(d) },
    );
    expect(halves).toEqual([[32, 16], [16, 8]]);
    expect(recovered).toBe(2);
    expect(last).toBe(8);
    expect(ran).toEqual([[0, 8], [8, 8], [16, 8], [24, 8], [32, 8], [40, 8], [48, 2]]);
    expect(progress.at(-1)).toBe(50);
  });

  it('fails at one item per pass with the error that names the option', async () => {
    const p = runChunks(3, 4, async () => { throw oom(); }, { option: 'activationBudget / --memory' });
    await expect(p).rejects.toThrow(GpuOutOfMemoryError);
    await expect(p).rejects.toThrow(/activationBudget \/ --memory/);
  });

  it('passes every other error through untouched, without retrying', async () => {
    let calls = 0;
    const bad = new ShapeError('pixels', 'wrong');
    await expect(runChunks(10, 4, async () => { calls++; throw bad; })).rejects.toBe(bad);
    expect(calls).toBe(1);
  });
});

describe('EchoClipModel host batches on the test adapter', () => {
  it('sizes passes by the adapter and gives the same features for any pass size', async () => {
    const { resolve } = await import('node:path');
    const { openWeights } = await import('../../src/io/weights-node.js');
    const { EchoClipModel } = await import('../../src/models/clip.js');
    const { FIXTURES } = await import('../helpers/goldens.js');
    const { testGpu } = await import('../helpers/gpu.js');
    const gpu = await testGpu();
    const w = await openWeights(resolve(FIXTURES, 'echoclip_tiny'));
    const model = await EchoClipModel.load(gpu, w.source, w.config);
    await w.source.close();
    try {
      const { imageSize: S, dims } = model.config.vision;
      const plan = model.microBatchFor('image', 5000);
      expect(plan.budget).toBe(gpu.adapter.fallback ? SOFTWARE_ACTIVATION_BUDGET : GPU_ACTIVATION_BUDGET);
      expect(plan.size).toBe(Math.floor(plan.budget / ((S / 4) ** 2 * 4 * dims[0] * 4)));
      expect(model.microBatchFor('text', 3, { microBatch: 2 })).toMatchObject({ size: 2, boundBy: 'microBatch' });
      const n = 5;
      const px = new Float32Array(n * 3 * S * S);
      for (let i = 0; i < px.length; i++) px[i] = Math.sin(i * 0.37) * 1.5;
      const passes: number[] = [];
      const one = await model.encodeImages(px, { microBatch: 1, onProgress: (d) => passes.push(d) });
      expect(passes).toEqual([1, 2, 3, 4, 5]);
      const all = await model.encodeImages(px, { activationBudget: 2 ** 30 });
      const two = await model.encodeImages(px, { microBatch: 2 });
      // Each frame's features depend only on that frame: the pass size changes nothing.
      expect(Array.from(all)).toEqual(Array.from(one));
      expect(Array.from(two)).toEqual(Array.from(one));
      expect(await model.encodeImages(new Float32Array(0))).toHaveLength(0);
    } finally {
      model.release();
    }
  }, 120_000);
});
