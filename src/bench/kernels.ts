// Kernel-level benchmarks at the shapes that matter, and the variant lists every kernel-variant
// suite uses: each family's variants come from the kernel-variant table (src/kernels/variants.ts),
// so a new row is benchmarked beside the old ones without touching the suites.
import type { Gpu } from '../gpu/device.js';
import { Tensor } from '../gpu/tensor.js';
import { matmul, type MatmulVariant } from '../kernels/gemm/index.js';
import { GEMM_VARIANTS } from '../kernels/gemm/variants.js';
import { forcingLookup, tableDefaultOn } from '../kernels/tuning.js';
import { availableVariants, type KernelFamily } from '../kernels/variants.js';
import { seeded, timeGpu, type BenchCase, type TimingOptions } from './harness.js';

/** One variant of a family to time; `firstOnly`: only at the suite's first (smallest) shape. */
export interface BenchVariant {
  name: string;
  firstOnly?: boolean;
}

/**
 * Every variant of `family` the device can run, in table order. With `trim` (default: on software
 * adapters) the variants that are neither profile's default run at the first shape only: each is
 * another pipeline compile and seconds per shape there, and the CI suites have budgets.
 */
export function benchVariants(gpu: Gpu, family: KernelFamily, trim = gpu.adapter.fallback): BenchVariant[] {
  return availableVariants(gpu, family).map((v) => ({ name: v.name, firstOnly: trim && tableDefaultOn(gpu, v) === 'none' }));
}

export const asBenchVariants = (vs: readonly (string | BenchVariant)[]): BenchVariant[] => vs.map((v) => (typeof v === 'string' ? { name: v } : v));

/**
 * Runs one variant's measurement with the family's default switched to it (launchers without a
 * variant option follow), and turns a failure (a variant that cannot take these operands, a driver
 * error) into a case with `error` instead of losing the family's other variants.
 */
export async function variantCase(gpu: Gpu, family: KernelFamily, id: Pick<BenchCase, 'suite' | 'name' | 'shape' | 'dtype' | 'variant'>, measure: () => Promise<BenchCase>): Promise<BenchCase> {
  const saved = gpu.tuning;
  // Forced for the whole measurement: the timing loop awaits between its (synchronous) recordings.
  gpu.tuning = forcingLookup(family, id.variant, saved);
  try {
    return await measure();
  } catch (e) {
    await gpu.sync().catch(() => undefined);
    gpu.pool.trim();
    return { ...id, impl: 'echoclip', median_ms: NaN, min_ms: NaN, max_ms: NaN, repeats: 0, gflops: null, gbps: null, peak_gpu_bytes: null, error: (e instanceof Error ? e.message : String(e)).split('\n')[0].slice(0, 300) };
  } finally {
    gpu.tuning = saved;
  }
}

/** A GEMM body that computes in f16 takes only f16 A and B. */
const f16Operands = (v: string) => GEMM_VARIANTS[v as MatmulVariant]?.operands === 'f16';

/**
 * Square matmuls, every variant in f32 (and, where the adapter has shader-f16, f16 storage: every
 * variant on GPUs, the f16-only bodies on software adapters), at each size.
 */
export async function benchMatmul(gpu: Gpu, sizes: readonly number[], variants: readonly (string | BenchVariant)[], timing: TimingOptions, suite = 'kernels'): Promise<BenchCase[]> {
  const cases: BenchCase[] = [];
  const list = asBenchVariants(variants);
  for (const [i, n] of sizes.entries()) {
    for (const dtype of gpu.f16 ? (['f32', 'f16'] as const) : (['f32'] as const)) {
      const todo = list.filter((v) => (i === 0 || !v.firstOnly) && (dtype === 'f16' ? !gpu.adapter.fallback || f16Operands(v.name) : !f16Operands(v.name)));
      if (!todo.length) continue;
      const a = Tensor.from(gpu, seeded(n * n, 1), [n, n], dtype);
      const b = Tensor.from(gpu, seeded(n * n, 2), [n, n], dtype);
      const c = Tensor.empty(gpu, [n, n], dtype);
      for (const { name: variant } of todo) {
        const id = { suite, name: 'matmul', shape: `${n}x${n}x${n}`, dtype, variant };
        cases.push(await variantCase(gpu, 'matmul', id, async () => {
          gpu.pool.resetPeak();
          const t = await timeGpu(gpu, () => void matmul(a, b, { variant: variant as MatmulVariant, out: c }), timing);
          return { ...id, impl: 'echoclip', ...t, gflops: (2 * n * n * n) / (t.median_ms * 1e6), gbps: null, peak_gpu_bytes: gpu.pool.peakBytes };
        }));
      }
      for (const x of [a, b, c]) x.release();
    }
  }
  return cases;
}
