// The matmul known-answer test run by the platform smoke suites (Node, Deno, Chromium) through
// the public API: a few shapes against a float64 CPU product.
import type { Gpu } from './device.js';
import { Tensor } from './tensor.js';
import { matmul, type MatmulVariant } from '../kernels/gemm/index.js';

export interface SelfTestResult {
  adapter: string;
  runtime: string;
  fallback: boolean;
  f16: boolean;
  cases: { shape: string; variant: MatmulVariant; maxRelErr: number; pass: boolean }[];
  pass: boolean;
}

function values(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = (((i * 2654435761 + seed * 40503) >>> 0) % 2001) / 1000 - 1;
  return out;
}

export async function selfTest(gpu: Gpu, shapes: [number, number, number][] = [[1, 1, 1], [3, 5, 7], [65, 63, 67], [77, 96, 64]]): Promise<SelfTestResult> {
  const cases: SelfTestResult['cases'] = [];
  for (const [M, N, K] of shapes) {
    const a = values(M * K, 1);
    const b = values(K * N, 2);
    const want = new Float64Array(M * N);
    for (let i = 0; i < M; i++) for (let j = 0; j < N; j++) {
      let s = 0;
      for (let k = 0; k < K; k++) s += a[i * K + k] * b[k * N + j];
      want[i * N + j] = s;
    }
    const ta = Tensor.from(gpu, a, [M, K]);
    const tb = Tensor.from(gpu, b, [K, N]);
    for (const variant of ['regblock', 'tiled'] as const) {
      const c = matmul(ta, tb, { variant });
      const got = await c.toFloat32();
      c.release();
      let maxRel = 0;
      for (let i = 0; i < got.length; i++) maxRel = Math.max(maxRel, Math.abs(got[i] - want[i]) / Math.max(1, Math.abs(want[i])));
      cases.push({ shape: `${M}x${N}x${K}`, variant, maxRelErr: maxRel, pass: maxRel <= 1e-5 });
    }
    ta.release();
    tb.release();
  }
  return { adapter: gpu.adapter.description, runtime: gpu.adapter.runtime, fallback: gpu.adapter.fallback, f16: gpu.f16, cases, pass: cases.every((c) => c.pass) };
}
