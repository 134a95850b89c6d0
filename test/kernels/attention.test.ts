import { describe, expect, it } from 'vitest';
import { ShapeError } from '../../src/errors.js';
import type { Gpu } from '../../src/gpu/device.js';
import { Tensor } from '../../src/gpu/tensor.js';
import { attentionCore, defaultAttentionVariant, multiHeadAttention, type AttentionVariant, type MhaWeights } from '../../src/kernels/attention.js';
import { add } from '../../src/kernels/elementwise.js';
import { layerNorm } from '../../src/kernels/layernorm.js';
import { matmul } from '../../src/kernels/gemm/index.js';
import { golden, loadGoldens, toleranceFor, type Golden } from '../helpers/goldens.js';
import { randomArray, testGpu } from '../helpers/gpu.js';
import { attentionRef, swap01 } from './misc-ref.js';

const VARIANTS: AttentionVariant[] = ['rowblock', 'tiled', 'subgroup'];

function upload(gpu: Gpu, g: Golden): Tensor {
  return Tensor.from(gpu, g.data as Float32Array, g.shape);
}

function mhaWeights(gpu: Gpu, g: Map<string, Golden>, prefix: string): MhaWeights {
  return {
    inProjWeight: upload(gpu, golden(g, `${prefix}.attn.in_proj_weight`)),
    inProjBias: upload(gpu, golden(g, `${prefix}.attn.in_proj_bias`)),
    outProjWeight: upload(gpu, golden(g, `${prefix}.attn.out_proj.weight`)),
    outProjBias: upload(gpu, golden(g, `${prefix}.attn.out_proj.bias`)),
  };
}

describe.each(VARIANTS)('attention %s', (variant) => {
  // Goldens are LND [T, B, D]; our activations are [B, T, D].
  it.each([
    ['mha_causal', 5], ['mha_causal_77', 4],
  ] as const)('multiHeadAttention matches the %s golden (%i heads)', async (name, heads) => {
    const gpu = await testGpu();
    if (variant === 'subgroup' && !gpu.subgroups) return expect(() => attentionCore(Tensor.zeros(gpu, [1, 2, 6]), { heads: 1, variant })).toThrowError(/subgroups/);
    const g = await loadGoldens('ops.safetensors');
    const x = golden(g, `${name}.in.x`);
    const [T, B, D] = x.shape;
    const y = multiHeadAttention(Tensor.from(gpu, swap01(x.data, T, B, D), [B, T, D]), mhaWeights(gpu, g, `${name}.in`), { heads, causal: true, variant });
    expect(y.shape).toEqual([B, T, D]);
    expect(swap01(await y.toFloat32(), B, T, D)).toBeAllclose(golden(g, `${name}.out`).data, { rtol: 0, atol: toleranceFor('ops.safetensors', `${name}.out`) });
  });

  // Full-size text shape (8 × 64, T = 77), odd head dims (scalar path), T = 1, T not a multiple
  // of the tile, non-causal, and a query count beyond one tiled workgroup per head (T = 3 and 13:
  // fewer keys than a subgroup's lanes). Head dims are limited to {9, 12, 16, 64}: each one is a
  // pipeline, and compiling dominates on CPU adapters.
  it.each([
    [2, 77, 512, 8, true], [3, 13, 45, 5, true], [1, 1, 32, 2, true], [2, 70, 24, 2, false], [1, 33, 27, 3, false], [1, 100, 12, 1, true], [3, 3, 18, 2, false],
  ])('attentionCore matches the CPU reference: B=%i T=%i D=%i heads=%i causal=%s', async (B, T, D, heads, causal) => {
    const gpu = await testGpu();
    if (variant === 'subgroup' && !gpu.subgroups) return;
    const qkv = randomArray(B * T * 3 * D, B * 1000 + T + D).map((v) => v * 2);
    const y = attentionCore(Tensor.from(gpu, qkv, [B, T, 3 * D]), { heads, causal, variant });
    expect(await y.toFloat32()).toBeAllclose(attentionRef(qkv, B, T, D, heads, causal), { rtol: 0, atol: 2e-6 });
  });
});

describe('text_resblock composed from the kernels', () => {
  it('x + attn(ln_1(x)); x + mlp(ln_2(x)) matches the golden', async () => {
    const gpu = await testGpu();
    const g = await loadGoldens('ops.safetensors');
    const p = (n: string) => upload(gpu, golden(g, `text_resblock.in.${n}`));
    const xg = golden(g, 'text_resblock.in.q_x');
    const [T, B, D] = xg.shape;
    const x = Tensor.from(gpu, swap01(xg.data, T, B, D), [B, T, D]);
    const a = multiHeadAttention(layerNorm(x, p('ln_1.weight'), p('ln_1.bias'), { eps: 1e-5 }), mhaWeights(gpu, g, 'text_resblock.in'), { heads: 5 });
    const x1 = add(x, a);
    const h = matmul(layerNorm(x1, p('ln_2.weight'), p('ln_2.bias'), { eps: 1e-5 }).reshape([B * T, D]), p('mlp.c_fc.weight'), { transB: true, bias: p('mlp.c_fc.bias'), gelu: true });
    const m = matmul(h, p('mlp.c_proj.weight'), { transB: true, bias: p('mlp.c_proj.bias') });
    const y = add(x1, m.reshape([B, T, D]));
    expect(swap01(await y.toFloat32(), B, T, D)).toBeAllclose(golden(g, 'text_resblock.out').data, { rtol: 0, atol: toleranceFor('ops.safetensors', 'text_resblock.out') });
  });
});

describe('attention checks', () => {
  it('rejects bad shapes with a ShapeError and picks the variant by adapter', async () => {
    const gpu = await testGpu();
    expect(() => attentionCore(Tensor.zeros(gpu, [1, 4, 30]), { heads: 3 })).toThrowError(/split into 3 heads/);
    expect(() => attentionCore(Tensor.zeros(gpu, [1, 4, 31]), { heads: 1 })).toThrowError(/packed f32 qkv/);
    expect(() => attentionCore(Tensor.zeros(gpu, [1, 2, 3 * 512]), { heads: 1 })).toThrowError(/head_dim 512 exceeds/);
    const w: MhaWeights = { inProjWeight: Tensor.zeros(gpu, [24, 8]), inProjBias: Tensor.zeros(gpu, [24]), outProjWeight: Tensor.zeros(gpu, [8, 8]), outProjBias: Tensor.zeros(gpu, [7]) };
    expect(() => multiHeadAttention(Tensor.zeros(gpu, [1, 3, 8]), w, { heads: 2 })).toThrow(ShapeError);
    const wOk: MhaWeights = { ...w, outProjBias: Tensor.zeros(gpu, [8]) };
    expect(() => multiHeadAttention(Tensor.zeros(gpu, [1, 3, 8]), wOk, { heads: 3 })).toThrowError(/split into 3 heads/);
    expect(defaultAttentionVariant(gpu)).toBe(gpu.kernelProfile === 'software' ? 'rowblock' : gpu.subgroups ? 'subgroup' : 'tiled');
  });
});
