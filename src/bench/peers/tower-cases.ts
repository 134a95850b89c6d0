// Model-level cases: the full image and text towers, ours (EchoClipModel, host API) vs the ONNX
// graphs written from the same weights (onnxruntime-node / -web) vs the same architecture built
// from TF.js ops. Every impl goes host input → host features, like a user's call.
import type { Gpu } from '../../gpu/device.js';
import type { TensorSource } from '../../io/source.js';
import { EchoClipModel } from '../../models/clip.js';
import type { ClipConfig } from '../../models/config.js';
import type { PeerCase, Runner } from './compare.js';
import { IMAGE_INPUT, imageTowerOnnx, readHostWeights, TEXT_INPUT, textTowerOnnx, type HostWeights } from './onnx-towers.js';
import { tfImageTower, tfTextTower, type TfTower } from './tfjs.js';

/** Normalised-pixel-like values (smooth, |x| ≤ 1.5), deterministic. */
export function benchPixels(n: number, size: number): Float32Array {
  const out = new Float32Array(n * 3 * size * size);
  for (let i = 0; i < out.length; i++) out[i] = Math.sin(i * 0.001) * 1.5;
  return out;
}

/** Token rows shaped like real prompts: SOT, 7..46 tokens, EOT (the largest id), zero padding. */
export function benchPrompts(n: number, L: number): Int32Array {
  const ids = new Int32Array(n * L);
  for (let r = 0; r < n; r++) {
    const len = Math.min(L - 1, 8 + (r % 40));
    ids[r * L] = 49406;
    for (let j = 1; j < len; j++) ids[r * L + j] = 300 + ((r * 131 + j * 17) % 40000);
    ids[r * L + len] = 49407;
  }
  return ids;
}

/**
 * The weights, loaded once for every tower case: our model on the GPU (f32, like the peers) and
 * the host copy the peers build from. Release when the suite is done.
 */
export class TowerContext {
  private model: EchoClipModel | null = null;
  private host: HostWeights | null = null;
  private base = 0;

  constructor(
    readonly source: TensorSource,
    readonly config: ClipConfig,
  ) {}

  async ours(gpu: Gpu): Promise<EchoClipModel> {
    if (!this.model) {
      gpu.pool.trim();
      this.base = gpu.pool.allocatedBytes;
      this.model = await EchoClipModel.load(gpu, this.source, this.config, { dtype: 'f32' });
    }
    return this.model;
  }

  /** Pool bytes above what was allocated before the model: weights + activations at the peak. */
  peakSinceLoad(gpu: Gpu): number {
    return gpu.pool.peakBytes - this.base;
  }

  async weights(): Promise<HostWeights> {
    this.host ??= await readHostWeights(this.source, this.config);
    return this.host;
  }

  release(): void {
    this.model?.release();
    this.model = null;
    this.host = null;
  }
}

function hostRunner(run: () => Promise<Float32Array>, release: () => void = () => undefined, peak?: () => number | null): Runner {
  let last: Float32Array | null = null;
  return {
    async step() {
      last = await run();
    },
    async output() {
      if (!last) throw new Error('output() before step()');
      return last;
    },
    release,
    peakBytes: peak,
  };
}

function tfRunner(tower: TfTower, input: Float32Array | Int32Array): Runner {
  return hostRunner(() => tower.run(input), () => tower.release());
}

/** Relative tolerance of the tower checks: 36 (image) / 12 (text) f32 blocks, different op orders. */
export const TOWER_RTOL = 2e-3;

export function imageTowerCase(ctx: TowerContext, batch: number): PeerCase {
  const S = ctx.config.vision.imageSize;
  const px = benchPixels(batch, S);
  return {
    suite: 'models', name: 'image_tower', shape: `${batch}x3x${S}x${S}`, dtype: 'f32', items: batch, rtol: TOWER_RTOL, oursVariant: 'default',
    async ours(gpu) {
      const model = await ctx.ours(gpu);
      this.oursVariant = gpu.kernelProfile;
      gpu.pool.resetPeak();
      return hostRunner(() => model.encodeImages(px), undefined, () => ctx.peakSinceLoad(gpu));
    },
    async onnx() {
      return { model: imageTowerOnnx(await ctx.weights(), ctx.config, batch), feeds: [{ name: IMAGE_INPUT, data: px, dims: [batch, 3, S, S] }] };
    },
    async tf(tf) {
      return tfRunner(tfImageTower(tf, await ctx.weights(), ctx.config, batch), px);
    },
  };
}

export function textTowerCase(ctx: TowerContext, batch: number): PeerCase {
  const L = ctx.config.text.contextLength;
  const ids = benchPrompts(batch, L);
  return {
    suite: 'models', name: 'text_tower', shape: `${batch}x${L}`, dtype: 'f32', items: batch, rtol: TOWER_RTOL, oursVariant: 'default',
    async ours(gpu) {
      const model = await ctx.ours(gpu);
      this.oursVariant = gpu.kernelProfile;
      gpu.pool.resetPeak();
      return hostRunner(() => model.encodeTexts(ids), undefined, () => ctx.peakSinceLoad(gpu));
    },
    async onnx() {
      return { model: textTowerOnnx(await ctx.weights(), ctx.config, batch), feeds: [{ name: TEXT_INPUT, data: ids, dims: [batch, L] }] };
    },
    async tf(tf) {
      return tfRunner(tfTextTower(tf, await ctx.weights(), ctx.config, batch), ids);
    },
  };
}
