import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ShapeError } from '../../src/errors.js';
import { crossModalRetrieval, meanAbsoluteError, meanRank, recallAtK, retrievalRanks, rocAuc } from '../../src/tasks/index.js';

/** AUC by definition: P(score_pos > score_neg) + 0.5 P(equal), over all pairs. */
function aucPairs(scores: number[], labels: number[]): number {
  let s = 0;
  let n = 0;
  scores.forEach((a, i) => scores.forEach((b, j) => {
    if (labels[i] && !labels[j]) { n++; s += a > b ? 1 : a === b ? 0.5 : 0; }
  }));
  return s / n;
}

describe('metrics', () => {
  it('MAE', () => {
    expect(meanAbsoluteError([1, 2, 3], [2, 2, 5])).toBe(1);
    expect(() => meanAbsoluteError([1], [1, 2])).toThrow(ShapeError);
    expect(() => meanAbsoluteError([], [])).toThrow(ShapeError);
  });

  it('ROC AUC matches sklearn on known cases, including ties', () => {
    // sklearn.metrics.roc_auc_score([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == 0.75
    expect(rocAuc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1])).toBe(0.75);
    // all tied -> 0.5
    expect(rocAuc([0.3, 0.3, 0.3], [1, 0, 1])).toBe(0.5);
    // roc_auc_score([1, 0, 1, 0, 1], [0.5, 0.5, 0.9, 0.1, 0.5]) == 0.8333...
    expect(rocAuc([0.5, 0.5, 0.9, 0.1, 0.5], [1, 0, 1, 0, 1])).toBeCloseTo(5 / 6, 12);
    expect(rocAuc([1, 2], [true, false])).toBe(0);
    expect(() => rocAuc([1, 2], [1, 1])).toThrow(/only one class/);
  });

  it('ROC AUC equals the pairwise definition for random data with ties', () => {
    fc.assert(fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 6 }), fc.boolean()), { minLength: 2, maxLength: 40 }), (rows) => {
      const labels = rows.map((r) => (r[1] ? 1 : 0));
      if (!labels.includes(1) || !labels.includes(0)) return;
      const scores = rows.map((r) => r[0] / 7);
      expect(rocAuc(scores, labels)).toBeCloseTo(aucPairs(scores, labels), 12);
    }), { numRuns: 300 });
  });

  it('retrieval ranks are 1-based positions of the true candidate; ties broken by index', () => {
    const sim = { data: new Float32Array([0.9, 0.1, 0.5, 0.2, 0.3, 0.8, 0.4, 0.4, 0.4]), shape: [3, 3] };
    expect(Array.from(retrievalRanks(sim))).toEqual([1, 2, 3]);
    expect(Array.from(retrievalRanks(sim, [2, 1, 0]))).toEqual([2, 2, 1]);
    expect(meanRank([1, 2, 3])).toBe(2);
    expect(recallAtK([1, 2, 3, 10, 11], 10)).toBe(0.8);
    expect(recallAtK([1, 2, 3], 1)).toBeCloseTo(1 / 3, 12);
    expect(() => recallAtK([1], 0)).toThrow(ShapeError);
    expect(() => retrievalRanks(sim, [0, 5, 1])).toThrow(/out of range/);
  });

  it('MCMRR is the mean of the two directional mean ranks', () => {
    // image i vs text j; image 0 ranks text 0 second, text 1 ranks image 1 first...
    const sim = { data: new Float32Array([0.5, 0.9, 0.1, 0.2, 0.8, 0.3, 0.4, 0.1, 0.7]), shape: [3, 3] };
    const r = crossModalRetrieval(sim);
    expect(Array.from(r.imageToText.ranks)).toEqual([2, 1, 1]);
    expect(Array.from(r.textToImage.ranks)).toEqual([1, 2, 1]);
    expect(r.mcmrr).toBeCloseTo((4 / 3 + 4 / 3) / 2, 12);
    // the paper's EchoCLIP-R figures: (203.1 + 209.1) / 2 = 206.1
    expect(() => crossModalRetrieval({ data: new Float32Array(6), shape: [2, 3] })).toThrow(ShapeError);
  });
});
