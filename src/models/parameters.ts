// Uploads a state dict to the GPU, tensor by tensor (a 606 MB file is never held twice: each
// tensor is read, converted, uploaded and dropped before the next). Layout changes the kernels
// need (conv weights for NHWC patchify) happen here, once, on the host.
import type { Gpu } from '../gpu/device.js';
import { Tensor } from '../gpu/tensor.js';
import { convertFloat, toFloat32 } from '../io/dtype.js';
import type { TensorSource } from '../io/source.js';
import { packConv2dWeight } from '../kernels/conv2d.js';
import { packDepthwiseWeight } from '../kernels/depthwise.js';
import { expectedStateDict, validateStateDict, type ClipConfig } from './config.js';

export type WeightDType = 'f32' | 'f16';

export interface ParameterStore {
  get(name: string): Tensor;
  readonly names: readonly string[];
  /** Bytes of GPU memory the parameters occupy. */
  readonly bytes: number;
  release(): void;
}

/** How a state-dict tensor is stored on the GPU. */
export interface ParameterPlan {
  /** f16 storage (only where the consuming kernel reads f16 weights). */
  half: boolean;
  /**
   * Host-side repack: 'conv-nhwc' turns a PyTorch conv weight [Cout, Cin, kh, kw] into
   * [Cout, kh, kw, Cin] (NHWC patchify); 'depthwise' turns [C, 1, kh, kw] into tap-major [kh, kw, C].
   */
  repack: 'none' | 'conv-nhwc' | 'depthwise';
}

/**
 * Storage per tensor: with f16 weights, the matrices of the linear layers (which are ~95 % of the
 * bytes) and the token embedding are stored as binary16; norms, biases, gammas, convolutions and
 * the small projections stay f32 (their kernels read f32, and they are < 2 % of the bytes).
 */
export function planParameter(name: string, shape: readonly number[], dtype: WeightDType): ParameterPlan {
  const linearWeight = shape.length === 2 && /(token_embedding\.weight|mlp\.(fc1|fc2|c_fc|c_proj)\.weight|attn\.(in_proj_weight|out_proj\.weight)|head\.proj\.weight)$/.test(name);
  const repack = /^visual\.trunk\.stages\.\d+\.downsample\.1\.weight$/.test(name) ? 'conv-nhwc' : /\.conv_dw\.weight$/.test(name) ? 'depthwise' : 'none';
  return { half: dtype === 'f16' && linearWeight, repack };
}

export async function uploadParameters(gpu: Gpu, source: TensorSource, config: ClipConfig, dtype: WeightDType, label = 'weights'): Promise<ParameterStore> {
  validateStateDict(source.tensors, config, label);
  const tensors = new Map<string, Tensor>();
  let bytes = 0;
  try {
    for (const e of expectedStateDict(config)) {
      const host = await source.read(e.name);
      const plan = planParameter(e.name, e.shape, dtype);
      let data: Float32Array | Uint16Array;
      let shape = [...e.shape];
      if (plan.repack !== 'none') {
        const pack = plan.repack === 'conv-nhwc' ? packConv2dWeight : packDepthwiseWeight;
        const packed = pack(toFloat32(host, e.name), shape);
        data = packed.data;
        shape = packed.shape;
      } else if (plan.half) {
        data = convertFloat(host, 'F16', e.name).data as Uint16Array;
      } else {
        data = toFloat32(host, e.name);
      }
      const t = Tensor.from(gpu, data, shape, plan.half ? 'f16' : 'f32', e.name, true);
      bytes += t.byteLength;
      tensors.set(e.name, t);
    }
  } catch (err) {
    for (const t of tensors.values()) t.release();
    throw err;
  }
  const names = [...tensors.keys()];
  return {
    names,
    bytes,
    get(name: string): Tensor {
      const t = tensors.get(name);
      if (!t) throw new Error(`internal: parameter '${name}' was not loaded`);
      return t;
    },
    release(): void {
      for (const t of tensors.values()) t.release();
      tensors.clear();
    },
  };
}
