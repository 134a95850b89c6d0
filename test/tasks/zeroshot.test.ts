import { describe, expect, it } from 'vitest';
import { ConfigError, ShapeError } from '../../src/errors.js';
import { type HostArray, computeBinaryMetric, computeCategoricalMetric, computeRegressionMetric, perFrameSimilarities } from '../../src/tasks/index.js';
import { loadGolden } from '../video/fixtures.js';

const g = await loadGolden('zeroshot_metrics.safetensors');
const arr = (name: string): HostArray => ({ data: g.f32(name), shape: g.get(name).shape });
const values = (name: string): Int32Array | Float32Array => (g.get(name).dtype === 'I32' ? g.i32(name) : g.f32(name));

describe('compute_binary_metric (echo_CLIP goldens)', () => {
  it.each(['binary_small', 'binary_d512', 'binary_odd'])('%s', (c) => {
    const got = computeBinaryMetric(arr(`${c}.video_embeddings`), arr(`${c}.prompt_embeddings`));
    const want = g.f32(`${c}.predictions`);
    expect(got.length).toBe(want.length);
    // torch's float32 matmul/mean order is not reproducible; the values agree to a few float32 ulps.
    for (let i = 0; i < want.length; i++) expect(Math.abs(got[i]! - want[i]!)).toBeLessThan(2e-8);
  });

  it('averages prompts then frames', () => {
    // 1 video, 2 frames, D = 2; prompts e1 and e2
    const video = { data: new Float32Array([1, 0, 0, 1]), shape: [1, 2, 2] };
    const prompts = { data: new Float32Array([1, 0, 0.5, 0.5]), shape: [2, 2] };
    // frame 0: sims (1, 0.5) -> 0.75; frame 1: (0, 0.5) -> 0.25; mean 0.5
    expect(Array.from(computeBinaryMetric(video, prompts))).toEqual([0.5]);
    // [T, D] input means one video
    expect(Array.from(computeBinaryMetric({ data: video.data, shape: [2, 2] }, prompts))).toEqual([0.5]);
  });

  it('rejects mismatched shapes and NaN embeddings', () => {
    const v = { data: new Float32Array(6), shape: [1, 2, 3] };
    expect(() => computeBinaryMetric(v, { data: new Float32Array(4), shape: [2, 2] })).toThrow(ShapeError);
    expect(() => computeBinaryMetric({ data: new Float32Array(5), shape: [1, 2, 3] }, { data: new Float32Array(3), shape: [1, 3] })).toThrow(ShapeError);
    expect(() => computeBinaryMetric({ data: new Float32Array([NaN, 0, 0]), shape: [1, 1, 3] }, { data: new Float32Array(3), shape: [1, 3] })).toThrow(/NaN/);
  });
});

describe('compute_regression_metric (echo_CLIP goldens)', () => {
  it.each(['regression_ef', 'regression_odd', 'regression_structured'])('%s: same top-20 %% ranks, averages and medians', (c) => {
    const video = arr(`${c}.video_embeddings`);
    const prompts = arr(`${c}.prompt_embeddings`);
    const r = computeRegressionMetric(video, prompts, values(`${c}.prompt_values`));
    const [n, t, p] = g.get(`${c}.ranked_indices`).shape as [number, number, number];
    expect(r.shape).toEqual({ n, t, c: p });
    expect(r.topK).toBe(Math.trunc(p * 0.2));
    // Exactly the same predictions (float32 bits).
    expect(r.predictions).toEqual(g.f32(`${c}.predictions`));
    // Exactly the same ranking in the top 20 % (the golden guarantees gaps there); below it only
    // near-ties (< 1e-6 apart) may be ordered differently.
    const want = g.i32(`${c}.ranked_indices`);
    const sims = g.f32(`${c}.per_frame_similarities`);
    for (let row = 0; row < n * t; row++) {
      for (let k = 0; k < p; k++) {
        const a = r.rankedIndices[row * p + k]!;
        const b = want[row * p + k]!;
        if (k < r.topK) expect(a).toBe(b);
        else if (a !== b) expect(Math.abs(sims[row * p + a]! - sims[row * p + b]!)).toBeLessThan(1e-6);
      }
    }
    const avg = g.f32(`${c}.avg_frame_ranked_values`);
    for (let i = 0; i < n; i++) {
      expect(r.avgFrameRankedValues.subarray(i * p, i * p + r.topK)).toEqual(avg.subarray(i * p, i * p + r.topK));
    }
    // the similarities themselves
    const ours = perFrameSimilarities(video, prompts).data;
    let max = 0;
    for (let i = 0; i < sims.length; i++) max = Math.max(max, Math.abs(ours[i]! - sims[i]!));
    expect(max).toBeLessThan(1e-6);
  });

  it('structured case predicts close to 60 (the frames sit near value 60)', () => {
    const r = computeRegressionMetric(arr('regression_structured.video_embeddings'), arr('regression_structured.prompt_embeddings'), values('regression_structured.prompt_values'));
    for (const p of r.predictions) expect(Math.abs(p - 60)).toBeLessThan(2);
  });

  it('takes the LOWER median of an even top-k', () => {
    // 10 prompts on a circle, value i; one frame pointing at prompt 0 -> ranks 0,1,9,... k = 2
    const D = 2, C = 10;
    const prompts = new Float32Array(C * D);
    for (let i = 0; i < C; i++) { prompts[i * D] = Math.cos((2 * Math.PI * i) / C); prompts[i * D + 1] = Math.sin((2 * Math.PI * i) / C); }
    const frame = new Float32Array([Math.cos(0.1), Math.sin(0.1)]); // nearest 0, then 1
    const r = computeRegressionMetric({ data: frame, shape: [1, 1, 2] }, { data: prompts, shape: [C, D] }, Array.from({ length: C }, (_, i) => i * 10));
    expect(r.topK).toBe(2);
    expect(Array.from(r.rankedIndices.subarray(0, 2))).toEqual([0, 1]);
    expect(r.predictions[0]).toBe(0); // lower of {0, 10}
  });

  it('refuses prompt sets too small for a top 20 % and value/prompt count mismatches', () => {
    const v = { data: new Float32Array([1, 0]), shape: [1, 1, 2] };
    const p = { data: new Float32Array(8), shape: [4, 2] };
    expect(() => computeRegressionMetric(v, p, [1, 2, 3, 4])).toThrow(ConfigError);
    expect(() => computeRegressionMetric(v, p, [1, 2, 3])).toThrow(ShapeError);
  });
});

describe('categorical scoring', () => {
  it('scores each class by its own prompts and predicts the best class', () => {
    // D = 3; frames near axis 2; class 1 prompts on axes 0/1, class 2 prompt on axis 2, class 3 mixed
    const video = { data: new Float32Array([0.1, 0, 0.99, 0, 0.1, 0.99]), shape: [2, 3] };
    const prompts = { data: new Float32Array([1, 0, 0, 0, 1, 0, 0, 0, 1, 0.6, 0, 0.8]), shape: [4, 3] };
    const r = computeCategoricalMetric(video, prompts, [1, 1, 2, 3]);
    expect(r.classes).toEqual([1, 2, 3]);
    expect(r.predictions).toEqual([2]);
    // class 1: frames (0.1+0)/2, (0+0.1)/2 -> 0.05; class 2: 0.99; class 3: (0.06+0.792 + 0.792)/2
    expect(r.scores[0]).toBeCloseTo(0.05, 6);
    expect(r.scores[1]).toBeCloseTo(0.99, 6);
    expect(r.scores[2]).toBeCloseTo((0.852 + 0.792) / 2, 6);
    // the class score equals compute_binary_metric over that class's prompts
    const only2 = computeBinaryMetric(video, { data: prompts.data.subarray(6, 9), shape: [1, 3] });
    expect(r.scores[1]).toBe(only2[0]);
  });

  it('breaks exact ties toward the lower class value', () => {
    const video = { data: new Float32Array([1, 0]), shape: [1, 2] };
    const prompts = { data: new Float32Array([0, 1, 0, 1]), shape: [2, 2] };
    expect(computeCategoricalMetric(video, prompts, [3, 1]).predictions).toEqual([1]);
  });
});
