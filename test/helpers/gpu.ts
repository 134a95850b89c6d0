// One device per test file (vitest forks: one process per file). The adapter comes from
// ECHOCLIP_ADAPTER (lavapipe | swiftshader | auto), exported by scripts/test.sh before vitest starts.
import { afterAll, expect } from 'vitest';
import { requestDevice, type Gpu } from '../../src/gpu/device.js';

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
