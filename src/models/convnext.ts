// The image tower: timm ConvNeXt trunk + open_clip head, composed from kernels only.
// Runs channels-last (NHWC) end to end — see src/kernels/README.md: the stem reads the NCHW pixel
// tensor and writes NHWC, so every LayerNorm is a last-axis norm and every MLP a plain linear over
// [N·H·W, C] rows, with no permutes. Layer names in `capture` are the PyTorch module paths (the
// golden fixtures' names); captured tensors are NHWC where PyTorch's are NCHW.
import { ShapeError } from '../errors.js';
import { Tensor } from '../gpu/tensor.js';
import { patchConv2d } from '../kernels/conv2d.js';
import { depthwiseConv2dLayerNorm } from '../kernels/depthwise-layernorm.js';
import { layerNorm } from '../kernels/layernorm.js';
import { linear, type GemmMath } from '../kernels/gemm/index.js';
import { globalAvgPool } from '../kernels/pooling.js';
import type { VisionConfig } from './config.js';
import { activationLifecycle, type Capture } from './capture.js';
import type { ParameterStore } from './parameters.js';


/** `math` 'f16': the GEMMs may use f16 arithmetic with f16 weights (autocast; see GemmMath). */
export function encodeImageTensor(p: ParameterStore, cfg: VisionConfig, pixels: Tensor, capture?: Capture, math: GemmMath = 'f32'): Tensor {
  if (pixels.dtype !== 'f32' || pixels.shape.length !== 4 || pixels.shape[1] !== 3) {
    throw new ShapeError('image input', `must be f32 [N, 3, H, W] (normalised pixels), got ${pixels.dtype} [${pixels.shape.join(', ')}]`);
  }
  const eps = cfg.layerNormEps;
  const { emit, done } = activationLifecycle(capture);
  const w = (name: string) => p.get(`visual.${name}`);

  let x = emit('visual.trunk.stem.0', patchConv2d(pixels, w('trunk.stem.0.weight'), { inputLayout: 'nchw', bias: w('trunk.stem.0.bias'), math }));
  let y = emit('visual.trunk.stem', layerNorm(x, w('trunk.stem.1.weight'), w('trunk.stem.1.bias'), { eps }));
  done(x);
  x = y;
  for (let s = 0; s < cfg.depths.length; s++) {
    const sp = `trunk.stages.${s}`;
    if (s > 0) {
      y = emit(`visual.${sp}.downsample.0`, layerNorm(x, w(`${sp}.downsample.0.weight`), w(`${sp}.downsample.0.bias`), { eps }));
      done(x);
      x = emit(`visual.${sp}.downsample`, patchConv2d(y, w(`${sp}.downsample.1.weight`), { inputLayout: 'nhwc', bias: w(`${sp}.downsample.1.bias`), math }));
      done(y);
    }
    for (let b = 0; b < cfg.depths[s]; b++) {
      const bp = `${sp}.blocks.${b}`;
      // conv_dw → norm: one launch where the variant table fuses them (GPUs). The conv output
      // itself is written only for the capture hook (the goldens hold it).
      const dw = capture ? Tensor.empty(x.gpu, x.shape, x.dtype, `${bp}.conv_dw`) : undefined;
      const n = depthwiseConv2dLayerNorm(x, w(`${bp}.conv_dw.weight`), { bias: w(`${bp}.conv_dw.bias`), lnWeight: w(`${bp}.norm.weight`), lnBias: w(`${bp}.norm.bias`), eps, convOut: dw });
      if (dw) emit(`visual.${bp}.conv_dw`, dw);
      emit(`visual.${bp}.norm`, n);
      const h = linear(n, w(`${bp}.mlp.fc1.weight`), w(`${bp}.mlp.fc1.bias`), { gelu: true, math });
      done(n);
      let out: Tensor;
      if (capture) {
        // The goldens hold the MLP output before the layer-scale multiply: compute it separately.
        emit(`visual.${bp}.mlp`, linear(h, w(`${bp}.mlp.fc2.weight`), w(`${bp}.mlp.fc2.bias`), { math }));
        out = linear(h, w(`${bp}.mlp.fc2.weight`), w(`${bp}.mlp.fc2.bias`), { scale: w(`${bp}.gamma`), residual: x, math });
      } else {
        // x ← x + gamma ⊙ fc2(h): one fused pass, written in place over the residual stream.
        out = linear(h, w(`${bp}.mlp.fc2.weight`), w(`${bp}.mlp.fc2.bias`), { scale: w(`${bp}.gamma`), residual: x, out: x, math });
      }
      done(h);
      x = emit(b === cfg.depths[s] - 1 ? `visual.${sp}` : `visual.${bp}`, out);
    }
  }
  const pooled = emit('visual.trunk.head.global_pool', globalAvgPool(x));
  done(x);
  const normed = emit('visual.trunk.head.norm', layerNorm(pooled, w('trunk.head.norm.weight'), w('trunk.head.norm.bias'), { eps }));
  done(pooled);
  emit('visual.trunk', normed);
  const feat = emit('visual.head', linear(normed, w('head.proj.weight'), undefined, { math }));
  done(normed);
  return feat;
}
