// The hand-written ONNX writer: tiny graphs onnxruntime-node (CPU EP) loads and runs, checked
// against host arithmetic, plus the writer's own input checks.
import { describe, expect, it } from 'vitest';
import { OnnxGraphBuilder, OnnxWriteError } from '../../src/bench/peers/onnx.js';
import { causalMask, geluOnnx, transpose2d } from '../../src/bench/peers/onnx-layers.js';
import { createOrtSession } from '../../src/bench/peers/ort.js';

const run = async (g: OnnxGraphBuilder, feeds: { name: string; data: Float32Array | Int32Array; dims: number[] }[]) => {
  const s = await createOrtSession('onnxruntime-node', g.toBytes(), 'cpu');
  try {
    return await s.run(feeds);
  } finally {
    await s.release();
  }
};

function close(a: Float32Array, b: ArrayLike<number>, atol = 1e-5): void {
  expect(a.length).toBe(b.length);
  for (let i = 0; i < a.length; i++) expect(Math.abs(a[i] - b[i]), `at ${i}: ${a[i]} vs ${b[i]}`).toBeLessThanOrEqual(atol);
}

describe('ONNX writer (run on onnxruntime-node CPU EP)', () => {
  it('MatMul with an initializer', async () => {
    const g = new OnnxGraphBuilder();
    g.op('MatMul', [g.input('a', 'float32', [2, 3]), g.init('b', Float32Array.of(1, 2, 3, 4, 5, 6), [3, 2])], undefined, 'y');
    g.output('y', 'float32', [2, 2]);
    close(await run(g, [{ name: 'a', data: Float32Array.of(1, 0, 0, 0, 1, 1), dims: [2, 3] }]), [1, 2, 8, 10]);
  });

  it('Gemm transB=1 with bias equals x·Wᵀ + b', async () => {
    const g = new OnnxGraphBuilder();
    const w = Float32Array.of(1, 2, 3, -1, 0, 2); // [2 out, 3 in]
    g.op('Gemm', [g.input('x', 'float32', [1, 3]), g.init('w', w, [2, 3]), g.init('b', Float32Array.of(0.5, -0.5), [2])], { transB: 1 }, 'y');
    g.output('y', 'float32', [1, 2]);
    close(await run(g, [{ name: 'x', data: Float32Array.of(1, 1, 2), dims: [1, 3] }]), [1 + 2 + 6 + 0.5, -1 + 0 + 4 - 0.5]);
    expect(transpose2d(w, 2, 3)).toEqual(Float32Array.of(1, -1, 2, 0, 3, 2));
  });

  it('Conv k2s2 and grouped (depthwise) Conv with pads', async () => {
    const g = new OnnxGraphBuilder();
    const x = g.input('x', 'float32', [1, 2, 4, 4]);
    const xs = Float32Array.from({ length: 32 }, (_, i) => i % 7);
    // Patchify: one output channel summing both input channels' 2×2 patches.
    g.op('Conv', [x, g.init('w', new Float32Array(8).fill(1), [1, 2, 2, 2]), g.init('b', Float32Array.of(1), [1])], { kernel_shape: [2, 2], strides: [2, 2] }, 'y');
    g.output('y', 'float32', [1, 1, 2, 2]);
    const want = [0, 1, 0, 1].map((_, o) => {
      const [oy, ox] = [o >> 1, o & 1];
      let s = 1;
      for (let c = 0; c < 2; c++) for (let dy = 0; dy < 2; dy++) for (let dx = 0; dx < 2; dx++) s += xs[c * 16 + (2 * oy + dy) * 4 + 2 * ox + dx];
      return s;
    });
    close(await run(g, [{ name: 'x', data: xs, dims: [1, 2, 4, 4] }]), want);

    const d = new OnnxGraphBuilder();
    const dx = d.input('x', 'float32', [1, 2, 4, 4]);
    // 3×3 depthwise, pad 1: channel 0 is a box filter, channel 1 the identity (centre tap 2).
    const dw = new Float32Array(18);
    dw.fill(1, 0, 9);
    dw[9 + 4] = 2;
    d.op('Conv', [dx, d.init('w', dw, [2, 1, 3, 3])], { kernel_shape: [3, 3], pads: [1, 1, 1, 1], group: 2 }, 'y');
    d.output('y', 'float32', [1, 2, 4, 4]);
    const y = await run(d, [{ name: 'x', data: xs, dims: [1, 2, 4, 4] }]);
    let corner = 0;
    for (const [r, c] of [[0, 0], [0, 1], [1, 0], [1, 1]]) corner += xs[r * 4 + c];
    expect(y[0]).toBeCloseTo(corner, 5);
    close(y.subarray(16), Array.from(xs.subarray(16), (v) => 2 * v));
  });

  it('LayerNormalization (float attribute), Softmax (negative axis) and the Erf GELU', async () => {
    const g = new OnnxGraphBuilder();
    const x = g.input('x', 'float32', [2, 4]);
    const ln = g.op('LayerNormalization', [x, g.init('w', Float32Array.of(1, 2, 1, 1), [4]), g.init('b', new Float32Array(4), [4])], { axis: -1, epsilon: { float: 0.5 } });
    const sm = g.op('Softmax', [g.op('Add', [ln, g.init('mask', causalMask(4).subarray(0, 8), [2, 4])])], { axis: -1 });
    g.op('Add', [sm, geluOnnx(g, x)], undefined, 'y');
    g.output('y', 'float32', [2, 4]);
    const xs = Float32Array.of(1, 2, 3, 4, -1, 0, 0.5, 3);
    const want: number[] = [];
    for (let r = 0; r < 2; r++) {
      const row = Array.from(xs.subarray(4 * r, 4 * r + 4));
      const mean = row.reduce((a, b) => a + b) / 4;
      const v = row.reduce((a, b) => a + (b - mean) ** 2, 0) / 4;
      const n = row.map((t, i) => ((t - mean) / Math.sqrt(v + 0.5)) * [1, 2, 1, 1][i]);
      const e = n.map((t, i) => (i > r ? 0 : Math.exp(t)));
      const z = e.reduce((a, b) => a + b);
      // GELU(x) = x·Φ(x); Φ via the Abramowitz–Stegun erf (error < 1.5e-7).
      const erf = (t: number) => {
        const s = Math.sign(t), a = Math.abs(t), k = 1 / (1 + 0.3275911 * a);
        return s * (1 - ((((1.061405429 * k - 1.453152027) * k + 1.421413741) * k - 0.284496736) * k + 0.254829592) * k * Math.exp(-a * a));
      };
      row.forEach((t, i) => want.push(e[i] / z + 0.5 * t * (1 + erf(t / Math.SQRT2))));
    }
    close(await run(g, [{ name: 'x', data: xs, dims: [2, 4] }]), want, 2e-5);
  });

  it('int64 constants, Reshape/Transpose/Gather/ArgMax on int32 input', async () => {
    const g = new OnnxGraphBuilder();
    const ids = g.input('ids', 'int32', [2, 3]);
    const table = g.init('table', Float32Array.of(0, 10, 20, 30, 40), [5, 1]);
    const rows = g.op('Add', [g.op('ArgMax', [ids], { axis: 1, keepdims: 0 }), g.init('off', BigInt64Array.of(0n, 3n), [2])]);
    const flat = g.op('Reshape', [g.op('Gather', [table, ids], { axis: 0 }), g.ints([6, 1])]);
    g.op('Transpose', [g.op('Gather', [flat, rows], { axis: 0 })], { perm: [1, 0] }, 'y');
    g.output('y', 'float32', [1, 2]);
    close(await run(g, [{ name: 'ids', data: Int32Array.of(1, 4, 2, 3, 0, 2), dims: [2, 3] }]), [40, 30]);
  });

  it('rejects duplicate names, wrong initializer sizes and fractional int attributes', () => {
    const g = new OnnxGraphBuilder();
    g.input('x', 'float32', [1]);
    expect(() => g.init('x', Float32Array.of(1), [1])).toThrow(OnnxWriteError);
    expect(() => g.init('w', Float32Array.of(1, 2), [3])).toThrow(/hold 3 elements but 2/);
    g.op('LayerNormalization', ['x', 'x', 'x'], { epsilon: 1e-5 });
    expect(() => g.toBytes()).toThrow(/not an integer/);
    expect(() => new OnnxGraphBuilder().renameLastOutput('y')).toThrow(OnnxWriteError);
  });
});
