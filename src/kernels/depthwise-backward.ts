// Backward of the depthwise convolution (NHWC x, tap-major weight [kh, kw, C], zero padding).
// dx is the forward kernel on dy with the kernel rotated by 180° (a gather kernel remains for
// paddings beyond k − 1, where that identity needs negative padding); dW is a register-tiled
// per-(output row, channel) partial sum of every tap followed by a deterministic column sum over
// output rows; db is the column sum of dy. x and the weight may each
// be f16 (mixed precision saves them so); they are widened on load and all sums stay f32.
import { ShapeError } from '../errors.js';
import { Tensor } from '../gpu/tensor.js';
import { depthwiseConv2d } from './depthwise.js';
import { columnSum } from './matmul-backward.js';
import { cachedWgsl, checkF32Tensor, checkFloatTensor, dispatchItems, wgslEnableF16, wgslFoldedMain, wgslPaddedRowLoad, wgslParamsStruct, wgslReadArray, wgslStorage, type FloatDType } from './wgsl.js';

const PARAMS = wgslParamsStruct('Params', ['N', 'H', 'W', 'C', 'Ho', 'Wo', 'kh', 'kw', 'pad']);

const dxWgsl = (tW: FloatDType) =>
  wgslEnableF16(tW === 'f16') + PARAMS.code +
  wgslStorage(0, 'Dy', 'array<f32>', 'read') + wgslReadArray(1, 'Wt', tW) + wgslStorage(2, 'Dx', 'array<f32>', 'read_write') +
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
      s += Dy[((n * p.Ho + u32(oy)) * p.Wo + u32(ox)) * p.C + c] * f32(Wt[(ty * p.kw + tx) * p.C + c]);
    }
  }
  Dx[gid] = s;
}
`;

// Partial[(n·Ho + oy), tap, c] = Σ_ox dy[n, oy, ox, c] · x[n, oy + ty − pad, ox + tx − pad, c].
// One invocation per (n, oy, c), channel-fastest, with all kh·kw tap sums in registers: it walks
// the row in tiles of TW outputs, loading TW dy values and, per kernel row, the TW + kw − 1 input
// pixels they touch once — (TW + kh·(TW + kw − 1)) loads per kh·kw·TW FMAs instead of two loads per
// FMA (per-lane loads are the expensive part on software adapters).
const DW_TILE = 8;
const dwWgsl = cachedWgsl((tX: FloatDType, kh: number, kw: number): string => {
  const taps = kh * kw;
  const span = DW_TILE + kw - 1;
  const range = (n: number) => [...Array(n).keys()];
  let body = range(DW_TILE).map((t) => `    let g${t} = select(0.0, Dy[(dyRow + min(ox0 + ${t}u, p.Wo - 1u)) * p.C + c], ox0 + ${t}u < p.Wo);\n`).join('');
  for (let ty = 0; ty < kh; ty++) {
    body += `    {\n      let y = i32(oy) + ${ty} - i32(p.pad);\n      if (y >= 0 && y < i32(p.H)) {\n        let xRow = (n * p.H + u32(y)) * p.W;\n`;
    body += range(span).map((e) => `        let x${e} = ldx(xRow, i32(ox0) + ${e} - i32(p.pad), c);\n`).join('');
    for (let tx = 0; tx < kw; tx++) body += `        s${ty * kw + tx} += ${range(DW_TILE).map((t) => `g${t} * x${t + tx}`).join(' + ')};\n`;
    body += '      }\n    }\n';
  }
  return (
    wgslEnableF16(tX === 'f16') + PARAMS.code +
    wgslStorage(0, 'Dy', 'array<f32>', 'read') + wgslReadArray(1, 'X', tX) + wgslStorage(2, 'Part', 'array<f32>', 'read_write') +
    '@group(0) @binding(3) var<uniform> p: Params;\n' +
    wgslPaddedRowLoad('X', 'f32', 'p.W', 'p.C') +
    wgslFoldedMain(64) +
    /* wgsl */ `
  if (gid >= p.N * p.Ho * p.C) { return; }
  let c = gid % p.C;
  let row = gid / p.C;
  let oy = row % p.Ho;
  let n = row / p.Ho;
  let dyRow = row * p.Wo;
${range(taps).map((i) => `  var s${i} = 0.0;`).join('\n')}
  for (var ox0 = 0u; ox0 < p.Wo; ox0 += ${DW_TILE}u) {
${body}  }
  let o = row * ${taps}u * p.C + c;
${range(taps).map((i) => `  Part[o + ${i}u * p.C] = s${i};`).join('\n')}
}
`
  );
});

export interface DepthwiseGrads {
  dx?: Tensor;
  /** Tap-major [kh, kw, C] like the packed weight. */
  dweight?: Tensor;
  dbias?: Tensor;
}

/**
 * Gradients of depthwiseConv2d(x, weight, {padding}) given dy [N, Ho, Wo, C]. x and weight may be
 * f16; dy and the gradients are f32.
 */
export function depthwiseConv2dBackward(x: Tensor, weight: Tensor, dy: Tensor, opts: { padding?: number; dx?: boolean; dweight?: boolean; dbias?: boolean } = {}): DepthwiseGrads {
  const gpu = x.gpu;
  checkFloatTensor(gpu, x, 'depthwiseConv2dBackward x');
  checkFloatTensor(gpu, weight, 'depthwiseConv2dBackward weight');
  checkF32Tensor(dy, 'depthwiseConv2dBackward dy');
  if (x.shape.length !== 4 || weight.shape.length !== 3 || weight.shape[2] !== x.shape[3]) {
    throw new ShapeError('depthwiseConv2dBackward', `expects x [N, H, W, C] and tap-major weight [kh, kw, C], got x [${x.shape.join(', ')}], weight [${weight.shape.join(', ')}]`);
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
    if (pad <= kh - 1 && pad <= kw - 1) {
      // dx is dy correlated with the 180°-rotated kernel at padding k − 1 − pad: the forward kernel.
      out.dx = depthwiseConv2d(dy, weight, { padding: [kh - 1 - pad, kw - 1 - pad], flipKernel: true, dtype: 'f32' });
    } else {
      out.dx = Tensor.empty(gpu, x.shape, 'f32', 'depthwise.dx');
      dispatchItems(gpu, 'depthwise-backward-dx', dxWgsl(weight.dtype as FloatDType), [dy, weight, out.dx], 1, PARAMS, values, x.size);
    }
  }
  if (opts.dweight ?? true) {
    const part = Tensor.empty(gpu, [N * Ho, kh * kw * C], 'f32', 'depthwise.dw-partial');
    dispatchItems(gpu, `depthwise-backward-dw${kh}x${kw}`, dwWgsl(x.dtype as FloatDType, kh, kw), [dy, x, part], 1, PARAMS, values, N * Ho * C);
    out.dweight = Tensor.empty(gpu, [kh, kw, C], 'f32', 'depthwise.dweight');
    columnSum(part, { out: out.dweight.reshape([kh * kw * C]) });
    part.release();
  }
  if (opts.dbias ?? true) out.dbias = columnSum(dy, { cols: C });
  return out;
}
