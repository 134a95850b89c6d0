// Model-level benchmarks on a full-size EchoCLIP (synthetic weights in the published layout):
// image tower frames/s, text tower prompts/s, and peak GPU memory for weights + one batch.
import type { Gpu } from '../gpu/device.js';
import { EchoClipModel } from '../models/clip.js';
import { ECHOCLIP_CONFIG, type ClipConfig } from '../models/config.js';
import type { WeightDType } from '../models/parameters.js';
import type { BenchCase } from './harness.js';
import { syntheticWeights } from './synthetic.js';

export interface ModelBenchOptions {
  /** Frames in the large image batch (the zero-shot default is 20). */
  frames?: number;
  /** Prompts in the large text batch (202 = the EF prompt set; smaller on software adapters). */
  prompts?: number;
  dtypes?: WeightDType[];
  config?: ClipConfig;
  log?: (line: string) => void;
}

function pixels(n: number, size: number): Float32Array {
  const out = new Float32Array(n * 3 * size * size);
  for (let i = 0; i < out.length; i++) out[i] = Math.sin(i * 0.001) * 1.5;
  return out;
}

function prompts(n: number, L: number): Int32Array {
  const ids = new Int32Array(n * L);
  for (let r = 0; r < n; r++) {
    const len = 8 + (r % 40);
    ids[r * L] = 49406;
    for (let j = 1; j < len; j++) ids[r * L + j] = 300 + ((r * 131 + j * 17) % 40000);
    ids[r * L + len] = 49407;
  }
  return ids;
}

export async function benchModels(gpu: Gpu, opts: ModelBenchOptions = {}): Promise<BenchCase[]> {
  const config = opts.config ?? ECHOCLIP_CONFIG;
  const frames = opts.frames ?? 20;
  const nPrompts = opts.prompts ?? (gpu.adapter.fallback ? 8 : 202);
  const dtypes = opts.dtypes ?? (gpu.f16 ? ['f32', 'f16'] : ['f32']);
  const log = opts.log ?? (() => undefined);
  const S = config.vision.imageSize;
  const cases: BenchCase[] = [];
  for (const dtype of dtypes) {
    gpu.pool.trim();
    gpu.pool.resetPeak();
    const base = gpu.pool.allocatedBytes;
    const t0 = performance.now();
    const model = await EchoClipModel.load(gpu, syntheticWeights(config), config, { dtype });
    await gpu.sync();
    log(`${dtype}: weights ${(model.weightBytes / 2 ** 20).toFixed(1)} MiB loaded in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    const add = (name: string, shape: string, items: number, ms: number, peak: number | null) => {
      cases.push({ suite: 'models', name, shape, dtype, impl: 'echoclip', variant: gpu.kernelProfile, median_ms: ms, min_ms: ms, max_ms: ms, repeats: 1, gflops: null, gbps: null, peak_gpu_bytes: peak, items_per_s: (items * 1000) / ms });
      log(`${dtype} ${name} ${shape}: ${ms.toFixed(0)} ms, ${((items * 1000) / ms).toFixed(3)} items/s${peak ? `, peak ${(peak / 2 ** 20).toFixed(1)} MiB` : ''}`);
    };
    // Warm-up compiles every pipeline (lavapipe compiles on first dispatch).
    await model.encodeImages(pixels(1, S));
    await model.encodeTexts(prompts(1, config.text.contextLength));
    for (const n of [1, frames]) {
      const px = pixels(n, S);
      const t = performance.now();
      await model.encodeImages(px);
      add('image_tower', `${n}x3x${S}x${S}`, n, performance.now() - t, n === frames ? gpu.pool.peakBytes - base : null);
    }
    for (const n of [1, nPrompts]) {
      const ids = prompts(n, config.text.contextLength);
      const t = performance.now();
      await model.encodeTexts(ids);
      add('text_tower', `${n}x${config.text.contextLength}`, n, performance.now() - t, null);
    }
    cases.push({ suite: 'models', name: 'peak_memory', shape: `weights+${frames}x3x${S}x${S}`, dtype, impl: 'echoclip', variant: gpu.kernelProfile, median_ms: 0, min_ms: 0, max_ms: 0, repeats: 1, gflops: null, gbps: null, peak_gpu_bytes: gpu.pool.peakBytes - base });
    model.release();
  }
  gpu.pool.trim();
  return cases;
}
