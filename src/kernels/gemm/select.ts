// Which GEMM variant a call gets. Order: an explicit `variant` option (record.ts); else a
// per-adapter tuning-cache entry for the call's shape class (chooseVariant); else, on the 'gpu'
// profile, by shape:
//   'small-m'  the 64×64 tiled grid has < 128 workgroups and K ≥ 1024  → splitk
//   'large'    M ≥ 256 and N ≥ 256                                      → tiled128 (-f16 when A and B are f16)
//   'default'  everything else                                          → the table default (tiled)
// and on the 'software' profile the table default (regblock) for every shape: on CPU adapters
// workgroup memory only costs, and the larger tiles measured no faster there (README, Dense ops).
import { LimitError, ShapeError } from '../../errors.js';
import type { Gpu } from '../../gpu/device.js';
import { availableVariants, chooseVariant } from '../variants.js';
import type { GemmCall, GemmMath, MatmulVariant } from './types.js';
import { GEMM_VARIANTS } from './variants.js';

/** The shape classes the tuning cache keys GEMM entries by (gemmShapeClass). */
export const GEMM_SHAPE_CLASSES = ['small-m', 'large', 'default'] as const;
export type GemmShapeClass = (typeof GEMM_SHAPE_CLASSES)[number];

/** Workgroups of the 64×64 tiled grid below which a long-K GEMM leaves a GPU mostly idle. */
export const SMALL_GRID_WORKGROUPS = 128;
export const SPLITK_MIN_K = 1024;
export const LARGE_MIN_DIM = 256;

export function gemmShapeClass(M: number, N: number, K: number, batch = 1): GemmShapeClass {
  const workgroups = Math.ceil(M / 64) * Math.ceil(N / 64) * batch;
  if (workgroups < SMALL_GRID_WORKGROUPS && K >= SPLITK_MIN_K) return 'small-m';
  if (M >= LARGE_MIN_DIM && N >= LARGE_MIN_DIM) return 'large';
  return 'default';
}

export interface GemmShape {
  M: number;
  N: number;
  K: number;
  batch: number;
  /** dtypes of A and B. */
  dtypes: readonly [string, string];
  /** 'f16': f16-arithmetic variants may take an f32 A (rounded while staged) with an f16 B. */
  math?: GemmMath;
}

/** The profile's table default (no shape): what selfcheck, probe and the benchmarks label a profile by. */
export function defaultMatmulVariant(gpu: Gpu): MatmulVariant {
  return chooseVariant<MatmulVariant>(gpu, 'matmul');
}

/** Why `variant` cannot run this call on this device, or null when it can. */
function variantUnfit(gpu: Gpu, variant: MatmulVariant, dtypes: readonly [string, string], math: GemmMath = 'f32'): string | null {
  const spec = GEMM_VARIANTS[variant];
  // f16 arithmetic: f16 A and B, or an f16 B with math 'f16' (autocast: A rounded while staged).
  const f16Ok = dtypes[1] === 'f16' && (dtypes[0] === 'f16' || math === 'f16');
  if (spec.operands === 'f16' && !f16Ok) return `computes in f16 and needs f16 A and B (or an f16 B with math 'f16'), got ${dtypes[0]} and ${dtypes[1]}`;
  const limit = gpu.limits.maxComputeWorkgroupStorageSize;
  if (spec.workgroupBytes !== undefined && spec.workgroupBytes > limit) return `needs ${spec.workgroupBytes} bytes of workgroup memory, the device allows ${limit}`;
  return null;
}

/** Throws the typed error when a forced or selected variant cannot run this call. */
export function checkVariantFits(gpu: Gpu, g: GemmCall, variant: MatmulVariant): void {
  const why = variantUnfit(gpu, variant, [g.a.dtype, g.b.dtype], g.math);
  if (!why) return;
  if (GEMM_VARIANTS[variant].operands === 'f16' && why.startsWith('computes')) {
    throw new ShapeError(`${g.name} variant '${variant}'`, why, { hint: "use 'tiled128' (f32 arithmetic) or cast A and B to f16" });
  }
  throw new LimitError(`${g.name} variant '${variant}'`, why, { hint: "use 'tiled' (8 KiB of workgroup memory)" });
}

export function selectGemmVariant(gpu: Gpu, s: GemmShape): MatmulVariant {
  const cls = gemmShapeClass(s.M, s.N, s.K, s.batch);
  const usable = (v: MatmulVariant) => availableVariants(gpu, 'matmul').some((r) => r.name === v) && !variantUnfit(gpu, v, s.dtypes, s.math);
  if (gpu.tuning?.pick('matmul', cls) !== undefined) {
    // chooseVariant honours the entry when the device may run it; the operands must fit it too.
    const tuned = chooseVariant<MatmulVariant>(gpu, 'matmul', cls);
    if (tuned === gpu.tuning.pick('matmul', cls) && usable(tuned)) return tuned;
  }
  // The profile's table default (not a tuning entry: those are per shape class, above). The shape
  // rules refine the plain tiled default. Subgroup matrices (experimental, off unless enabled) take
  // f16-arithmetic calls whose tiles they fill; every other call gets the rules below.
  // (Forced, it also takes f32 operands and rounds them; chosen, only f16-arithmetic calls.)
  const f16Math = s.dtypes[1] === 'f16' && (s.dtypes[0] === 'f16' || s.math === 'f16');
  if (gpu.kernelProfile === 'gpu' && f16Math && usable('subgroup-matrix') && s.M >= 64 && s.N >= 64 && s.K >= 32) return 'subgroup-matrix';
  const d = (availableVariants(gpu, 'matmul').find((v) => v.defaultOn.includes(gpu.kernelProfile) && v.name !== 'subgroup-matrix')?.name ?? 'tiled') as MatmulVariant;
  if (gpu.kernelProfile === 'gpu' && d === 'tiled') {
    if (cls === 'small-m' && usable('splitk')) return 'splitk';
    if (cls === 'large') {
      if (usable('tiled128-f16')) return 'tiled128-f16';
      if (usable('tiled128')) return 'tiled128';
    }
  }
  return d;
}
