// Differentiable ops: each runs the forward kernel, and records the matching backward kernels
// (src/kernels/*-backward.ts) on the tape. Only gradients that some input needs are computed,
// so frozen parameters cost no weight-gradient GEMMs.
import { ShapeError } from '../errors.js';
import { Tensor } from '../gpu/tensor.js';
import { attentionCoreBackward } from '../kernels/attention-backward.js';
import { attentionCore } from '../kernels/attention.js';
import { clipLossBackward } from '../kernels/contrastive-backward.js';
import { clipLossFromFeatures } from '../kernels/contrastive.js';
import { patchConv2dBackward } from '../kernels/conv2d-backward.js';
import { patchConv2d as patchConv2dKernel, type ConvInputLayout } from '../kernels/conv2d.js';
import { depthwiseConv2dBackward } from '../kernels/depthwise-backward.js';
import { depthwiseConv2d as depthwiseKernel } from '../kernels/depthwise.js';
import { geluBackward, mulColumns, scaleSamples } from '../kernels/elementwise-backward.js';
import { add as addKernel, gelu as geluKernel } from '../kernels/elementwise.js';
import { tokenEmbeddingBackward } from '../kernels/embedding-backward.js';
import { tokenEmbedding as embeddingKernel } from '../kernels/embedding.js';
import { layerNormBackward } from '../kernels/layernorm-backward.js';
import { layerNorm as layerNormKernel } from '../kernels/layernorm.js';
import { columnSum, linearBackward, matmulBackward } from '../kernels/matmul-backward.js';
import { linear as linearKernel, matmul as matmulKernel } from '../kernels/gemm/index.js';
import { argmaxPoolBackward, globalAvgPoolBackward, l2NormalizeBackward } from '../kernels/pooling-backward.js';
import { argmaxPool as argmaxPoolKernel, globalAvgPool as avgPoolKernel, l2Normalize as l2Kernel } from '../kernels/pooling.js';
import type { FloatDType } from '../kernels/wgsl.js';
import type { Tape, Var } from './tape.js';

/**
 * Output dtype of an op (default: the tape's activation dtype — f16 in mixed precision). Ops whose
 * output joins a residual stream, the features or the loss ask for 'f32'.
 */
export interface OutputOptions {
  dtype?: FloatDType;
}

/** torch Linear: x [..., in] · weightᵀ [out, in] (+ bias). */
export function linear(t: Tape, x: Var, weight: Var, bias?: Var, opts: OutputOptions = {}): Var {
  const w = t.matrixWeight(weight);
  const y = linearKernel(x.value, w, bias?.value, { dtype: opts.dtype ?? t.activationDType });
  return t.record(y, [x, weight, bias], (g) => {
    const r = linearBackward(x.value, w, g, { dx: x.requiresGrad, dweight: weight.requiresGrad, dbias: !!bias?.requiresGrad });
    t.addGrad(x, r.dx);
    t.addGrad(weight, r.dweight);
    t.addGrad(bias, r.dbias);
  });
}

/** A [M, K] · B [K, N] (B a weight: its f16 copy in mixed precision). */
export function matmul(t: Tape, a: Var, b: Var, opts: OutputOptions = {}): Var {
  const bv = t.matrixWeight(b);
  const y = matmulKernel(a.value, bv, { dtype: opts.dtype ?? t.activationDType });
  return t.record(y, [a, b], (g) => {
    const r = matmulBackward(a.value, bv, g, { da: a.requiresGrad, db: b.requiresGrad });
    t.addGrad(a, r.da);
    t.addGrad(b, r.db);
  });
}

/** Exact (erf) GELU. */
export function gelu(t: Tape, x: Var): Var {
  return t.record(geluKernel(x.value), [x], (g) => t.addGrad(x, geluBackward(x.value, g)));
}

export function add(t: Tape, a: Var, b: Var): Var {
  return t.record(addKernel(a.value, b.value), [a, b], (g) => {
    t.addGrad(a, g, true);
    t.addGrad(b, g, true);
  });
}

/** x ⊙ gamma along the last axis (ConvNeXt layer scale). */
export function layerScale(t: Tape, x: Var, gamma: Var): Var {
  return t.record(mulColumns(x.value, gamma.value), [x, gamma], (g) => {
    if (x.requiresGrad) t.addGrad(x, mulColumns(g, gamma.value));
    if (gamma.requiresGrad) t.addGrad(gamma, columnSum(g, { times: x.value }));
  });
}

/**
 * Stochastic depth: sample n of x scaled by factors[n] (0 = dropped, 1/keep = kept). `null`
 * factors (eval mode, or rate 0) is the identity and records nothing.
 */
export function dropPath(t: Tape, x: Var, factors: Float32Array | null): Var {
  if (!factors) return x;
  if (factors.length !== x.value.shape[0]) throw new ShapeError('dropPath', `needs one factor per sample (${x.value.shape[0]}), got ${factors.length}`);
  const f = t.keep(Tensor.from(t.gpu, factors, [factors.length], 'f32', 'drop-path.factors'));
  return t.record(scaleSamples(x.value, f), [x], (g) => t.addGrad(x, scaleSamples(g, f)));
}

/** LayerNorm over the last axis; statistics in f32 whatever the storage dtypes. */
export function layerNorm(t: Tape, x: Var, weight: Var, bias: Var, eps: number, opts: OutputOptions = {}): Var {
  const y = layerNormKernel(x.value, weight.value, bias.value, { eps, dtype: opts.dtype ?? t.activationDType });
  return t.record(y, [x, weight, bias], (g) => {
    const r = layerNormBackward(x.value, weight.value, g, { eps });
    t.addGrad(x, r.dx);
    t.addGrad(weight, r.dweight);
    t.addGrad(bias, r.dbias);
  });
}

/** Stride = kernel convolution (stem / downsample), NHWC output. */
export function patchConv2d(t: Tape, x: Var, weight: Var, bias: Var, inputLayout: ConvInputLayout, opts: OutputOptions = {}): Var {
  const w = t.matrixWeight(weight);
  const y = patchConv2dKernel(x.value, w, { inputLayout, bias: bias.value, dtype: opts.dtype ?? t.activationDType });
  return t.record(y, [x, weight, bias], (g) => {
    const r = patchConv2dBackward(x.value, w, g, { inputLayout, dx: x.requiresGrad, dweight: weight.requiresGrad, dbias: bias.requiresGrad });
    t.addGrad(x, r.dx);
    t.addGrad(weight, r.dweight);
    t.addGrad(bias, r.dbias);
  });
}

/** Depthwise 7×7 (tap-major weight), "same" padding. */
export function depthwiseConv2d(t: Tape, x: Var, weight: Var, bias: Var, opts: OutputOptions = {}): Var {
  const w = t.matrixWeight(weight);
  const y = depthwiseKernel(x.value, w, { bias: bias.value, dtype: opts.dtype ?? t.activationDType });
  return t.record(y, [x, weight, bias], (g) => {
    const r = depthwiseConv2dBackward(x.value, w, g, { dx: x.requiresGrad, dweight: weight.requiresGrad, dbias: bias.requiresGrad });
    t.addGrad(x, r.dx);
    t.addGrad(weight, r.dweight);
    t.addGrad(bias, r.dbias);
  });
}

/** Global average pool NHWC [N, H, W, C] → [N, C]. */
export function globalAvgPool(t: Tape, x: Var): Var {
  return t.record(avgPoolKernel(x.value), [x], (g) => t.addGrad(x, globalAvgPoolBackward(g, x.value.shape)));
}

/** Token + positional embedding; `ids` is the host copy of `idsTensor` (for the inverted index). */
export function tokenEmbedding(t: Tape, ids: Int32Array, idsTensor: Tensor, weight: Var, pos: Var): Var {
  const y = embeddingKernel(idsTensor, weight.value, pos.value);
  const [B, T] = idsTensor.shape;
  return t.record(y, [weight, pos], (g) => {
    const r = tokenEmbeddingBackward(t.gpu, ids, [B, T], g, weight.value.shape[0], pos.value.shape[0], { dweight: weight.requiresGrad, dpos: pos.requiresGrad });
    t.addGrad(weight, r.dweight);
    t.addGrad(pos, r.dpos);
  });
}

/** The fused causal attention core on packed qkv [B, T, 3D]. */
export function attention(t: Tape, qkv: Var, heads: number): Var {
  const y = attentionCore(qkv.value, { heads, causal: true });
  return t.record(y, [qkv], (g) => t.addGrad(qkv, attentionCoreBackward(qkv.value, y, g, { heads, causal: true })));
}

/** x [B, T, D] at each row's argmax token → [B, D]. */
export function argmaxPool(t: Tape, x: Var, tokens: Tensor): Var {
  return t.record(argmaxPoolKernel(x.value, tokens), [x], (g) => t.addGrad(x, argmaxPoolBackward(g, tokens)));
}

export function l2Normalize(t: Tape, x: Var): Var {
  return t.record(l2Kernel(x.value), [x], (g) => t.addGrad(x, l2NormalizeBackward(x.value, g)));
}

/** open_clip ClipLoss on paired (normalised) features with the raw logit_scale → scalar. */
export function clipLoss(t: Tape, image: Var, text: Var, logitScale: Var): Var {
  const y = clipLossFromFeatures(image.value, text.value, logitScale.value);
  return t.record(y, [image, text, logitScale], (g) => {
    const r = clipLossBackward(image.value, text.value, logitScale.value, g);
    t.addGrad(image, r.dimage);
    t.addGrad(text, r.dtext);
    t.addGrad(logitScale, r.dlogitScale);
  });
}

/** A view of x in another shape (same number of values). */
export function reshape(t: Tape, x: Var, shape: readonly number[]): Var {
  return t.record(x.value.reshape(shape), [x], (g) => t.addGrad(x, g.reshape(x.value.shape), true));
}
