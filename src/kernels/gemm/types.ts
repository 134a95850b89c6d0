// Types shared by the GEMM family: what a caller asks for (GemmCall, epilogue, patch addressing)
// and the key that names one generated kernel (GemmKey).
import type { Tensor } from '../../gpu/tensor.js';
import type { FloatDType } from '../wgsl.js';

/** A GEMM kernel variant (the rows of the variant table, gemm/variants.ts). */
export type MatmulVariant = 'regblock' | 'tiled' | 'tiled128' | 'tiled128-f16' | 'splitk' | 'subgroup-matrix';

/** The fused epilogue: out = residual + scale ⊙ act(acc + bias). */
export interface GemmEpilogue {
  /** Per-column bias [N], added before the activation. */
  bias?: Tensor;
  /** Exact (erf) GELU activation. */
  gelu?: boolean;
  /** Per-column scale [N] applied after the activation (ConvNeXt's layer-scale gamma). */
  scale?: Tensor;
  /**
   * Added last; same shape as the output. May be the `out` tensor itself (in-place residual
   * update, x += gamma ⊙ f(x)): the kernel then reads C before overwriting it.
   */
  residual?: Tensor;
}

/**
 * Arithmetic a GEMM may use. 'f32' (default): products and sums in f32 whatever the storage (exact
 * as ever). 'f16': the f16-arithmetic variants (tiled128-f16, subgroup-matrix) may be chosen when B
 * is f16; an f32 A is then rounded to f16 while staged — PyTorch autocast's semantics for matmuls.
 */
export type GemmMath = 'f32' | 'f16';

export interface MatmulOptions extends GemmEpilogue {
  /** Arithmetic the automatic variant choice may use (default 'f32'). */
  math?: GemmMath;
  transA?: boolean;
  transB?: boolean;
  /** Force a variant (default: by adapter). */
  variant?: MatmulVariant;
  /** Write into this tensor instead of allocating. */
  out?: Tensor;
  /** dtype of a newly allocated output (default: A's dtype). */
  dtype?: FloatDType;
}

/**
 * How an implicit-GEMM convolution reads A: row r = (n, oy, ox) with r = (n·Ho + oy)·Wo + ox
 * starts at n·sN + oy·sOy + ox·sOx; k = seg·segLen + j reads element
 * rowStart + (seg / segInner)·segOuterStride + (seg % segInner)·segInnerStride + j.
 */
export interface GemmPatch {
  Ho: number;
  Wo: number;
  sN: number;
  sOy: number;
  sOx: number;
  segLen: number;
  segInner: number;
  segOuterStride: number;
  segInnerStride: number;
}

export type ALayout = 'rows' | 'cols' | 'patch';

export interface GemmKey {
  variant: MatmulVariant;
  aLayout: ALayout;
  transB: boolean;
  bias: boolean;
  gelu: boolean;
  scale: boolean;
  /** 'inplace': the residual is C itself. */
  residual: 'none' | 'separate' | 'inplace';
  tA: FloatDType;
  tB: FloatDType;
  tBias: FloatDType;
  tScale: FloatDType;
  tR: FloatDType;
  tC: FloatDType;
  /** A bound as vec4 (rows: along K, K % 4 == 0; patch: segLen and all strides % 4 == 0; cols: along M, M % 4 == 0). */
  vecA: boolean;
  /** B bound as vec4 along its contiguous axis (N without transB, K with it). */
  vecB: boolean;
  /** C (and a separate residual) bound as vec4 (N % 4 == 0). */
  vecC: boolean;
  /** Patch segments of exactly 4 values (the k4 stem on NCHW pixels): one unrolled vec4 step each. */
  seg4: boolean;
  /** K (or the patch segment length) is not a multiple of 4: emit the scalar remainder loop. */
  kTail: boolean;
  /** The 'subgroup-matrix' variant's fragment shape and workgroup size (that variant only). */
  sgm?: SubgroupMatrixShape;
}

/**
 * One subgroup-matrix GEMM configuration: the adapter's fragment shape (left M×K, right K×N,
 * result M×N; f16 components), the result component type and the workgroup size (a multiple of
 * the adapter's maximum subgroup size, as Dawn requires).
 */
export interface SubgroupMatrixShape {
  M: number;
  N: number;
  K: number;
  result: 'f32' | 'f16';
  wg: number;
  /**
   * Tests only: plain-WGSL stand-ins for the subgroup-matrix builtins with this many invocations
   * per emulated subgroup, so CPU adapters (which lack the feature) check the tiling and epilogue.
   */
  emulate?: number;
}

/** A fully described GEMM for `recordGemm` (matmul, linear and the convolutions build these). */
export interface GemmCall {
  name: string;
  a: Tensor;
  b: Tensor;
  out: Tensor;
  M: number;
  N: number;
  K: number;
  batch: number;
  /** Element strides between batches (0: broadcast). */
  strideA: number;
  strideB: number;
  transA?: boolean;
  transB: boolean;
  patch?: GemmPatch;
  epilogue: GemmEpilogue;
  variant?: MatmulVariant;
  math?: GemmMath;
}

