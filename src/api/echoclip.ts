// The one-line API, the same in Node, Deno and browsers:
//   const echo = await EchoClip.fromPretrained('echo-clip', { dtype: 'f16', onProgress });
//   const results = await echo.zeroShot(video, { tasks: 'all' });
// The CLI's embed / zero-shot / search commands and the web demo are written on it.
import { ShapeError, TokenizerError, UsageError } from '../errors.js';
import { requestDevice, type Gpu } from '../gpu/device.js';
import { blobByteSource, memoryByteSource, type TensorSource } from '../io/source.js';
import { openTensorSource } from '../io/weights.js';
import { EchoClipModel } from '../models/clip.js';
import { parseOpenClipConfig, type ClipConfig } from '../models/config.js';
import { gradCam, type GradCam } from '../models/gradcam.js';
import type { WeightDType } from '../models/parameters.js';
import type { GemmMath } from '../kernels/gemm/index.js';
import type { TuneMode } from '../kernels/tuning.js';
import { TrainableClip } from '../models/train.js';
import { l2NormalizeRows } from '../tasks/array.js';
import { selectTasks, type PromptTask } from '../tasks/prompts.js';
import { rankReports } from '../tasks/retrieval.js';
import { collectPrompts, runZeroShotTasks, type ZeroShotResult } from '../tasks/run.js';
import { ZERO_SHOT_FRAMES, selectFrames } from '../video/frames.js';
import { preprocessFrames, preprocessVideoAsync } from '../video/video.js';
import type { DownloadEvent, EmbeddingCache, OpenedModelWeights, Platform } from './platform.js';
import { currentPlatform } from './platform.js';
import { readInput, resolvePromptSets, resolveTokenizer, tokenizerForModel, type DataInput, type Provenance, type TextTokenizer, type TokenizerKind } from './resolve.js';

/** The published models by short name. */
export const PRETRAINED = {
  'echo-clip': 'hf-hub:mkaichristensen/echo-clip',
  'echo-clip-r': 'hf-hub:mkaichristensen/echo-clip-r',
} as const;

export type PretrainedName = keyof typeof PRETRAINED;

export type EchoClipProgress =
  | DownloadEvent
  | { stage: 'text tower' | 'image tower'; done: number; total: number };

/** Weights given as files rather than a location (browsers: File/Blob from an input). */
export interface WeightsFiles {
  config: DataInput | ClipConfig;
  weights: Blob | Uint8Array;
}

export interface EchoClipOptions {
  /** Weight storage on the GPU: 'f16' halves memory (needs shader-f16). Default 'f32'. */
  dtype?: WeightDType;
  /** GEMM arithmetic with f16 weights: 'f16' multiplies in f16 like PyTorch autocast (default 'f32'; see LoadModelOptions.math). */
  math?: GemmMath;
  onProgress?: (e: EchoClipProgress) => void;
  /** Overrides the weights location of the name (directory, file, hf-hub id, URL), or gives the files. */
  weights?: string | WeightsFiles;
  /** Default: follows the model (echo-clip-r → 'template'), else `defaultTokenizer`, else 'bpe'. */
  tokenizer?: TokenizerKind;
  /** Used when neither `tokenizer` nor the model name decides (the CLI passes its command's default). */
  defaultTokenizer?: TokenizerKind;
  /** CLIP BPE vocabulary (default: the one shipped in the package). */
  vocab?: DataInput;
  /** EchoCLIP-R template vocabulary (default: echo_CLIP's, downloaded once at the pinned commit). */
  templateVocab?: DataInput;
  /** prompts_used.json: path/URL, bytes or the parsed JSON (default: echo_CLIP's, downloaded once). */
  prompts?: DataInput | Record<string, unknown>;
  /** Base URL of the pinned echo_CLIP files (default $ECHOCLIP_ASSETS_BASE_URL or GitHub). */
  assetsBaseUrl?: string;
  /** Hub base URL (default $ECHOCLIP_HUB_URL or https://huggingface.co). */
  hubUrl?: string;
  /** Node/Deno cache root (default $ECHOCLIP_CACHE_DIR or ~/.cache/echoclip); browsers use OPFS. */
  cacheDir?: string;
  /** Adapter hint: 'auto' | 'lavapipe' | 'swiftshader' | an ICD path (Node). */
  device?: string;
  /** A device to use (not destroyed by dispose()); default: a new one from requestDevice(). */
  gpu?: Gpu;
  /** Bytes the largest activation of one pass may take (default by adapter). */
  activationBudget?: number;
  /** Keep prompt embeddings on disk between runs (Node/Deno; default true). */
  promptCache?: boolean;
  /** Batch decisions (a halved micro-batch after out-of-memory). */
  log?: (line: string) => void;
  /** Kernel tuning per adapter: 'auto' (default: measure once on a real GPU, ~3 s, then cached), 'cached', 'off'. */
  tune?: TuneMode;
}

/** Decoded frames (e.g. from a browser <video> + canvas): H×W×3 bytes each, BGR for parity with cv2. */
export interface DecodedFrames {
  width: number;
  height: number;
  frames: Uint8Array[];
}

/** Frames already preprocessed to the model input, T×3×224×224 (e.g. `PreparedVideo.pixelValues`). */
export interface PreprocessedFrames {
  pixelValues: Float32Array;
}

/** A video: a path (Node/Deno) or URL, the bytes of an AVI/MJPEG or DICOM file, decoded or preprocessed frames. */
export type VideoInput = string | URL | Blob | Uint8Array | ArrayBuffer | DecodedFrames | PreprocessedFrames;

export interface VideoOptions {
  /** START:STOP:STEP (default: all frames; zeroShot: 0:40:2 as echo_CLIP). */
  frames?: string;
  /** Feed true RGB instead of the reference's BGR-as-RGB (encoded videos only). */
  trueRgb?: boolean;
}

export interface PreparedVideo {
  pixelValues: Float32Array;
  /** Indices of the selected frames in the input (empty for preprocessed input). */
  indices: number[];
  /** The 224×224×3 crops, when the frames were decoded here. */
  frames: Uint8Array[];
}

/** Unnormalised features (encode_image / encode_text) and their L2-normalised embeddings, [N, D]. */
export interface Embeddings {
  features: Float32Array;
  embeddings: Float32Array;
  shape: [number, number];
}

export interface VideoEmbeddings extends Embeddings {
  indices: number[];
}

/** L2-normalised text embeddings through the prompt cache. */
export interface PromptEmbeddings {
  embeddings: Float32Array;
  shape: [number, number];
  cached: number;
  computed: number;
}

export interface ZeroShotOptions extends VideoOptions {
  /** 'all' (default), a task name, comma-separated names or a list. */
  tasks?: 'all' | string | readonly string[];
}

export interface SearchOptions extends VideoOptions {
  /** Best K reports (default all). */
  top?: number;
}

export interface SearchHit {
  index: number;
  similarity: number;
}

const isDecoded = (v: unknown): v is DecodedFrames => typeof v === 'object' && v !== null && Array.isArray((v as DecodedFrames).frames) && typeof (v as DecodedFrames).width === 'number';
const isPreprocessed = (v: unknown): v is PreprocessedFrames => typeof v === 'object' && v !== null && (v as PreprocessedFrames).pixelValues instanceof Float32Array;

export class EchoClip {
  private tokenizerPromise: Promise<{ tokenizer: TextTokenizer; from: Provenance }> | undefined;
  private promptsPromise: Promise<{ tasks: PromptTask[]; from: Provenance }> | undefined;
  private cachePromise: Promise<EmbeddingCache | undefined> | undefined;
  private disposed = false;

  private constructor(
    readonly model: EchoClipModel,
    readonly gpu: Gpu,
    /** Which tokenizer texts go through. */
    readonly tokenizerKind: TokenizerKind,
    /** The weights location, for errors and file resolution. */
    readonly weights: string,
    private readonly platform: Platform,
    private readonly opts: EchoClipOptions,
    private readonly opened: Pick<OpenedModelWeights, 'file' | 'reopen'>,
    private readonly ownsGpu: boolean,
  ) {}

  /**
   * Loads a published model by name ('echo-clip', 'echo-clip-r'), an hf-hub id, a local weights
   * directory or file (Node/Deno) or a directory URL (browsers). Vocabulary and prompts are found
   * on first use: see `EchoClipOptions`.
   */
  static async fromPretrained(name: PretrainedName | (string & {}), opts: EchoClipOptions = {}): Promise<EchoClip> {
    const platform = await currentPlatform();
    const location = typeof opts.weights === 'string' ? opts.weights : (PRETRAINED[name as PretrainedName] ?? name);
    const kind = opts.tokenizer ?? tokenizerForModel(name) ?? tokenizerForModel(location) ?? opts.defaultTokenizer ?? 'bpe';
    if (kind !== 'bpe' && kind !== 'template') throw new UsageError('tokenizer', `must be bpe or template, got '${String(kind)}'`);
    const assets = { assetsBaseUrl: opts.assetsBaseUrl, cacheDir: opts.cacheDir, hubUrl: opts.hubUrl, onDownload: opts.onProgress };
    const opened: OpenedModelWeights = typeof opts.weights === 'object' ? await openGivenFiles(platform, opts.weights) : await platform.openWeights(location, assets);
    const gpu = opts.gpu ?? (await requestDevice({ adapter: opts.device }));
    try {
      const model = await EchoClipModel.load(gpu, opened.source, opened.config, { dtype: opts.dtype, math: opts.math, label: opened.label, activationBudget: opts.activationBudget, log: opts.log, tune: opts.tune, cacheDir: opts.cacheDir });
      return new EchoClip(model, gpu, kind, typeof opts.weights === 'object' ? opened.label : location, platform, opts, opened, !opts.gpu);
    } catch (e) {
      if (!opts.gpu) gpu.destroy();
      throw e;
    } finally {
      await opened.source.close();
    }
  }

  get config(): ClipConfig {
    return this.model.config;
  }

  /** The local weights file, when there is one (Node/Deno): the archive index keys on its sha256. */
  get weightsFile(): string | undefined {
    return this.opened.file;
  }

  private assetOptions() {
    return { assetsBaseUrl: this.opts.assetsBaseUrl, cacheDir: this.opts.cacheDir, onDownload: this.opts.onProgress, weights: typeof this.opts.weights === 'object' ? undefined : this.weights };
  }

  private alive(): void {
    if (this.disposed) throw new UsageError('EchoClip', 'used after dispose()', { hint: 'load it again with EchoClip.fromPretrained' });
  }

  /** The tokenizer (vocabulary fetched on the first call) and where its vocabulary came from. */
  tokenizer(): Promise<{ tokenizer: TextTokenizer; from: Provenance }> {
    this.tokenizerPromise ??= resolveTokenizer(this.platform, this.tokenizerKind, { vocab: this.opts.vocab, templateVocab: this.opts.templateVocab }, this.assetOptions());
    this.tokenizerPromise.catch(() => { this.tokenizerPromise = undefined; });
    return this.tokenizerPromise;
  }

  /** The zero-shot prompt sets (downloaded on first use unless given) and their provenance. */
  promptSets(): Promise<{ tasks: PromptTask[]; from: Provenance }> {
    this.promptsPromise ??= resolvePromptSets(this.platform, this.opts.prompts, this.assetOptions());
    this.promptsPromise.catch(() => { this.promptsPromise = undefined; });
    return this.promptsPromise;
  }

  /** Token ids [N × contextLength] for texts. */
  async tokenize(texts: readonly string[]): Promise<Int32Array> {
    const { tokenizer } = await this.tokenizer();
    const L = this.config.text.contextLength;
    const ids = new Int32Array(texts.length * L);
    tokenizer.tokenize(texts).forEach((row, i) => {
      if (row.length !== L) throw new TokenizerError('text', `tokenizer gave ${row.length} ids, the model's context is ${L}`);
      ids.set(row, i * L);
    });
    return ids;
  }

  /** Decodes and preprocesses a video exactly as echo_CLIP does (or takes preprocessed frames). */
  async prepareVideo(input: VideoInput, opts: VideoOptions = {}): Promise<PreparedVideo> {
    const S = this.config.vision.imageSize;
    if (isPreprocessed(input)) {
      if (input.pixelValues.length === 0 || input.pixelValues.length % (3 * S * S) !== 0) throw new ShapeError('pixelValues', `must be T×3×${S}×${S} floats, got ${input.pixelValues.length} values`);
      if (opts.frames) throw new UsageError('frames option', 'applies to videos, not to preprocessed frames');
      return { pixelValues: input.pixelValues, indices: [], frames: [] };
    }
    if (isDecoded(input)) {
      const indices = opts.frames ? selectFrames(opts.frames, input.frames.length) : input.frames.map((_, i) => i);
      const p = preprocessFrames(indices.map((i) => ({ width: input.width, height: input.height, data: input.frames[i]! })), { width: S, height: S });
      return { pixelValues: p.pixelValues, indices, frames: p.frames };
    }
    const pre = { frames: opts.frames, trueRgb: opts.trueRgb };
    const v = typeof input === 'string' && this.platform.runtime !== 'browser'
      ? await this.platform.preprocessVideoPath(input, pre)
      : await preprocessVideoAsync(await readInput(this.platform, input, 'video'), { ...pre, label: typeof input === 'string' ? input : input instanceof URL ? input.href : 'video' });
    return { pixelValues: v.pixelValues, indices: v.indices, frames: v.frames };
  }

  private async imageFeatures(pixels: Float32Array): Promise<Float32Array> {
    this.alive();
    return this.model.encodeImages(pixels, { onProgress: (done, total) => this.opts.onProgress?.({ stage: 'image tower', done, total }) });
  }

  private async textFeatures(ids: Int32Array): Promise<Float32Array> {
    this.alive();
    return this.model.encodeTexts(ids, { onProgress: (done, total) => this.opts.onProgress?.({ stage: 'text tower', done, total }) });
  }

  private withEmbeddings(features: Float32Array): Embeddings {
    const D = this.config.embedDim;
    const shape: [number, number] = [features.length / D, D];
    return { features, embeddings: l2NormalizeRows({ data: features, shape }).data, shape };
  }

  /** Frame features and embeddings of a video (all frames unless `frames` says otherwise). */
  async embedVideo(input: VideoInput, opts: VideoOptions = {}): Promise<VideoEmbeddings> {
    const v = await this.prepareVideo(input, opts);
    return { ...this.withEmbeddings(await this.imageFeatures(v.pixelValues)), indices: v.indices };
  }

  /** Text features and embeddings (texts through the model's tokenizer, or token ids N×77). */
  async embedText(texts: readonly string[] | Int32Array): Promise<Embeddings> {
    const ids = texts instanceof Int32Array ? texts : await this.tokenize(texts);
    if (ids.length === 0 || ids.length % this.config.text.contextLength !== 0) throw new ShapeError('token ids', `must be N×${this.config.text.contextLength}, got ${ids.length} values`);
    return this.withEmbeddings(await this.textFeatures(ids));
  }

  /**
   * L2-normalised embeddings of prompts or reports, through the persistent prompt cache where the
   * platform has one (keyed by the weights' sha256, dtype, tokenizer and text).
   */
  async embedPrompts(texts: readonly string[]): Promise<PromptEmbeddings> {
    const D = this.config.embedDim;
    const { tokenizer } = await this.tokenizer();
    if (this.opts.promptCache !== false && this.opened.file) {
      this.cachePromise ??= this.platform.embeddingCache(this.opened.file, `${this.model.weightDtype}-${tokenizer.kind}`, D);
    }
    const cache = await this.cachePromise;
    const out = new Float32Array(texts.length * D);
    const todo: number[] = [];
    texts.forEach((t, i) => {
      const hit = cache?.get(t);
      if (hit) out.set(hit, i * D);
      else todo.push(i);
    });
    if (todo.length) {
      const e = (await this.embedText(todo.map((i) => texts[i]!))).embeddings;
      todo.forEach((ti, j) => {
        const row = e.subarray(j * D, (j + 1) * D);
        out.set(row, ti * D);
        cache?.set(texts[ti]!, row);
      });
      await cache?.save();
    }
    return { embeddings: out, shape: [texts.length, D], cached: texts.length - todo.length, computed: todo.length };
  }

  /**
   * echo_CLIP's zero-shot tasks on one video: frames 0:40:2 by default, every task of the prompt
   * set unless `tasks` names some. Returns {task: result} in prompt-set order.
   */
  async zeroShot(input: VideoInput, opts: ZeroShotOptions = {}): Promise<Record<string, ZeroShotResult>> {
    return (await this.zeroShotDetailed(input, opts)).results;
  }

  /** zeroShot plus what the CLI and the demo show: frame count, prompt-cache hits, the prepared video. */
  async zeroShotDetailed(input: VideoInput, opts: ZeroShotOptions = {}): Promise<{ results: Record<string, ZeroShotResult>; tasks: PromptTask[]; texts: string[]; prompts: PromptEmbeddings; frames: Embeddings; video: PreparedVideo }> {
    const { tasks: all } = await this.promptSets();
    const tasks = opts.tasks === undefined || opts.tasks === 'all' ? all : selectTasks(all, opts.tasks);
    const frameSpec = isPreprocessed(input) ? opts.frames : (opts.frames ?? ZERO_SHOT_FRAMES);
    const video = await this.prepareVideo(input, { ...opts, frames: frameSpec });
    const { texts } = collectPrompts(tasks);
    const prompts = await this.embedPrompts(texts);
    const frames = this.withEmbeddings(await this.imageFeatures(video.pixelValues));
    const results = runZeroShotTasks(tasks, { data: frames.embeddings, shape: frames.shape }, texts, { data: prompts.embeddings, shape: prompts.shape });
    return { results, tasks, texts, prompts, frames, video };
  }

  /**
   * Ranks reports for one video (EchoCLIP-R): the video embedding is the mean of the normalised
   * frame embeddings, the score its dot product with each normalised report (echo_CLIP's example).
   */
  async search(input: VideoInput, reports: readonly string[], opts: SearchOptions = {}): Promise<SearchHit[]> {
    if (!reports.length) throw new UsageError('reports', 'is empty', { hint: 'give at least one report text' });
    const top = opts.top ?? reports.length;
    if (!Number.isInteger(top) || top < 1) throw new UsageError('top', `must be a positive integer, got ${top}`);
    const text = await this.embedPrompts(reports);
    const frames = await this.embedVideo(input, opts);
    return rankReports({ data: frames.embeddings, shape: frames.shape }, { data: text.embeddings, shape: text.shape }, Math.min(top, reports.length))
      .map((r) => ({ index: r.index, similarity: r.similarity }));
  }

  /**
   * PromptCAM: Grad-CAM of the similarity between `prompt` and the first frame of `input`, at the
   * last ConvNeXt stage. Loads a trainable f32 copy of the image tower for the gradient, then frees it.
   */
  async gradCam(input: VideoInput, prompt: string, opts: VideoOptions = {}): Promise<GradCam> {
    const v = await this.prepareVideo(input, opts);
    const S = this.config.vision.imageSize;
    const emb = (await this.embedText([prompt])).embeddings;
    const source = await this.opened.reopen();
    let trainable: TrainableClip;
    try {
      trainable = await TrainableClip.load(this.gpu, source, this.config);
    } finally {
      await source.close();
    }
    try {
      return await gradCam(trainable, v.pixelValues.subarray(0, 3 * S * S), emb);
    } finally {
      trainable.release();
    }
  }

  /** Frees the GPU weights (and the device, when fromPretrained created it). */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.model.release();
    if (this.ownsGpu) this.gpu.destroy();
  }
}

async function openGivenFiles(platform: Platform, files: WeightsFiles): Promise<OpenedModelWeights> {
  const c = files.config;
  const config = typeof c === 'object' && c !== null && 'vision' in c && 'text' in c
    ? (c as ClipConfig)
    : parseOpenClipConfig(new TextDecoder().decode(await readInput(platform, c as DataInput, 'open_clip_config.json')), typeof c === 'string' ? c : 'config');
  const w = files.weights;
  const label = typeof File !== 'undefined' && w instanceof File ? w.name : 'weights';
  const open = (): Promise<TensorSource> => openTensorSource(w instanceof Uint8Array ? memoryByteSource(w, label) : blobByteSource(w, label));
  return { config, source: await open(), label, reopen: open };
}
