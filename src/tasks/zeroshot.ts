// echo_CLIP's zero-shot procedures (utils.py compute_binary_metric / compute_regression_metric),
// plus categorical scoring, which the reference repo does not define (see computeCategoricalMetric).
// Similarities are accumulated in float64 and rounded to float32; the regression ranking uses the
// float64 values so its order is the true order wherever float32 noise could swap neighbours.

import { ConfigError, ShapeError } from '../errors.js';
import { type HostArray, asVideoBatch, dims, dotMatrix64 } from './array.js';

function checkPrompts(video: { d: number }, prompts: HostArray): number {
  const [c, d] = dims(prompts, 2, 'prompt embeddings') as [number, number];
  if (d !== video.d) throw new ShapeError('prompt embeddings', `embedding width ${d} differs from the video embeddings' ${video.d}`);
  if (c === 0) throw new ShapeError('prompt embeddings', 'no prompts (C = 0)');
  return c;
}

/** video_emb @ prompt_emb.T: [N, T, D] x [C, D] -> [N, T, C] (float64). */
export function perFrameSimilarities64(video: HostArray, prompts: HostArray): { sims: Float64Array; n: number; t: number; c: number } {
  const v = asVideoBatch(video);
  const c = checkPrompts(v, prompts);
  const sims = dotMatrix64(v.data, v.n * v.t, prompts.data, c, v.d);
  // NaN would make every ranking and median meaningless; refuse instead of returning noise.
  for (let i = 0; i < sims.length; i++) {
    if (!Number.isFinite(sims[i]!)) throw new ShapeError('embeddings', 'contain NaN or infinite values', { hint: 'the model produced invalid outputs; check the weights and the input frames' });
  }
  return { sims, n: v.n, t: v.t, c };
}

/** Float32 [N, T, C] similarities (what the reference's matmul returns). */
export function perFrameSimilarities(video: HostArray, prompts: HostArray): HostArray {
  const { sims, n, t, c } = perFrameSimilarities64(video, prompts);
  return { data: Float32Array.from(sims), shape: [n, t, c] };
}

/**
 * compute_binary_metric: mean similarity over prompts, then over frames -> [N] (uncalibrated, in [-1, 1]).
 * Rows of `prompts` listed more than once count more than once, as in the reference.
 */
export function computeBinaryMetric(video: HostArray, prompts: HostArray): Float32Array {
  const { sims, n, t, c } = perFrameSimilarities64(video, prompts);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let frameSum = 0;
    for (let f = 0; f < t; f++) {
      let s = 0;
      const base = (i * t + f) * c;
      for (let k = 0; k < c; k++) s += Math.fround(sims[base + k]!);
      frameSum += Math.fround(s / c);
    }
    out[i] = frameSum / t;
  }
  return out;
}

export interface RegressionResult {
  /** [N] lower median of the top 20 % rank-averaged values. */
  predictions: Float32Array;
  /** [N, T, C] prompt indices by descending similarity per frame. */
  rankedIndices: Int32Array;
  /** [N, C] prompt values averaged over frames at each rank position. */
  avgFrameRankedValues: Float32Array;
  /** k = int(C * 0.2), the number of top ranks whose median is taken. */
  topK: number;
  shape: { n: number; t: number; c: number };
}

/**
 * compute_regression_metric, step for step:
 * 1. per frame, sort prompts by similarity (descending; exact ties keep prompt order — torch's
 *    argsort leaves them unspecified);
 * 2. replace indices by prompt values and average over frames at each rank (float32, in frame
 *    order, then / T — torch's CPU sum + div);
 * 3. k = int(C * 0.2); prediction = the LOWER median of the first k averages (torch.median).
 */
export function computeRegressionMetric(video: HostArray, prompts: HostArray, values: ArrayLike<number>): RegressionResult {
  const { sims, n, t, c } = perFrameSimilarities64(video, prompts);
  if (values.length !== c) throw new ShapeError('prompt values', `${values.length} values for ${c} prompts`);
  const k = Math.trunc(c * 0.2);
  if (k < 1) throw new ConfigError('regression prompts', `${c} prompts give an empty top 20 % (int(${c} * 0.2) = 0)`, { hint: 'use at least 5 prompts' });
  const rankedIndices = new Int32Array(n * t * c);
  const avg = new Float32Array(n * c);
  const order = new Int32Array(c);
  const acc = new Float32Array(c);
  const predictions = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    acc.fill(0);
    for (let f = 0; f < t; f++) {
      const base = (i * t + f) * c;
      for (let j = 0; j < c; j++) order[j] = j;
      order.sort((a, b) => sims[base + b]! - sims[base + a]! || a - b);
      rankedIndices.set(order, base);
      for (let r = 0; r < c; r++) acc[r] = acc[r]! + Math.fround(values[order[r]!]!);
    }
    for (let r = 0; r < c; r++) avg[i * c + r] = acc[r]! / t;
    const top = Float32Array.from(avg.subarray(i * c, i * c + k)).sort();
    predictions[i] = top[(k - 1) >> 1]!;
  }
  return { predictions, rankedIndices, avgFrameRankedValues: avg, topK: k, shape: { n, t, c } };
}

export interface CategoricalResult {
  /** The distinct class values, ascending. */
  classes: number[];
  /** [N, K] class scores: mean similarity over frames and over that class's prompts. */
  scores: Float32Array;
  /** [N] the class value with the highest score (the lower value on an exact tie). */
  predictions: number[];
}

/**
 * Categorical scoring (our definition; echo_CLIP has none): each class is scored like a binary
 * task over its own prompts — mean over frames of the mean similarity to the prompts carrying that
 * class value — and the prediction is the best-scoring class. A prompt listed under two values (the
 * duplicated "EARLY TAMPONADE" sentence in pericardial_effusion) counts for both. Classes without
 * prompts (e.g. "Normal" in the size tasks) cannot be predicted; scores are uncalibrated like
 * binary scores, so compare them within a task, not across tasks.
 */
export function computeCategoricalMetric(video: HostArray, prompts: HostArray, values: ArrayLike<number>): CategoricalResult {
  const { sims, n, t, c } = perFrameSimilarities64(video, prompts);
  if (values.length !== c) throw new ShapeError('prompt values', `${values.length} values for ${c} prompts`);
  const classes = [...new Set(Array.from(values))].sort((a, b) => a - b);
  const members = classes.map((v) => Array.from(values, (x, j) => (x === v ? j : -1)).filter((j) => j >= 0));
  const scores = new Float32Array(n * classes.length);
  const predictions: number[] = [];
  for (let i = 0; i < n; i++) {
    let best = 0;
    classes.forEach((_, ci) => {
      const m = members[ci]!;
      let frameSum = 0;
      for (let f = 0; f < t; f++) {
        const base = (i * t + f) * c;
        let s = 0;
        for (const j of m) s += Math.fround(sims[base + j]!);
        frameSum += Math.fround(s / m.length);
      }
      const score = Math.fround(frameSum / t);
      scores[i * classes.length + ci] = score;
      if (score > scores[i * classes.length + best]!) best = ci;
    });
    predictions.push(classes[best]!);
  }
  return { classes, scores, predictions };
}
