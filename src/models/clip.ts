// EchoCLIP / EchoCLIP-R: both towers plus logit_scale, loaded from the published state dict.
// The two published models share one architecture; they differ only in weights and tokenizer.
import { ShapeError } from '../errors.js';
import type { Gpu } from '../gpu/device.js';
import { Tensor } from '../gpu/tensor.js';
import { toFloat32 } from '../io/dtype.js';
import type { TensorSource } from '../io/source.js';
import type { ClipConfig } from './config.js';
import type { Capture } from './capture.js';
import { planMicroBatch, runChunks, type MicroBatchPlan } from './batching.js';
import { encodeImageTensor } from './convnext.js';
import { uploadParameters, type ParameterStore, type WeightDType } from './parameters.js';
import { encodeTextTensor } from './text.js';
import type { GemmMath } from '../kernels/gemm/index.js';
import { prepareTuning, type TuneMode } from '../kernels/tuning.js';

export interface LoadModelOptions {
  /** Weight storage: 'f16' halves GPU memory (needs shader-f16; activations stay f32). */
  dtype?: WeightDType;
  /**
   * GEMM arithmetic: 'f32' (default; exact as PyTorch f32) or 'f16' — with f16 weights the
   * linears and patch convs may multiply in f16 (activations rounded to f16 as staged, f32
   * accumulation on tensor cores), PyTorch autocast's semantics. Needs dtype 'f16'.
   */
  math?: GemmMath;
  /** Label for errors (the weights path). */
  label?: string;
  /** Default `activationBudget` for this model's host batches (see BatchOptions). */
  activationBudget?: number;
  /** Where batch decisions are logged (a halved micro-batch after out-of-memory). Default: none. */
  log?: (line: string) => void;
  /**
   * Per-adapter kernel tuning (src/kernels/tuning.ts): 'auto' (default) reads the adapter's cache
   * file and, on a real GPU with no entry yet, measures the kernel variants once (~3 s) and caches
   * the winners; 'cached' only reads; 'off' keeps the variant table's defaults.
   */
  tune?: TuneMode;
  /** Cache root of the tuning file (default $ECHOCLIP_CACHE_DIR or ~/.cache/echoclip). */
  cacheDir?: string;
}

export interface BatchOptions {
  /**
   * Items per GPU batch (default: what keeps the largest activation within `activationBudget`);
   * always bounded by the device's maxStorageBufferBindingSize / maxBufferSize.
   */
  microBatch?: number;
  /**
   * Bytes the largest activation (the first MLP hidden layer) may take. Default by adapter:
   * 16 MiB on software adapters (2 frames / 26 prompts per pass; the model + a batch stays under
   * 700 MB with f32 weights), 512 MiB on real GPUs (81 frames / 832 prompts per pass). A pass
   * that runs out of GPU memory is retried at half the size (logged); at one item it fails with
   * GpuOutOfMemoryError naming this option.
   */
  activationBudget?: number;
  /** Called after each micro-batch with (done, total). */
  onProgress?: (done: number, total: number) => void;
}

export class EchoClipModel {
  private constructor(
    readonly gpu: Gpu,
    readonly config: ClipConfig,
    private readonly params: ParameterStore,
    readonly weightDtype: WeightDType,
    /** The stored `logit_scale` parameter (logits use exp of it). */
    readonly logitScale: number,
    private readonly batchDefaults: { activationBudget?: number; log?: (line: string) => void } = {},
    readonly math: GemmMath = 'f32',
  ) {}

  static async load(gpu: Gpu, source: TensorSource, config: ClipConfig, opts: LoadModelOptions = {}): Promise<EchoClipModel> {
    const dtype = opts.dtype ?? 'f32';
    if (dtype === 'f16' && !gpu.f16) {
      throw new ShapeError('f16 weights', `adapter '${gpu.adapter.description}' has no shader-f16`, { hint: 'use --dtype f32 on this adapter' });
    }
    const math = opts.math ?? 'f32';
    if (math === 'f16' && dtype !== 'f16') throw new ShapeError('math f16', 'needs f16 weights', { hint: 'load with dtype f16 (--dtype f16)' });
    const params = await uploadParameters(gpu, source, config, dtype, opts.label ?? 'weights');
    await prepareTuning(gpu, opts.tune ?? 'auto', { cacheDir: opts.cacheDir, log: opts.log });
    const ls = toFloat32(await source.read('logit_scale'), 'logit_scale')[0];
    return new EchoClipModel(gpu, config, params, dtype, ls, { activationBudget: opts.activationBudget, log: opts.log }, math);
  }

  /** GPU bytes held by the weights. */
  get weightBytes(): number {
    return this.params.bytes;
  }

  /** `encode_image` on one GPU batch: normalised pixels [N, 3, H, W] → unnormalised features [N, embed]. */
  encodeImage(pixels: Tensor, capture?: Capture): Tensor {
    return encodeImageTensor(this.params, this.config.vision, pixels, capture, this.math);
  }

  /** `encode_text` on one GPU batch: ids [N, context] i32 → unnormalised features [N, embed]. */
  encodeText(ids: Tensor, capture?: Capture): Tensor {
    return encodeTextTensor(this.params, this.config.text, ids, capture, this.math);
  }

  /** Host API: N preprocessed frames (N×3×S×S floats) → N×embed features, micro-batched. */
  async encodeImages(pixels: Float32Array, opts: BatchOptions = {}): Promise<Float32Array> {
    const S = this.config.vision.imageSize;
    const per = 3 * S * S;
    if (pixels.length % per !== 0) throw new ShapeError('pixels', `length ${pixels.length} is not a multiple of 3×${S}×${S}`);
    const n = pixels.length / per;
    return this.batched(n, this.bytesPerItem('image'), opts, (i, m) => {
      const x = Tensor.from(this.gpu, pixels.subarray(i * per, (i + m) * per), [m, 3, S, S], 'f32', 'pixels');
      const f = this.encodeImage(x);
      x.release();
      return f;
    });
  }

  /** Host API: N×context token ids → N×embed features, micro-batched. Ids are range-checked. */
  async encodeTexts(ids: Int32Array, opts: BatchOptions = {}): Promise<Float32Array> {
    const { contextLength: L, vocabSize: V } = this.config.text;
    if (ids.length % L !== 0) throw new ShapeError('token ids', `length ${ids.length} is not a multiple of the context length ${L}`);
    for (let i = 0; i < ids.length; i++) {
      if (ids[i] < 0 || ids[i] >= V) throw new ShapeError('token ids', `id ${ids[i]} at position ${i % L} of text ${Math.floor(i / L)} is outside the vocabulary [0, ${V})`, { hint: 'use the tokenizer that matches the model' });
    }
    const n = ids.length / L;
    return this.batched(n, this.bytesPerItem('text'), opts, (i, m) => {
      const t = Tensor.from(this.gpu, ids.subarray(i * L, (i + m) * L), [m, L], 'i32', 'token ids');
      const f = this.encodeText(t);
      t.release();
      return f;
    });
  }

  /** The micro-batch the host APIs would use for `items` frames ('image') or prompts ('text'). */
  microBatchFor(kind: 'image' | 'text', items: number, opts: Pick<BatchOptions, 'microBatch' | 'activationBudget'> = {}): MicroBatchPlan {
    return this.plan(items, this.bytesPerItem(kind), opts);
  }

  /** The largest activation per item, the MLP hidden layer in f32: stage 0's (S/4)² × 4·C0 for a frame, L × 4·width for a prompt. */
  private bytesPerItem(kind: 'image' | 'text'): number {
    const { imageSize: S, dims } = this.config.vision;
    const { contextLength: L, width } = this.config.text;
    return kind === 'image' ? (S / 4) ** 2 * 4 * dims[0] * 4 : L * 4 * width * 4;
  }

  private plan(items: number, bytesPerItem: number, opts: Pick<BatchOptions, 'microBatch' | 'activationBudget'>): MicroBatchPlan {
    const l = this.gpu.limits;
    return planMicroBatch({
      items,
      bytesPerItem,
      limits: { fallback: this.gpu.adapter.fallback, maxStorageBufferBindingSize: l.maxStorageBufferBindingSize, maxBufferSize: l.maxBufferSize },
      activationBudget: opts.activationBudget ?? this.batchDefaults.activationBudget,
      microBatch: opts.microBatch,
    });
  }

  private async batched(n: number, bytesPerItem: number, opts: BatchOptions, run: (start: number, count: number) => Tensor): Promise<Float32Array> {
    const E = this.config.embedDim;
    const out = new Float32Array(n * E);
    if (n === 0) return out;
    const plan = this.plan(n, bytesPerItem, opts);
    await runChunks(
      n,
      plan.size,
      async (i, m) => {
        const f = run(i, m);
        try {
          out.set(await f.toFloat32(), i * E);
        } finally {
          f.release();
        }
      },
      {
        onProgress: opts.onProgress,
        // A failed pass may leave invalid buffers in the free lists: drop them all before retrying.
        recover: () => this.gpu.pool.trim(),
        onHalve: (from, to) => this.batchDefaults.log?.(`out of GPU memory at ${from} items per pass; retrying at ${to} (set activationBudget / --memory to choose)`),
        option: 'activationBudget / --memory',
      },
    );
    return out;
  }

  release(): void {
    this.params.release();
  }
}
