import { describe, expect, it } from 'vitest';
import { ShapeError } from '../../src/errors.js';
import { cosineSimilarityMatrix, l2NormalizeRows, matchPatients, rankByDotProduct, rankReports, rocAuc, samePatientPairs, videoEmbedding } from '../../src/tasks/index.js';

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32) * 2 - 1;
}
const randn = (n: number, seed: number): Float32Array => { const r = rng(seed); return Float32Array.from({ length: n }, r); };

describe('retrieval', () => {
  it('video embedding = mean of L2-normalised frames, not re-normalised', () => {
    const frames = { data: new Float32Array([3, 4, 0, 2]), shape: [2, 2] };
    const v = videoEmbedding(frames);
    expect(v.shape).toEqual([2]);
    expect(v.data[0]).toBeCloseTo(0.3, 6); // (0.6 + 0) / 2
    expect(v.data[1]).toBeCloseTo(0.9, 6); // (0.8 + 1) / 2
    // already-normalised input and [N, T, D] batches
    const batch = videoEmbedding({ data: l2NormalizeRows({ data: new Float32Array([3, 4, 0, 2, 1, 0, 1, 0]), shape: [4, 2] }).data, shape: [2, 2, 2] }, { normalizeFrames: false });
    expect(batch.shape).toEqual([2, 2]);
    expect(Array.from(batch.data.subarray(2))).toEqual([1, 0]);
  });

  it('F.normalize semantics: zero rows stay zero (eps 1e-12)', () => {
    expect(Array.from(l2NormalizeRows({ data: new Float32Array([0, 0, 0, 5]), shape: [2, 2] }).data)).toEqual([0, 0, 0, 1]);
  });

  it('ranks reports by similarity to the video embedding', () => {
    const D = 16;
    const frames = { data: randn(5 * D, 1), shape: [5, D] };
    const v = videoEmbedding(frames);
    const reports = l2NormalizeRows({ data: randn(30 * D, 2), shape: [30, D] });
    // plant the video direction as report 17
    const unit = l2NormalizeRows(v).data;
    reports.data.set(unit, 17 * D);
    const ranked = rankReports(frames, reports, 5);
    expect(ranked).toHaveLength(5);
    expect(ranked[0]!.index).toBe(17);
    for (let i = 1; i < ranked.length; i++) expect(ranked[i - 1]!.similarity).toBeGreaterThanOrEqual(ranked[i]!.similarity);
    const all = rankByDotProduct(v, reports);
    expect(all.map((r) => r.index).sort((a, b) => a - b)).toEqual(Array.from({ length: 30 }, (_, i) => i));
    expect(() => rankByDotProduct(v, { data: new Float32Array(8), shape: [2, 4] })).toThrow(ShapeError);
  });

  it('cosine similarity matrix', () => {
    const s = cosineSimilarityMatrix({ data: new Float32Array([1, 0, 1, 1]), shape: [2, 2] }, { data: new Float32Array([2, 0, 0, 3]), shape: [2, 2] });
    expect(s.shape).toEqual([2, 2]);
    expect(Array.from(s.data).map((x) => +x.toFixed(6))).toEqual([1, 0, 0.707107, 0.707107]);
  });

  it('patient matching finds the other video of the same patient', () => {
    const D = 32;
    const patients = 6;
    const base = randn(patients * D, 3);
    const noise = randn(patients * 2 * D, 4);
    const videos = new Float32Array(patients * 2 * D);
    const ids: number[] = [];
    for (let v = 0; v < patients * 2; v++) {
      const p = v >> 1;
      ids.push(p);
      for (let k = 0; k < D; k++) videos[v * D + k] = base[p * D + k]! + 0.2 * noise[v * D + k]!;
    }
    const emb = { data: videos, shape: [patients * 2, D] };
    const m = matchPatients(emb, emb, { excludeSelf: true, top: 1 });
    m.forEach((q) => expect(ids[q.matches[0]!.index]).toBe(ids[q.query]));
    const pairs = samePatientPairs(emb, ids);
    expect(pairs.scores.length).toBe((12 * 11) / 2);
    expect(pairs.sameLabels.reduce((a, b) => a + b, 0)).toBe(6);
    expect(rocAuc(pairs.scores, pairs.sameLabels)).toBe(1);
    expect(() => matchPatients(emb, { data: videos.subarray(0, D), shape: [1, D] }, { excludeSelf: true })).toThrow(ShapeError);
  });
});
