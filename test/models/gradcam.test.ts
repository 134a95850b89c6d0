// Grad-CAM against a float64 CPU derivation. Past the hooked activation A [H·W, C] the tower is
// avg-pool → LayerNorm → projection, so ∂(feature·p)/∂A[hw, c] is the same at every position:
// α_c = LN-backward(Wᵀp)_c / (H·W), and CAM = ReLU(A·α).
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Tensor } from '../../src/gpu/tensor.js';
import { openWeights } from '../../src/io/weights-node.js';
import { EchoClipModel } from '../../src/models/clip.js';
import { gradCam } from '../../src/models/gradcam.js';
import { TrainableClip } from '../../src/models/train.js';
import { FIXTURES, golden, loadGoldens } from '../helpers/goldens.js';
import { randomArray, testGpu } from '../helpers/gpu.js';

describe('Grad-CAM (PromptCAM)', () => {
  it('matches the analytic gradient of the prompt similarity at the last ConvNeXt stage', async () => {
    const gpu = await testGpu();
    const dir = resolve(FIXTURES, 'echoclip_tiny');
    const w = await openWeights(dir);
    const train = await TrainableClip.load(gpu, w.source, w.config);
    const infer = await EchoClipModel.load(gpu, w.source, w.config);
    await w.source.close();
    const g = await loadGoldens('echoclip_tiny_forward.safetensors');
    const S = 224, E = 64;
    const frame = (golden(g, 'input.pixel_values').data as Float32Array).slice(3 * S * S, 6 * S * S); // the echo frame
    const p = randomArray(E, 99);
    const norm = Math.hypot(...p);
    for (let i = 0; i < E; i++) p[i] /= norm;

    const r = await gradCam(train, frame, p);
    expect([r.height, r.width]).toEqual([7, 7]);

    // CPU reference from the inference model's own activations and parameters.
    let stage: Tensor | undefined;
    const feat = infer.encodeImage(Tensor.from(gpu, frame, [1, 3, S, S]), (name, t) => { if (name === 'visual.trunk.stages.3') stage = t; });
    const A = await stage!.toFloat32();
    const f = await feat.toFloat32();
    const C = 256, HW = 49;
    const rd = async (n: string) => Float64Array.from(await train.param(n).value.toFloat32());
    const gamma = await rd('visual.trunk.head.norm.weight');
    const Wp = await rd('visual.head.proj.weight'); // [E, C]
    const m = new Float64Array(C);
    for (let i = 0; i < HW; i++) for (let c = 0; c < C; c++) m[c] += A[i * C + c] / HW;
    const mu = m.reduce((s, v) => s + v, 0) / C;
    const varc = m.reduce((s, v) => s + (v - mu) ** 2, 0) / C;
    const inv = 1 / Math.sqrt(varc + 1e-6);
    const xh = Array.from(m, (v) => (v - mu) * inv);
    const gxh = Array.from({ length: C }, (_, c) => {
      let s = 0;
      for (let e = 0; e < E; e++) s += Wp[e * C + c] * p[e];
      return s * gamma[c];
    });
    const mg = gxh.reduce((s, v) => s + v, 0) / C;
    const mgx = gxh.reduce((s, v, c) => s + v * xh[c], 0) / C;
    const alpha = gxh.map((v, c) => (inv * (v - mg - xh[c] * mgx)) / HW);
    const want = Array.from({ length: HW }, (_, i) => Math.max(0, alpha.reduce((s, a, c) => s + a * A[i * C + c], 0)));

    expect(r.cam).toBeAllclose(want, { rtol: 1e-3, atol: 1e-6 * Math.max(...want) + 1e-7 });
    expect(Math.max(...r.cam)).toBeGreaterThan(0);
    expect(r.score).toBeCloseTo(f.reduce((s, v, i) => s + v * p[i], 0), 4);
    train.release();
    infer.release();
  });
});
