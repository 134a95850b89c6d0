import { describe, expect, it } from 'vitest';
import { ShapeError } from '../../src/errors.js';
import { Tensor } from '../../src/gpu/tensor.js';
import { clipLoss, clipLossFromFeatures, contrastiveLogits } from '../../src/kernels/contrastive.js';
import { golden, loadGoldens, toleranceFor } from '../helpers/goldens.js';
import { randomArray, testGpu } from '../helpers/gpu.js';
import { clipLossRef } from '../../src/selfcheck/cpu-ref.js';

describe('contrastive logits', () => {
  it('matches exp(scale)·img·txtᵀ and its transpose (scale as tensor or number; vec4 and scalar)', async () => {
    const gpu = await testGpu();
    for (const [N, K, D] of [[20, 202, 512], [3, 5, 37]]) {
      const img = randomArray(N * D, N);
      const txt = randomArray(K * D, K);
      const raw = Math.log(1 / 0.07);
      const want = new Float32Array(N * K);
      for (let n = 0; n < N; n++) for (let k = 0; k < K; k++) {
        let s = 0;
        for (let d = 0; d < D; d++) s += img[n * D + d] * txt[k * D + d];
        want[n * K + k] = Math.exp(raw) * s;
      }
      const wantT = new Float32Array(K * N).map((_, o) => want[(o % N) * K + Math.floor(o / N)]);
      for (const scale of [raw, Tensor.from(gpu, [raw], [])]) {
        const { perImage, perText } = contrastiveLogits(Tensor.from(gpu, img, [N, D]), Tensor.from(gpu, txt, [K, D]), scale);
        expect(perImage.shape).toEqual([N, K]);
        expect(perText.shape).toEqual([K, N]);
        expect(await perImage.toFloat32()).toBeAllclose(want, { rtol: 1e-5, atol: 1e-4 });
        expect(await perText.toFloat32()).toBeAllclose(wantT, { rtol: 1e-5, atol: 1e-4 });
      }
    }
  });

  it('rejects mismatched shapes and bad scales', async () => {
    const gpu = await testGpu();
    expect(() => contrastiveLogits(Tensor.zeros(gpu, [2, 4]), Tensor.zeros(gpu, [3, 5]), 1)).toThrowError(/image \[N, D\] and text \[K, D\]/);
    expect(() => contrastiveLogits(Tensor.zeros(gpu, [2, 4]), Tensor.zeros(gpu, [3, 4]), Tensor.zeros(gpu, [2]))).toThrow(ShapeError);
    expect(() => contrastiveLogits(Tensor.zeros(gpu, [2, 4]), Tensor.zeros(gpu, [3, 4]), NaN)).toThrow(ShapeError);
    expect(() => clipLoss(Tensor.zeros(gpu, [2, 3]))).toThrowError(/square/);
  });
});

describe('CLIP loss forward', () => {
  it('matches the clip_loss golden (features already normalised as given)', async () => {
    const gpu = await testGpu();
    const g = await loadGoldens('ops.safetensors');
    const img = golden(g, 'clip_loss.in.image_features');
    const txt = golden(g, 'clip_loss.in.text_features');
    const ls = golden(g, 'clip_loss.in.logit_scale');
    const loss = clipLossFromFeatures(Tensor.from(gpu, img.data, img.shape), Tensor.from(gpu, txt.data, txt.shape), Tensor.from(gpu, ls.data, [1]));
    expect(loss.shape).toEqual([]);
    expect(await loss.toFloat32()).toBeAllclose(golden(g, 'clip_loss.out').data, { rtol: 0, atol: toleranceFor('ops.safetensors', 'clip_loss.out') });
  });

  it('matches the clip_loss_full golden (L2 normalisation included)', async () => {
    const gpu = await testGpu();
    const g = await loadGoldens('ops.safetensors');
    const img = golden(g, 'clip_loss_full.in.image_raw');
    const txt = golden(g, 'clip_loss_full.in.text_raw');
    const ls = golden(g, 'clip_loss_full.in.logit_scale');
    const loss = clipLossFromFeatures(Tensor.from(gpu, img.data, img.shape), Tensor.from(gpu, txt.data, txt.shape), ls.data[0], { normalize: true });
    expect(await loss.toFloat32()).toBeAllclose(golden(g, 'clip_loss_full.out').data, { rtol: 0, atol: toleranceFor('ops.safetensors', 'clip_loss_full.out') });
  });

  it('matches a float64 reference for N = 130 (more rows than the workgroup) with large logits', async () => {
    const gpu = await testGpu();
    const N = 130;
    const L = randomArray(N * N, 5).map((v) => v * 60);
    const got = await clipLoss(Tensor.from(gpu, L, [N, N])).toFloat32();
    expect(got[0]).toBeCloseTo(clipLossRef(L, N), 4);
  });
});
