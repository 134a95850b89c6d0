// The public GEMM launchers: matmul (batched, transposes, broadcast) and torch-style linear.
import { ShapeError } from '../../errors.js';
import { Tensor } from '../../gpu/tensor.js';
import type { FloatDType } from '../wgsl.js';
import { recordGemm } from './record.js';
import type { GemmEpilogue, GemmMath, MatmulOptions, MatmulVariant } from './types.js';

function dims(t: Tensor, what: string): { batch: number; r: number; c: number } {
  if (t.shape.length < 2) throw new ShapeError(`matmul ${what}`, `needs at least 2 dimensions, got [${t.shape.join(', ')}]`);
  const r = t.shape[t.shape.length - 2];
  const c = t.shape[t.shape.length - 1];
  return { batch: t.size / Math.max(1, r * c) || 0, r, c };
}

/**
 * C = epilogue(op(A)·op(B)). Leading dimensions are batch dimensions; a 2-D operand is broadcast
 * over the other's batch. Returns a new tensor [...batch, M, N] unless `out` is given.
 */
export function matmul(a: Tensor, b: Tensor, opts: MatmulOptions = {}): Tensor {
  const gpu = a.gpu;
  const transA = !!opts.transA;
  const transB = !!opts.transB;
  const da = dims(a, 'A');
  const db = dims(b, 'B');
  const M = transA ? da.c : da.r;
  const K = transA ? da.r : da.c;
  const Kb = transB ? db.c : db.r;
  const N = transB ? db.r : db.c;
  if (K !== Kb) throw new ShapeError('matmul', `inner dimensions differ: A [${a.shape.join(', ')}]${transA ? 'ᵀ' : ''} · B [${b.shape.join(', ')}]${transB ? 'ᵀ' : ''}`);
  const aBatched = a.shape.length > 2;
  const bBatched = b.shape.length > 2;
  if (aBatched && bBatched && da.batch !== db.batch) throw new ShapeError('matmul', `batch sizes differ: ${da.batch} vs ${db.batch}`);
  const batch = aBatched ? da.batch : bBatched ? db.batch : 1;
  const batchShape = aBatched ? a.shape.slice(0, -2) : bBatched ? b.shape.slice(0, -2) : [];
  const out = opts.out ?? Tensor.empty(gpu, [...batchShape, M, N], opts.dtype ?? (a.dtype as FloatDType), 'matmul.out');
  if (out.size !== batch * M * N) throw new ShapeError('matmul out', `must hold ${batch * M * N} values, has ${out.size}`);
  recordGemm(gpu, {
    name: 'matmul', a, b, out, M, N, K, batch,
    strideA: aBatched ? M * K : 0, strideB: bBatched ? K * N : 0,
    transA, transB, epilogue: opts, variant: opts.variant, math: opts.math,
  });
  return out;
}

export interface LinearOptions extends GemmEpilogue {
  variant?: MatmulVariant;
  /** Arithmetic the automatic variant choice may use (GemmMath; default 'f32'). */
  math?: GemmMath;
  out?: Tensor;
  /** dtype of a newly allocated output (default: x's dtype). */
  dtype?: FloatDType;
}

/**
 * torch.nn.Linear: y = x·Wᵀ (+ bias), with x [..., in] (any leading dims), weight [out, in] as
 * stored by PyTorch, and the fused epilogue (GELU, per-column scale, residual). Returns [..., out].
 * Weights may be f16 (converted once at load) while x and y stay f32.
 */
export function linear(x: Tensor, weight: Tensor, bias?: Tensor, opts: LinearOptions = {}): Tensor {
  const gpu = x.gpu;
  if (weight.shape.length !== 2) throw new ShapeError('linear weight', `must be [out_features, in_features], got [${weight.shape.join(', ')}]`);
  const [N, K] = weight.shape;
  if (x.shape.length < 1 || x.shape[x.shape.length - 1] !== K) {
    throw new ShapeError('linear input', `last dimension must be in_features = ${K} (weight [${N}, ${K}]), got [${x.shape.join(', ')}]`);
  }
  const lead = x.shape.slice(0, -1);
  const M = K === 0 ? lead.reduce((p, d) => p * d, 1) : x.size / K;
  const out = opts.out ?? Tensor.empty(gpu, [...lead, N], opts.dtype ?? (x.dtype as FloatDType), 'linear.out');
  if (out.size !== M * N) throw new ShapeError('linear out', `must hold ${M * N} values ([${[...lead, N].join(', ')}]), has ${out.size}`);
  recordGemm(gpu, {
    name: 'linear', a: x, b: weight, out, M, N, K, batch: 1, strideA: 0, strideB: 0,
    transB: true, epilogue: { ...opts, bias: bias ?? opts.bias }, variant: opts.variant, math: opts.math,
  });
  return out;
}
