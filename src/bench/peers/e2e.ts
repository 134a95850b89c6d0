// End-to-end EF zero-shot latency for one clip, as `echoclip zero-shot` runs it with a warm
// prompt cache: preprocessed frames → image tower → L2-normalise → regression metric against the
// 202 cached EF prompt embeddings (read from the cache in real use, so seeded unit vectors here;
// their EF values span 10–110 %). Synthetic full-size weights: latency does not depend on values.
import type { Gpu } from '../../gpu/device.js';
import { EchoClipModel } from '../../models/clip.js';
import type { ClipConfig } from '../../models/config.js';
import { l2NormalizeRows } from '../../tasks/array.js';
import { computeRegressionMetric } from '../../tasks/zeroshot.js';
import { seeded, type TimingOptions } from '../harness.js';
import { syntheticWeights } from '../synthetic.js';
import { timeSteps, type ReportCase } from './compare.js';
import { benchPixels } from './tower-cases.js';

export const EF_PROMPTS = 202;

export async function benchZeroShotEf(gpu: Gpu, config: ClipConfig, opts: { frames: number; timing: TimingOptions; log?: (l: string) => void }): Promise<ReportCase[]> {
  const E = config.embedDim;
  const S = config.vision.imageSize;
  const model = await EchoClipModel.load(gpu, syntheticWeights(config), config, { dtype: 'f32' });
  try {
    const prompts = l2NormalizeRows({ data: seeded(EF_PROMPTS * E, 21), shape: [EF_PROMPTS, E] });
    const values = Float32Array.from({ length: EF_PROMPTS }, (_, i) => 10 + (100 * i) / (EF_PROMPTS - 1));
    const px = benchPixels(opts.frames, S);
    let prediction = NaN;
    const step = async () => {
      const f = await model.encodeImages(px);
      const video = l2NormalizeRows({ data: f, shape: [1, opts.frames, E] });
      prediction = computeRegressionMetric(video, prompts, values).predictions[0];
    };
    await step(); // compiles every pipeline
    const t = await timeSteps(step, opts.timing);
    opts.log?.(`zero_shot_ef ${opts.frames} frames: ${t.median_ms.toFixed(0)} ms (prediction ${prediction.toFixed(1)})`);
    return [{
      suite: 'e2e', name: 'zero_shot_ef', shape: `1 clip x ${opts.frames} frames, ${EF_PROMPTS} cached prompts`, dtype: 'f32', impl: 'echoclip', variant: gpu.kernelProfile,
      ...t, gflops: null, gbps: null, peak_gpu_bytes: null, items_per_s: 1000 / t.median_ms,
    }];
  } finally {
    model.release();
  }
}
