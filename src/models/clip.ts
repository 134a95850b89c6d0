// EchoCLIP / EchoCLIP-R: both towers plus logit_scale, loaded from the published state dict.
// The two published models share one architecture; they differ only in weights and tokenizer.
import { ShapeError } from '../errors.js';
import type { Gpu } from '../gpu/device.js';
import { Tensor } from '../gpu/tensor.js';
import { toFloat32 } from '../io/dtype.js';
import type { TensorSource } from '../io/source.js';
import type { ClipConfig } from './config.js';
import type { Capture } from './capture.js';
import { encodeImageTensor } from './convnext.js';
import { uploadParameters, type ParameterStore, type WeightDType } from './parameters.js';
import { encodeTextTensor } from './text.js';

export interface LoadModelOptions {
  /** Weight storage: 'f16' halves GPU memory (needs shader-f16; activations stay f32). */
  dtype?: WeightDType;
  /** Label for errors (the weights path). */
  label?: string;
}

export interface BatchOptions {
  /** Items per GPU batch (default: what keeps the largest activation within `activationBudget`). */
  microBatch?: number;
  /**
   * Bytes the largest activation (the first MLP hidden layer) may take; default 16 MiB, which keeps
   * the full model + a batch under 700 MB (f32 weights) / 400 MB (f16). Larger batches buy little
   * on software adapters; raise it on a real GPU.
   */
  activationBudget?: number;
  /** Called after each micro-batch with (done, total). */
  onProgress?: (done: number, total: number) => void;
}

const ACTIVATION_BUDGET = 16 * 2 ** 20;

export class EchoClipModel {
  private constructor(
    readonly gpu: Gpu,
    readonly config: ClipConfig,
    private readonly params: ParameterStore,
    readonly weightDtype: WeightDType,
    /** The stored `logit_scale` parameter (logits use exp of it). */
    readonly logitScale: number,
  ) {}

  static async load(gpu: Gpu, source: TensorSource, config: ClipConfig, opts: LoadModelOptions = {}): Promise<EchoClipModel> {
    const dtype = opts.dtype ?? 'f32';
    if (dtype === 'f16' && !gpu.f16) {
      throw new ShapeError('f16 weights', `adapter '${gpu.adapter.description}' has no shader-f16`, { hint: 'use --dtype f32 on this adapter' });
    }
    const params = await uploadParameters(gpu, source, config, dtype, opts.label ?? 'weights');
    const ls = toFloat32(await source.read('logit_scale'), 'logit_scale')[0];
    return new EchoClipModel(gpu, config, params, dtype, ls);
  }

  /** GPU bytes held by the weights. */
  get weightBytes(): number {
    return this.params.bytes;
  }

  /** `encode_image` on one GPU batch: normalised pixels [N, 3, H, W] → unnormalised features [N, embed]. */
  encodeImage(pixels: Tensor, capture?: Capture): Tensor {
    return encodeImageTensor(this.params, this.config.vision, pixels, capture);
  }

  /** `encode_text` on one GPU batch: ids [N, context] i32 → unnormalised features [N, embed]. */
  encodeText(ids: Tensor, capture?: Capture): Tensor {
    return encodeTextTensor(this.params, this.config.text, ids, capture);
  }

  /** Host API: N preprocessed frames (N×3×S×S floats) → N×embed features, micro-batched. */
  async encodeImages(pixels: Float32Array, opts: BatchOptions = {}): Promise<Float32Array> {
    const S = this.config.vision.imageSize;
    const per = 3 * S * S;
    if (pixels.length % per !== 0) throw new ShapeError('pixels', `length ${pixels.length} is not a multiple of 3×${S}×${S}`);
    const n = pixels.length / per;
    const hiddenPerFrame = (S / 4) ** 2 * 4 * this.config.vision.dims[0] * 4;
    const mb = opts.microBatch ?? Math.max(1, Math.min(64, Math.floor((opts.activationBudget ?? ACTIVATION_BUDGET) / hiddenPerFrame)));
    return this.batched(n, mb, opts, (i, m) => {
      const x = Tensor.from(this.gpu, pixels.subarray(i * per, (i + m) * per), [m, 3, S, S], 'f32', 'pixels');
      const f = this.encodeImage(x);
      x.release();
      return f;
    });
  }

  /** Host API: N×context token ids → N×embed features, micro-batched. Ids are range-checked. */
  async encodeTexts(ids: Int32Array, opts: BatchOptions = {}): Promise<Float32Array> {
    const { contextLength: L, vocabSize: V, width } = this.config.text;
    if (ids.length % L !== 0) throw new ShapeError('token ids', `length ${ids.length} is not a multiple of the context length ${L}`);
    for (let i = 0; i < ids.length; i++) {
      if (ids[i] < 0 || ids[i] >= V) throw new ShapeError('token ids', `id ${ids[i]} at position ${i % L} of text ${Math.floor(i / L)} is outside the vocabulary [0, ${V})`, { hint: 'use the tokenizer that matches the model' });
    }
    const n = ids.length / L;
    const hiddenPerText = L * 4 * width * 4;
    const mb = opts.microBatch ?? Math.max(1, Math.min(256, Math.floor((opts.activationBudget ?? ACTIVATION_BUDGET) / hiddenPerText)));
    return this.batched(n, mb, opts, (i, m) => {
      const t = Tensor.from(this.gpu, ids.subarray(i * L, (i + m) * L), [m, L], 'i32', 'token ids');
      const f = this.encodeText(t);
      t.release();
      return f;
    });
  }

  private async batched(n: number, mb: number, opts: BatchOptions, run: (start: number, count: number) => Tensor): Promise<Float32Array> {
    const E = this.config.embedDim;
    const out = new Float32Array(n * E);
    for (let i = 0; i < n; i += mb) {
      const m = Math.min(mb, n - i);
      const f = run(i, m);
      out.set(await f.toFloat32(), i * E);
      f.release();
      opts.onProgress?.(i + m, n);
    }
    return out;
  }

  release(): void {
    this.params.release();
  }
}
