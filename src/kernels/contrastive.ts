// Contrastive head: scaled cosine logits between image and text embeddings, and the CLIP loss
// forward (open_clip ClipLoss: symmetric cross-entropy with labels arange(N)).
// logit_scale is the model's RAW parameter; logits use exp(logit_scale) (no clamp at inference),
// read from a 1-element tensor so it can stay on the GPU, or given as a number.
import { ShapeError } from '../errors.js';
import { Tensor } from '../gpu/tensor.js';
import { l2Normalize } from './pooling.js';
import { f32Bits, foldWorkgroups, packParams, wgslParamsStruct, wgslStorage, wgslWorkgroupReduce, wgslFoldedMain } from './wgsl.js';

const PARAMS = wgslParamsStruct('Params', ['N', 'K', 'D', 'scale']);
const WG = 64;
const LOSS_WG = 64;

export interface ContrastiveLogits {
  /** [N, K]: exp(logit_scale) · image · textᵀ */
  perImage: Tensor;
  /** [K, N]: the transpose */
  perText: Tensor;
}

/** WGSL of the logits kernel (scale from a buffer or the uniform) and the loss kernel. */
export function contrastiveWgsl(kind: 'logits' | 'loss', scaleFromBuffer = false, vec = false): string {
  if (kind === 'loss') {
    // One workgroup: thread r handles rows r, r + 64, ... of L (image side) and columns of L
    // (text side: logits_per_text = Lᵀ), each contributing logsumexp − the diagonal entry.
    return (
      PARAMS.code +
      wgslStorage(0, 'L', 'array<f32>', 'read') +
      wgslStorage(1, 'Out', 'array<f32>', 'read_write') +
      `@group(0) @binding(2) var<uniform> p: Params;\n` +
      wgslWorkgroupReduce(LOSS_WG) +
      /* wgsl */ `
fn ce_row(r: u32, stride: u32, step: u32) -> f32 {
  // Row r of L (stride N, step 1) or column r (stride 1, step N).
  var m = -3.0e38;
  for (var j = 0u; j < p.N; j++) { m = max(m, L[r * stride + j * step]); }
  var s = 0.0;
  for (var j = 0u; j < p.N; j++) { s += exp(L[r * stride + j * step] - m); }
  return m + log(s) - L[r * p.N + r];
}
@compute @workgroup_size(${LOSS_WG})
fn main(@builtin(local_invocation_index) lid: u32) {
  var t = 0.0;
  for (var r = lid; r < p.N; r += ${LOSS_WG}u) { t += ce_row(r, p.N, 1u) + ce_row(r, 1u, p.N); }
  let total = wg_sum(t, lid);
  if (lid == 0u) { Out[0] = total / f32(2u * p.N); }
}
`
    );
  }
  const VT = vec ? 'vec4f' : 'f32';
  const dot = vec ? 'dot(a, b)' : 'a * b';
  let code = PARAMS.code + wgslStorage(0, 'Img', `array<${VT}>`, 'read') + wgslStorage(1, 'Txt', `array<${VT}>`, 'read');
  let next = 2;
  if (scaleFromBuffer) code += wgslStorage(next++, 'LogitScale', 'array<f32>', 'read');
  code += wgslStorage(next++, 'PerImage', 'array<f32>', 'read_write') + wgslStorage(next++, 'PerText', 'array<f32>', 'read_write');
  code += `@group(0) @binding(${next}) var<uniform> p: Params;\n`;
  const raw = scaleFromBuffer ? 'LogitScale[0]' : 'bitcast<f32>(p.scale)';
  return code + /* wgsl */ `
fn vdot(a: ${VT}, b: ${VT}) -> f32 { return ${dot}; }${wgslFoldedMain(WG)}  let o = gid;
  if (o >= p.N * p.K) { return; }
  let n = o / p.K;
  let k = o % p.K;
  var s = 0.0;
  for (var d = 0u; d < p.D; d++) { s += vdot(Img[n * p.D + d], Txt[k * p.D + d]); }
  let v = exp(${raw}) * s;
  PerImage[o] = v;
  PerText[k * p.N + n] = v;
}
`;
}

/**
 * Logits exp(logit_scale)·image·textᵀ for image [N, D] and text [K, D] embeddings (normalise them
 * first for CLIP's cosine logits), plus the transpose. `logitScale` is the raw parameter.
 */
export function contrastiveLogits(image: Tensor, text: Tensor, logitScale: Tensor | number): ContrastiveLogits {
  const gpu = image.gpu;
  if (image.dtype !== 'f32' || text.dtype !== 'f32' || image.shape.length !== 2 || text.shape.length !== 2 || image.shape[1] !== text.shape[1]) {
    throw new ShapeError('contrastiveLogits', `expects f32 image [N, D] and text [K, D], got ${image.dtype} [${image.shape.join(', ')}] and ${text.dtype} [${text.shape.join(', ')}]`);
  }
  if (typeof logitScale !== 'number' && (logitScale.dtype !== 'f32' || logitScale.size !== 1)) {
    throw new ShapeError('contrastiveLogits logit_scale', `must be a number or an f32 tensor with one value, got ${logitScale.dtype} [${logitScale.shape.join(', ')}]`);
  }
  if (typeof logitScale === 'number' && !Number.isFinite(logitScale)) throw new ShapeError('contrastiveLogits logit_scale', `must be finite, got ${logitScale}`);
  const [N, D] = image.shape;
  const K = text.shape[0];
  const perImage = Tensor.empty(gpu, [N, K], 'f32', 'logits_per_image');
  const perText = Tensor.empty(gpu, [K, N], 'f32', 'logits_per_text');
  if (N * K === 0) return { perImage, perText };
  const fromBuffer = typeof logitScale !== 'number';
  const vec = D % 4 === 0 && image.byteOffset % 16 === 0 && text.byteOffset % 16 === 0;
  const binds = [image, text, ...(fromBuffer ? [logitScale] : []), perImage, perText];
  gpu.dispatch({
    kernel: { name: 'contrastive/logits', code: contrastiveWgsl('logits', fromBuffer, vec), storage: [...binds.slice(0, -2).map(() => 'read' as const), 'read_write', 'read_write'], uniformBytes: PARAMS.bytes },
    bindings: binds,
    uniforms: packParams(PARAMS.bytes, [N, K, vec ? D / 4 : D, fromBuffer ? 0 : f32Bits(logitScale)]),
    workgroups: foldWorkgroups(Math.ceil((N * K) / WG), gpu.limits.maxComputeWorkgroupsPerDimension),
  });
  return { perImage, perText };
}

/**
 * CLIP loss forward from logits_per_image [N, N] (pairs on the diagonal):
 * (CE(L, arange) + CE(Lᵀ, arange)) / 2 with mean reduction → scalar tensor (shape []).
 */
export function clipLoss(logitsPerImage: Tensor): Tensor {
  const gpu = logitsPerImage.gpu;
  const [N, N2] = logitsPerImage.shape;
  if (logitsPerImage.dtype !== 'f32' || logitsPerImage.shape.length !== 2 || N !== N2 || N === 0) {
    throw new ShapeError('clipLoss', `expects square f32 logits [N, N] with N > 0 (image i paired with text i), got ${logitsPerImage.dtype} [${logitsPerImage.shape.join(', ')}]`);
  }
  const out = Tensor.empty(gpu, [], 'f32', 'clip_loss');
  gpu.dispatch({
    kernel: { name: 'contrastive/clip-loss', code: contrastiveWgsl('loss'), storage: ['read', 'read_write'], uniformBytes: PARAMS.bytes },
    bindings: [logitsPerImage, out],
    uniforms: packParams(PARAMS.bytes, [N, N, 0, 0]),
    workgroups: [1],
  });
  return out;
}

/**
 * ClipLoss from features: optionally L2-normalises image and text [N, D] (open_clip's model
 * output is already normalised; the raw-embedding case normalises first), computes the logits and
 * the loss. Intermediates are released after recording.
 */
export function clipLossFromFeatures(image: Tensor, text: Tensor, logitScale: Tensor | number, opts: { normalize?: boolean } = {}): Tensor {
  if (image.shape.length !== 2 || text.shape.length !== 2 || image.shape[0] !== text.shape[0]) {
    throw new ShapeError('clipLossFromFeatures', `expects paired features [N, D] and [N, D], got [${image.shape.join(', ')}] and [${text.shape.join(', ')}]`);
  }
  const img = opts.normalize ? l2Normalize(image) : image;
  const txt = opts.normalize ? l2Normalize(text) : text;
  const { perImage, perText } = contrastiveLogits(img, txt, logitScale);
  if (opts.normalize) {
    img.release();
    txt.release();
  }
  perText.release();
  const loss = clipLoss(perImage);
  perImage.release();
  return loss;
}
