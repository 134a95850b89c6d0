// ONNX graphs of EchoCLIP's two towers, written from a state dict (the published layout, or the
// bench's synthetic weights), as an exporter of open_clip's convnext_base CLIP would write them:
// NCHW convolutions with NHWC LayerNorm/MLP in between (timm's permutes), Erf GELU, the text
// transformer with a causal mask add, and argmax(EOT) pooling. Batch size is fixed in the graph.
import { WeightsMismatchError } from '../../errors.js';
import { toFloat32 } from '../../io/dtype.js';
import type { TensorSource } from '../../io/source.js';
import { expectedStateDict, type ClipConfig } from '../../models/config.js';
import { OnnxGraphBuilder, type AttrValue } from './onnx.js';
import { causalMask, geluOnnx, layerNormOnnx, linearOnnx, mhaOnnx } from './onnx-layers.js';

/** Every tensor of the state dict as f32 on the host (peers upload their own copies). */
export type HostWeights = ReadonlyMap<string, { shape: readonly number[]; data: Float32Array }>;

export async function readHostWeights(source: TensorSource, config: ClipConfig): Promise<HostWeights> {
  const out = new Map<string, { shape: readonly number[]; data: Float32Array }>();
  for (const e of expectedStateDict(config)) {
    const t = await source.read(e.name);
    out.set(e.name, { shape: t.shape, data: toFloat32(t, e.name) });
  }
  return out;
}

export function weight(w: HostWeights, name: string): Float32Array {
  const t = w.get(name);
  if (!t) throw new WeightsMismatchError(`weight '${name}'`, 'missing from the host weights', { hint: 'build HostWeights with readHostWeights for the same configuration' });
  return t.data;
}

export const IMAGE_INPUT = 'pixel_values';
export const TEXT_INPUT = 'input_ids';
export const EMBEDS_OUTPUT = 'embeds';

/** encode_image: pixels [N, 3, S, S] (float32) → features [N, embed]. */
export function imageTowerOnnx(w: HostWeights, config: ClipConfig, batch: number): Uint8Array {
  const v = config.vision;
  const eps = v.layerNormEps;
  const g = new OnnxGraphBuilder('echoclip-image-tower');
  const W = (n: string) => weight(w, `visual.${n}`);
  const toNhwc = (x: string) => g.op('Transpose', [x], { perm: [0, 2, 3, 1] });
  const toNchw = (x: string) => g.op('Transpose', [x], { perm: [0, 3, 1, 2] });
  const conv = (x: string, name: string, cout: number, cin: number, k: number, group = 1) => {
    const attrs: Record<string, AttrValue> = group > 1 ? { kernel_shape: [k, k], pads: [3, 3, 3, 3], group } : { kernel_shape: [k, k], strides: [k, k] };
    return g.op('Conv', [x, g.init(`${name}.weight`, W(`${name}.weight`), [cout, cin, k, k]), g.init(`${name}.bias`, W(`${name}.bias`), [cout])], attrs);
  };
  const ln = (x: string, name: string) => layerNormOnnx(g, x, `visual.${name}`, W(`${name}.weight`), W(`${name}.bias`), eps);

  const px = g.input(IMAGE_INPUT, 'float32', [batch, 3, v.imageSize, v.imageSize]);
  let x = ln(toNhwc(conv(px, 'trunk.stem.0', v.dims[0], 3, 4)), 'trunk.stem.1');
  for (let s = 0; s < v.depths.length; s++) {
    const sp = `trunk.stages.${s}`;
    const C = v.dims[s];
    if (s > 0) x = toNhwc(conv(toNchw(ln(x, `${sp}.downsample.0`)), `${sp}.downsample.1`, C, v.dims[s - 1], 2));
    for (let b = 0; b < v.depths[s]; b++) {
      const bp = `${sp}.blocks.${b}`;
      let h = toNhwc(conv(toNchw(x), `${bp}.conv_dw`, C, 1, 7, C));
      h = ln(h, `${bp}.norm`);
      h = geluOnnx(g, linearOnnx(g, h, `visual.${bp}.mlp.fc1`, W(`${bp}.mlp.fc1.weight`), 4 * C, C, W(`${bp}.mlp.fc1.bias`)));
      h = linearOnnx(g, h, `visual.${bp}.mlp.fc2`, W(`${bp}.mlp.fc2.weight`), C, 4 * C, W(`${bp}.mlp.fc2.bias`));
      h = g.op('Mul', [h, g.init(`visual.${bp}.gamma`, W(`${bp}.gamma`), [C])]);
      x = g.op('Add', [x, h]);
    }
  }
  const pooled = g.op('ReduceMean', [x], { axes: [1, 2], keepdims: 0 });
  const normed = ln(pooled, 'trunk.head.norm');
  linearOnnx(g, normed, 'visual.head.proj', W('head.proj.weight'), config.embedDim, v.dims[3]);
  return finish(g, batch, config.embedDim);
}

/** encode_text: ids [N, context] (int32) → features [N, embed]. */
export function textTowerOnnx(w: HostWeights, config: ClipConfig, batch: number): Uint8Array {
  const t = config.text;
  const { width: D, contextLength: T, heads } = t;
  const Hm = Math.round(t.mlpRatio * D);
  const g = new OnnxGraphBuilder('echoclip-text-tower');
  const W = (n: string) => weight(w, n);
  const ids = g.input(TEXT_INPUT, 'int32', [batch, T]);
  let x = g.op('Gather', [g.init('token_embedding.weight', W('token_embedding.weight'), [t.vocabSize, D]), ids], { axis: 0 });
  x = g.op('Add', [x, g.init('positional_embedding', W('positional_embedding'), [T, D])]);
  const mask = g.init('causal_mask', causalMask(T), [T, T]);
  for (let l = 0; l < t.layers; l++) {
    const q = `transformer.resblocks.${l}`;
    const h1 = layerNormOnnx(g, x, `${q}.ln_1`, W(`${q}.ln_1.weight`), W(`${q}.ln_1.bias`), t.layerNormEps);
    const attnW = { inProjWeight: W(`${q}.attn.in_proj_weight`), inProjBias: W(`${q}.attn.in_proj_bias`), outProjWeight: W(`${q}.attn.out_proj.weight`), outProjBias: W(`${q}.attn.out_proj.bias`) };
    x = g.op('Add', [x, mhaOnnx(g, h1, `${q}.attn`, attnW, batch, T, D, heads, mask)]);
    const h2 = layerNormOnnx(g, x, `${q}.ln_2`, W(`${q}.ln_2.weight`), W(`${q}.ln_2.bias`), t.layerNormEps);
    const m = geluOnnx(g, linearOnnx(g, h2, `${q}.mlp.c_fc`, W(`${q}.mlp.c_fc.weight`), Hm, D, W(`${q}.mlp.c_fc.bias`)));
    x = g.op('Add', [x, linearOnnx(g, m, `${q}.mlp.c_proj`, W(`${q}.mlp.c_proj.weight`), D, Hm, W(`${q}.mlp.c_proj.bias`))]);
  }
  const lnf = layerNormOnnx(g, x, 'ln_final', W('ln_final.weight'), W('ln_final.bias'), t.layerNormEps);
  // Pool the EOT token: it has the largest id in each row (open_clip's text.argmax(dim=-1)).
  const eot = g.op('ArgMax', [ids], { axis: 1, keepdims: 0 });
  const rows = g.op('Add', [eot, g.init('row_offsets', BigInt64Array.from({ length: batch }, (_, i) => BigInt(i * T)), [batch])]);
  const pooled = g.op('Gather', [g.op('Reshape', [lnf, g.ints([batch * T, D], 'shape')]), rows], { axis: 0 });
  g.op('MatMul', [pooled, g.init('text_projection', W('text_projection'), [D, config.embedDim])]);
  return finish(g, batch, config.embedDim);
}

/** Names the last node's output as the graph output. */
function finish(g: OnnxGraphBuilder, batch: number, embed: number): Uint8Array {
  g.renameLastOutput(EMBEDS_OUTPUT);
  g.output(EMBEDS_OUTPUT, 'float32', [batch, embed]);
  return g.toBytes();
}
