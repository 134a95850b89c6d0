// Training benchmark on a full-size EchoCLIP (synthetic weights in the published layout): one
// optimisation step (forward of both towers, ClipLoss, backward, fused AdamW over all 151 M
// parameters) per batch size, its time and the peak GPU memory it needed (weights + gradients +
// AdamW moments + saved activations).
import type { Gpu } from '../gpu/device.js';
import { AdamW } from '../autograd/adamw.js';
import { Rng } from '../autograd/rng.js';
import { Tape, type Precision } from '../autograd/tape.js';
import { ECHOCLIP_CONFIG, type ClipConfig } from '../models/config.js';
import { TrainableClip } from '../models/train.js';
import { summarize, type BenchCase } from './harness.js';
import { syntheticWeights } from './synthetic.js';

export interface TrainBenchOptions {
  /** Batch sizes to time (default [8]; add larger ones on GPUs with memory to spare). */
  batches?: number[];
  /** Timed steps per batch size after one warm-up step (default 3 on GPUs, 1 on software adapters). */
  repeats?: number;
  /** Train with stochastic depth as configured (drop path 0.1), as a real fine-tune would. */
  dropPath?: boolean;
  /** Precisions to time (default f32, plus mixed where the adapter has shader-f16). */
  precisions?: Precision[];
  config?: ClipConfig;
  log?: (line: string) => void;
}

function batchInputs(n: number, config: ClipConfig): { pixels: Float32Array; ids: Int32Array } {
  const S = config.vision.imageSize;
  const L = config.text.contextLength;
  const pixels = new Float32Array(n * 3 * S * S);
  for (let i = 0; i < pixels.length; i++) pixels[i] = Math.sin(i * 0.001 + n) * 1.5;
  const ids = new Int32Array(n * L);
  for (let r = 0; r < n; r++) {
    const len = 20 + ((r * 7) % 50);
    ids[r * L] = 49406;
    for (let j = 1; j < len; j++) ids[r * L + j] = 300 + ((r * 131 + j * 17) % 40000);
    ids[r * L + len] = 49407;
  }
  return { pixels, ids };
}

/**
 * One `train_step` case per (precision, batch size). Master weights, gradients and AdamW moments
 * are f32 in both precisions; 'mixed' adds per-step f16 weight copies and keeps f16 activations.
 */
export async function benchTrain(gpu: Gpu, opts: TrainBenchOptions = {}): Promise<BenchCase[]> {
  const config = opts.config ?? ECHOCLIP_CONFIG;
  const log = opts.log ?? (() => undefined);
  const repeats = opts.repeats ?? (gpu.adapter.fallback ? 1 : 3);
  const cases: BenchCase[] = [];
  gpu.pool.trim();
  const base = gpu.pool.allocatedBytes;
  const model = TrainableClip.fromHost(gpu, config, await readAll(config));
  const opt = new AdamW(gpu, model.params, { lr: 1e-5, betas: [0.9, 0.98], eps: 1e-6, weightDecay: 0.2 });
  const rng = new Rng(1);
  const step = async (inputs: { pixels: Float32Array; ids: Int32Array }, precision: Precision): Promise<number> => {
    const tape = new Tape(gpu, precision);
    try {
      const { loss } = model.forward(tape, inputs.pixels, inputs.ids, { rng: opts.dropPath === false ? null : rng });
      tape.backward(loss);
      opt.update();
      opt.zeroGrad();
      return (await loss.value.toFloat32())[0];
    } finally {
      tape.release();
    }
  };
  try {
    for (const precision of opts.precisions ?? (gpu.f16 ? ['f32', 'mixed'] : ['f32'])) {
      for (const n of opts.batches ?? [8]) {
        const inputs = batchInputs(n, config);
        const label = `train_step ${precision} batch ${n}`;
        const t0 = performance.now();
        await step(inputs, precision); // compiles every pipeline; allocates the moments
        log(`${label}: warm-up ${((performance.now() - t0) / 1000).toFixed(1)} s`);
        gpu.pool.trim();
        gpu.pool.resetPeak();
        const samples: number[] = [];
        let loss = 0;
        for (let r = 0; r < repeats; r++) {
          const t = performance.now();
          loss = await step(inputs, precision);
          samples.push(performance.now() - t);
        }
        const timing = summarize(samples);
        const peak = gpu.pool.peakBytes - base;
        log(`${label}: ${timing.median_ms.toFixed(0)} ms, peak ${(peak / 2 ** 20).toFixed(0)} MiB, loss ${loss.toFixed(3)}`);
        cases.push({
          suite: 'train', name: 'train_step', shape: `${n}x3x${config.vision.imageSize}x${config.vision.imageSize}+${n}x${config.text.contextLength}`,
          dtype: precision === 'mixed' ? 'mixed f16/f32' : 'f32', impl: 'echoclip',
          variant: gpu.kernelProfile, ...timing, gflops: null, gbps: null, peak_gpu_bytes: peak, items_per_s: (n * 1000) / timing.median_ms,
        });
      }
    }
  } finally {
    opt.release();
    model.release();
    gpu.pool.trim();
  }
  return cases;
}

async function readAll(config: ClipConfig) {
  const src = syntheticWeights(config);
  const out = new Map<string, Awaited<ReturnType<typeof src.read>>>();
  for (const t of src.tensors) out.set(t.name, await src.read(t.name));
  return out;
}
