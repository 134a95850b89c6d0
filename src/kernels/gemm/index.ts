// The GEMM family — matrix multiply and the GEMM core of the implicit-GEMM convolutions:
//   C[b] = epilogue(op(A[b]) · op(B[b]))
//   epilogue(v) = residual + scale ⊙ act(v + bias)     (each part optional)
//
// Read top-down: types.ts (what a call describes) → record.ts (checks, key, dispatch) →
// select.ts (which variant per adapter and shape) → variants.ts (the variant table: body +
// geometry) → generator.ts (bindings, addressing, epilogue shared by all bodies) → the bodies
// (regblock.ts; tiled.ts, the parameterized generator behind tiled / tiled128 / tiled128-f16;
// splitk.ts, its two-dispatch split-K path; …) → patch.ts (convolution patch rows). matmul.ts
// holds the public launchers (matmul, linear).
//
// Layouts: A is [batch, M, K] ([batch, K, M] with transA), B is [batch, K, N] ([batch, N, K] with
// transB — a torch Linear weight), C is [batch, M, N]. An operand with batch stride 0 is broadcast.
// A can also be read as "patches" (the implicit GEMM of a stride = kernel convolution): row r is
// an output pixel (n, oy, ox) and its K values are `segs` runs of `segLen` contiguous elements,
// found by strides (see GemmPatch). That keeps the vec4 fast path for the convolutions.
//
// f16 storage (where the adapter has shader-f16): any operand, bias, scale, residual and C may be
// f16; values widen to f32 on load and products accumulate in f32, so only the storage rounding
// (~5e-4 relative per operand) differs from the f32 kernel — except 'tiled128-f16', which
// multiplies and sums runs of 4 products in f16 (tiled.ts header: which sums, measured errors).
export type { GemmCall, GemmEpilogue, GemmMath, GemmPatch, MatmulOptions, MatmulVariant } from './types.js';
export { defaultMatmulVariant, GEMM_SHAPE_CLASSES, gemmShapeClass, selectGemmVariant, type GemmShapeClass } from './select.js';
export { matmul, linear, type LinearOptions } from './matmul.js';
export { gemmWgsl, recordGemm } from './record.js';
