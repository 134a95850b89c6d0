// Backward of the norm / activation / attention / pooling / embedding / loss ops against the
// PyTorch gradients in ops.safetensors, plus CPU references on shapes the goldens do not cover,
// and f16 saved inputs (mixed precision) against the f32 kernels on the same values.
import { describe, expect, it } from 'vitest';
import { Tensor } from '../../src/gpu/tensor.js';
import { attentionCoreBackward } from '../../src/kernels/attention-backward.js';
import { attentionCore } from '../../src/kernels/attention.js';
import { clipLossBackward } from '../../src/kernels/contrastive-backward.js';
import { permuteHost } from '../../src/kernels/conv2d.js';
import { accumulate, geluBackward, mulColumns, scaleSamples } from '../../src/kernels/elementwise-backward.js';
import { invertIds, tokenEmbeddingBackward } from '../../src/kernels/embedding-backward.js';
import { layerNormBackward } from '../../src/kernels/layernorm-backward.js';
import type { RowVariant } from '../../src/kernels/layernorm.js';
import { linearBackward } from '../../src/kernels/matmul-backward.js';
import { linear } from '../../src/kernels/gemm/index.js';
import { argmaxPoolBackward, globalAvgPoolBackward, l2NormalizeBackward } from '../../src/kernels/pooling-backward.js';
import { l2Normalize, type L2NormVariant } from '../../src/kernels/pooling.js';
import { softmaxBackward } from '../../src/kernels/softmax-backward.js';
import { softmax } from '../../src/kernels/softmax.js';
import { golden, loadGoldens, toleranceFor } from '../helpers/goldens.js';
import { layerNormBackwardRef, softmaxBackwardRef } from '../../src/selfcheck/cpu-ref.js';
import { expectF16InputsMatch, randomArray, testGpu } from '../helpers/gpu.js';

const OPS = 'ops.safetensors';
/** The row-reduction variants of the norm / softmax backward kernels (subgroup: where the device has them). */
const ROW_VARIANTS: RowVariant[] = ['row', 'workgroup', 'subgroup'];
const NCHW_TO_NHWC = [0, 2, 3, 1];
const LND_TO_NLD = [1, 0, 2];

async function setup() {
  const gpu = await testGpu();
  const g = await loadGoldens(OPS);
  const host = (name: string, perm?: number[]) => {
    const t = golden(g, name);
    return perm ? permuteHost(t.data as Float32Array, t.shape, perm) : { data: t.data, shape: t.shape };
  };
  const up = (name: string, perm?: number[]) => {
    const p = host(name, perm);
    return Tensor.from(gpu, p.data, p.shape);
  };
  const check = async (got: Tensor, name: string, perm?: number[]) => {
    expect(await got.toFloat32(), name).toBeAllclose(host(name, perm).data, { rtol: 0, atol: toleranceFor(OPS, name) });
  };
  return { gpu, g, host, up, check };
}


describe('norms and activations', () => {
  it.each(ROW_VARIANTS.flatMap((variant) => [
    ['layernorm_cl', variant, 1e-6, undefined],
    ['layernorm2d_cf', variant, 1e-6, NCHW_TO_NHWC],
    ['layernorm_text', variant, 1e-5, undefined],
  ] as const))('%s (%s): dx, dweight, dbias', async (name, variant, eps, perm) => {
    const { gpu, up, check } = await setup();
    if (variant === 'subgroup' && !gpu.subgroups) return;
    const r = layerNormBackward(up(`${name}.in.x`, perm ? [...perm] : undefined), up(`${name}.in.weight`), up(`${name}.grad_out`, perm ? [...perm] : undefined), { eps, variant });
    await check(r.dx, `${name}.grad.x`, perm ? [...perm] : undefined);
    await check(r.dweight, `${name}.grad.weight`);
    await check(r.dbias, `${name}.grad.bias`);
  });

  it('gelu_erf: matches the exact GELU gradient and not the tanh / quick variants', async () => {
    const { g, up, check } = await setup();
    const dx = geluBackward(up('gelu_erf.in.x'), up('gelu_erf.grad_out'));
    await check(dx, 'gelu_erf.grad.x');
    // Same inputs in all three cases? Only compare when they are; otherwise the erf check stands alone.
    const x = golden(g, 'gelu_erf.in.x').data, xt = golden(g, 'gelu_tanh.in.x').data;
    if (x.every((v, i) => v === xt[i])) expect(await dx.toFloat32()).not.toBeAllclose(golden(g, 'gelu_tanh.grad.x').data, { rtol: 0, atol: toleranceFor(OPS, 'gelu_erf.grad.x') });
  });

  it.each(ROW_VARIANTS.flatMap((variant) => [['softmax', variant, false], ['softmax_causal', variant, true]] as const))('%s (%s)', async (name, variant, causal) => {
    const { gpu, up, check } = await setup();
    if (variant === 'subgroup' && !gpu.subgroups) return expect(() => softmaxBackward(up(`${name}.in.x`), up(`${name}.grad_out`), { variant })).toThrowError(/subgroups/);
    const y = softmax(up(`${name}.in.x`), { causal, variant });
    await check(softmaxBackward(y, up(`${name}.grad_out`), { variant }), `${name}.grad.x`);
  });

  // Rows narrower than a subgroup (C = 1, 3), not a multiple of one (77, 1023), the full width 768;
  // row counts that are multiples of nothing. Against the float64 references.
  it.each(ROW_VARIANTS)('layerNormBackward and softmaxBackward (%s) on odd shapes match the CPU references', async (variant) => {
    const gpu = await testGpu();
    if (variant === 'subgroup' && !gpu.subgroups) return;
    for (const [R, C] of [[5, 1], [7, 3], [13, 77], [3, 768], [2, 1023]]) {
      const x = randomArray(R * C, C).map((v) => v * 2 + 1), w = randomArray(C, C + 1), dy = randomArray(R * C, C + 2);
      const want = layerNormBackwardRef(x, w, dy, C, 1e-6);
      const r = layerNormBackward(Tensor.from(gpu, x, [R, C]), Tensor.from(gpu, w, [C]), Tensor.from(gpu, dy, [R, C]), { eps: 1e-6, variant });
      expect(await r.dx.toFloat32(), `layernorm dx [${R}, ${C}]`).toBeAllclose(want.dx, { rtol: 1e-4, atol: 1e-4 });
      expect(await r.dweight.toFloat32(), `layernorm dweight [${R}, ${C}]`).toBeAllclose(want.dweight, { rtol: 1e-5, atol: 1e-5 });
      const y = new Float32Array(R * C).map((_, i) => Math.abs(x[i]) / C);
      expect(await softmaxBackward(Tensor.from(gpu, y, [R, C]), Tensor.from(gpu, dy, [R, C]), { variant }).toFloat32(), `softmax dx [${R}, ${C}]`).toBeAllclose(softmaxBackwardRef(y, dy, C), { rtol: 1e-5, atol: 1e-6 });
    }
  });

  it('elementwise helpers: accumulate, mulColumns, scaleSamples', async () => {
    const gpu = await testGpu();
    const a = randomArray(30, 1), b = randomArray(30, 2), v = randomArray(5, 3);
    const at = Tensor.from(gpu, a, [6, 5]);
    accumulate(at, Tensor.from(gpu, b, [6, 5]), 0.5);
    expect(await at.toFloat32()).toBeAllclose(a.map((x, i) => x + 0.5 * b[i]));
    expect(await mulColumns(Tensor.from(gpu, a, [6, 5]), Tensor.from(gpu, v, [5])).toFloat32()).toBeAllclose(a.map((x, i) => x * v[i % 5]));
    const f = new Float32Array([0, 2, 1]);
    expect(await scaleSamples(Tensor.from(gpu, a, [3, 2, 5]), Tensor.from(gpu, f, [3])).toFloat32()).toBeAllclose(a.map((x, i) => x * f[Math.floor(i / 10)]));
    expect(() => accumulate(at, at)).toThrow(/share a buffer/);
  });
});

describe('attention backward (in_proj → causal core → out_proj, batch-first)', () => {
  it.each(['mha_causal', 'mha_causal_77'])('%s: dx and all four projection gradients', async (name) => {
    const { up, check } = await setup();
    const x = up(`${name}.in.x`, LND_TO_NLD);
    const heads = name === 'mha_causal' ? 5 : 4;
    const wIn = up(`${name}.in.attn.in_proj_weight`), bIn = up(`${name}.in.attn.in_proj_bias`);
    const wOut = up(`${name}.in.attn.out_proj.weight`), bOut = up(`${name}.in.attn.out_proj.bias`);
    const qkv = linear(x, wIn, bIn);
    const core = attentionCore(qkv, { heads, causal: true });
    const out = linear(core, wOut, bOut);
    await check(out, `${name}.out`, LND_TO_NLD);
    const dy = up(`${name}.grad_out`, LND_TO_NLD);
    const gOut = linearBackward(core, wOut, dy, { dx: true, dweight: true, dbias: true });
    const dqkv = attentionCoreBackward(qkv, core, gOut.dx!, { heads, causal: true });
    const gIn = linearBackward(x, wIn, dqkv, { dx: true, dweight: true, dbias: true });
    await check(gIn.dx!, `${name}.grad.x`, LND_TO_NLD);
    await check(gIn.dweight!, `${name}.grad.attn.in_proj_weight`);
    await check(gIn.dbias!, `${name}.grad.attn.in_proj_bias`);
    await check(gOut.dweight!, `${name}.grad.attn.out_proj.weight`);
    await check(gOut.dbias!, `${name}.grad.attn.out_proj.bias`);
  });

  it('non-causal core matches a CPU reference (B=2, T=5, 2 heads of 3)', async () => {
    const gpu = await testGpu();
    const B = 2, T = 5, H = 2, dh = 3, D = H * dh;
    const qkv = randomArray(B * T * 3 * D, 11), dout = randomArray(B * T * D, 12);
    // CPU: loss = Σ out ⊙ dout; finite differences on a few qkv entries.
    const forward = (q: Float32Array): number => {
      let loss = 0;
      for (let b = 0; b < B; b++) for (let h = 0; h < H; h++) for (let i = 0; i < T; i++) {
        const s: number[] = [];
        for (let j = 0; j < T; j++) {
          let d = 0;
          for (let c = 0; c < dh; c++) d += q[(b * T + i) * 3 * D + h * dh + c] * q[(b * T + j) * 3 * D + D + h * dh + c];
          s.push(d / Math.sqrt(dh));
        }
        const m = Math.max(...s);
        const e = s.map((v) => Math.exp(v - m));
        const z = e.reduce((a, c) => a + c, 0);
        for (let c = 0; c < dh; c++) {
          let o = 0;
          for (let j = 0; j < T; j++) o += (e[j] / z) * q[(b * T + j) * 3 * D + 2 * D + h * dh + c];
          loss += o * dout[(b * T + i) * D + h * dh + c];
        }
      }
      return loss;
    };
    const qt = Tensor.from(gpu, qkv, [B, T, 3 * D]);
    const out = attentionCore(qt, { heads: H, causal: false });
    const got = await attentionCoreBackward(qt, out, Tensor.from(gpu, dout, [B, T, D]), { heads: H, causal: false }).toFloat32();
    const q64 = Float64Array.from(qkv);
    for (const idx of [0, 4, D + 1, 2 * D + 5, 3 * D * T + 7, qkv.length - 1]) {
      const h = 1e-4;
      const plus = Float64Array.from(q64); plus[idx] += h;
      const minus = Float64Array.from(q64); minus[idx] -= h;
      const fd = (forward(plus as unknown as Float32Array) - forward(minus as unknown as Float32Array)) / (2 * h);
      expect(Math.abs(got[idx] - fd), `dqkv[${idx}]`).toBeLessThan(1e-4);
    }
  });
});

describe('pooling, embedding and loss backward', () => {
  it('avgpool', async () => {
    const { gpu, check, host } = await setup();
    const x = host('avgpool.in.x', NCHW_TO_NHWC);
    const dy = host('avgpool.grad_out');
    const dx = globalAvgPoolBackward(Tensor.from(gpu, dy.data, [dy.shape[0], dy.shape[1]]), x.shape);
    await check(dx, 'avgpool.grad.x', NCHW_TO_NHWC);
  });

  it.each(['row', 'subgroup'] as L2NormVariant[])('l2norm (%s): the golden, and odd rows against a float64 reference', async (variant) => {
    const { gpu, up, check } = await setup();
    if (variant === 'subgroup' && !gpu.subgroups) return;
    await check(l2NormalizeBackward(up('l2norm.in.x'), up('l2norm.grad_out'), { variant }), 'l2norm.grad.x');
    // dx = (dy − y (y·dy)) / ‖x‖, y = x / ‖x‖; dy / eps for the zero row.
    for (const [R, D] of [[3, 1], [5, 3], [3, 77], [2, 1023]]) {
      const x = randomArray(R * D, D), dy = randomArray(R * D, D + 1);
      x.fill(0, D, 2 * D);
      const want = new Float32Array(R * D);
      for (let r = 0; r < R; r++) {
        let ss = 0, xd = 0;
        for (let d = 0; d < D; d++) { ss += x[r * D + d] ** 2; xd += x[r * D + d] * dy[r * D + d]; }
        const n = Math.sqrt(ss);
        for (let d = 0; d < D; d++) want[r * D + d] = n <= 1e-12 ? dy[r * D + d] / 1e-12 : (dy[r * D + d] - (x[r * D + d] / n) * (xd / n)) / n;
      }
      const got = await l2NormalizeBackward(Tensor.from(gpu, x, [R, D]), Tensor.from(gpu, dy, [R, D]), { variant }).toFloat32();
      expect(got, `[${R}, ${D}]`).toBeAllclose(want, { rtol: 1e-5, atol: 1e-5 });
    }
  });

  it('eot_pool', async () => {
    const { gpu, g, up, check } = await setup();
    const tok = golden(g, 'eot_pool.tokens');
    await check(argmaxPoolBackward(up('eot_pool.grad_out'), Tensor.from(gpu, tok.data, tok.shape, 'i32')), 'eot_pool.grad.x');
  });

  it('embedding: deterministic scatter-add over repeated ids, positional gradient', async () => {
    const { gpu, g, up, check } = await setup();
    const ids = golden(g, 'embedding.ids');
    const w = golden(g, 'embedding.in.weight'), pos = golden(g, 'embedding.in.pos');
    const r = tokenEmbeddingBackward(gpu, ids.data as Int32Array, [ids.shape[0], ids.shape[1]], up('embedding.grad_out'), w.shape[0], pos.shape[0]);
    await check(r.dweight!, 'embedding.grad.weight');
    await check(r.dpos!, 'embedding.grad.pos');
  });

  it('invertIds groups positions per id in order and rejects out-of-vocabulary ids', () => {
    const inv = invertIds(Int32Array.from([3, 1, 3, 0, 1, 3]), 5);
    expect([...inv.rows]).toEqual([0, 1, 3]);
    expect([...inv.offsets]).toEqual([0, 1, 3, 6]);
    expect([...inv.positions]).toEqual([3, 1, 4, 0, 2, 5]);
    expect(() => invertIds(Int32Array.from([5]), 5)).toThrow(/outside the vocabulary/);
  });

  it('clip_loss: features and the raw logit_scale', async () => {
    const { up, check } = await setup();
    const r = clipLossBackward(up('clip_loss.in.image_features'), up('clip_loss.in.text_features'), up('clip_loss.in.logit_scale').reshape([1]), up('clip_loss.grad_out').reshape([1]));
    await check(r.dimage, 'clip_loss.grad.image_features');
    await check(r.dtext, 'clip_loss.grad.text_features');
    await check(r.dlogitScale, 'clip_loss.grad.logit_scale');
  });

  it('clip_loss_full: normalise + ClipLoss', async () => {
    const { up, check } = await setup();
    const img = up('clip_loss_full.in.image_raw'), txt = up('clip_loss_full.in.text_raw');
    const ni = l2Normalize(img), nt = l2Normalize(txt);
    const r = clipLossBackward(ni, nt, up('clip_loss_full.in.logit_scale').reshape([1]), up('clip_loss_full.grad_out').reshape([1]));
    await check(l2NormalizeBackward(img, r.dimage), 'clip_loss_full.grad.image_raw');
    await check(l2NormalizeBackward(txt, r.dtext), 'clip_loss_full.grad.text_raw');
    await check(r.dlogitScale, 'clip_loss_full.grad.logit_scale');
  });
});

describe('f16 saved inputs (mixed precision): same gradients as f32 on the same values', () => {
  const arr = (n: number, seed: number, shape: number[], f16 = false, scale = 1) => ({ data: randomArray(n, seed).map((v) => v * scale), shape, f16 });

  it('geluBackward: x', async () => {
    const gpu = await testGpu();
    await expectF16InputsMatch(gpu, { x: arr(42, 71, [6, 7], true, 4), dy: arr(42, 72, [6, 7]) }, (t) => [geluBackward(t.x, t.dy)]);
  });

  it('mulColumns: x', async () => {
    const gpu = await testGpu();
    await expectF16InputsMatch(gpu, { x: arr(30, 73, [6, 5], true), v: arr(5, 74, [5]) }, (t) => [mulColumns(t.x, t.v)]);
  });

  it.each(['row', 'subgroup'] as const)('layerNormBackward (%s): x', async (variant) => {
    const gpu = await testGpu();
    if (variant === 'subgroup' && !gpu.subgroups) return;
    await expectF16InputsMatch(gpu, { x: arr(5 * 77, 75, [5, 77], true, 3), w: arr(77, 76, [77]), dy: arr(5 * 77, 77, [5, 77]) }, (t) => {
      const r = layerNormBackward(t.x, t.w, t.dy, { eps: 1e-6, variant });
      return [r.dx, r.dweight, r.dbias];
    });
  });

  it.each([true, false])('attentionCoreBackward (causal %s): qkv and out', async (causal) => {
    const gpu = await testGpu();
    const B = 2, T = 5, D = 6;
    await expectF16InputsMatch(gpu, { qkv: arr(B * T * 3 * D, 78, [B, T, 3 * D], true, 2), out: arr(B * T * D, 79, [B, T, D], true), dOut: arr(B * T * D, 80, [B, T, D]) }, (t) => [
      attentionCoreBackward(t.qkv, t.out, t.dOut, { heads: 2, causal }),
    ]);
  });
});
