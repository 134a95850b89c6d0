// Backward of the dense ops (linear/matmul, patch convolutions, depthwise 7×7) against the
// PyTorch gradients in ops.safetensors (NCHW goldens permuted to our NHWC on the host), plus a
// column-sum check on a shape that needs the two-stage reduction, and f16 saved operands (mixed
// precision) against the f32 kernels on the same values.
import { describe, expect, it } from 'vitest';
import { Tensor } from '../../src/gpu/tensor.js';
import { packConv2dWeight, permuteHost } from '../../src/kernels/conv2d.js';
import { patchConv2dBackward } from '../../src/kernels/conv2d-backward.js';
import { packDepthwiseWeight } from '../../src/kernels/depthwise.js';
import { depthwiseConv2dBackward } from '../../src/kernels/depthwise-backward.js';
import { columnSum, linearBackward, matmulBackward, matmulTransA } from '../../src/kernels/matmul-backward.js';
import { golden, loadGoldens, toleranceFor } from '../helpers/goldens.js';
import { expectF16InputsMatch, randomArray, testGpu } from '../helpers/gpu.js';

const OPS = 'ops.safetensors';
const NCHW_TO_NHWC = [0, 2, 3, 1];

async function setup() {
  const gpu = await testGpu();
  const g = await loadGoldens(OPS);
  const up = (name: string, perm?: number[]) => {
    const t = golden(g, name);
    const p = perm ? permuteHost(t.data as Float32Array, t.shape, perm) : { data: t.data, shape: t.shape };
    return Tensor.from(gpu, p.data, p.shape);
  };
  const want = (name: string, perm?: number[]) => {
    const t = golden(g, name);
    return perm ? permuteHost(t.data as Float32Array, t.shape, perm).data : t.data;
  };
  const check = async (got: Tensor | undefined, name: string, perm?: number[]) => {
    expect(got, name).toBeDefined();
    expect(await got!.toFloat32(), name).toBeAllclose(want(name, perm), { rtol: 0, atol: toleranceFor(OPS, name) });
  };
  return { gpu, g, up, check };
}


describe('linear / matmul backward', () => {
  it.each(['linear', 'linear_nobias'])('%s: dx, dW, db', async (name) => {
    const { up, check } = await setup();
    const bias = name === 'linear';
    const r = linearBackward(up(`${name}.in.x`), up(`${name}.in.weight`), up(`${name}.grad_out`), { dx: true, dweight: true, dbias: bias });
    await check(r.dx, `${name}.grad.x`);
    await check(r.dweight, `${name}.grad.weight`);
    if (bias) await check(r.dbias, `${name}.grad.bias`);
  });

  it.each([['matmul', 'a', 'b'], ['matmul_text_projection', 'pooled', 'text_projection']])('%s: dA, dB', async (name, a, b) => {
    const { up, check } = await setup();
    const r = matmulBackward(up(`${name}.in.${a}`), up(`${name}.in.${b}`), up(`${name}.grad_out`));
    await check(r.da, `${name}.grad.${a}`);
    await check(r.db, `${name}.grad.${b}`);
  });

  it('columnSum over 1000 rows (two-stage) and with a product operand', async () => {
    const gpu = await testGpu();
    const rows = 1000, cols = 7;
    const x = randomArray(rows * cols, 5), y = randomArray(rows * cols, 6);
    const want = new Float64Array(cols), wantP = new Float64Array(cols);
    for (let i = 0; i < rows * cols; i++) {
      want[i % cols] += x[i];
      wantP[i % cols] += x[i] * y[i];
    }
    const xt = Tensor.from(gpu, x, [rows, cols]);
    expect(await columnSum(xt).toFloat32()).toBeAllclose(want, { rtol: 1e-5, atol: 1e-4 });
    expect(await columnSum(xt, { times: Tensor.from(gpu, y, [rows, cols]) }).toFloat32()).toBeAllclose(wantP, { rtol: 1e-5, atol: 1e-4 });
    expect(() => columnSum(xt, { cols: 3 })).toThrow(/multiple of 3/);
  });
});

describe('patch convolution backward', () => {
  it('conv_stem (NCHW pixels, k4 s4 on 30×38: edge pixels get zero gradient)', async () => {
    const { up, check } = await setup();
    const r = patchConv2dBackward(up('conv_stem.in.x'), up('conv_stem.in.weight'), up('conv_stem.grad_out', NCHW_TO_NHWC), { inputLayout: 'nchw' });
    await check(r.dx, 'conv_stem.grad.x');
    await check(r.dweight, 'conv_stem.grad.weight');
    await check(r.dbias, 'conv_stem.grad.bias');
  });

  it('conv_stem_224 (the real stem shape; weight and bias only)', async () => {
    const { up, check } = await setup();
    const r = patchConv2dBackward(up('conv_stem_224.in.x'), up('conv_stem_224.in.weight'), up('conv_stem_224.grad_out', NCHW_TO_NHWC), { inputLayout: 'nchw', dx: false });
    expect(r.dx).toBeUndefined();
    await check(r.dweight, 'conv_stem_224.grad.weight');
    await check(r.dbias, 'conv_stem_224.grad.bias');
  });

  it('conv_down (NHWC input, packed weight, k2 s2 on 15×17)', async () => {
    const { gpu, g, up, check } = await setup();
    const w = golden(g, 'conv_down.in.weight');
    const packed = packConv2dWeight(w.data as Float32Array, w.shape);
    const r = patchConv2dBackward(up('conv_down.in.x', NCHW_TO_NHWC), Tensor.from(gpu, packed.data, packed.shape), up('conv_down.grad_out', NCHW_TO_NHWC), { inputLayout: 'nhwc' });
    await check(r.dx, 'conv_down.grad.x', NCHW_TO_NHWC);
    await check(r.dweight, 'conv_down.grad.weight', [0, 2, 3, 1]);
    await check(r.dbias, 'conv_down.grad.bias');
  });

  it.each(['conv_dw', 'conv_dw_small'])('%s (depthwise 7×7 p3): dx, dW (tap-major), db', async (name) => {
    const { gpu, g, up, check } = await setup();
    const w = golden(g, `${name}.in.weight`);
    const packed = packDepthwiseWeight(w.data as Float32Array, w.shape);
    const r = depthwiseConv2dBackward(up(`${name}.in.x`, NCHW_TO_NHWC), Tensor.from(gpu, packed.data, packed.shape), up(`${name}.grad_out`, NCHW_TO_NHWC));
    await check(r.dx, `${name}.grad.x`, NCHW_TO_NHWC);
    // [C, 1, kh, kw] → tap-major [kh, kw, C]
    expect(await r.dweight!.toFloat32()).toBeAllclose(packDepthwiseWeight(golden(g, `${name}.grad.weight`).data as Float32Array, w.shape).data, { rtol: 0, atol: toleranceFor(OPS, `${name}.grad.weight`) });
    await check(r.dbias, `${name}.grad.bias`);
  });

  it('rejects a dy of the wrong shape', async () => {
    const { up } = await setup();
    expect(() => patchConv2dBackward(up('conv_stem.in.x'), up('conv_stem.in.weight'), up('conv_stem.grad_out'), { inputLayout: 'nchw' })).toThrow(/dy must be \[2, 7, 9, 13\]/);
  });
});

/**
 * Central-difference check of a backward kernel on shapes the goldens do not cover: loss =
 * Σ f(x) ⊙ c evaluated with the forward kernel, f64 sums on the host, step h = 1e-2 (the check
 * tolerance, 3e-3, is well above both the O(h²) truncation and the f32 rounding noise).
 */
async function fdCheck(forward: (inputs: Float32Array[]) => Promise<Float32Array>, inputs: Float32Array[], grads: Float32Array[], c: Float32Array): Promise<void> {
  const lossAt = async (xs: Float32Array[]) => (await forward(xs)).reduce((s, v, i) => s + v * c[i], 0);
  for (let k = 0; k < inputs.length; k++) {
    for (const idx of [0, 1, Math.floor(inputs[k].length / 3), Math.floor(inputs[k].length / 2), inputs[k].length - 1]) {
      const h = 1e-2;
      const plus = inputs.map((a) => a.slice()), minus = inputs.map((a) => a.slice());
      plus[k][idx] += h;
      minus[k][idx] -= h;
      const fd = ((await lossAt(plus)) - (await lossAt(minus))) / (2 * h);
      expect(Math.abs(grads[k][idx] - fd), `input ${k} [${idx}]: analytic ${grads[k][idx]}, numeric ${fd}`).toBeLessThan(3e-3);
    }
  }
}

describe('backward on odd shapes (finite differences)', () => {
  // dx through the forward kernel with the rotated kernel (pad ≤ k − 1), and through the gather
  // kernel (pad 3 > 3 − 1); dW across several 8-wide column tiles (Wo = 10).
  it.each([
    [[2, 4, 6, 3], 3, 5, 1],
    [[1, 4, 5, 2], 3, 3, 3],
    [[1, 9, 10, 8], 7, 7, 3],
  ] as const)('depthwise on %j, %i×%i kernel, padding %i', async (shape, kh, kw, pad) => {
    const gpu = await testGpu();
    const { depthwiseConv2d } = await import('../../src/kernels/depthwise.js');
    const C = shape[3];
    const x = randomArray(shape.reduce((a: number, b: number) => a * b, 1), 21), w = randomArray(kh * kw * C, 22), b = randomArray(C, 23);
    const fwd = async ([xs, ws, bs]: Float32Array[]) =>
      depthwiseConv2d(Tensor.from(gpu, xs, [...shape]), Tensor.from(gpu, ws, [kh, kw, C]), { bias: Tensor.from(gpu, bs, [C]), padding: pad }).toFloat32();
    const y = await fwd([x, w, b]);
    const c = randomArray(y.length, 24);
    const dyShape = [shape[0], shape[1] + 2 * pad - kh + 1, shape[2] + 2 * pad - kw + 1, C];
    const r = depthwiseConv2dBackward(Tensor.from(gpu, x, [...shape]), Tensor.from(gpu, w, [kh, kw, C]), Tensor.from(gpu, c, dyShape), { padding: pad });
    await fdCheck(fwd, [x, w, b], [await r.dx!.toFloat32(), await r.dweight!.toFloat32(), await r.dbias!.toFloat32()], c);
  });

  it('patch conv k3 s3 on NHWC 7×8 (a partial last patch row and column)', async () => {
    const gpu = await testGpu();
    const { patchConv2d } = await import('../../src/kernels/conv2d.js');
    const x = randomArray(7 * 8 * 5, 31), w = randomArray(4 * 3 * 3 * 5, 32), b = randomArray(4, 33);
    const fwd = async ([xs, ws, bs]: Float32Array[]) =>
      patchConv2d(Tensor.from(gpu, xs, [1, 7, 8, 5]), Tensor.from(gpu, ws, [4, 3, 3, 5]), { inputLayout: 'nhwc', bias: Tensor.from(gpu, bs, [4]) }).toFloat32();
    const y = await fwd([x, w, b]);
    const c = randomArray(y.length, 34);
    const r = patchConv2dBackward(Tensor.from(gpu, x, [1, 7, 8, 5]), Tensor.from(gpu, w, [4, 3, 3, 5]), Tensor.from(gpu, c, [1, 2, 2, 4]), { inputLayout: 'nhwc' });
    const dx = await r.dx!.toFloat32();
    await fdCheck(fwd, [x, w, b], [dx, await r.dweight!.toFloat32(), await r.dbias!.toFloat32()], c);
    // Row 6 and column 6-7 lie outside every patch.
    expect(dx[(6 * 8 + 0) * 5]).toBe(0);
    expect(dx[(0 * 8 + 7) * 5 + 4]).toBe(0);
  });

  it('linear weight gradient with split-K (R = 1200 rows, chunked) and without (R = 7)', async () => {
    const gpu = await testGpu();
    for (const R of [1200, 7]) {
      const x = randomArray(R * 3, 41), dy = randomArray(R * 5, 42);
      const want = new Float64Array(15);
      for (let r = 0; r < R; r++) for (let o = 0; o < 5; o++) for (let i = 0; i < 3; i++) want[o * 3 + i] += dy[r * 5 + o] * x[r * 3 + i];
      const g = linearBackward(Tensor.from(gpu, x, [R, 3]), Tensor.from(gpu, randomArray(15, 43), [5, 3]), Tensor.from(gpu, dy, [R, 5]), { dweight: true });
      expect(await g.dweight!.toFloat32(), `R = ${R}`).toBeAllclose(want, { rtol: 1e-5, atol: 1e-4 });
    }
  });
});

describe('f16 saved inputs (mixed precision): same gradients as f32 on the same values', () => {
  const arr = (n: number, seed: number, shape: number[], f16 = false) => ({ data: randomArray(n, seed), shape, f16 });
  // Reduction lengths are multiples of 4 (12 rows, and R = 1200 splits into 600-row chunks), so the
  // three aᵀ·b tests share their GEMM variants: shader compiles dominate the time on lavapipe.

  it('linearBackward: x and weight', async () => {
    const gpu = await testGpu();
    await expectF16InputsMatch(gpu, { x: arr(96, 51, [2, 6, 8], true), w: arr(40, 52, [5, 8], true), dy: arr(60, 53, [2, 6, 5]) }, (t) => {
      const r = linearBackward(t.x, t.w, t.dy, { dx: true, dweight: true, dbias: true });
      return [r.dx, r.dweight, r.dbias];
    });
  });

  it('matmulBackward: A and B', async () => {
    const gpu = await testGpu();
    await expectF16InputsMatch(gpu, { a: arr(96, 54, [12, 8], true), b: arr(32, 55, [8, 4], true), dc: arr(48, 56, [12, 4]) }, (t) => {
      const r = matmulBackward(t.a, t.b, t.dc);
      return [r.da, r.db];
    });
  });

  it('matmulTransA: a and b, with split-K (R = 1200) and without (R = 12)', async () => {
    const gpu = await testGpu();
    for (const R of [1200, 12]) {
      await expectF16InputsMatch(gpu, { a: arr(R * 5, 57, [R, 5], true), b: arr(R * 4, 58, [R, 4], true) }, (t) => [matmulTransA(t.a, t.b)]);
    }
  });

  it('columnSum: an f16 `times` factor, one-stage and two-stage', async () => {
    const gpu = await testGpu();
    for (const rows of [300, 9]) {
      await expectF16InputsMatch(gpu, { x: arr(rows * 7, 59, [rows, 7]), y: arr(rows * 7, 60, [rows, 7], true) }, (t) => [columnSum(t.x, { times: t.y })]);
    }
  });

  it('depthwiseConv2dBackward: x and weight (3×5 kernel, padding 1)', async () => {
    const gpu = await testGpu();
    await expectF16InputsMatch(gpu, { x: arr(2 * 4 * 6 * 4, 61, [2, 4, 6, 4], true), w: arr(3 * 5 * 4, 62, [3, 5, 4], true), dy: arr(2 * 4 * 4 * 4, 63, [2, 4, 4, 4]) }, (t) => {
      const r = depthwiseConv2dBackward(t.x, t.w, t.dy, { padding: 1 });
      return [r.dx, r.dweight, r.dbias];
    });
  });

  it.each([
    ['nchw', [1, 3, 8, 8], [4, 3, 4, 4]],
    ['nhwc', [1, 7, 8, 5], [4, 3, 3, 5]],
  ] as const)('patchConv2dBackward (%s input): x and weight', async (layout, xs, ws) => {
    const gpu = await testGpu();
    const n = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);
    await expectF16InputsMatch(gpu, { x: arr(n(xs), 64, [...xs], true), w: arr(n(ws), 65, [...ws], true), dy: arr(16, 66, [1, 2, 2, 4]) }, (t) => {
      const r = patchConv2dBackward(t.x, t.w, t.dy, { inputLayout: layout });
      return [r.dx, r.dweight, r.dbias];
    });
  });

  it('incoming gradients must stay f32', async () => {
    const gpu = await testGpu();
    const dy = Tensor.zeros(gpu, [3, 5], gpu.f16 ? 'f16' : 'i32');
    expect(() => linearBackward(Tensor.zeros(gpu, [3, 4]), Tensor.zeros(gpu, [5, 4]), dy, { dx: true })).toThrowError(/linearBackward dy: must be f32/);
    expect(() => matmulBackward(Tensor.zeros(gpu, [3, 4]), Tensor.zeros(gpu, [4, 5]), dy)).toThrowError(/matmulBackward dc: must be f32/);
  });
});
