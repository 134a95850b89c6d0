// The kernel-variant table: every variant of every op family, what it needs from the adapter and
// on which kernel profile it is the default. selfcheck walks this table (every variant the adapter
// can run is checked), `echoclip bench` times every variant of a family side by side, `probe` prints
// which variant each family uses, and the per-adapter tuning cache (tuning.ts) may override the
// default among the available ones.
//
// Rules:
// - A variant whose needs the adapter lacks is never chosen (not even by a tuning cache entry).
// - `experimental` variants (subgroup matrices: no CI adapter runs them) are off unless the device was
//   requested with `experimentalKernels` (or ECHOCLIP_EXPERIMENTAL_KERNELS=1), until the portable
//   bundle's selfcheck has passed on a real GPU of that vendor (see the table in src/kernels/README.md).
import type { Gpu, KernelProfile } from '../gpu/device.js';

export type KernelFamily = 'matmul' | 'layernorm' | 'softmax' | 'attention' | 'depthwise' | 'depthwise-layernorm' | 'pooling' | 'eot-pool' | 'l2norm';

/** Adapter capabilities a variant may need ('subgroup-matrix': Dawn's chromium-experimental-subgroup-matrix). */
export type VariantNeed = 'shader-f16' | 'subgroups' | 'subgroup-matrix';

export interface KernelVariant {
  family: KernelFamily;
  /** The value the family's `variant` option takes. */
  name: string;
  needs: readonly VariantNeed[];
  /** Profiles on which this variant is the family's default where its needs are met (first match wins). */
  defaultOn: readonly KernelProfile[];
  /** Off unless the device enables experimental kernels. */
  experimental?: boolean;
  summary: string;
}

/**
 * Every variant, grouped by family; within a family the first available variant whose `defaultOn`
 * has the device's profile is the default. Families without an entry here have a single kernel.
 */
export const KERNEL_VARIANTS: readonly KernelVariant[] = [
  { family: 'matmul', name: 'subgroup-matrix', needs: ['subgroup-matrix', 'subgroups', 'shader-f16'], defaultOn: ['gpu'], experimental: true, summary: 'tensor cores: 64×64 tile, 4 subgroups × 32×32 blocks of adapter-sized f16 fragments (f32 accumulation where offered), K-slices of 32 staged as f16' },
  { family: 'matmul', name: 'regblock', needs: [], defaultOn: ['software'], summary: '8×4 outputs per invocation in registers, no workgroup memory' },
  { family: 'matmul', name: 'tiled', needs: [], defaultOn: ['gpu'], summary: '64×64 tile per 16×16 workgroup, 4×4 per invocation, K-slices of 16 in workgroup memory' },
  // Shape-dependent GPU variants: no profile default; gemm/select.ts picks them by shape class on the 'gpu' profile.
  { family: 'matmul', name: 'tiled128', needs: [], defaultOn: [], summary: '128×128 tile, 8×8 per invocation, vec4 loads, double-buffered K-slices of 8 (16 KiB)' },
  { family: 'matmul', name: 'tiled128-f16', needs: ['shader-f16'], defaultOn: [], summary: 'tiled128 for f16 A and B: f16 staging (K-slices of 16), vec4<f16> products summed in f16 over 4 k, f32 accumulators and epilogue' },
  { family: 'matmul', name: 'splitk', needs: [], defaultOn: [], summary: 'K split over up to 16 grid slices (64×128 tiles) into f32 partials, then a summing pass with the fused epilogue' },
  { family: 'layernorm', name: 'row', needs: [], defaultOn: ['software'], summary: 'one invocation per row' },
  { family: 'layernorm', name: 'subgroup', needs: ['subgroups'], defaultOn: ['gpu'], summary: 'one 64-wide workgroup per row, subgroupAdd/Max plus one workgroup-memory step across subgroups' },
  { family: 'layernorm', name: 'workgroup', needs: [], defaultOn: ['gpu'], summary: 'one 64-wide workgroup per row, workgroup-memory tree' },
  { family: 'softmax', name: 'row', needs: [], defaultOn: ['software'], summary: 'one invocation per row' },
  { family: 'softmax', name: 'subgroup', needs: ['subgroups'], defaultOn: ['gpu'], summary: 'one 64-wide workgroup per row, subgroupAdd/Max plus one workgroup-memory step across subgroups' },
  { family: 'softmax', name: 'workgroup', needs: [], defaultOn: ['gpu'], summary: 'one 64-wide workgroup per row, workgroup-memory tree' },
  { family: 'attention', name: 'gemm', needs: ['subgroup-matrix', 'subgroups', 'shader-f16'], defaultOn: ['gpu'], experimental: true, summary: 'QKᵀ and PV as batched subgroup-matrix GEMMs around the causal softmax (f16 operands, f32 accumulation)' },
  { family: 'attention', name: 'rowblock', needs: [], defaultOn: ['software'], summary: 'queries per invocation, online softmax in registers' },
  { family: 'attention', name: 'subgroup', needs: ['subgroups'], defaultOn: ['gpu'], summary: 'a subgroup per query, its lanes split the keys (online softmax per lane, merged by subgroupMax/Add)' },
  { family: 'attention', name: 'tiled', needs: [], defaultOn: ['gpu'], summary: 'key tiles staged in workgroup memory' },
  { family: 'pooling', name: 'subgroup', needs: ['subgroups'], defaultOn: ['gpu'], summary: 'avg pool: a subgroup per output, lanes split H·W' },
  { family: 'pooling', name: 'invocation', needs: [], defaultOn: ['software', 'gpu'], summary: 'one invocation per output element' },
  // EOT pooling is its own family: the subgroup form finds the argmax once per row instead of once per
  // output element, so it wins on software adapters too (lavapipe 202×77×512: 21.5 → 2.3 ms).
  { family: 'eot-pool', name: 'subgroup', needs: ['subgroups'], defaultOn: ['software', 'gpu'], summary: 'a workgroup per row, argmax by subgroupAdd/Max plus one workgroup-memory step across subgroups' },
  { family: 'eot-pool', name: 'invocation', needs: [], defaultOn: ['software', 'gpu'], summary: 'one invocation per output element (argmax recomputed per element)' },
  { family: 'l2norm', name: 'subgroup', needs: ['subgroups'], defaultOn: ['gpu'], summary: 'one 64-wide workgroup per row, subgroupAdd/Max plus one workgroup-memory step across subgroups' },
  { family: 'l2norm', name: 'row', needs: [], defaultOn: ['software', 'gpu'], summary: 'one invocation per row' },
  { family: 'depthwise', name: 'scalar7x7', needs: [], defaultOn: ['software'], summary: '7×7 scalar outputs per invocation, all 49 weights in registers, straight from the buffer' },
  { family: 'depthwise', name: 'halo8x8', needs: [], defaultOn: ['gpu'], summary: '8×8 outputs × 8 vec4 lanes per workgroup, input halo staged in workgroup memory, 1×4 vec4 per invocation' },
  { family: 'depthwise', name: 'row1x4', needs: [], defaultOn: [], summary: '1×4 vec4 outputs per invocation, loop over kernel rows, straight from the buffer' },
  { family: 'depthwise-layernorm', name: 'unfused', needs: [], defaultOn: ['software'], summary: 'the depthwise default, then layerNorm' },
  { family: 'depthwise-layernorm', name: 'fused-subgroup', needs: ['subgroups'], defaultOn: ['gpu'], summary: 'fused, the reductions by subgroupAdd plus one workgroup-memory step across subgroups' },
  { family: 'depthwise-layernorm', name: 'fused', needs: [], defaultOn: ['gpu'], summary: '4 pixels × all C per workgroup: conv in registers, vec4 workgroup-memory tree reductions' },
];

/** The device's capabilities as variant needs. */
export function deviceHas(gpu: Gpu, need: VariantNeed): boolean {
  if (need === 'shader-f16') return gpu.f16;
  if (need === 'subgroups') return gpu.subgroups;
  return gpu.subgroupMatrix !== null;
}

/** Whether this device may run the variant (needs met; experimental ones only when enabled). */
export function variantAvailable(gpu: Gpu, v: KernelVariant): boolean {
  if (v.experimental && !gpu.experimentalKernels) return false;
  return v.needs.every((n) => deviceHas(gpu, n));
}

/** All variants of a family, in table order. */
export function familyVariants(family: KernelFamily): KernelVariant[] {
  return KERNEL_VARIANTS.filter((v) => v.family === family);
}

/** The variants of a family this device can run, in table order. */
export function availableVariants(gpu: Gpu, family: KernelFamily): KernelVariant[] {
  return familyVariants(family).filter((v) => variantAvailable(gpu, v));
}

/**
 * The variant a family uses on this device: a tuning-cache entry for (family, shape class) when
 * it names an available variant, else the table default for the device's profile.
 */
export function chooseVariant<V extends string>(gpu: Gpu, family: KernelFamily, shapeClass = ''): V {
  const avail = availableVariants(gpu, family);
  const tuned = gpu.tuning?.pick(family, shapeClass);
  if (tuned && avail.some((v) => v.name === tuned)) return tuned as V;
  const d = avail.find((v) => v.defaultOn.includes(gpu.kernelProfile)) ?? avail[0];
  if (!d) throw new Error(`no ${family} variant is available on this device`);
  return d.name as V;
}
