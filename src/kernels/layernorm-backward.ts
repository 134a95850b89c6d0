// Backward of LayerNorm over the last axis (both the timm eps-1e-6 norms — LayerNorm2d is the same
// last-axis norm in NHWC — and the text tower's nn.LayerNorm). Each row recomputes its statistics
// (two-pass, f32, as the forward does), writes dx and dy ⊙ x̂; the weight and bias gradients are
// then deterministic column sums. x may be f16 (a saved activation in mixed precision): it is
// widened on load, so the statistics and all gradients stay f32. The row variants are the
// forward's (one WGSL body): 'row' — one invocation per row; 'workgroup' / 'subgroup' — a 64-wide
// workgroup per row whose four row sums go through wg_sum.
import { ShapeError } from '../errors.js';
import { Tensor } from '../gpu/tensor.js';
import { defaultRowVariant, type RowVariant } from './layernorm.js';
import { columnSum } from './matmul-backward.js';
import { checkFloatTensor, checkSubgroups, dispatchItems, f32Bits, wgslEnableF16, wgslEnableSubgroups, wgslFoldedMain, wgslParamsStruct, wgslReadArray, wgslRowLoop, wgslStorage, type FloatDType } from './wgsl.js';

const PARAMS = wgslParamsStruct('Params', ['rows', 'C', 'eps']);
const WG = 64;

const wgsl = (tX: FloatDType, variant: RowVariant) => {
  const r = wgslRowLoop(variant, WG);
  return (
    wgslEnableF16(tX === 'f16') +
    wgslEnableSubgroups(variant === 'subgroup') +
    PARAMS.code +
    wgslReadArray(0, 'X', tX) +
    wgslStorage(1, 'Wt', 'array<f32>', 'read') +
    wgslStorage(2, 'Dy', 'array<f32>', 'read') +
    wgslStorage(3, 'Dx', 'array<f32>', 'read_write') +
    wgslStorage(4, 'DyXhat', 'array<f32>', 'read_write') +
    '@group(0) @binding(5) var<uniform> p: Params;\n' +
    'fn ldx(i: u32) -> f32 { return f32(X[i]); }\n' +
    r.code +
    wgslFoldedMain(WG) +
    /* wgsl */ `
  let row = ${r.row};
  if (row >= p.rows) { return; }
  ${r.init}
  let base = row * p.C;
  let n = f32(p.C);
  var mean = 0.0;
  ${r.loop('c', 'p.C')} { mean += ldx(base + c); }
  mean = ${r.sum('mean')} / n;
  var v = 0.0;
  ${r.loop('c', 'p.C')} { let d = ldx(base + c) - mean; v += d * d; }
  let rstd = 1.0 / sqrt(${r.sum('v')} / n + bitcast<f32>(p.eps));
  // dx = rstd · (g − mean(g) − x̂ · mean(g ⊙ x̂)), g = dy ⊙ w
  var sg = 0.0;
  var sgx = 0.0;
  ${r.loop('c', 'p.C')} {
    let xh = (ldx(base + c) - mean) * rstd;
    let dy = Dy[base + c];
    let g = dy * Wt[c];
    sg += g;
    sgx += g * xh;
    DyXhat[base + c] = dy * xh;
  }
  sg = ${r.sum('sg')} / n;
  sgx = ${r.sum('sgx')} / n;
  ${r.loop('c', 'p.C')} {
    let xh = (ldx(base + c) - mean) * rstd;
    Dx[base + c] = rstd * (Dy[base + c] * Wt[c] - sg - xh * sgx);
  }
}
`
  );
};

export interface LayerNormGrads {
  dx: Tensor;
  dweight: Tensor;
  dbias: Tensor;
}

/** Gradients of y = LayerNorm(x; weight, bias, eps) over the last axis, given dy; x may be f16. */
export function layerNormBackward(x: Tensor, weight: Tensor, dy: Tensor, opts: { eps?: number; variant?: RowVariant } = {}): LayerNormGrads {
  const gpu = x.gpu;
  const C = x.shape[x.shape.length - 1] ?? 0;
  checkFloatTensor(gpu, x, 'layerNormBackward x');
  if (dy.dtype !== 'f32' || weight.dtype !== 'f32') throw new ShapeError('layerNormBackward', `weight and dy must be f32, got weight ${weight.dtype} and dy ${dy.dtype}`);
  if (weight.size !== C || dy.size !== x.size || C === 0) {
    throw new ShapeError('layerNormBackward', `x [..., C], weight [C], dy like x; got x [${x.shape.join(', ')}], weight [${weight.shape.join(', ')}], dy [${dy.shape.join(', ')}]`);
  }
  const variant = opts.variant ?? defaultRowVariant(gpu);
  checkSubgroups(gpu, variant, 'layerNormBackward');
  const rows = x.size / C;
  const dx = Tensor.empty(gpu, x.shape, 'f32', 'layernorm.dx');
  const dyXhat = Tensor.empty(gpu, x.shape, 'f32', 'layernorm.dyxhat');
  // dispatchItems counts invocations: a workgroup of WG per row for the workgroup variants.
  dispatchItems(gpu, `layernorm-backward/${variant}`, wgsl(x.dtype as FloatDType, variant), [x, weight, dy, dx, dyXhat], 2, PARAMS, [rows, C, f32Bits(opts.eps ?? 1e-5)], variant === 'row' ? rows : rows * WG);
  const dweight = columnSum(dyXhat, { cols: C });
  dyXhat.release();
  const dbias = columnSum(dy, { cols: C });
  return { dx, dweight, dbias };
}
