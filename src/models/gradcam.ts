// PromptCAM / Grad-CAM as echo_CLIP's gradcam.py computes it: hook the last ConvNeXt block's
// output A (the last stage, [H, W, C] here since the tower is NHWC), back-propagate the dot
// product of the unnormalised image feature with the normalised prompt embedding, α_c = spatial
// mean of ∂/∂A, CAM = ReLU(Σ_c A·α_c). Upsampling and blur for display are the caller's.
import { ShapeError } from '../errors.js';
import { Tensor } from '../gpu/tensor.js';
import { copyTensor, Tape, type Var } from '../autograd/tape.js';
import { matmul } from '../autograd/ops.js';
import type { TrainableClip } from './train.js';

export interface GradCam {
  /** CAM on the last stage's grid, row-major [height × width], ≥ 0 (not normalised). */
  cam: Float32Array;
  height: number;
  width: number;
  /** The prompt similarity (feature · prompt) that was differentiated. */
  score: number;
}

/** Grad-CAM of one preprocessed frame [3, S, S] for a normalised prompt embedding [embed]. */
export async function gradCam(model: TrainableClip, frame: Float32Array, prompt: Float32Array): Promise<GradCam> {
  const S = model.config.vision.imageSize;
  const E = model.config.embedDim;
  if (frame.length !== 3 * S * S) throw new ShapeError('Grad-CAM frame', `must be 3×${S}×${S} preprocessed pixels, got ${frame.length} values`);
  if (prompt.length !== E) throw new ShapeError('Grad-CAM prompt', `must be a ${E}-d embedding, got ${prompt.length}`);
  const gpu = model.gpu;
  const t = new Tape(gpu);
  let act: Tensor | null = null;
  let grad: Tensor | null = null;
  try {
    const px = t.constant(Tensor.from(gpu, frame, [1, 3, S, S], 'f32', 'pixels'), true);
    // Identity node on the hooked activation that keeps a copy of its gradient.
    const tap = (x: Var): Var => {
      act = x.value;
      return t.record(copyTensor(x.value), [x], (g) => {
        grad = copyTensor(g);
        t.addGrad(x, g, true);
      });
    };
    const feature = model.encodeImage(t, px, null, tap);
    const p = t.constant(Tensor.from(gpu, prompt, [E, 1], 'f32', 'prompt'), true);
    const score = matmul(t, feature, p);
    const scoreHost = (await score.value.toFloat32())[0];
    t.backward(score);
    if (!act || !grad) throw new ShapeError('Grad-CAM', 'the last stage received no gradient', { hint: 'unfreeze the image tower' });
    const a = await (act as Tensor).toFloat32();
    const g = await (grad as Tensor).toFloat32();
    const [, H, W, C] = (act as Tensor).shape;
    const alpha = new Float64Array(C);
    for (let i = 0; i < H * W; i++) for (let c = 0; c < C; c++) alpha[c] += g[i * C + c];
    for (let c = 0; c < C; c++) alpha[c] /= H * W;
    const cam = new Float32Array(H * W);
    for (let i = 0; i < H * W; i++) {
      let s = 0;
      for (let c = 0; c < C; c++) s += a[i * C + c] * alpha[c];
      cam[i] = Math.max(0, s);
    }
    return { cam, height: H, width: W, score: scoreHost };
  } finally {
    (grad as Tensor | null)?.release();
    t.release();
  }
}
