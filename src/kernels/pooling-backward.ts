// Backward of the pooling ops: global average pool (spread dy/(H·W) over the map), L2 normalise
// (project out the radial component) and argmax/EOT pooling (route dy to the pooled position).
import { ShapeError } from '../errors.js';
import { Tensor } from '../gpu/tensor.js';
import { defaultL2NormVariant, type L2NormVariant } from './pooling.js';
import { checkSubgroups, dispatchItems, f32Bits, wgslEnableSubgroups, wgslFoldedMain, wgslParamsStruct, wgslRowLoop, wgslStorage } from './wgsl.js';

const PARAMS = wgslParamsStruct('Params', ['n', 'C', 'inner', 'eps']);
/** dispatchItems' workgroup size; the subgroup L2 runs one such workgroup per row. */
const WG = 64;

function kernel(body: string, ins: [string, string][], prelude = ''): string {
  let code = prelude + PARAMS.code;
  ins.forEach(([name, type], i) => (code += wgslStorage(i, name, type, 'read')));
  code += wgslStorage(ins.length, 'Dx', 'array<f32>', 'read_write');
  code += `@group(0) @binding(${ins.length + 1}) var<uniform> p: Params;\n`;
  return code + wgslFoldedMain(WG) + body + '}\n';
}

const AVG = kernel(
  `  if (gid >= p.n) { return; }
  let c = gid % p.C;
  let s = gid / (p.C * p.inner);
  Dx[gid] = Dy[s * p.C + c] / f32(p.inner);
`,
  [['Dy', 'array<f32>']],
);

// dx = (dy − y (y·dy)) / max(‖x‖, eps), or dy / eps below eps (both row sums are taken first, so
// the workgroup variant has no early return before its barriers). One body for both variants: an
// invocation per row, or a workgroup per row (wg_sum through subgroups).
function l2Wgsl(variant: L2NormVariant): string {
  const r = wgslRowLoop(variant, WG);
  return kernel(
    `  let row = ${r.row};
  if (row >= p.n) { return; }
  ${r.init}
  let base = row * p.C;
  var ss = 0.0;
  var xd = 0.0;
  ${r.loop('c', 'p.C')} { ss += X[base + c] * X[base + c]; xd += X[base + c] * Dy[base + c]; }
  let nrm = sqrt(${r.sum('ss')});
  let yd = ${r.sum('xd')} / nrm;
  let eps = bitcast<f32>(p.eps);
  ${r.loop('c', 'p.C')} { Dx[base + c] = select((Dy[base + c] - X[base + c] / nrm * yd) / nrm, Dy[base + c] / eps, nrm <= eps); }
`,
    [['X', 'array<f32>'], ['Dy', 'array<f32>']],
    wgslEnableSubgroups(variant === 'subgroup') + r.code,
  );
}

// Every element of dx [B, T, D]: dy[b] at the first position of the row's largest id, else 0.
const EOT = kernel(
  `  if (gid >= p.n) { return; }
  let d = gid % p.C;
  let t = (gid / p.C) % p.inner;
  let b = gid / (p.C * p.inner);
  var best = 0u;
  for (var j = 1u; j < p.inner; j++) { if (Tok[b * p.inner + j] > Tok[b * p.inner + best]) { best = j; } }
  Dx[gid] = select(0.0, Dy[b * p.C + d], t == best);
`,
  [['Tok', 'array<i32>'], ['Dy', 'array<f32>']],
);

/** dx [N, H, W, C] of globalAvgPool from dy [N, C]. */
export function globalAvgPoolBackward(dy: Tensor, inputShape: readonly number[]): Tensor {
  if (inputShape.length !== 4) throw new ShapeError('globalAvgPoolBackward', `input shape must be NHWC [N, H, W, C], got [${inputShape.join(', ')}]`);
  const [N, H, W, C] = inputShape;
  if (dy.dtype !== 'f32' || dy.size !== N * C) throw new ShapeError('globalAvgPoolBackward dy', `must be f32 [${N}, ${C}], got ${dy.dtype} [${dy.shape.join(', ')}]`);
  const dx = Tensor.empty(dy.gpu, inputShape, 'f32', 'avgpool.dx');
  dispatchItems(dy.gpu, 'avgpool-backward', AVG, [dy, dx], 1, PARAMS, [dx.size, C, H * W, 0], dx.size);
  return dx;
}

/** dx of y = x / max(‖x‖₂, eps) over the last axis (F.normalize). */
export function l2NormalizeBackward(x: Tensor, dy: Tensor, opts: { eps?: number; variant?: L2NormVariant } = {}): Tensor {
  const C = x.shape[x.shape.length - 1] ?? 0;
  if (x.dtype !== 'f32' || dy.dtype !== 'f32' || dy.size !== x.size || C === 0) {
    throw new ShapeError('l2NormalizeBackward', `expects f32 x and dy of the same shape, got ${x.dtype} [${x.shape.join(', ')}] and ${dy.dtype} [${dy.shape.join(', ')}]`);
  }
  const variant = opts.variant ?? defaultL2NormVariant(x.gpu);
  checkSubgroups(x.gpu, variant, 'l2NormalizeBackward');
  const rows = x.size / C;
  const dx = Tensor.empty(x.gpu, x.shape, 'f32', 'l2norm.dx');
  // dispatchItems counts invocations: WG per row for the subgroup variant.
  dispatchItems(x.gpu, `l2norm-backward/${variant}`, l2Wgsl(variant), [x, dy, dx], 1, PARAMS, [rows, C, 1, f32Bits(opts.eps ?? 1e-12)], variant === 'row' ? rows : rows * WG);
  return dx;
}

/** dx [B, T, D] of argmaxPool(x, tokens) from dy [B, D] and tokens i32 [B, T]. */
export function argmaxPoolBackward(dy: Tensor, tokens: Tensor): Tensor {
  if (tokens.dtype !== 'i32' || tokens.shape.length !== 2) throw new ShapeError('argmaxPoolBackward tokens', `must be i32 [B, T], got ${tokens.dtype} [${tokens.shape.join(', ')}]`);
  const [B, T] = tokens.shape;
  if (dy.dtype !== 'f32' || dy.shape.length !== 2 || dy.shape[0] !== B) throw new ShapeError('argmaxPoolBackward dy', `must be f32 [${B}, D], got ${dy.dtype} [${dy.shape.join(', ')}]`);
  const D = dy.shape[1];
  const dx = Tensor.empty(dy.gpu, [B, T, D], 'f32', 'eotpool.dx');
  dispatchItems(dy.gpu, 'eotpool-backward', EOT, [tokens, dy, dx], 1, PARAMS, [dx.size, D, T, 0], dx.size);
  return dx;
}
