// TensorFlow.js peer: the webgpu backend (tfjs-backend-webgpu) in Node on the `webgpu` package
// (it needs navigator.gpu and the GPU* globals, nothing else), the ops a TF.js user would write
// (matMul, conv2d, depthwiseConv2d, layer norm via moments, softmax) and both EchoCLIP towers
// assembled from them with the same weights. TF.js is NHWC-native, so the image tower needs no
// permutes after the first one. Node only.
import type * as TfCore from '@tensorflow/tfjs-core';
import type { ClipConfig } from '../../models/config.js';
import type { HostWeights } from './onnx-towers.js';
import { weight } from './onnx-towers.js';
import { causalMask, transpose2d } from './onnx-layers.js';
import { PeerError } from './ort.js';
import { installNavigatorGpu } from './webgpu-node.js';

export type Tf = typeof TfCore;
type T = TfCore.Tensor;

let loaded: Promise<Tf> | null = null;

/** tfjs-core with the webgpu backend active (once per process). */
export async function loadTfWebGpu(): Promise<Tf> {
  loaded ??= (async () => {
    await installNavigatorGpu();
    const tf = (await import('@tensorflow/tfjs-core')) as Tf;
    await import('@tensorflow/tfjs-backend-webgpu');
    if (!(await tf.setBackend('webgpu'))) throw new PeerError('tfjs webgpu backend', 'failed to initialise (no adapter?)');
    await tf.ready();
    return tf;
  })();
  try {
    return await loaded;
  } catch (e) {
    loaded = null;
    throw e instanceof PeerError ? e : new PeerError('tfjs', `could not be loaded: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
}

/** Submits recorded work and waits for the GPU (no readback): the kernel timing end point. */
export async function tfSync(tf: Tf): Promise<void> {
  // The backend keeps a compute pass open between ops: end it, submit, then wait for the queue.
  const be = tf.backend() as unknown as { commandEncoder?: GPUCommandEncoder | null; endComputePassEncoder(): void; submitQueue(): void; device?: GPUDevice };
  if (!be.device) return; // the CPU backend (tests) has finished when the op returns
  if (be.commandEncoder) {
    be.endComputePassEncoder();
    be.submitQueue();
  }
  await be.device.queue.onSubmittedWorkDone();
}

/** Layer norm over the last axis the TF.js way: moments, then (x − mean)·rsqrt(var + eps)·w + b. */
export function tfLayerNorm(tf: Tf, x: T, w: T, b: T, eps: number): T {
  const { mean, variance } = tf.moments(x, -1, true);
  return tf.add(tf.mul(tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, eps))), w), b);
}

export function tfGelu(tf: Tf, x: T): T {
  return tf.mul(tf.mul(x, tf.add(tf.erf(tf.mul(x, Math.SQRT1_2)), 1)), 0.5);
}

/** x [rows, in] · wT [in, out] + b. */
export function tfLinear(tf: Tf, x: T, wT: T, b?: T): T {
  const y = tf.matMul(x as TfCore.Tensor2D, wT as TfCore.Tensor2D);
  return b ? tf.add(y, b) : y;
}

export interface TfMha {
  inT: T;
  inB: T;
  outT: T;
  outB: T;
}

/** Causal MHA on x [B·T, D] → [B·T, D] with its projections; mask [T, T] additive. */
export function tfMha(tf: Tf, x: T, w: TfMha, B: number, Tn: number, D: number, heads: number, mask: T): T {
  const dh = D / heads;
  const qkv = tf.transpose(tf.reshape(tfLinear(tf, x, w.inT, w.inB), [B, Tn, 3, heads, dh]), [2, 0, 3, 1, 4]);
  const [q, k, v] = tf.split(qkv, 3, 0).map((t) => tf.reshape(t, [B * heads, Tn, dh]) as TfCore.Tensor3D);
  const s = tf.add(tf.mul(tf.matMul(q, k, false, true), 1 / Math.sqrt(dh)), mask);
  const o = tf.matMul(tf.softmax(s) as TfCore.Tensor3D, v);
  const merged = tf.reshape(tf.transpose(tf.reshape(o, [B, heads, Tn, dh]), [0, 2, 1, 3]), [B * Tn, D]);
  return tfLinear(tf, merged, w.outT, w.outB);
}

/** PyTorch conv weight [Cout, Cin, k, k] → TF.js conv2d filter [k, k, Cin, Cout]. */
export function convFilter(w: Float32Array, cout: number, cin: number, k: number): Float32Array {
  const out = new Float32Array(w.length);
  for (let o = 0; o < cout; o++) for (let i = 0; i < cin; i++) for (let y = 0; y < k; y++) for (let x = 0; x < k; x++) out[((y * k + x) * cin + i) * cout + o] = w[((o * cin + i) * k + y) * k + x];
  return out;
}

/** PyTorch depthwise weight [C, 1, k, k] → TF.js depthwiseConv2d filter [k, k, C, 1]. */
export function depthwiseFilter(w: Float32Array, C: number, k: number): Float32Array {
  return transpose2d(w, C, k * k);
}

export interface TfTower {
  /** Host input → host features [N, embed] (includes upload and readback, like our host API). */
  run(input: Float32Array | Int32Array): Promise<Float32Array>;
  release(): void;
}

/** Uploads the weights once and returns the tower; intermediates are freed by tf.tidy. */
export function tfImageTower(tf: Tf, w: HostWeights, config: ClipConfig, batch: number): TfTower {
  const v = config.vision;
  const eps = v.layerNormEps;
  const held: T[] = [];
  const up = (data: Float32Array, shape: number[]) => {
    const t = tf.tensor(data, shape);
    held.push(t);
    return t;
  };
  const W = (n: string) => weight(w, `visual.${n}`);
  const vec = (n: string) => up(W(n), [W(n).length]);
  const conv = (n: string, cout: number, cin: number, k: number) => ({ f: up(convFilter(W(`${n}.weight`), cout, cin, k), [k, k, cin, cout]), b: vec(`${n}.bias`) });
  const stem = conv('trunk.stem.0', v.dims[0], 3, 4);
  const stemLn = { w: vec('trunk.stem.1.weight'), b: vec('trunk.stem.1.bias') };
  const stages = v.depths.map((depth, s) => {
    const sp = `trunk.stages.${s}`;
    const C = v.dims[s];
    const down = s > 0 ? { ln: { w: vec(`${sp}.downsample.0.weight`), b: vec(`${sp}.downsample.0.bias`) }, conv: conv(`${sp}.downsample.1`, C, v.dims[s - 1], 2) } : null;
    const blocks = Array.from({ length: depth }, (_, b) => {
      const bp = `${sp}.blocks.${b}`;
      return {
        dw: up(depthwiseFilter(W(`${bp}.conv_dw.weight`), C, 7), [7, 7, C, 1]),
        dwB: vec(`${bp}.conv_dw.bias`),
        lnW: vec(`${bp}.norm.weight`),
        lnB: vec(`${bp}.norm.bias`),
        fc1: up(transpose2d(W(`${bp}.mlp.fc1.weight`), 4 * C, C), [C, 4 * C]),
        fc1B: vec(`${bp}.mlp.fc1.bias`),
        fc2: up(transpose2d(W(`${bp}.mlp.fc2.weight`), C, 4 * C), [4 * C, C]),
        fc2B: vec(`${bp}.mlp.fc2.bias`),
        gamma: vec(`${bp}.gamma`),
      };
    });
    return { C, down, blocks };
  });
  const headLn = { w: vec('trunk.head.norm.weight'), b: vec('trunk.head.norm.bias') };
  const proj = up(transpose2d(W('head.proj.weight'), config.embedDim, v.dims[3]), [v.dims[3], config.embedDim]);
  const S = v.imageSize;

  const forward = (px: T): T => {
    let x = tf.add(tf.conv2d(tf.transpose(px, [0, 2, 3, 1]) as TfCore.Tensor4D, stem.f as TfCore.Tensor4D, 4, 'valid'), stem.b);
    x = tfLayerNorm(tf, x, stemLn.w, stemLn.b, eps);
    for (const st of stages) {
      if (st.down) x = tf.add(tf.conv2d(tfLayerNorm(tf, x, st.down.ln.w, st.down.ln.b, eps) as TfCore.Tensor4D, st.down.conv.f as TfCore.Tensor4D, 2, 'valid'), st.down.conv.b);
      for (const b of st.blocks) {
        const [n, h, wd] = x.shape;
        let y = tf.add(tf.depthwiseConv2d(x as TfCore.Tensor4D, b.dw as TfCore.Tensor4D, 1, 'same'), b.dwB);
        y = tf.reshape(tfLayerNorm(tf, y, b.lnW, b.lnB, eps), [n * h * wd, st.C]);
        y = tfLinear(tf, tfGelu(tf, tfLinear(tf, y, b.fc1, b.fc1B)), b.fc2, b.fc2B);
        x = tf.add(x, tf.reshape(tf.mul(y, b.gamma), x.shape));
      }
    }
    const pooled = tf.mean(x, [1, 2]);
    return tfLinear(tf, tfLayerNorm(tf, pooled, headLn.w, headLn.b, eps), proj);
  };
  return {
    async run(input) {
      const out = tf.tidy(() => forward(tf.tensor(input as Float32Array, [batch, 3, S, S])));
      const data = (await out.data()) as Float32Array;
      out.dispose();
      return data;
    },
    release: () => held.forEach((t) => t.dispose()),
  };
}

export function tfTextTower(tf: Tf, w: HostWeights, config: ClipConfig, batch: number): TfTower {
  const t = config.text;
  const { width: D, contextLength: Tn, heads } = t;
  const Hm = Math.round(t.mlpRatio * D);
  const held: T[] = [];
  const up = (data: Float32Array | Int32Array, shape: number[], dtype?: 'int32') => {
    const x = tf.tensor(data, shape, dtype);
    held.push(x);
    return x;
  };
  const W = (n: string) => weight(w, n);
  const vec = (n: string) => up(W(n), [W(n).length]);
  const tok = up(W('token_embedding.weight'), [t.vocabSize, D]);
  const pos = up(W('positional_embedding'), [Tn, D]);
  const mask = up(causalMask(Tn), [Tn, Tn]);
  const layers = Array.from({ length: t.layers }, (_, l) => {
    const q = `transformer.resblocks.${l}`;
    return {
      ln1W: vec(`${q}.ln_1.weight`), ln1B: vec(`${q}.ln_1.bias`),
      attn: { inT: up(transpose2d(W(`${q}.attn.in_proj_weight`), 3 * D, D), [D, 3 * D]), inB: vec(`${q}.attn.in_proj_bias`), outT: up(transpose2d(W(`${q}.attn.out_proj.weight`), D, D), [D, D]), outB: vec(`${q}.attn.out_proj.bias`) },
      ln2W: vec(`${q}.ln_2.weight`), ln2B: vec(`${q}.ln_2.bias`),
      fcT: up(transpose2d(W(`${q}.mlp.c_fc.weight`), Hm, D), [D, Hm]), fcB: vec(`${q}.mlp.c_fc.bias`),
      projT: up(transpose2d(W(`${q}.mlp.c_proj.weight`), D, Hm), [Hm, D]), projB: vec(`${q}.mlp.c_proj.bias`),
    };
  });
  const lnfW = vec('ln_final.weight');
  const lnfB = vec('ln_final.bias');
  const textProj = up(W('text_projection'), [D, config.embedDim]);
  const offsets = up(Int32Array.from({ length: batch }, (_, i) => i * Tn), [batch], 'int32');
  const eps = t.layerNormEps;

  const forward = (ids: T): T => {
    let x = tf.reshape(tf.add(tf.reshape(tf.gather(tok, tf.reshape(ids, [batch * Tn])), [batch, Tn, D]), pos), [batch * Tn, D]);
    for (const L of layers) {
      x = tf.add(x, tfMha(tf, tfLayerNorm(tf, x, L.ln1W, L.ln1B, eps), L.attn, batch, Tn, D, heads, mask));
      x = tf.add(x, tfLinear(tf, tfGelu(tf, tfLinear(tf, tfLayerNorm(tf, x, L.ln2W, L.ln2B, eps), L.fcT, L.fcB)), L.projT, L.projB));
    }
    const lnf = tfLayerNorm(tf, x, lnfW, lnfB, eps);
    const rows = tf.add(tf.cast(tf.argMax(ids, 1), 'int32'), offsets);
    return tf.matMul(tf.gather(lnf, rows) as TfCore.Tensor2D, textProj as TfCore.Tensor2D);
  };
  return {
    async run(input) {
      const out = tf.tidy(() => forward(tf.tensor(input as Int32Array, [batch, Tn], 'int32')));
      const data = (await out.data()) as Float32Array;
      out.dispose();
      return data;
    },
    release: () => held.forEach((x) => x.dispose()),
  };
}
