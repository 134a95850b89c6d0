// Patchify convolution (kernel = stride, no padding) as an implicit GEMM: the ConvNeXt stem
// (3 → C0, k4 s4, reading the NCHW pixel tensor) and the stage downsamples (k2 s2, NHWC → NHWC).
// Output is always NHWC [N, Ho, Wo, Cout]: rows of the GEMM are output pixels, columns are output
// channels, K = Cin·kh·kw. Because kernel = stride, the K values of one output pixel are a few
// contiguous runs of the input, which matmul.ts's "patch" A-layout streams with vec4 loads:
// - NCHW input: one run of kw pixels per (ci, dy), in PyTorch's weight order, so the weight is
//   used as stored ([Cout, Cin, kh, kw]).
// - NHWC input: one run of kw·Cin values per dy, so the weight must be in [Cout, kh, kw, Cin] order:
//   repack it ONCE at load time with `packConv2dWeight` (the runs then line up with weight rows).
// Floor semantics as PyTorch: trailing input rows/columns that do not fill a patch are ignored.
import { ShapeError } from '../errors.js';
import type { HostArray } from '../gpu/dtype.js';
import { Tensor } from '../gpu/tensor.js';
import { recordGemm, type GemmMath, type MatmulVariant } from './gemm/index.js';
import type { FloatDType } from './wgsl.js';

export type ConvInputLayout = 'nchw' | 'nhwc';

export interface PatchConv2dOptions {
  /** Layout of x: 'nchw' (pixels; weight as PyTorch stores it) or 'nhwc' (weight from packConv2dWeight). */
  inputLayout: ConvInputLayout;
  bias?: Tensor;
  out?: Tensor;
  /** dtype of a newly allocated output (default: x's dtype). */
  dtype?: FloatDType;
  variant?: MatmulVariant;
  /** Arithmetic the automatic GEMM choice may use ('f16': autocast-like; default 'f32'). */
  math?: GemmMath;
}

/**
 * Host-side axis permutation of a dense row-major array (weights are repacked once, on the CPU,
 * before upload). `perm[i]` is the source axis of output axis i, as in numpy.transpose.
 */
export function permuteHost<T extends HostArray>(data: T, shape: readonly number[], perm: readonly number[]): { data: T; shape: number[] } {
  const n = shape.reduce((p, d) => p * d, 1);
  if (data.length !== n) throw new ShapeError('permute', `has ${data.length} values but shape [${shape.join(', ')}] needs ${n}`);
  if (perm.length !== shape.length || [...perm].sort().some((v, i) => v !== i)) {
    throw new ShapeError('permute', `[${perm.join(', ')}] is not a permutation of the ${shape.length} axes of [${shape.join(', ')}]`);
  }
  const outShape = perm.map((a) => shape[a]);
  const srcStrides = new Array<number>(shape.length);
  for (let i = shape.length - 1, s = 1; i >= 0; i--) {
    srcStrides[i] = s;
    s *= shape[i];
  }
  const strides = perm.map((a) => srcStrides[a]);
  const out = new (data.constructor as new (n: number) => T)(n);
  const idx = new Array<number>(shape.length).fill(0);
  let src = 0;
  for (let o = 0; o < n; o++) {
    out[o] = data[src];
    // Odometer over the output axes, tracking the source offset incrementally.
    for (let ax = outShape.length - 1; ax >= 0; ax--) {
      if (++idx[ax] < outShape[ax]) {
        src += strides[ax];
        break;
      }
      src -= strides[ax] * (outShape[ax] - 1);
      idx[ax] = 0;
    }
  }
  return { data: out, shape: outShape };
}

/** PyTorch conv weight [Cout, Cin, kh, kw] → [Cout, kh, kw, Cin], the order NHWC patchify needs. */
export function packConv2dWeight<T extends HostArray>(data: T, shape: readonly number[]): { data: T; shape: number[] } {
  if (shape.length !== 4) throw new ShapeError('conv2d weight', `must be [Cout, Cin, kh, kw], got [${shape.join(', ')}]`);
  return permuteHost(data, shape, [0, 2, 3, 1]);
}

/**
 * Conv2d with kernel = stride and no padding (PyTorch Conv2d(Cin, Cout, k, stride=k)), as one
 * GEMM dispatch. x: [N, Cin, H, W] ('nchw') or [N, H, W, Cin] ('nhwc'); weight: [Cout, Cin, kh, kw]
 * ('nchw') or [Cout, kh, kw, Cin] ('nhwc', see packConv2dWeight); returns NHWC [N, Ho, Wo, Cout].
 */
export function patchConv2d(x: Tensor, weight: Tensor, opts: PatchConv2dOptions): Tensor {
  const gpu = x.gpu;
  const nchw = opts.inputLayout === 'nchw';
  const want = nchw ? '[N, Cin, H, W]' : '[N, H, W, Cin]';
  const wantW = nchw ? '[Cout, Cin, kh, kw]' : '[Cout, kh, kw, Cin] (packConv2dWeight)';
  if (x.shape.length !== 4) throw new ShapeError('conv2d input', `must be ${want}, got [${x.shape.join(', ')}]`);
  if (weight.shape.length !== 4) throw new ShapeError('conv2d weight', `must be ${wantW}, got [${weight.shape.join(', ')}]`);
  const [N, Cin, H, W] = nchw ? x.shape : [x.shape[0], x.shape[3], x.shape[1], x.shape[2]];
  const [Cout, wCin, kh, kw] = nchw ? weight.shape : [weight.shape[0], weight.shape[3], weight.shape[1], weight.shape[2]];
  if (wCin !== Cin) {
    const hint = !nchw && weight.shape[1] === Cin ? 'this looks like PyTorch order: repack it once with packConv2dWeight' : 'check the layer and the input layout';
    throw new ShapeError('conv2d weight', `must be ${wantW} with Cin = ${Cin} (input ${want} = [${x.shape.join(', ')}]), got [${weight.shape.join(', ')}]`, { hint });
  }
  if (kh === 0 || kw === 0) throw new ShapeError('conv2d weight', `has an empty kernel [${weight.shape.join(', ')}]`);
  const Ho = Math.floor(H / kh);
  const Wo = Math.floor(W / kw);
  if (N > 0 && (Ho === 0 || Wo === 0)) throw new ShapeError('conv2d input', `spatial size ${H}×${W} is smaller than the ${kh}×${kw} kernel`);
  if (opts.bias && opts.bias.size !== Cout) throw new ShapeError('conv2d bias', `must have Cout = ${Cout} values, got [${opts.bias.shape.join(', ')}]`);
  const outShape = [N, Ho, Wo, Cout];
  const out = opts.out ?? Tensor.empty(gpu, outShape, opts.dtype ?? (x.dtype as FloatDType), 'conv2d.out');
  if (out.size !== N * Ho * Wo * Cout) throw new ShapeError('conv2d out', `must hold [${outShape.join(', ')}], has [${out.shape.join(', ')}]`);
  const patch = nchw
    ? { Ho, Wo, sN: Cin * H * W, sOy: kh * W, sOx: kw, segLen: kw, segInner: kh, segOuterStride: H * W, segInnerStride: W }
    : { Ho, Wo, sN: H * W * Cin, sOy: kh * W * Cin, sOx: kw * Cin, segLen: kw * Cin, segInner: 1, segOuterStride: W * Cin, segInnerStride: 0 };
  recordGemm(gpu, {
    name: `conv2d-${opts.inputLayout}`, a: x, b: weight, out, M: N * Ho * Wo, N: Cout, K: Cin * kh * kw, batch: 1,
    strideA: 0, strideB: 0, transB: true, patch, epilogue: { bias: opts.bias }, variant: opts.variant, math: opts.math,
  });
  return out;
}
