// Backward of softmax over the last axis from its output: dx = y ⊙ (dy − Σ y ⊙ dy). Causal rows
// need no mask here: the masked outputs are exact zeros, so their gradients are zero too.
import { ShapeError } from '../errors.js';
import { Tensor } from '../gpu/tensor.js';
import { dispatchItems, wgslFoldedMain, wgslParamsStruct, wgslStorage } from './wgsl.js';

const PARAMS = wgslParamsStruct('Params', ['rows', 'C']);

const WGSL =
  PARAMS.code +
  wgslStorage(0, 'Y', 'array<f32>', 'read') +
  wgslStorage(1, 'Dy', 'array<f32>', 'read') +
  wgslStorage(2, 'Dx', 'array<f32>', 'read_write') +
  '@group(0) @binding(3) var<uniform> p: Params;\n' +
  wgslFoldedMain(64) +
  /* wgsl */ `
  if (gid >= p.rows) { return; }
  let base = gid * p.C;
  var s = 0.0;
  for (var c = 0u; c < p.C; c++) { s += Y[base + c] * Dy[base + c]; }
  for (var c = 0u; c < p.C; c++) { Dx[base + c] = Y[base + c] * (Dy[base + c] - s); }
}
`;

/** dx of y = softmax(x) (last axis) from y and dy. */
export function softmaxBackward(y: Tensor, dy: Tensor): Tensor {
  const C = y.shape[y.shape.length - 1] ?? 0;
  if (y.dtype !== 'f32' || dy.dtype !== 'f32' || dy.size !== y.size || C === 0) {
    throw new ShapeError('softmaxBackward', `expects f32 y and dy of the same shape, got ${y.dtype} [${y.shape.join(', ')}] and ${dy.dtype} [${dy.shape.join(', ')}]`);
  }
  const dx = Tensor.empty(y.gpu, y.shape, 'f32', 'softmax.dx');
  dispatchItems(y.gpu, 'softmax-backward', WGSL, [y, dy, dx], 1, PARAMS, [y.size / C, C], y.size / C);
  return dx;
}
