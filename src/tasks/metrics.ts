// Evaluation metrics: MAE, ROC AUC (sklearn semantics, ties count one half), retrieval ranks,
// mean rank, recall@k and the paper's mean cross-modal retrieval rank (MCMRR).

import { ShapeError } from '../errors.js';
import { type HostArray, dims } from './array.js';

function sameLength(a: ArrayLike<unknown>, b: ArrayLike<unknown>, what: string): void {
  if (a.length !== b.length) throw new ShapeError(what, `${a.length} predictions vs ${b.length} targets`);
  if (a.length === 0) throw new ShapeError(what, 'no samples');
}

/** Mean absolute error (float64). */
export function meanAbsoluteError(predictions: ArrayLike<number>, targets: ArrayLike<number>): number {
  sameLength(predictions, targets, 'mean absolute error');
  let s = 0;
  for (let i = 0; i < predictions.length; i++) s += Math.abs(predictions[i]! - targets[i]!);
  return s / predictions.length;
}

/**
 * Area under the ROC curve, as sklearn.metrics.roc_auc_score for binary labels: tied scores
 * contribute one half (the trapezoid through tied thresholds). Labels are truthy = positive.
 * Fails when only one class is present (sklearn raises too).
 */
export function rocAuc(scores: ArrayLike<number>, labels: ArrayLike<number | boolean>): number {
  sameLength(scores, labels, 'ROC AUC');
  const idx = Array.from({ length: scores.length }, (_, i) => i);
  for (const i of idx) if (Number.isNaN(scores[i]!)) throw new ShapeError('ROC AUC', `score ${i} is NaN`);
  idx.sort((a, b) => scores[a]! - scores[b]!);
  // Mann-Whitney U with average ranks for ties.
  let pos = 0;
  let rankSumPos = 0;
  for (let i = 0; i < idx.length;) {
    let j = i;
    while (j + 1 < idx.length && scores[idx[j + 1]!] === scores[idx[i]!]) j++;
    const avgRank = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) if (labels[idx[k]!]) { pos++; rankSumPos += avgRank; }
    i = j + 1;
  }
  const neg = idx.length - pos;
  if (pos === 0 || neg === 0) {
    throw new ShapeError('ROC AUC', `only one class present (${pos} positive, ${neg} negative)`, { hint: 'AUC needs both positive and negative samples' });
  }
  return (rankSumPos - (pos * (pos + 1)) / 2) / (pos * neg);
}

/**
 * 1-based rank of the true candidate for each query of a [Q, C] similarity matrix: its position in
 * a descending sort where exact ties are broken by candidate index (a stable sort).
 * `truth[q]` is the index of the correct candidate; default q (the diagonal of paired data).
 */
export function retrievalRanks(similarities: HostArray, truth?: ArrayLike<number>): Int32Array {
  const [q, c] = dims(similarities, 2, 'similarities') as [number, number];
  if (truth && truth.length !== q) throw new ShapeError('retrieval truth', `${truth.length} true indices for ${q} queries`);
  if (!truth && c < q) throw new ShapeError('similarities', `[${q}, ${c}] has no diagonal for every query`, { hint: 'pass the true candidate index of each query' });
  const s = similarities.data;
  const ranks = new Int32Array(q);
  for (let i = 0; i < q; i++) {
    const t = truth ? truth[i]! : i;
    if (!Number.isInteger(t) || t < 0 || t >= c) throw new ShapeError('retrieval truth', `query ${i}: candidate ${t} out of range 0..${c - 1}`);
    const row = i * c;
    const v = s[row + t]!;
    let rank = 1;
    for (let j = 0; j < c; j++) {
      const x = s[row + j]!;
      if (x > v || (x === v && j < t)) rank++;
    }
    ranks[i] = rank;
  }
  return ranks;
}

export function meanRank(ranks: ArrayLike<number>): number {
  if (ranks.length === 0) throw new ShapeError('mean rank', 'no ranks');
  let s = 0;
  for (let i = 0; i < ranks.length; i++) s += ranks[i]!;
  return s / ranks.length;
}

/** Fraction of queries whose true candidate is within the top k. */
export function recallAtK(ranks: ArrayLike<number>, k: number): number {
  if (ranks.length === 0) throw new ShapeError('recall@k', 'no ranks');
  if (!Number.isInteger(k) || k < 1) throw new ShapeError('recall@k', `k = ${k} (a positive integer expected)`);
  let hit = 0;
  for (let i = 0; i < ranks.length; i++) if (ranks[i]! <= k) hit++;
  return hit / ranks.length;
}

export interface CrossModalRetrieval {
  imageToText: { ranks: Int32Array; meanRank: number };
  textToImage: { ranks: Int32Array; meanRank: number };
  /** Mean cross-modal retrieval rank: the mean of the two directional mean ranks. */
  mcmrr: number;
}

/** Both retrieval directions for N paired items from the [N, N] image-text similarity matrix. */
export function crossModalRetrieval(imageText: HostArray): CrossModalRetrieval {
  const [n, m] = dims(imageText, 2, 'image-text similarities') as [number, number];
  if (n !== m) throw new ShapeError('image-text similarities', `expected a square [N, N] matrix of paired items, got [${n}, ${m}]`);
  const transposed = new Float32Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) transposed[j * n + i] = imageText.data[i * n + j]!;
  const i2t = retrievalRanks(imageText);
  const t2i = retrievalRanks({ data: transposed, shape: [n, n] });
  const a = meanRank(i2t);
  const b = meanRank(t2i);
  return { imageToText: { ranks: i2t, meanRank: a }, textToImage: { ranks: t2i, meanRank: b }, mcmrr: (a + b) / 2 };
}
