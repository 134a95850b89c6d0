// A small tape-based reverse-mode autograd over GPU tensors. Each differentiable op (ops.ts) runs
// its forward kernel, wraps the result in a Var and, when any input needs a gradient, records a
// closure that maps the output gradient to input gradients with the backward kernels. backward()
// replays the closures in reverse order. Gradients of parameters accumulate across backward()
// calls (micro-batches) until the optimizer clears them; every other tensor the tape created is
// released by release().
import { ConfigError, EchoClipError } from '../errors.js';
import type { Gpu } from '../gpu/device.js';
import { Tensor } from '../gpu/tensor.js';
import { accumulate } from '../kernels/elementwise-backward.js';
import { cast } from '../kernels/elementwise.js';
import type { FloatDType } from '../kernels/wgsl.js';

/**
 * 'f32': everything f32. 'mixed' (like torch.autocast with f16): matrix ops (linear, matmul,
 * convolutions) multiply with f16 copies of the f32 master weights and write f16 activations where
 * those only feed other matrix ops or LayerNorm, so the activations kept for backward take about
 * 40 % less memory; the residual streams, LayerNorm statistics, the features, the loss, every
 * gradient and the optimizer stay f32 (so no loss scaling is needed). Needs shader-f16.
 */
export type Precision = 'f32' | 'mixed';

/** Thrown for autograd misuse (backward twice, a non-scalar loss, a released tape). */
export class AutogradError extends EchoClipError {}

/** A value in the graph: a tensor plus its gradient once backward() has reached it. */
export class Var {
  grad: Tensor | null = null;
  constructor(
    readonly value: Tensor,
    private readonly needsGrad: boolean,
  ) {}

  get requiresGrad(): boolean {
    return this.needsGrad;
  }
}

/**
 * A trainable tensor with its state-dict name. `trainable` can be switched off to freeze it (the
 * backward pass then skips its gradient and, where nothing upstream needs one, the whole branch).
 */
export class Parameter extends Var {
  trainable = true;
  constructor(
    readonly name: string,
    value: Tensor,
    /** open_clip's parameter groups: weight decay applies to this tensor. */
    readonly decay: boolean,
  ) {
    super(value, true);
  }

  override get requiresGrad(): boolean {
    return this.trainable;
  }

  zeroGrad(): void {
    this.grad?.release();
    this.grad = null;
  }
}

/** open_clip main.py: no weight decay for p.ndim < 2 or names with "bn", "ln", "bias", "logit_scale". */
export function usesWeightDecay(name: string, shape: readonly number[]): boolean {
  return !(shape.length < 2 || /bn|ln|bias|logit_scale/.test(name));
}

interface Node {
  out: Var;
  backward: (grad: Tensor) => void;
}

export class Tape {
  private readonly nodes: Node[] = [];
  /** Tensors to release with the tape (op outputs and saved intermediates). */
  private readonly owned: Tensor[] = [];
  private state: 'recording' | 'done' | 'released' = 'recording';

  /** f16 copies of parameters (mixed precision), made once per tape. */
  private readonly halves = new Map<Var, Tensor>();

  constructor(
    readonly gpu: Gpu,
    readonly precision: Precision = 'f32',
  ) {
    if (precision !== 'f32' && precision !== 'mixed') throw new ConfigError('precision', `must be 'f32' or 'mixed', got '${String(precision)}'`);
    if (precision === 'mixed' && !gpu.f16) throw new ConfigError('precision', 'mixed precision needs shader-f16, which this adapter lacks', { hint: 'train in f32 on this adapter' });
  }

  /** dtype of the activations that ops save between matrix ops ('f16' in mixed precision). */
  get activationDType(): FloatDType {
    return this.precision === 'mixed' ? 'f16' : 'f32';
  }

  /**
   * The tensor a matrix op multiplies with for weight v: v's own value, or in mixed precision an
   * f16 copy of a ≥ 2-D f32 weight (made once per tape; gradients still go to v, in f32).
   */
  matrixWeight(v: Var): Tensor {
    if (this.precision !== 'mixed' || v.value.dtype !== 'f32' || v.value.shape.length < 2) return v.value;
    let h = this.halves.get(v);
    if (!h) {
      h = this.keep(cast(v.value, 'f16'));
      this.halves.set(v, h);
    }
    return h;
  }

  /** A graph input that needs no gradient (pixels, token ids); released with the tape if `own`. */
  constant(t: Tensor, own = false): Var {
    if (own) this.owned.push(t);
    return new Var(t, false);
  }

  /** Keeps an intermediate alive until release() (tensors a backward closure reads). */
  keep(t: Tensor): Tensor {
    this.owned.push(t);
    return t;
  }

  /**
   * Wraps an op output. When any input requires a gradient, `backward` is recorded: it receives
   * the output gradient (owned by the tape, valid during the call) and hands input gradients to
   * addGrad.
   */
  record(value: Tensor, inputs: readonly (Var | undefined)[], backward: (grad: Tensor) => void): Var {
    if (this.state !== 'recording') throw new AutogradError('tape', `cannot record after backward() or release() (state: ${this.state})`, { hint: 'use a new Tape per step' });
    this.owned.push(value);
    const needs = inputs.some((v) => v?.requiresGrad);
    const out = new Var(value, needs);
    if (needs) this.nodes.push({ out, backward });
    return out;
  }

  /**
   * Adds `g` to v's gradient and takes ownership of `g` (released here when unused). A `borrowed`
   * gradient (still owned by the caller) is copied when it would become v's first gradient.
   */
  addGrad(v: Var | undefined, g: Tensor | undefined, borrowed = false): void {
    if (!g) return;
    if (!v || !v.requiresGrad) {
      if (!borrowed) g.release();
      return;
    }
    if (!v.grad) {
      v.grad = borrowed ? copyTensor(g) : g;
      return;
    }
    accumulate(v.grad, g);
    if (!borrowed) g.release();
  }

  /** Reverse pass from a scalar loss (seed gradient `seed`, default 1). */
  backward(loss: Var, seed = 1): void {
    if (this.state !== 'recording') throw new AutogradError('tape', `backward() already ran or the tape was released (state: ${this.state})`, { hint: 'use a new Tape per step' });
    if (loss.value.size !== 1) throw new AutogradError('backward', `needs a scalar loss, got shape [${loss.value.shape.join(', ')}]`);
    this.state = 'done';
    if (!loss.requiresGrad) return;
    loss.grad = Tensor.from(this.gpu, new Float32Array([seed]), loss.value.shape, 'f32', 'loss.grad');
    for (let i = this.nodes.length - 1; i >= 0; i--) {
      const { out, backward } = this.nodes[i];
      const g = out.grad;
      if (!g) continue;
      backward(g);
      if (!(out instanceof Parameter)) {
        g.release();
        out.grad = null;
      }
    }
    this.nodes.length = 0;
  }

  /** Releases every tensor the tape owns (not parameters or their gradients). */
  release(): void {
    if (this.state === 'released') return;
    this.state = 'released';
    for (const t of this.owned) t.release();
    this.owned.length = 0;
    this.nodes.length = 0;
    this.halves.clear();
  }
}

/** A new tensor with the same contents (recorded copy). */
export function copyTensor(t: Tensor): Tensor {
  const out = Tensor.empty(t.gpu, t.shape, t.dtype, 'copy');
  t.gpu.recorder.copyBuffer(t.buffer, t.byteOffset, out.buffer, 0, Math.ceil(t.byteLength / 4) * 4);
  return out;
}
