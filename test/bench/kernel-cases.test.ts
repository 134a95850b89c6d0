// The side-by-side kernel cases at small shapes: our kernel (on the test adapter), the case's ONNX
// graph (onnxruntime-node CPU EP) and its TF.js op (CPU backend) agree — layouts, weight
// re-packing and masks included. And comparePeers' bookkeeping: checked, mismatched, failed.
import { beforeAll, describe, expect, it } from 'vitest';
import { comparePeers, maxAbsDiff, type PeerCase, type Runner } from '../../src/bench/peers/compare.js';
import { depthwiseCase, layerNormCase, linearCase, matmulCase, mhaCase, patchConvCase, softmaxCase } from '../../src/bench/peers/kernel-cases.js';
import { OnnxGraphBuilder } from '../../src/bench/peers/onnx.js';
import { createOrtSession } from '../../src/bench/peers/ort.js';
import type { Tf } from '../../src/bench/peers/tfjs.js';
import { testGpu } from '../helpers/gpu.js';

let tf: Tf;
beforeAll(async () => {
  tf = (await import('@tensorflow/tfjs-core')) as Tf;
  await import('@tensorflow/tfjs-backend-cpu');
  await tf.setBackend('cpu');
});

const CASES: [string, () => PeerCase][] = [
  ['matmul', () => matmulCase(24)],
  ['linear (Gemm transB)', () => linearCase('t', 5, 8, 12)],
  ['stem conv (NCHW in)', () => patchConvCase('stem', 'nchw', 8, 3, 4, 4)],
  ['downsample conv (NHWC in)', () => patchConvCase('ds', 'nhwc', 6, 4, 6, 2)],
  ['depthwise 7x7', () => depthwiseCase(9, 3)],
  ['layernorm', () => layerNormCase(4, 8)],
  ['causal softmax', () => softmaxCase(2, 5)],
  ['multi-head attention', () => mhaCase(2, 5, 16, 4)],
];

describe.each(CASES)('%s: ours = ONNX graph = TF.js op', (_, make) => {
  it('agree within the case tolerance', async () => {
    const c = make();
    const gpu = await testGpu();
    const ours = await c.ours(gpu);
    await ours.step();
    const ref = await ours.output();
    await ours.release();
    const tol = c.rtol * Math.max(1, ...Array.from(ref, Math.abs));

    const v = await c.onnx!();
    const s = await createOrtSession('onnxruntime-node', v.model, 'cpu');
    const y = await s.run(v.feeds);
    await s.release();
    expect(maxAbsDiff(v.toOurs ? v.toOurs(y) : y, ref)).toBeLessThanOrEqual(tol);

    const t = await c.tf!(tf);
    await t.step();
    expect(maxAbsDiff(await t.output(), ref)).toBeLessThanOrEqual(tol);
    await t.release();
  });
});

describe('comparePeers', () => {
  const hostRunner = (value: Float32Array): Runner => ({ step: async () => undefined, output: async () => value, release: () => undefined });
  const doubler = (ours: Float32Array, model?: Uint8Array): PeerCase => ({
    suite: 'test', name: 'double', shape: '4', dtype: 'f32', rtol: 1e-6, oursVariant: 'host', flops: 4,
    ours: async () => hostRunner(ours),
    onnx() {
      const g = new OnnxGraphBuilder();
      g.op('Add', [g.input('x', 'float32', [4]), 'x'], undefined, 'y');
      g.output('y', 'float32', [4]);
      return { model: model ?? g.toBytes(), feeds: [{ name: 'x', data: Float32Array.of(1, 2, 3, 4), dims: [4] }] };
    },
  });

  it('times a peer that matches, reports one that differs or fails, and never drops a case', async () => {
    const gpu = await testGpu();
    const timing = { warmup: 0, repeats: 2 };
    const good = await comparePeers(gpu, [doubler(Float32Array.of(2, 4, 6, 8))], { timing, peers: ['onnxruntime-node', 'tfjs'] });
    expect(good.map((c) => c.impl)).toEqual(['echoclip', 'onnxruntime-node', 'tfjs']);
    expect(good[1].error).toBeUndefined();
    expect(good[1].check?.max_abs_diff).toBe(0);
    expect(good[1].repeats).toBe(2);
    expect(good[1].gflops).toBeGreaterThan(0);
    expect(good[2].error).toBe('no TF.js version of this case');

    const bad = await comparePeers(gpu, [doubler(Float32Array.of(2, 4, 6, 9))], { timing, peers: ['onnxruntime-node'] });
    expect(bad[1].error).toMatch(/^result differs from echoclip: max \|Δ\| = 1\.00e\+0 > 9\.00e-6$/);
    expect(Number.isNaN(bad[1].median_ms)).toBe(true);
    expect(JSON.parse(JSON.stringify(bad[1])).median_ms).toBeNull();

    const broken = await comparePeers(gpu, [doubler(Float32Array.of(2, 4, 6, 8), Uint8Array.of(1, 2, 3))], { timing, peers: ['onnxruntime-node'] });
    expect(broken[1].error).toMatch(/^failed to load: .*could not create a session/);
  });
});
