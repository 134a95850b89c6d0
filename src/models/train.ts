// The training forward of both towers on the autograd (src/autograd): the same structure and
// state-dict names as the inference model (convnext.ts, text.ts), but every op is recorded on a
// Tape so backward() yields a gradient per parameter. Parameters are f32 and live in the kernels'
// layouts (NHWC-packed downsample convs, tap-major depthwise weights); stateDict() and grads()
// convert back to PyTorch's layout.
import { ShapeError, UsageError } from '../errors.js';
import type { Gpu } from '../gpu/device.js';
import { Tensor } from '../gpu/tensor.js';
import type { HostTensor } from '../io/dtype.js';
import { toFloat32 } from '../io/dtype.js';
import type { TensorSource } from '../io/source.js';
import { packConv2dWeight, permuteHost } from '../kernels/conv2d.js';
import { packDepthwiseWeight } from '../kernels/depthwise.js';
import { validateTokenIds } from '../kernels/embedding.js';
import * as op from '../autograd/ops.js';
import type { Rng } from '../autograd/rng.js';
import { Parameter, usesWeightDecay, type Tape, type Var } from '../autograd/tape.js';
import { expectedStateDict, validateStateDict, type ClipConfig } from './config.js';
import { planParameter } from './parameters.js';

export interface TrainStepOutput {
  loss: Var;
  /** L2-normalised features [N, embed]. */
  image: Var;
  text: Var;
}

/** Which parameters train: a tower frozen, or only the last N blocks/layers of each tower (+ heads). */
export interface FreezeOptions {
  image?: boolean;
  text?: boolean;
  /** Train only the last N ConvNeXt blocks and the last N text layers, plus the heads. */
  lastBlocks?: number;
}

function layoutOf(name: string): 'none' | 'conv-nhwc' | 'depthwise' {
  return planParameter(name, [], 'f32').repack;
}

/** Kernel layout → PyTorch layout for a parameter (or its gradient). */
export function toTorchLayout(name: string, data: Float32Array, torchShape: readonly number[]): Float32Array {
  const repack = layoutOf(name);
  if (repack === 'conv-nhwc') {
    const [co, ci, kh, kw] = torchShape;
    return permuteHost(data, [co, kh, kw, ci], [0, 3, 1, 2]).data;
  }
  if (repack === 'depthwise') {
    const [c, , kh, kw] = torchShape;
    return permuteHost(data, [kh, kw, c], [2, 0, 1]).data;
  }
  return data;
}

export class TrainableClip {
  readonly params: Parameter[];
  private readonly byName: Map<string, Parameter>;
  private readonly torchShapes: Map<string, readonly number[]>;

  private constructor(
    readonly gpu: Gpu,
    readonly config: ClipConfig,
    params: Parameter[],
    torchShapes: Map<string, readonly number[]>,
  ) {
    this.params = params;
    this.byName = new Map(params.map((p) => [p.name, p]));
    this.torchShapes = torchShapes;
  }

  /** Uploads a state dict (any float dtype) as f32 trainable parameters. */
  static async load(gpu: Gpu, source: TensorSource, config: ClipConfig, label = 'weights'): Promise<TrainableClip> {
    validateStateDict(source.tensors, config, label);
    const host = new Map<string, HostTensor>();
    for (const e of expectedStateDict(config)) host.set(e.name, await source.read(e.name));
    return TrainableClip.fromHost(gpu, config, host);
  }

  /** From host tensors in PyTorch layout (a checkpoint's state dict). */
  static fromHost(gpu: Gpu, config: ClipConfig, tensors: ReadonlyMap<string, HostTensor>): TrainableClip {
    const params: Parameter[] = [];
    const shapes = new Map<string, readonly number[]>();
    try {
      for (const e of expectedStateDict(config)) {
        const t = tensors.get(e.name);
        if (!t) throw new ShapeError(`parameter '${e.name}'`, 'is missing from the state dict');
        if (t.shape.length !== e.shape.length || t.shape.some((d, i) => d !== e.shape[i])) {
          throw new ShapeError(`parameter '${e.name}'`, `must be [${e.shape.join(', ')}], got [${t.shape.join(', ')}]`);
        }
        let data = toFloat32(t, e.name);
        let shape = e.shape;
        const repack = layoutOf(e.name);
        if (repack !== 'none') {
          const packed = (repack === 'conv-nhwc' ? packConv2dWeight : packDepthwiseWeight)(data, shape);
          data = packed.data;
          shape = packed.shape;
        }
        params.push(new Parameter(e.name, Tensor.from(gpu, data, shape, 'f32', e.name, true), usesWeightDecay(e.name, e.shape)));
        shapes.set(e.name, e.shape);
      }
    } catch (err) {
      for (const p of params) p.value.release();
      throw err;
    }
    return new TrainableClip(gpu, config, params, shapes);
  }

  param(name: string): Parameter {
    const p = this.byName.get(name);
    if (!p) throw new UsageError(`parameter '${name}'`, 'does not exist in this model');
    return p;
  }

  /** Sets which parameters train (all by default). */
  freeze(opts: FreezeOptions): void {
    const { depths } = this.config.vision;
    const totalBlocks = depths.reduce((a, b) => a + b, 0);
    const n = opts.lastBlocks;
    if (n !== undefined && (!Number.isInteger(n) || n < 0)) throw new UsageError('--train-last-blocks', `must be a non-negative integer, got ${n}`);
    const blockIndex = (name: string): number | null => {
      const v = /^visual\.trunk\.stages\.(\d+)\.blocks\.(\d+)\./.exec(name);
      if (v) return depths.slice(0, +v[1]).reduce((a, b) => a + b, 0) + +v[2] - (totalBlocks - (n ?? 0));
      const t = /^transformer\.resblocks\.(\d+)\./.exec(name);
      if (t) return +t[1] - (this.config.text.layers - (n ?? 0));
      return null;
    };
    for (const p of this.params) {
      const visual = p.name.startsWith('visual.');
      let train = visual ? !opts.image : p.name === 'logit_scale' ? true : !opts.text;
      if (train && n !== undefined) {
        const b = blockIndex(p.name);
        // Heads (projections, final norms, logit_scale) train; the stem, downsamples and
        // embeddings count as "before the first block" and freeze.
        const head = /^(visual\.head\.|visual\.trunk\.head\.|ln_final\.|text_projection|logit_scale)/.test(p.name);
        train = head || (b !== null && b >= 0);
      }
      p.trainable = train;
    }
  }

  /** Drop-path rate of ConvNeXt block k (timm: linspace(0, rate, Σ depths)). */
  private dropRate(k: number, total: number): number {
    const r = this.config.vision.dropPath;
    return total > 1 ? (r * k) / (total - 1) : 0;
  }

  /**
   * Image tower on normalised pixels [N, 3, S, S] → unnormalised features [N, embed]. `rng` turns
   * on stochastic depth (training mode); without it the tower is deterministic (eval mode).
   */
  /**
   * Image tower forward on the tape. `tap` sees the last ConvNeXt stage's output (NHWC, the
   * activation Grad-CAM hooks) and may return a replacement Var (e.g. an identity that keeps its
   * gradient).
   */
  encodeImage(t: Tape, pixels: Var, rng?: Rng | null, tap?: (x: Var) => Var): Var {
    const cfg = this.config.vision;
    const eps = cfg.layerNormEps;
    const w = (name: string) => this.param(`visual.${name}`);
    const N = pixels.value.shape[0];
    const total = cfg.depths.reduce((a, b) => a + b, 0);
    let k = 0;
    // Mixed precision: the residual stream x stays f32; the branch activations that only feed
    // LayerNorm or matrix ops are the tape's activation dtype (f16).
    const f32 = { dtype: 'f32' } as const;
    let x = op.patchConv2d(t, pixels, w('trunk.stem.0.weight'), w('trunk.stem.0.bias'), 'nchw');
    x = op.layerNorm(t, x, w('trunk.stem.1.weight'), w('trunk.stem.1.bias'), eps, f32);
    for (let s = 0; s < cfg.depths.length; s++) {
      const sp = `trunk.stages.${s}`;
      if (s > 0) {
        x = op.layerNorm(t, x, w(`${sp}.downsample.0.weight`), w(`${sp}.downsample.0.bias`), eps);
        x = op.patchConv2d(t, x, w(`${sp}.downsample.1.weight`), w(`${sp}.downsample.1.bias`), 'nhwc', f32);
      }
      for (let b = 0; b < cfg.depths[s]; b++, k++) {
        const bp = `${sp}.blocks.${b}`;
        let h = op.depthwiseConv2d(t, x, w(`${bp}.conv_dw.weight`), w(`${bp}.conv_dw.bias`));
        h = op.layerNorm(t, h, w(`${bp}.norm.weight`), w(`${bp}.norm.bias`), eps);
        h = op.gelu(t, op.linear(t, h, w(`${bp}.mlp.fc1.weight`), w(`${bp}.mlp.fc1.bias`)));
        h = op.linear(t, h, w(`${bp}.mlp.fc2.weight`), w(`${bp}.mlp.fc2.bias`), f32);
        h = op.layerScale(t, h, w(`${bp}.gamma`));
        const rate = this.dropRate(k, total);
        if (rng && rate > 0) {
          const keep = 1 - rate;
          h = op.dropPath(t, h, Float32Array.from({ length: N }, () => (rng.next() < keep ? 1 / keep : 0)));
        }
        x = op.add(t, x, h);
      }
    }
    if (tap) x = tap(x);
    x = op.globalAvgPool(t, x);
    x = op.layerNorm(t, x, w('trunk.head.norm.weight'), w('trunk.head.norm.bias'), eps, f32);
    return op.linear(t, x, w('head.proj.weight'), undefined, f32);
  }

  /** Text tower on token ids [N, context] (host copy + GPU tensor) → unnormalised features. */
  encodeText(t: Tape, ids: Int32Array, idsTensor: Tensor): Var {
    const cfg = this.config.text;
    const eps = cfg.layerNormEps;
    const f32 = { dtype: 'f32' } as const; // the residual stream, as in encodeImage
    let x = op.tokenEmbedding(t, ids, idsTensor, this.param('token_embedding.weight'), this.param('positional_embedding'));
    for (let l = 0; l < cfg.layers; l++) {
      const w = (name: string) => this.param(`transformer.resblocks.${l}.${name}`);
      let h = op.layerNorm(t, x, w('ln_1.weight'), w('ln_1.bias'), eps);
      // The attention core reads and writes f32 (its softmax statistics need the range).
      h = op.linear(t, h, w('attn.in_proj_weight'), w('attn.in_proj_bias'), f32);
      h = op.attention(t, h, cfg.heads);
      x = op.add(t, x, op.linear(t, h, w('attn.out_proj.weight'), w('attn.out_proj.bias'), f32));
      h = op.layerNorm(t, x, w('ln_2.weight'), w('ln_2.bias'), eps);
      h = op.gelu(t, op.linear(t, h, w('mlp.c_fc.weight'), w('mlp.c_fc.bias')));
      x = op.add(t, x, op.linear(t, h, w('mlp.c_proj.weight'), w('mlp.c_proj.bias'), f32));
    }
    x = op.layerNorm(t, x, this.param('ln_final.weight'), this.param('ln_final.bias'), eps, f32);
    x = op.argmaxPool(t, x, idsTensor);
    return op.matmul(t, x, this.param('text_projection'), f32);
  }

  /**
   * CLIP training forward on N pairs: pixels f32 [N, 3, S, S] (host) and token ids [N, context]
   * → ClipLoss on the normalised features. Inputs are uploaded and owned by the tape.
   */
  forward(t: Tape, pixels: Float32Array, ids: Int32Array, opts: { rng?: Rng | null } = {}): TrainStepOutput {
    const S = this.config.vision.imageSize;
    const L = this.config.text.contextLength;
    const per = 3 * S * S;
    const N = pixels.length / per;
    if (!Number.isInteger(N) || N < 1 || ids.length !== N * L) {
      throw new ShapeError('training batch', `needs N×3×${S}×${S} pixels and N×${L} token ids for the same N ≥ 1, got ${pixels.length} and ${ids.length} values`);
    }
    validateTokenIds(ids, this.config.text.vocabSize, L);
    const px = t.constant(Tensor.from(this.gpu, pixels, [N, 3, S, S], 'f32', 'pixels'), true);
    const idsTensor = t.constant(Tensor.from(this.gpu, ids, [N, L], 'i32', 'token ids'), true).value;
    const image = op.l2Normalize(t, this.encodeImage(t, px, opts.rng));
    const text = op.l2Normalize(t, this.encodeText(t, ids, idsTensor));
    const loss = op.clipLoss(t, image, text, this.param('logit_scale'));
    return { loss, image, text };
  }

  /** PyTorch shape of a parameter. */
  torchShape(name: string): readonly number[] {
    const s = this.torchShapes.get(name);
    if (!s) throw new UsageError(`parameter '${name}'`, 'does not exist in this model');
    return s;
  }

  /** Every parameter in PyTorch layout, state-dict order (what a checkpoint stores). */
  async stateDict(): Promise<[string, HostTensor][]> {
    const out: [string, HostTensor][] = [];
    for (const p of this.params) {
      const shape = [...this.torchShape(p.name)];
      out.push([p.name, { dtype: 'F32', shape, data: toTorchLayout(p.name, await p.value.toFloat32(), shape) }]);
    }
    return out;
  }

  /** A parameter's accumulated gradient in PyTorch layout (null when it has none). */
  async grad(name: string): Promise<Float32Array | null> {
    const p = this.param(name);
    return p.grad ? toTorchLayout(name, await p.grad.toFloat32(), this.torchShape(name)) : null;
  }

  release(): void {
    for (const p of this.params) {
      p.zeroGrad();
      p.value.release();
    }
  }
}
