// Backward of the depthwise convolution (NHWC x, tap-major weight [kh, kw, C], zero padding).
// dx is a gather (the transposed correlation: each input pixel sums dy over the outputs whose
// window covers it); dW is a per-(output row, tap, channel) partial sum followed by a
// deterministic column sum over output rows; db is the column sum of dy.
import { ShapeError } from '../errors.js';
import { Tensor } from '../gpu/tensor.js';
import { columnSum } from './matmul-backward.js';
import { dispatchItems, wgslFoldedMain, wgslParamsStruct, wgslStorage } from './wgsl.js';

const PARAMS = wgslParamsStruct('Params', ['N', 'H', 'W', 'C', 'Ho', 'Wo', 'kh', 'kw', 'pad']);

const DX =
  PARAMS.code +
  wgslStorage(0, 'Dy', 'array<f32>', 'read') + wgslStorage(1, 'Wt', 'array<f32>', 'read') + wgslStorage(2, 'Dx', 'array<f32>', 'read_write') +
  '@group(0) @binding(3) var<uniform> p: Params;\n' + wgslFoldedMain(64) +
  /* wgsl */ `
  if (gid >= p.N * p.H * p.W * p.C) { return; }
  let c = gid % p.C;
  let x = i32((gid / p.C) % p.W);
  let y = i32((gid / (p.C * p.W)) % p.H);
  let n = gid / (p.C * p.W * p.H);
  var s = 0.0;
  for (var ty = 0u; ty < p.kh; ty++) {
    let oy = y - i32(ty) + i32(p.pad);
    if (oy < 0 || oy >= i32(p.Ho)) { continue; }
    for (var tx = 0u; tx < p.kw; tx++) {
      let ox = x - i32(tx) + i32(p.pad);
      if (ox < 0 || ox >= i32(p.Wo)) { continue; }
      s += Dy[((n * p.Ho + u32(oy)) * p.Wo + u32(ox)) * p.C + c] * Wt[(ty * p.kw + tx) * p.C + c];
    }
  }
  Dx[gid] = s;
}
`;

// Partial[(n·Ho + oy), tap, c] = Σ_ox dy[n, oy, ox, c] · x[n, oy + ty − pad, ox + tx − pad, c]
const DW =
  PARAMS.code +
  wgslStorage(0, 'Dy', 'array<f32>', 'read') + wgslStorage(1, 'X', 'array<f32>', 'read') + wgslStorage(2, 'Part', 'array<f32>', 'read_write') +
  '@group(0) @binding(3) var<uniform> p: Params;\n' + wgslFoldedMain(64) +
  /* wgsl */ `
  let taps = p.kh * p.kw;
  if (gid >= p.N * p.Ho * taps * p.C) { return; }
  let c = gid % p.C;
  let tap = (gid / p.C) % taps;
  let row = gid / (p.C * taps);
  let oy = row % p.Ho;
  let n = row / p.Ho;
  let ty = tap / p.kw;
  let tx = tap % p.kw;
  let y = i32(oy + ty) - i32(p.pad);
  var s = 0.0;
  if (y >= 0 && y < i32(p.H)) {
    for (var ox = 0u; ox < p.Wo; ox++) {
      let x = i32(ox + tx) - i32(p.pad);
      if (x < 0 || x >= i32(p.W)) { continue; }
      s += Dy[((n * p.Ho + oy) * p.Wo + ox) * p.C + c] * X[((n * p.H + u32(y)) * p.W + u32(x)) * p.C + c];
    }
  }
  Part[gid] = s;
}
`;

export interface DepthwiseGrads {
  dx?: Tensor;
  /** Tap-major [kh, kw, C] like the packed weight. */
  dweight?: Tensor;
  dbias?: Tensor;
}

/** Gradients of depthwiseConv2d(x, weight, {padding}) given dy [N, Ho, Wo, C]. */
export function depthwiseConv2dBackward(x: Tensor, weight: Tensor, dy: Tensor, opts: { padding?: number; dx?: boolean; dweight?: boolean; dbias?: boolean } = {}): DepthwiseGrads {
  const gpu = x.gpu;
  if (x.dtype !== 'f32' || weight.dtype !== 'f32' || dy.dtype !== 'f32' || x.shape.length !== 4 || weight.shape.length !== 3 || weight.shape[2] !== x.shape[3]) {
    throw new ShapeError('depthwiseConv2dBackward', `expects f32 x [N, H, W, C] and tap-major weight [kh, kw, C], got x ${x.dtype} [${x.shape.join(', ')}], weight ${weight.dtype} [${weight.shape.join(', ')}]`);
  }
  const [N, H, W, C] = x.shape;
  const [kh, kw] = weight.shape;
  const pad = opts.padding ?? Math.floor((Math.max(kh, kw) - 1) / 2);
  const Ho = H + 2 * pad - kh + 1;
  const Wo = W + 2 * pad - kw + 1;
  if (dy.shape.length !== 4 || dy.shape[0] !== N || dy.shape[1] !== Ho || dy.shape[2] !== Wo || dy.shape[3] !== C) {
    throw new ShapeError('depthwiseConv2dBackward dy', `must be [${N}, ${Ho}, ${Wo}, ${C}], got [${dy.shape.join(', ')}]`);
  }
  const values = [N, H, W, C, Ho, Wo, kh, kw, pad];
  const out: DepthwiseGrads = {};
  if (opts.dx ?? true) {
    out.dx = Tensor.empty(gpu, x.shape, 'f32', 'depthwise.dx');
    dispatchItems(gpu, 'depthwise-backward-dx', DX, [dy, weight, out.dx], 1, PARAMS, values, x.size);
  }
  if (opts.dweight ?? true) {
    const part = Tensor.empty(gpu, [N * Ho, kh * kw * C], 'f32', 'depthwise.dw-partial');
    dispatchItems(gpu, 'depthwise-backward-dw', DW, [dy, x, part], 1, PARAMS, values, part.size);
    out.dweight = Tensor.empty(gpu, [kh, kw, C], 'f32', 'depthwise.dweight');
    columnSum(part, { out: out.dweight.reshape([kh * kw * C]) });
    part.release();
  }
  if (opts.dbias ?? true) out.dbias = columnSum(dy, { cols: C });
  return out;
}
