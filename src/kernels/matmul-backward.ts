// Backward of matmul / linear: the two operand gradients are GEMMs with transposed operands
// (reusing the forward GEMM kernels), and the bias gradient is a column sum. The column sum is a
// deterministic two-stage reduction (fixed chunks, fixed order, no atomics), so training runs are
// bit-for-bit reproducible on one adapter. In mixed-precision training the saved operands (x, the
// weight, the `times` factor of the column sum) may be f16: the GEMM widens them on load, so every
// gradient is still accumulated and stored in f32; incoming gradients must be f32.
import { ShapeError } from '../errors.js';
import { Tensor } from '../gpu/tensor.js';
import { matmul } from './gemm/index.js';
import { checkF32Tensor, checkFloatTensor, dispatchItems, wgslEnableF16, wgslFoldedMain, wgslParamsStruct, wgslReadArray, wgslStorage, type FloatDType } from './wgsl.js';

const SUM_PARAMS = wgslParamsStruct('Params', ['rows', 'cols', 'chunk', 'chunks']);
/** Rows per partial sum in the first stage. */
const CHUNK = 256;

/** `product`: the dtype of the `times` operand Y (which may be f16), or null for a plain sum. */
function columnSumWgsl(product: FloatDType | null): string {
  return (
    wgslEnableF16(product === 'f16') +
    SUM_PARAMS.code +
    wgslStorage(0, 'X', 'array<f32>', 'read') +
    (product ? wgslReadArray(1, 'Y', product) : '') +
    wgslStorage(product ? 2 : 1, 'Out', 'array<f32>', 'read_write') +
    `@group(0) @binding(${product ? 3 : 2}) var<uniform> p: Params;\n` +
    wgslFoldedMain(64) +
    /* wgsl */ `
  if (gid >= p.cols * p.chunks) { return; }
  let c = gid % p.cols;
  let part = gid / p.cols;
  let r0 = part * p.chunk;
  let r1 = min(r0 + p.chunk, p.rows);
  var s = 0.0;
  for (var r = r0; r < r1; r++) { s += X[r * p.cols + c]${product ? ' * f32(Y[r * p.cols + c])' : ''}; }
  Out[part * p.cols + c] = s;
}
`
  );
}

/**
 * Σ over rows of x [rows, cols] (any shape; the last axis is `cols`), or of x ⊙ y when `times` is
 * given → f32 [cols]. Bias gradients (Σ dy) and scale gradients (Σ dy ⊙ h) are both this. x is
 * f32; `times` may be f16 (a saved activation).
 */
export function columnSum(x: Tensor, opts: { times?: Tensor; cols?: number; out?: Tensor } = {}): Tensor {
  const gpu = x.gpu;
  const cols = opts.cols ?? (x.shape.length ? x.shape[x.shape.length - 1] : 1);
  if (x.dtype !== 'f32' || cols <= 0 || x.size % cols !== 0) throw new ShapeError('columnSum input', `must be f32 with a multiple of ${cols} values, got ${x.dtype} [${x.shape.join(', ')}]`);
  const y = opts.times;
  if (y) {
    checkFloatTensor(gpu, y, 'columnSum times');
    if (y.size !== x.size) throw new ShapeError('columnSum times', `must have ${x.size} values like the input, got [${y.shape.join(', ')}]`);
  }
  const rows = x.size / cols;
  const out = opts.out ?? Tensor.empty(gpu, [cols], 'f32', 'columnSum.out');
  if (out.dtype !== 'f32' || out.size !== cols) throw new ShapeError('columnSum out', `must be f32 with ${cols} values, got ${out.dtype} [${out.shape.join(', ')}]`);
  if (rows === 0) {
    gpu.recorder.clearBuffer(out.buffer, out.byteOffset, out.byteLength);
    return out;
  }
  const tY = y ? (y.dtype as FloatDType) : null;
  const chunks = Math.ceil(rows / CHUNK);
  if (chunks === 1) {
    dispatchItems(gpu, 'column-sum', columnSumWgsl(tY), y ? [x, y, out] : [x, out], 1, SUM_PARAMS, [rows, cols, CHUNK, 1], cols);
    return out;
  }
  const partial = Tensor.empty(gpu, [chunks, cols], 'f32', 'columnSum.partial');
  dispatchItems(gpu, 'column-sum', columnSumWgsl(tY), y ? [x, y, partial] : [x, partial], 1, SUM_PARAMS, [rows, cols, CHUNK, chunks], cols * chunks);
  columnSum(partial, { out });
  partial.release();
  return out;
}


/** Split-K chunk target for weight gradients: long reductions are cut into about this many rows. */
const SPLIT_K_ROWS = 512;

/** The divisor of n closest to `target` within [target / 2, 2 · target], or 0 when there is none. */
function chunkLength(n: number, target: number): number {
  for (let d = 0; d <= target; d++) {
    for (const c of [target - d, target + d]) if (c >= target / 2 && c <= 2 * target && c > 0 && n % c === 0) return c;
  }
  return 0;
}

/**
 * aᵀ·b for a [R, M], b [R, N] → f32 [M, N] (weight gradients: dyᵀ·x; either operand may be f16).
 * R is the number of activation rows (N·H·W pixels, or B·T tokens) and is often far larger than
 * M and N, which leaves a plain GEMM with only a few output tiles (a handful of workgroups on a
 * CPU adapter). Long reductions are split into equal chunks computed as one batched GEMM, then
 * summed by columnSum, in a fixed order (deterministic).
 */
export function matmulTransA(a: Tensor, b: Tensor, opts: { out?: Tensor } = {}): Tensor {
  if (a.shape.length !== 2 || b.shape.length !== 2 || a.shape[0] !== b.shape[0]) {
    throw new ShapeError('matmulTransA', `expects a [R, M] and b [R, N] with the same R, got [${a.shape.join(', ')}] and [${b.shape.join(', ')}]`);
  }
  checkFloatTensor(a.gpu, a, 'matmulTransA a');
  checkFloatTensor(a.gpu, b, 'matmulTransA b');
  const [R, M] = a.shape;
  const N = b.shape[1];
  const out = opts.out ?? Tensor.empty(a.gpu, [M, N], 'f32', 'matmulTransA.out');
  if (out.dtype !== 'f32' || out.size !== M * N) throw new ShapeError('matmulTransA out', `must be f32 with ${M * N} values, got ${out.dtype} [${out.shape.join(', ')}]`);
  const kc = R > 2 * SPLIT_K_ROWS ? chunkLength(R, SPLIT_K_ROWS) : 0;
  if (!kc) return matmul(a, b, { transA: true, out });
  const chunks = R / kc;
  const partial = Tensor.empty(a.gpu, [chunks, M, N], 'f32', 'matmulTransA.partial');
  matmul(a.reshape([chunks, kc, M]), b.reshape([chunks, kc, N]), { transA: true, out: partial });
  columnSum(partial, { cols: M * N, out: out.reshape([M * N]) });
  partial.release();
  return out;
}

export interface LinearGrads {
  /** ∂L/∂x, shaped like x (absent when not requested). */
  dx?: Tensor;
  /** ∂L/∂weight [out, in]. */
  dweight?: Tensor;
  /** ∂L/∂bias [out]. */
  dbias?: Tensor;
}

/**
 * Backward of y = x·Wᵀ + b (torch Linear; x [..., in], weight [out, in], dy [..., out]):
 * dx = dy·W, dW = dyᵀ·x, db = Σ_rows dy. `need` picks which to compute (frozen layers skip dW).
 * x and weight may be f16 (saved activation, weight copy); dy and the gradients are f32.
 */
export function linearBackward(x: Tensor, weight: Tensor, dy: Tensor, need: { dx?: boolean; dweight?: boolean; dbias?: boolean }): LinearGrads {
  checkFloatTensor(x.gpu, x, 'linearBackward x');
  checkFloatTensor(x.gpu, weight, 'linearBackward weight');
  checkF32Tensor(dy, 'linearBackward dy');
  if (weight.shape.length !== 2) throw new ShapeError('linearBackward weight', `must be [out, in], got [${weight.shape.join(', ')}]`);
  const [N, K] = weight.shape;
  const M = x.size / Math.max(K, 1);
  if (x.shape[x.shape.length - 1] !== K || dy.size !== M * N || dy.shape[dy.shape.length - 1] !== N) {
    throw new ShapeError('linearBackward', `x [..., ${K}] and dy [..., ${N}] with the same rows for weight [${N}, ${K}], got x [${x.shape.join(', ')}] and dy [${dy.shape.join(', ')}]`);
  }
  const dy2 = dy.reshape([M, N]);
  const out: LinearGrads = {};
  if (need.dx) {
    // Allocated in x's shape (an owning tensor; the GEMM writes through a 2-D view of it).
    out.dx = Tensor.empty(x.gpu, x.shape, 'f32', 'linear.dx');
    matmul(dy2, weight, { out: out.dx.reshape([M, K]) });
  }
  if (need.dweight) out.dweight = matmulTransA(dy2, x.reshape([M, K]));
  if (need.dbias) out.dbias = columnSum(dy2);
  return out;
}

/**
 * Backward of C = A·B for 2-D A [M, K], B [K, N]: dA = dC·Bᵀ, dB = Aᵀ·dC. A and B may be f16;
 * dC and the gradients are f32.
 */
export function matmulBackward(a: Tensor, b: Tensor, dc: Tensor, need: { da?: boolean; db?: boolean } = { da: true, db: true }): { da?: Tensor; db?: Tensor } {
  checkFloatTensor(a.gpu, a, 'matmulBackward a');
  checkFloatTensor(a.gpu, b, 'matmulBackward b');
  checkF32Tensor(dc, 'matmulBackward dc');
  if (a.shape.length !== 2 || b.shape.length !== 2 || dc.shape.length !== 2 || a.shape[1] !== b.shape[0] || dc.shape[0] !== a.shape[0] || dc.shape[1] !== b.shape[1]) {
    throw new ShapeError('matmulBackward', `expects A [M, K], B [K, N], dC [M, N], got [${a.shape.join(', ')}], [${b.shape.join(', ')}], [${dc.shape.join(', ')}]`);
  }
  return {
    da: need.da ? matmul(dc, b, { transB: true, dtype: 'f32' }) : undefined,
    db: need.db ? matmulTransA(a, dc) : undefined,
  };
}
