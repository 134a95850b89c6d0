import { describe, expect, it } from 'vitest';
import { ShapeError, TokenizerError } from '../../src/errors.js';
import { Tensor } from '../../src/gpu/tensor.js';
import { tokenEmbedding, tokenEmbeddingFromHost, validateTokenIds } from '../../src/kernels/embedding.js';
import { golden, loadGoldens, toleranceFor } from '../helpers/goldens.js';
import { randomArray, testGpu } from '../helpers/gpu.js';

function embedRef(ids: ArrayLike<number>, w: ArrayLike<number>, pos: ArrayLike<number>, T: number, D: number): Float32Array {
  const out = new Float32Array(ids.length * D);
  for (let i = 0; i < ids.length; i++) for (let d = 0; d < D; d++) out[i * D + d] = w[ids[i] * D + d] + pos[(i % T) * D + d];
  return out;
}

describe('tokenEmbedding', () => {
  it('matches the embedding golden (repeated ids)', async () => {
    const gpu = await testGpu();
    const g = await loadGoldens('ops.safetensors');
    const ids = golden(g, 'embedding.ids');
    const w = golden(g, 'embedding.in.weight');
    const pos = golden(g, 'embedding.in.pos');
    const y = tokenEmbedding(Tensor.from(gpu, ids.data as Int32Array, ids.shape, 'i32'), Tensor.from(gpu, w.data, w.shape), Tensor.from(gpu, pos.data, pos.shape));
    expect(y.shape).toEqual([2, 7, 5]);
    expect(await y.toFloat32()).toBeAllclose(golden(g, 'embedding.out').data, { rtol: 0, atol: toleranceFor('ops.safetensors', 'embedding.out') });
  });

  it('matches the embedding golden with an f16 weight within 2e-3 relative', async () => {
    const gpu = await testGpu();
    const g = await loadGoldens('ops.safetensors');
    const ids = golden(g, 'embedding.ids');
    const w = golden(g, 'embedding.in.weight');
    const pos = golden(g, 'embedding.in.pos');
    const run = () => tokenEmbedding(Tensor.from(gpu, ids.data as Int32Array, ids.shape, 'i32'), Tensor.from(gpu, w.data, w.shape, 'f16'), Tensor.from(gpu, pos.data, pos.shape));
    if (!gpu.f16) return expect(run).toThrowError(/no shader-f16/);
    expect(await run().toFloat32()).toBeAllclose(golden(g, 'embedding.out').data, { rtol: 2e-3, atol: 1e-4 });
  });

  it('vec4 rows, positional table longer than T, and an f16 weight where available', async () => {
    const gpu = await testGpu();
    const [B, T, Tp, V, D] = [3, 9, 12, 50, 64];
    const ids = Int32Array.from({ length: B * T }, (_, i) => (i * 17) % V);
    const w = randomArray(V * D, 1);
    const pos = randomArray(Tp * D, 2);
    const tid = Tensor.from(gpu, ids, [B, T]);
    const y = tokenEmbedding(tid, Tensor.from(gpu, w, [V, D]), Tensor.from(gpu, pos, [Tp, D]));
    expect(await y.toFloat32()).toBeAllclose(embedRef(ids, w, pos, T, D), { rtol: 0, atol: 1e-7 });
    if (!gpu.f16) {
      expect(() => tokenEmbedding(tid, Tensor.from(gpu, w, [V, D], 'f16'), Tensor.from(gpu, pos, [Tp, D]))).toThrow(ShapeError);
      return;
    }
    const wh = Tensor.from(gpu, w, [V, D], 'f16');
    const yh = tokenEmbedding(tid, wh, Tensor.from(gpu, pos, [Tp, D]));
    expect(yh.dtype).toBe('f32');
    expect(await yh.toFloat32()).toBeAllclose(embedRef(ids, await wh.toFloat32(), pos, T, D), { rtol: 0, atol: 1e-7 });
  });

  it('validates host ids with a TokenizerError naming the bad one; the kernel clamps', async () => {
    const gpu = await testGpu();
    const [V, D, T] = [10, 3, 4];
    const w = randomArray(V * D, 3);
    const pos = new Float32Array(T * D);
    const tw = Tensor.from(gpu, w, [V, D]);
    const tp = Tensor.from(gpu, pos, [T, D]);
    expect(() => tokenEmbeddingFromHost(gpu, new Int32Array([1, 2, 3, 4, 5, 6, 7, 10]), [2, 4], tw, tp)).toThrowError(/id 10 at \[1, 3\] is outside the model's vocabulary \[0, 10\)/);
    expect(() => validateTokenIds([0, -1], 10)).toThrow(TokenizerError);
    expect(() => tokenEmbeddingFromHost(gpu, new Int32Array(3), [2, 4], tw, tp)).toThrow(ShapeError);
    const ok = await tokenEmbeddingFromHost(gpu, new Int32Array([9, 0, 1, 2]), [1, 4], tw, tp).toFloat32();
    expect(ok).toBeAllclose(embedRef([9, 0, 1, 2], w, pos, T, D), { rtol: 0, atol: 0 });
    // Ids that bypass validation are clamped into [0, V) rather than read out of bounds.
    const clamped = await tokenEmbedding(Tensor.from(gpu, new Int32Array([-5, 99, 3, 10]), [1, 4]), tw, tp).toFloat32();
    expect(clamped).toBeAllclose(embedRef([0, 9, 3, 9], w, pos, T, D), { rtol: 0, atol: 0 });
    expect(() => tokenEmbedding(Tensor.zeros(gpu, [1, 5], 'i32'), tw, tp)).toThrowError(/positional embedding.*\[>= 5, 3\]/);
  });
});
