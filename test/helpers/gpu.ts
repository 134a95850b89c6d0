// One device per test file (vitest forks: one process per file). The adapter comes from
// ECHOCLIP_ADAPTER (lavapipe | swiftshader | auto), exported by scripts/test.sh before vitest starts.
import { afterAll, expect } from 'vitest';
import { requestDevice, type Gpu } from '../../src/gpu/device.js';
import { ShapeError } from '../../src/errors.js';
import { fromF16Array, toF16Array } from '../../src/gpu/dtype.js';
import { Tensor } from '../../src/gpu/tensor.js';


let gpuPromise: Promise<Gpu> | null = null;

export function testGpu(): Promise<Gpu> {
  if (!gpuPromise) {
    gpuPromise = requestDevice({ adapter: process.env.ECHOCLIP_ADAPTER ?? 'lavapipe' });
    afterAll(async () => {
      const g = await gpuPromise!;
      g.destroy();
      gpuPromise = null;
    });
  }
  return gpuPromise;
}

/** Seeded uniform values in [-1, 1) (mulberry32), so failures reproduce. */
export function randomArray(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = (((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1;
  }
  return out;
}

export interface CloseResult { pass: boolean; maxAbs: number; maxRel: number; worst: number }

/** max |a-b| <= atol + rtol*|b| elementwise (numpy allclose), with the worst index for messages. */
export function allclose(actual: ArrayLike<number>, expected: ArrayLike<number>, rtol: number, atol: number): CloseResult {
  if (actual.length !== expected.length) return { pass: false, maxAbs: Infinity, maxRel: Infinity, worst: -1 };
  let pass = true, maxAbs = 0, maxRel = 0, worst = -1, worstExcess = -Infinity;
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i], e = expected[i];
    const d = Math.abs(a - e);
    if (Number.isNaN(a) !== Number.isNaN(e)) { pass = false; worst = i; break; }
    if (d > maxAbs) maxAbs = d;
    const rel = d / Math.max(Math.abs(e), 1e-30);
    if (rel > maxRel && Math.abs(e) > atol) maxRel = rel;
    const excess = d - (atol + rtol * Math.abs(e));
    if (excess > 0) pass = false;
    if (excess > worstExcess) { worstExcess = excess; worst = i; }
  }
  return { pass, maxAbs, maxRel, worst };
}

expect.extend({
  toBeAllclose(received: ArrayLike<number>, expected: ArrayLike<number>, opts: { rtol?: number; atol?: number } = {}) {
    const rtol = opts.rtol ?? 1e-5;
    const atol = opts.atol ?? 1e-6;
    const r = allclose(received, expected, rtol, atol);
    return {
      pass: r.pass,
      message: () =>
        r.worst < 0
          ? `length ${received.length} != ${expected.length}`
          : `not allclose (rtol ${rtol}, atol ${atol}): max abs err ${r.maxAbs.toExponential(3)}, max rel err ${r.maxRel.toExponential(3)}; worst at [${r.worst}]: got ${received[r.worst]}, want ${expected[r.worst]}`,
    };
  },
});

declare module 'vitest' {
  interface Assertion<T = any> {
    toBeAllclose(expected: ArrayLike<number>, opts?: { rtol?: number; atol?: number }): T;
  }
}

/**
 * Mixed precision saves some backward inputs in f16 (storage only). `run` gets every input either
 * as an f32 tensor or, for the `f16` ones, as an f16 tensor holding the same (f16-rounded) values;
 * for each non-empty subset of the f16-capable inputs the f32 outputs must match the all-f32 run
 * to f32 rounding (the kernels widen on load and do the same f32 math). Without shader-f16 each f16
 * input must be refused with the typed error instead.
 */
export async function expectF16InputsMatch(gpu: Gpu, inputs: Record<string, { data: Float32Array; shape: number[]; f16?: boolean }>, run: (t: Record<string, Tensor>) => (Tensor | undefined)[]): Promise<void> {
  const names = Object.keys(inputs);
  const rounded = (n: string) => (inputs[n].f16 ? fromF16Array(toF16Array(inputs[n].data)) : inputs[n].data);
  const upload = (half: Set<string>) => Object.fromEntries(names.map((n) => [n, Tensor.from(gpu, rounded(n), inputs[n].shape, half.has(n) ? 'f16' : 'f32')]));
  const f16able = names.filter((n) => inputs[n].f16);
  const want = gpu.f16 ? await Promise.all(run(upload(new Set())).map((t) => t!.toFloat32())) : [];
  for (let mask = 1; mask < 1 << f16able.length; mask++) {
    const half = new Set(f16able.filter((_, j) => mask & (1 << j)));
    const label = `f16 ${[...half].join(' + ')}`;
    if (!gpu.f16) {
      expect(() => run(upload(half)), label).toThrowError(ShapeError);
      expect(() => run(upload(half)), label).toThrowError(/shader-f16/);
      continue;
    }
    const got = run(upload(half));
    expect(got.length).toBe(want.length);
    for (let k = 0; k < got.length; k++) {
      expect(got[k]!.dtype, `${label}: output ${k}`).toBe('f32');
      expect(await got[k]!.toFloat32(), `${label}: output ${k}`).toBeAllclose(want[k], { rtol: 1e-6, atol: 1e-7 });
    }
  }
}
