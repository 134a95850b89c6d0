// Kernel-level cases at the full-size EchoCLIP shapes, each with our kernel, a single-operator
// ONNX graph (MatMul, Gemm, Conv, grouped Conv, LayerNormalization, Softmax, attention as ops) and
// the TF.js op a user would call. Ours run in our layouts (NHWC activations, packed weights); the
// peers get theirs (ONNX: NCHW) and their outputs are converted back for the equality check.
import type { Gpu } from '../../gpu/device.js';
import { Tensor } from '../../gpu/tensor.js';
import { multiHeadAttention } from '../../kernels/attention.js';
import { packConv2dWeight, patchConv2d, permuteHost } from '../../kernels/conv2d.js';
import { defaultDepthwiseTile, depthwiseConv2d, depthwiseTileLabel, packDepthwiseWeight } from '../../kernels/depthwise.js';
import { defaultRowVariant, layerNorm } from '../../kernels/layernorm.js';
import { defaultMatmulVariant, linear, matmul } from '../../kernels/gemm/index.js';
import { softmax } from '../../kernels/softmax.js';
import { seeded } from '../harness.js';
import type { PeerCase, Runner } from './compare.js';
import { OnnxGraphBuilder } from './onnx.js';
import { causalMask, mhaOnnx, transpose2d } from './onnx-layers.js';
import { convFilter, depthwiseFilter, tfMha, tfSync, type Tf } from './tfjs.js';
import type * as TfCore from '@tensorflow/tfjs-core';

const SUITE = 'kernels';

/** Deterministic values in [-0.5, 0.5) (LCG), scaled. */

/** Our kernel as a Runner: `record` writes into `out`; one step = record + wait for the GPU. */
function oursKernel(gpu: Gpu, held: Tensor[], out: Tensor, record: () => void): Runner {
  return {
    async step() {
      record();
      await gpu.sync();
    },
    output: () => out.toFloat32(),
    release: () => [...held, out].forEach((t) => t.release()),
  };
}

/** A TF.js op as a Runner: intermediates freed by tidy; one step = run + wait for the GPU. */
function tfKernel(tf: Tf, held: TfCore.Tensor[], op: () => TfCore.Tensor, toOurs?: (y: Float32Array) => Float32Array): Runner {
  let y: TfCore.Tensor | null = null;
  return {
    async step() {
      y?.dispose();
      y = tf.tidy(op);
      await tfSync(tf);
    },
    async output() {
      if (!y) throw new Error('output() before step()');
      const d = (await y.data()) as Float32Array;
      return toOurs ? toOurs(d) : d;
    },
    release: () => [...held, ...(y ? [y] : [])].forEach((t) => t.dispose()),
  };
}

const nhwcToNchw = (x: Float32Array, N: number, H: number, W: number, C: number) => permuteHost(x, [N, H, W, C], [0, 3, 1, 2]).data;
const nchwToNhwc = (x: Float32Array, N: number, C: number, H: number, W: number) => permuteHost(x, [N, C, H, W], [0, 2, 3, 1]).data;

export function matmulCase(n: number): PeerCase {
  const a = seeded(n * n, 1), b = seeded(n * n, 2);
  return {
    suite: SUITE, name: 'matmul', shape: `${n}x${n}x${n}`, dtype: 'f32', flops: 2 * n ** 3, rtol: 1e-4, oursVariant: 'default',
    async ours(gpu) {
      const [A, B, C] = [Tensor.from(gpu, a, [n, n]), Tensor.from(gpu, b, [n, n]), Tensor.empty(gpu, [n, n])];
      this.oursVariant = defaultMatmulVariant(gpu);
      return oursKernel(gpu, [A, B], C, () => void matmul(A, B, { out: C }));
    },
    onnx() {
      const g = new OnnxGraphBuilder();
      g.op('MatMul', [g.input('a', 'float32', [n, n]), g.input('b', 'float32', [n, n])], undefined, 'y');
      g.output('y', 'float32', [n, n]);
      return { model: g.toBytes(), feeds: [{ name: 'a', data: a, dims: [n, n] }, { name: 'b', data: b, dims: [n, n] }] };
    },
    tf(tf) {
      const [A, B] = [tf.tensor2d(a, [n, n]), tf.tensor2d(b, [n, n])];
      return tfKernel(tf, [A, B], () => tf.matMul(A, B));
    },
  };
}

/** y = x·Wᵀ + b (nn.Linear; Gemm transB=1 in ONNX). */
export function linearCase(label: string, rows: number, inF: number, outF: number): PeerCase {
  const x = seeded(rows * inF, 3), w = seeded(outF * inF, 4, 0.2), b = seeded(outF, 5);
  return {
    suite: SUITE, name: `linear ${label}`, shape: `${rows}x${inF}->${outF}`, dtype: 'f32', flops: 2 * rows * inF * outF, bytes: 4 * (rows * inF + outF * inF + rows * outF), rtol: 1e-4, oursVariant: 'default',
    async ours(gpu) {
      const [X, Wt, B, Y] = [Tensor.from(gpu, x, [rows, inF]), Tensor.from(gpu, w, [outF, inF]), Tensor.from(gpu, b, [outF]), Tensor.empty(gpu, [rows, outF])];
      this.oursVariant = defaultMatmulVariant(gpu);
      return oursKernel(gpu, [X, Wt, B], Y, () => void linear(X, Wt, B, { out: Y }));
    },
    onnx() {
      const g = new OnnxGraphBuilder();
      g.op('Gemm', [g.input('x', 'float32', [rows, inF]), g.init('w', w, [outF, inF]), g.init('b', b, [outF])], { transB: 1 }, 'y');
      g.output('y', 'float32', [rows, outF]);
      return { model: g.toBytes(), feeds: [{ name: 'x', data: x, dims: [rows, inF] }] };
    },
    tf(tf) {
      const [X, Wt, B] = [tf.tensor2d(x, [rows, inF]), tf.tensor2d(transpose2d(w, outF, inF), [inF, outF]), tf.tensor1d(b)];
      return tfKernel(tf, [X, Wt, B], () => tf.add(tf.matMul(X, Wt), B));
    },
  };
}

/** Patchify conv k×k stride k: the stem (NCHW pixels in) or a downsample (NHWC in). */
export function patchConvCase(label: string, layout: 'nchw' | 'nhwc', H: number, Cin: number, Cout: number, k: number): PeerCase {
  const Ho = H / k;
  const x = seeded(H * H * Cin, 6); // in `layout`
  const w = seeded(Cout * Cin * k * k, 7, 0.2); // PyTorch [Cout, Cin, k, k]
  const b = seeded(Cout, 8);
  const xNchw = layout === 'nchw' ? x : nhwcToNchw(x, 1, H, H, Cin);
  const xNhwc = layout === 'nhwc' ? x : nchwToNhwc(x, 1, Cin, H, H);
  return {
    suite: SUITE, name: `conv ${label} k${k}s${k}`, shape: `${H}x${H}x${Cin}->${Ho}x${Ho}x${Cout}`, dtype: 'f32',
    flops: 2 * Ho * Ho * Cout * Cin * k * k, bytes: 4 * (x.length + w.length + Ho * Ho * Cout), rtol: 1e-4, oursVariant: `implicit gemm, ${layout} in`,
    async ours(gpu) {
      const packed = layout === 'nhwc' ? packConv2dWeight(w, [Cout, Cin, k, k]) : { data: w, shape: [Cout, Cin, k, k] };
      const X = Tensor.from(gpu, x, layout === 'nchw' ? [1, Cin, H, H] : [1, H, H, Cin]);
      const [Wt, B, Y] = [Tensor.from(gpu, packed.data, packed.shape), Tensor.from(gpu, b, [Cout]), Tensor.empty(gpu, [1, Ho, Ho, Cout])];
      return oursKernel(gpu, [X, Wt, B], Y, () => void patchConv2d(X, Wt, { inputLayout: layout, bias: B, out: Y }));
    },
    onnx() {
      const g = new OnnxGraphBuilder();
      g.op('Conv', [g.input('x', 'float32', [1, Cin, H, H]), g.init('w', w, [Cout, Cin, k, k]), g.init('b', b, [Cout])], { kernel_shape: [k, k], strides: [k, k] }, 'y');
      g.output('y', 'float32', [1, Cout, Ho, Ho]);
      return { model: g.toBytes(), feeds: [{ name: 'x', data: xNchw, dims: [1, Cin, H, H] }], toOurs: (y) => nchwToNhwc(y, 1, Cout, Ho, Ho) };
    },
    tf(tf) {
      const [X, F, B] = [tf.tensor4d(xNhwc, [1, H, H, Cin]), tf.tensor4d(convFilter(w, Cout, Cin, k), [k, k, Cin, Cout]), tf.tensor1d(b)];
      return tfKernel(tf, [X, F, B], () => tf.add(tf.conv2d(X, F, k, 'valid'), B));
    },
  };
}

/** ConvNeXt's 7×7 depthwise conv, pad 3, with bias. */
export function depthwiseCase(H: number, C: number): PeerCase {
  const x = seeded(H * H * C, 9); // NHWC
  const w = seeded(C * 49, 10, 0.3); // [C, 1, 7, 7]
  const b = seeded(C, 11);
  return {
    suite: SUITE, name: 'depthwise conv 7x7', shape: `${H}x${H}x${C}`, dtype: 'f32', flops: 2 * 49 * H * H * C, bytes: 4 * (2 * H * H * C + 49 * C), rtol: 1e-4, oursVariant: 'default',
    async ours(gpu) {
      const wp = packDepthwiseWeight(w, [C, 1, 7, 7]);
      const [X, Wt, B, Y] = [Tensor.from(gpu, x, [1, H, H, C]), Tensor.from(gpu, wp.data, wp.shape), Tensor.from(gpu, b, [C]), Tensor.empty(gpu, [1, H, H, C])];
      this.oursVariant = depthwiseTileLabel(defaultDepthwiseTile(gpu));
      return oursKernel(gpu, [X, Wt, B], Y, () => void depthwiseConv2d(X, Wt, { bias: B, out: Y }));
    },
    onnx() {
      const g = new OnnxGraphBuilder();
      g.op('Conv', [g.input('x', 'float32', [1, C, H, H]), g.init('w', w, [C, 1, 7, 7]), g.init('b', b, [C])], { kernel_shape: [7, 7], pads: [3, 3, 3, 3], group: C }, 'y');
      g.output('y', 'float32', [1, C, H, H]);
      return { model: g.toBytes(), feeds: [{ name: 'x', data: nhwcToNchw(x, 1, H, H, C), dims: [1, C, H, H] }], toOurs: (y) => nchwToNhwc(y, 1, C, H, H) };
    },
    tf(tf) {
      const [X, F, B] = [tf.tensor4d(x, [1, H, H, C]), tf.tensor4d(depthwiseFilter(w, C, 7), [7, 7, C, 1]), tf.tensor1d(b)];
      return tfKernel(tf, [X, F, B], () => tf.add(tf.depthwiseConv2d(X, F, 1, 'same'), B));
    },
  };
}

/** LayerNorm over the last axis (ConvNeXt eps 1e-6). */
export function layerNormCase(R: number, C: number, eps = 1e-6): PeerCase {
  const x = seeded(R * C, 12, 4), w = seeded(C, 13), b = seeded(C, 14);
  return {
    suite: SUITE, name: 'layernorm', shape: `${R}x${C}`, dtype: 'f32', bytes: 8 * R * C, rtol: 1e-4, oursVariant: 'default',
    async ours(gpu) {
      const [X, Wt, B, Y] = [Tensor.from(gpu, x, [R, C]), Tensor.from(gpu, w, [C]), Tensor.from(gpu, b, [C]), Tensor.empty(gpu, [R, C])];
      this.oursVariant = defaultRowVariant(gpu);
      return oursKernel(gpu, [X, Wt, B], Y, () => void layerNorm(X, Wt, B, { eps, out: Y }));
    },
    onnx() {
      const g = new OnnxGraphBuilder();
      g.op('LayerNormalization', [g.input('x', 'float32', [R, C]), g.init('w', w, [C]), g.init('b', b, [C])], { axis: -1, epsilon: { float: eps } }, 'y');
      g.output('y', 'float32', [R, C]);
      return { model: g.toBytes(), feeds: [{ name: 'x', data: x, dims: [R, C] }] };
    },
    tf(tf) {
      const [X, Wt, B] = [tf.tensor2d(x, [R, C]), tf.tensor1d(w), tf.tensor1d(b)];
      return tfKernel(tf, [X, Wt, B], () => {
        const { mean, variance } = tf.moments(X, -1, true);
        return tf.add(tf.mul(tf.mul(tf.sub(X, mean), tf.rsqrt(tf.add(variance, eps))), Wt), B);
      });
    },
  };
}

/** Causal softmax over attention scores [B·heads, T, T] (peers: mask add + Softmax). */
export function softmaxCase(rows: number, T: number): PeerCase {
  const x = seeded(rows * T * T, 15, 8);
  return {
    suite: SUITE, name: 'softmax causal', shape: `${rows}x${T}x${T}`, dtype: 'f32', bytes: 8 * rows * T * T, rtol: 1e-5, oursVariant: 'default',
    async ours(gpu) {
      const [X, Y] = [Tensor.from(gpu, x, [rows, T, T]), Tensor.empty(gpu, [rows, T, T])];
      this.oursVariant = defaultRowVariant(gpu);
      return oursKernel(gpu, [X], Y, () => void softmax(X, { causal: true, out: Y }));
    },
    onnx() {
      const g = new OnnxGraphBuilder();
      g.op('Softmax', [g.op('Add', [g.input('x', 'float32', [rows, T, T]), g.init('mask', causalMask(T), [T, T])])], { axis: -1 }, 'y');
      g.output('y', 'float32', [rows, T, T]);
      return { model: g.toBytes(), feeds: [{ name: 'x', data: x, dims: [rows, T, T] }] };
    },
    tf(tf) {
      const [X, M] = [tf.tensor3d(x, [rows, T, T]), tf.tensor2d(causalMask(T), [T, T])];
      return tfKernel(tf, [X, M], () => tf.softmax(tf.add(X, M)));
    },
  };
}

/** nn.MultiheadAttention with projections, causal (the text tower's attention). */
export function mhaCase(B: number, T = 77, D = 512, heads = 8): PeerCase {
  const x = seeded(B * T * D, 16);
  const w = { inProjWeight: seeded(3 * D * D, 17, 0.1), inProjBias: seeded(3 * D, 18, 0.1), outProjWeight: seeded(D * D, 19, 0.1), outProjBias: seeded(D, 20, 0.1) };
  const dh = D / heads;
  const flops = 2 * B * heads * T * T * dh * 2 + 2 * B * T * D * 4 * D;
  return {
    suite: SUITE, name: 'multi-head attention', shape: `B${B}xT${T}x${heads}h${dh}`, dtype: 'f32', flops, rtol: 1e-4, oursVariant: 'fused core',
    async ours(gpu) {
      const W = { inProjWeight: Tensor.from(gpu, w.inProjWeight, [3 * D, D]), inProjBias: Tensor.from(gpu, w.inProjBias, [3 * D]), outProjWeight: Tensor.from(gpu, w.outProjWeight, [D, D]), outProjBias: Tensor.from(gpu, w.outProjBias, [D]) };
      const [X, Y] = [Tensor.from(gpu, x, [B, T, D]), Tensor.empty(gpu, [B, T, D])];
      return oursKernel(gpu, [X, ...Object.values(W)], Y, () => void multiHeadAttention(X, W, { heads, causal: true, out: Y }));
    },
    onnx() {
      const g = new OnnxGraphBuilder();
      const mask = g.init('mask', causalMask(T), [T, T]);
      mhaOnnx(g, g.input('x', 'float32', [B, T, D]), 'attn', w, B, T, D, heads, mask);
      g.renameLastOutput('y');
      g.output('y', 'float32', [B, T, D]);
      return { model: g.toBytes(), feeds: [{ name: 'x', data: x, dims: [B, T, D] }] };
    },
    tf(tf) {
      const W = { inT: tf.tensor2d(transpose2d(w.inProjWeight, 3 * D, D), [D, 3 * D]), inB: tf.tensor1d(w.inProjBias), outT: tf.tensor2d(transpose2d(w.outProjWeight, D, D), [D, D]), outB: tf.tensor1d(w.outProjBias) };
      const [X, M] = [tf.tensor2d(x, [B * T, D]), tf.tensor2d(causalMask(T), [T, T])];
      return tfKernel(tf, [X, M, ...Object.values(W)], () => tfMha(tf, X, W, B, T, D, heads, M));
    },
  };
}

/** Every kernel case at the full-size shapes; `textBatches` adds larger prompt batches (real GPUs). */
export function kernelCases(textBatches: readonly number[] = [1]): PeerCase[] {
  return [
    matmulCase(1024),
    linearCase('convnext s0 fc1', 3136, 128, 512),
    linearCase('convnext s0 fc2', 3136, 512, 128),
    linearCase('convnext s3 fc1', 49, 1024, 4096),
    linearCase('text in_proj', 77, 512, 1536),
    linearCase('text mlp fc1', 77, 512, 2048),
    patchConvCase('stem', 'nchw', 224, 3, 128, 4),
    patchConvCase('downsample s1', 'nhwc', 56, 128, 256, 2),
    patchConvCase('downsample s2', 'nhwc', 28, 256, 512, 2),
    patchConvCase('downsample s3', 'nhwc', 14, 512, 1024, 2),
    ...[[56, 128], [28, 256], [14, 512], [7, 1024]].map(([H, C]) => depthwiseCase(H, C)),
    ...[[3136, 128], [784, 256], [196, 512], [49, 1024]].map(([R, C]) => layerNormCase(R, C)),
    ...textBatches.flatMap((B) => [layerNormCase(77 * B, 512, 1e-5), softmaxCase(8 * B, 77), mhaCase(B)]),
  ];
}
