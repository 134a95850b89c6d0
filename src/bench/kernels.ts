// Kernel-level benchmarks at the shapes that matter.
import type { Gpu } from '../gpu/device.js';
import { Tensor } from '../gpu/tensor.js';
import { matmul, type MatmulVariant } from '../kernels/gemm/index.js';
import { seeded, timeGpu, type BenchCase, type TimingOptions } from './harness.js';

export async function benchMatmul(gpu: Gpu, sizes: readonly number[], variants: readonly MatmulVariant[], timing: TimingOptions): Promise<BenchCase[]> {
  const cases: BenchCase[] = [];
  for (const n of sizes) {
    const a = Tensor.from(gpu, seeded(n * n, 1), [n, n]);
    const b = Tensor.from(gpu, seeded(n * n, 2), [n, n]);
    const c = Tensor.empty(gpu, [n, n]);
    for (const variant of variants) {
      gpu.pool.resetPeak();
      const t = await timeGpu(gpu, () => void matmul(a, b, { variant, out: c }), timing);
      cases.push({
        suite: 'kernels', name: 'matmul', shape: `${n}x${n}x${n}`, dtype: 'f32', impl: 'echoclip', variant,
        ...t, gflops: (2 * n * n * n) / (t.median_ms * 1e6), gbps: null, peak_gpu_bytes: gpu.pool.peakBytes,
      });
    }
    for (const x of [a, b, c]) x.release();
  }
  return cases;
}
