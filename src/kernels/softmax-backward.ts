// Backward of softmax over the last axis from its output: dx = y ⊙ (dy − Σ y ⊙ dy). Causal rows
// need no mask here: the masked outputs are exact zeros, so their gradients are zero too. The row
// variants are the forward's (one WGSL body): one invocation per row, or a 64-wide workgroup per
// row whose sum goes through wg_sum (workgroup-memory tree or subgroups).
import { ShapeError } from '../errors.js';
import { Tensor } from '../gpu/tensor.js';
import { defaultRowVariant, type RowVariant } from './layernorm.js';
import { checkSubgroups, dispatchItems, wgslEnableSubgroups, wgslFoldedMain, wgslParamsStruct, wgslRowLoop, wgslStorage } from './wgsl.js';

const PARAMS = wgslParamsStruct('Params', ['rows', 'C']);
const WG = 64;

function wgsl(variant: RowVariant): string {
  const r = wgslRowLoop(variant, WG);
  return (
    wgslEnableSubgroups(variant === 'subgroup') +
    PARAMS.code +
    wgslStorage(0, 'Y', 'array<f32>', 'read') +
    wgslStorage(1, 'Dy', 'array<f32>', 'read') +
    wgslStorage(2, 'Dx', 'array<f32>', 'read_write') +
    '@group(0) @binding(3) var<uniform> p: Params;\n' +
    r.code +
    wgslFoldedMain(WG) +
    /* wgsl */ `
  let row = ${r.row};
  if (row >= p.rows) { return; }
  ${r.init}
  let base = row * p.C;
  var s = 0.0;
  ${r.loop('c', 'p.C')} { s += Y[base + c] * Dy[base + c]; }
  s = ${r.sum('s')};
  ${r.loop('c', 'p.C')} { Dx[base + c] = Y[base + c] * (Dy[base + c] - s); }
}
`
  );
}

/** dx of y = softmax(x) (last axis) from y and dy. */
export function softmaxBackward(y: Tensor, dy: Tensor, opts: { variant?: RowVariant } = {}): Tensor {
  const C = y.shape[y.shape.length - 1] ?? 0;
  if (y.dtype !== 'f32' || dy.dtype !== 'f32' || dy.size !== y.size || C === 0) {
    throw new ShapeError('softmaxBackward', `expects f32 y and dy of the same shape, got ${y.dtype} [${y.shape.join(', ')}] and ${dy.dtype} [${dy.shape.join(', ')}]`);
  }
  const variant = opts.variant ?? defaultRowVariant(y.gpu, 'softmax');
  checkSubgroups(y.gpu, variant, 'softmaxBackward');
  const rows = y.size / C;
  const dx = Tensor.empty(y.gpu, y.shape, 'f32', 'softmax.dx');
  // dispatchItems counts invocations: a workgroup of WG per row for the workgroup variants.
  dispatchItems(y.gpu, `softmax-backward/${variant}`, wgsl(variant), [y, dy, dx], 1, PARAMS, [rows, C], variant === 'row' ? rows : rows * WG);
  return dx;
}
