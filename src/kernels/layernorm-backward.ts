// Backward of LayerNorm over the last axis (both the timm eps-1e-6 norms — LayerNorm2d is the same
// last-axis norm in NHWC — and the text tower's nn.LayerNorm). One invocation per row recomputes
// the statistics (two-pass, f32, as the forward does), writes dx and dy ⊙ x̂; the weight and bias
// gradients are then deterministic column sums. x may be f16 (a saved activation in mixed
// precision): it is widened on load, so the statistics and all gradients stay f32.
import { ShapeError } from '../errors.js';
import { Tensor } from '../gpu/tensor.js';
import { columnSum } from './matmul-backward.js';
import { checkFloatTensor, dispatchItems, f32Bits, wgslEnableF16, wgslFoldedMain, wgslParamsStruct, wgslReadArray, wgslStorage, type FloatDType } from './wgsl.js';

const PARAMS = wgslParamsStruct('Params', ['rows', 'C', 'eps']);

const wgsl = (tX: FloatDType) =>
  wgslEnableF16(tX === 'f16') +
  PARAMS.code +
  wgslReadArray(0, 'X', tX) +
  wgslStorage(1, 'Wt', 'array<f32>', 'read') +
  wgslStorage(2, 'Dy', 'array<f32>', 'read') +
  wgslStorage(3, 'Dx', 'array<f32>', 'read_write') +
  wgslStorage(4, 'DyXhat', 'array<f32>', 'read_write') +
  '@group(0) @binding(5) var<uniform> p: Params;\n' +
  'fn ldx(i: u32) -> f32 { return f32(X[i]); }\n' +
  wgslFoldedMain(64) +
  /* wgsl */ `
  if (gid >= p.rows) { return; }
  let base = gid * p.C;
  let n = f32(p.C);
  var mean = 0.0;
  for (var c = 0u; c < p.C; c++) { mean += ldx(base + c); }
  mean /= n;
  var v = 0.0;
  for (var c = 0u; c < p.C; c++) { let d = ldx(base + c) - mean; v += d * d; }
  let rstd = 1.0 / sqrt(v / n + bitcast<f32>(p.eps));
  // dx = rstd · (g − mean(g) − x̂ · mean(g ⊙ x̂)), g = dy ⊙ w
  var sg = 0.0;
  var sgx = 0.0;
  for (var c = 0u; c < p.C; c++) {
    let xh = (ldx(base + c) - mean) * rstd;
    let dy = Dy[base + c];
    let g = dy * Wt[c];
    sg += g;
    sgx += g * xh;
    DyXhat[base + c] = dy * xh;
  }
  sg /= n;
  sgx /= n;
  for (var c = 0u; c < p.C; c++) {
    let xh = (ldx(base + c) - mean) * rstd;
    Dx[base + c] = rstd * (Dy[base + c] * Wt[c] - sg - xh * sgx);
  }
}
`;

export interface LayerNormGrads {
  dx: Tensor;
  dweight: Tensor;
  dbias: Tensor;
}

/** Gradients of y = LayerNorm(x; weight, bias, eps) over the last axis, given dy; x may be f16. */
export function layerNormBackward(x: Tensor, weight: Tensor, dy: Tensor, opts: { eps?: number } = {}): LayerNormGrads {
  const gpu = x.gpu;
  const C = x.shape[x.shape.length - 1] ?? 0;
  checkFloatTensor(gpu, x, 'layerNormBackward x');
  if (dy.dtype !== 'f32' || weight.dtype !== 'f32') throw new ShapeError('layerNormBackward', `weight and dy must be f32, got weight ${weight.dtype} and dy ${dy.dtype}`);
  if (weight.size !== C || dy.size !== x.size || C === 0) {
    throw new ShapeError('layerNormBackward', `x [..., C], weight [C], dy like x; got x [${x.shape.join(', ')}], weight [${weight.shape.join(', ')}], dy [${dy.shape.join(', ')}]`);
  }
  const rows = x.size / C;
  const dx = Tensor.empty(gpu, x.shape, 'f32', 'layernorm.dx');
  const dyXhat = Tensor.empty(gpu, x.shape, 'f32', 'layernorm.dyxhat');
  dispatchItems(gpu, 'layernorm-backward', wgsl(x.dtype as FloatDType), [x, weight, dy, dx, dyXhat], 2, PARAMS, [rows, C, f32Bits(opts.eps ?? 1e-5)], rows);
  const dweight = columnSum(dyXhat, { cols: C });
  dyXhat.release();
  const dbias = columnSum(dy, { cols: C });
  return { dx, dweight, dbias };
}
