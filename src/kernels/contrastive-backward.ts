// Backward of open_clip's ClipLoss with a learnable temperature:
//   L = (CE(S, arange) + CE(Sᵀ, arange)) / 2,  S = exp(ls) · I·Tᵀ  (I, T: [N, D] features)
// dS_ij = g / 2N · (softmax_row(S)_ij + softmax_col(S)_ij − 2δ_ij); then dI = exp(ls)·dS·T,
// dT = exp(ls)·dSᵀ·I and d ls = Σ dS ⊙ S (∂S/∂ls = S). Batches are small (N ≤ a few hundred), so
// each dS element recomputes its row and column log-sum-exp (O(N³) in all, fixed order).
import { ShapeError } from '../errors.js';
import { Tensor } from '../gpu/tensor.js';
import { contrastiveLogits } from './contrastive.js';
import { matmul } from './gemm/index.js';
import { dispatchItems, wgslFoldedMain, wgslParamsStruct, wgslStorage } from './wgsl.js';

const PARAMS = wgslParamsStruct('Params', ['N']);

const DS =
  PARAMS.code +
  wgslStorage(0, 'S', 'array<f32>', 'read') + wgslStorage(1, 'Ls', 'array<f32>', 'read') + wgslStorage(2, 'G', 'array<f32>', 'read') +
  wgslStorage(3, 'Ds', 'array<f32>', 'read_write') + wgslStorage(4, 'DsScaled', 'array<f32>', 'read_write') +
  '@group(0) @binding(5) var<uniform> p: Params;\n' + wgslFoldedMain(64) +
  /* wgsl */ `
  let N = p.N;
  if (gid >= N * N) { return; }
  let i = gid / N;
  let j = gid % N;
  var mr = -3.0e38;
  var mc = -3.0e38;
  for (var k = 0u; k < N; k++) { mr = max(mr, S[i * N + k]); mc = max(mc, S[k * N + j]); }
  var sr = 0.0;
  var sc = 0.0;
  for (var k = 0u; k < N; k++) { sr += exp(S[i * N + k] - mr); sc += exp(S[k * N + j] - mc); }
  let s = S[gid];
  let eye = select(0.0, 2.0, i == j);
  let d = G[0] / (2.0 * f32(N)) * (exp(s - mr) / sr + exp(s - mc) / sc - eye);
  Ds[gid] = d;
  DsScaled[gid] = d * exp(Ls[0]);
}
`;

// One invocation: Σ dS ⊙ S in a fixed order.
const DLS =
  PARAMS.code +
  wgslStorage(0, 'S', 'array<f32>', 'read') + wgslStorage(1, 'Ds', 'array<f32>', 'read') + wgslStorage(2, 'Dls', 'array<f32>', 'read_write') +
  '@group(0) @binding(3) var<uniform> p: Params;\n' + wgslFoldedMain(64) +
  /* wgsl */ `
  if (gid >= 1u) { return; }
  var s = 0.0;
  for (var k = 0u; k < p.N * p.N; k++) { s += Ds[k] * S[k]; }
  Dls[0] = s;
}
`;

export interface ClipLossGrads {
  dimage: Tensor;
  dtext: Tensor;
  /** Gradient w.r.t. the raw logit_scale parameter, shape []. */
  dlogitScale: Tensor;
}

/**
 * Gradients of clipLoss(contrastiveLogits(image, text, logitScale)) for paired image/text
 * features [N, D], the raw logit_scale (f32 tensor, one value) and the loss gradient (one value).
 */
export function clipLossBackward(image: Tensor, text: Tensor, logitScale: Tensor, dLoss: Tensor): ClipLossGrads {
  const gpu = image.gpu;
  if (image.dtype !== 'f32' || text.dtype !== 'f32' || image.shape.length !== 2 || text.shape.length !== 2 || image.shape[0] !== text.shape[0] || image.shape[1] !== text.shape[1] || image.shape[0] === 0) {
    throw new ShapeError('clipLossBackward', `expects paired f32 features [N, D] with N > 0, got ${image.dtype} [${image.shape.join(', ')}] and ${text.dtype} [${text.shape.join(', ')}]`);
  }
  if (logitScale.dtype !== 'f32' || logitScale.size !== 1 || dLoss.dtype !== 'f32' || dLoss.size !== 1) throw new ShapeError('clipLossBackward', 'logit_scale and the loss gradient must be f32 tensors with one value');
  const N = image.shape[0];
  const { perImage, perText } = contrastiveLogits(image, text, logitScale);
  perText.release();
  const ds = Tensor.empty(gpu, [N, N], 'f32', 'clip.ds');
  const dsScaled = Tensor.empty(gpu, [N, N], 'f32', 'clip.ds-scaled');
  dispatchItems(gpu, 'clip-loss-backward', DS, [perImage, logitScale, dLoss, ds, dsScaled], 2, PARAMS, [N], N * N);
  const dlogitScale = Tensor.empty(gpu, [], 'f32', 'clip.dlogit-scale');
  dispatchItems(gpu, 'clip-loss-backward-scale', DLS, [perImage, ds, dlogitScale], 1, PARAMS, [N], 1);
  const dimage = matmul(dsScaled, text);
  const dtext = matmul(dsScaled, image, { transA: true });
  for (const t of [perImage, ds, dsScaled]) t.release();
  return { dimage, dtext, dlogitScale };
}
