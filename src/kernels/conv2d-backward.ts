// Backward of the stride = kernel patch convolution (patchConv2d). Patches do not overlap, so the
// convolution is exactly a GEMM over an "unfolded" patch matrix cols [N·Ho·Wo, K] (K = Cin·kh·kw in
// the weight's own order): dW = dyᵀ·cols and dcols = dy·W are forward GEMMs, and dx is the fold
// of dcols — a pure gather (each input pixel belongs to at most one patch), so no atomics.
// x and the weight may each be f16 (mixed precision): the unfold widens x into f32 columns and the
// GEMM widens the weight on load, so every gradient is computed and stored in f32.
import { ShapeError } from '../errors.js';
import { Tensor } from '../gpu/tensor.js';
import type { ConvInputLayout } from './conv2d.js';
import { columnSum, matmulTransA } from './matmul-backward.js';
import { matmul } from './gemm/index.js';
import { checkF32Tensor, checkFloatTensor, dispatchItems, wgslEnableF16, wgslFoldedMain, wgslParamsStruct, wgslReadArray, wgslStorage, type FloatDType } from './wgsl.js';

const PARAMS = wgslParamsStruct('Params', ['n', 'Cin', 'H', 'W', 'Ho', 'Wo', 'kh', 'kw']);

/**
 * Index helpers: for input element (n, ci, y, x) in the given layout, its flat index, and for a
 * (row, k) of the patch matrix the input element it reads.
 */
function geometry(layout: ConvInputLayout): string {
  const xIndex = layout === 'nchw' ? '((n * p.Cin + ci) * p.H + y) * p.W + x' : '((n * p.H + y) * p.W + x) * p.Cin + ci';
  // k order: (ci, dy, dx) for NCHW input (PyTorch weight order), (dy, dx, ci) for NHWC (packed).
  const kIndex = layout === 'nchw' ? '(ci * p.kh + dy) * p.kw + dx' : '(dy * p.kw + dx) * p.Cin + ci';
  return `fn xIndex(n: u32, ci: u32, y: u32, x: u32) -> u32 { return ${xIndex}; }\nfn kIndex(ci: u32, dy: u32, dx: u32) -> u32 { return ${kIndex}; }\n`;
}

function unfoldWgsl(layout: ConvInputLayout, tX: FloatDType): string {
  const decode = layout === 'nchw' ? 'let dx = k % p.kw; let dy = (k / p.kw) % p.kh; let ci = k / (p.kw * p.kh);' : 'let ci = k % p.Cin; let dx = (k / p.Cin) % p.kw; let dy = k / (p.Cin * p.kw);';
  return (
    wgslEnableF16(tX === 'f16') + PARAMS.code + geometry(layout) +
    wgslReadArray(0, 'X', tX) + wgslStorage(1, 'Cols', 'array<f32>', 'read_write') +
    '@group(0) @binding(2) var<uniform> p: Params;\n' + wgslFoldedMain(64) +
    /* wgsl */ `
  let K = p.Cin * p.kh * p.kw;
  if (gid >= p.n * p.Ho * p.Wo * K) { return; }
  let k = gid % K;
  let r = gid / K;
  let ox = r % p.Wo;
  let oy = (r / p.Wo) % p.Ho;
  let n = r / (p.Wo * p.Ho);
  ${decode}
  Cols[gid] = f32(X[xIndex(n, ci, oy * p.kh + dy, ox * p.kw + dx)]);
}
`
  );
}

function foldWgsl(layout: ConvInputLayout): string {
  const decode = layout === 'nchw' ? 'let x = gid % p.W; let y = (gid / p.W) % p.H; let ci = (gid / (p.W * p.H)) % p.Cin; let n = gid / (p.W * p.H * p.Cin);' : 'let ci = gid % p.Cin; let x = (gid / p.Cin) % p.W; let y = (gid / (p.Cin * p.W)) % p.H; let n = gid / (p.Cin * p.W * p.H);';
  return (
    PARAMS.code + geometry(layout) +
    wgslStorage(0, 'Cols', 'array<f32>', 'read') + wgslStorage(1, 'Dx', 'array<f32>', 'read_write') +
    '@group(0) @binding(2) var<uniform> p: Params;\n' + wgslFoldedMain(64) +
    /* wgsl */ `
  if (gid >= p.n * p.Cin * p.H * p.W) { return; }
  ${decode}
  let oy = y / p.kh;
  let ox = x / p.kw;
  // Pixels past the last whole patch (H % kh, W % kw) are never read by the forward pass.
  if (oy >= p.Ho || ox >= p.Wo) { Dx[gid] = 0.0; return; }
  let K = p.Cin * p.kh * p.kw;
  let r = (n * p.Ho + oy) * p.Wo + ox;
  Dx[gid] = Cols[r * K + kIndex(ci, y - oy * p.kh, x - ox * p.kw)];
}
`
  );
}

export interface Conv2dGrads {
  dx?: Tensor;
  /** In the weight's layout ([Cout, Cin, kh, kw] for 'nchw', packed [Cout, kh, kw, Cin] for 'nhwc'). */
  dweight?: Tensor;
  dbias?: Tensor;
}

/**
 * Gradients of patchConv2d(x, weight, {inputLayout, bias}) given dy NHWC [N, Ho, Wo, Cout]. x and
 * weight may be f16; dy and the gradients are f32.
 */
export function patchConv2dBackward(x: Tensor, weight: Tensor, dy: Tensor, opts: { inputLayout: ConvInputLayout; dx?: boolean; dweight?: boolean; dbias?: boolean }): Conv2dGrads {
  const gpu = x.gpu;
  const nchw = opts.inputLayout === 'nchw';
  checkFloatTensor(gpu, x, 'patchConv2dBackward x');
  checkFloatTensor(gpu, weight, 'patchConv2dBackward weight');
  checkF32Tensor(dy, 'patchConv2dBackward dy');
  if (x.shape.length !== 4 || weight.shape.length !== 4) {
    throw new ShapeError('patchConv2dBackward', `expects 4-D x and weight, got x [${x.shape.join(', ')}], weight [${weight.shape.join(', ')}]`);
  }
  const [N, Cin, H, W] = nchw ? x.shape : [x.shape[0], x.shape[3], x.shape[1], x.shape[2]];
  const [Cout, wCin, kh, kw] = nchw ? weight.shape : [weight.shape[0], weight.shape[3], weight.shape[1], weight.shape[2]];
  const Ho = Math.floor(H / kh);
  const Wo = Math.floor(W / kw);
  if (wCin !== Cin || dy.shape.length !== 4 || dy.shape[0] !== N || dy.shape[1] !== Ho || dy.shape[2] !== Wo || dy.shape[3] !== Cout) {
    throw new ShapeError('patchConv2dBackward', `dy must be [${N}, ${Ho}, ${Wo}, ${Cout}] for x [${x.shape.join(', ')}] and weight [${weight.shape.join(', ')}], got [${dy.shape.join(', ')}]`);
  }
  const K = Cin * kh * kw;
  const R = N * Ho * Wo;
  const values = [N, Cin, H, W, Ho, Wo, kh, kw];
  const dy2 = dy.reshape([R, Cout]);
  const out: Conv2dGrads = {};
  if (opts.dweight ?? true) {
    const cols = Tensor.empty(gpu, [R, K], 'f32', 'conv2d.cols');
    dispatchItems(gpu, `conv2d-unfold-${opts.inputLayout}`, unfoldWgsl(opts.inputLayout, x.dtype as FloatDType), [x, cols], 1, PARAMS, values, R * K);
    out.dweight = Tensor.empty(gpu, weight.shape, 'f32', 'conv2d.dweight');
    matmulTransA(dy2, cols, { out: out.dweight.reshape([Cout, K]) });
    cols.release();
  }
  if (opts.dbias ?? true) out.dbias = columnSum(dy2);
  if (opts.dx ?? true) {
    const dcols = matmul(dy2, weight.reshape([Cout, K]), { dtype: 'f32' });
    out.dx = Tensor.empty(gpu, x.shape, 'f32', 'conv2d.dx');
    dispatchItems(gpu, `conv2d-fold-${opts.inputLayout}`, foldWgsl(opts.inputLayout), [dcols, out.dx], 1, PARAMS, values, x.size);
    dcols.release();
  }
  return out;
}
