// Exact GPU search against the CPU references: top-k on a synthetic 100 k index (ties by index
// order, chunk boundaries included) and the paper's metrics on a labelled synthetic set.
// Values are multiples of 1/4 (1/2 for the unit vectors), so every dot product is exact in f16
// storage and f32 accumulation: GPU and CPU must agree bit for bit, ties included.
import { describe, expect, it } from 'vitest';
import { toF16Array } from '../../src/gpu/dtype.js';
import { evaluatePatientMatch, evaluateRetrieval, patientMatchFromMatrix, retrievalMetrics, topK, topKCpu } from '../../src/index-archive/search.js';
import { rowNorms } from '../../src/index-archive/vectors.js';
import { recallAtK, retrievalRanks, rocAuc } from '../../src/tasks/metrics.js';
import { cosineSimilarityMatrix, samePatientPairs } from '../../src/tasks/retrieval.js';
import { testGpu } from '../helpers/gpu.js';

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

/** rows × dim values in {-1, -0.75, …, 1}; every 97th row repeats an earlier one (ties). */
function quarterMatrix(rows: number, dim: number, seed: number): Float32Array {
  const r = lcg(seed);
  const out = new Float32Array(rows * dim);
  for (let i = 0; i < rows; i++) {
    if (i > 0 && i % 97 === 0) { const j = Math.floor(r() * i); out.copyWithin(i * dim, j * dim, (j + 1) * dim); continue; }
    for (let k = 0; k < dim; k++) out[i * dim + k] = (Math.floor(r() * 9) - 4) / 4;
  }
  return out;
}

/** Unit vectors with four entries of ±1/2 (exact norms, exact cosines). */
function unitVector(r: () => number, dim: number): Float32Array {
  const v = new Float32Array(dim);
  const used = new Set<number>();
  while (used.size < 4) used.add(Math.floor(r() * dim));
  for (const k of used) v[k] = r() < 0.5 ? -0.5 : 0.5;
  return v;
}

describe('index search', () => {
  it('top-k over a 100 k f16 index equals the CPU brute force (ties by index)', async () => {
    const gpu = await testGpu();
    const N = 100_000;
    const D = 32;
    const cand = { data: toF16Array(quarterMatrix(N, D, 1)), rows: N, dim: D };
    const queries = quarterMatrix(3, D, 2);
    const want = topKCpu(queries, cand, 25);
    // Many exact ties at the top: the tie rule is exercised.
    expect(want.some((h) => h.some((x, i) => i > 0 && x.score === h[i - 1]!.score))).toBe(true);
    expect(await topK(gpu, queries, cand, 25)).toEqual(want);
    expect(await topK(gpu, queries, cand, 25, { chunkRows: 30_011 })).toEqual(want);
    // f32 storage streams the same way.
    const f32 = { data: quarterMatrix(N, D, 1), rows: N, dim: D };
    expect(await topK(gpu, queries, f32, 7, { chunkRows: 65_536 })).toEqual(topKCpu(queries, f32, 7));
    const few = { data: cand.data.subarray(0, 5 * D), rows: 5, dim: D };
    expect((await topK(gpu, queries, few, 10))[0]).toHaveLength(5);
  });

  it('retrieval ranks, recall@k and rank percentiles equal the reference', async () => {
    const gpu = await testGpu();
    const D = 32;
    const C = 500;
    const cand = quarterMatrix(C, D, 5);
    const r = lcg(9);
    const truth = Array.from({ length: 120 }, () => Math.floor(r() * C));
    // Queries near their true candidate: the candidate plus quarter-step noise on a few entries.
    const queries = new Float32Array(truth.length * D);
    truth.forEach((t, q) => {
      for (let k = 0; k < D; k++) queries[q * D + k] = cand[t * D + k]! + (r() < 0.2 ? (Math.floor(r() * 5) - 2) / 4 : 0);
    });
    const got = await evaluateRetrieval(gpu, queries, { data: toF16Array(cand), rows: C, dim: D }, truth, { chunkRows: 128 });
    // Reference: the float64 score matrix, src/tasks retrievalRanks / recallAtK.
    const sims = new Float32Array(truth.length * C);
    for (let q = 0; q < truth.length; q++) for (let j = 0; j < C; j++) { let s = 0; for (let k = 0; k < D; k++) s += queries[q * D + k]! * cand[j * D + k]!; sims[q * C + j] = s; }
    const ranks = retrievalRanks({ data: sims, shape: [truth.length, C] }, truth);
    expect(Array.from(got.ranks)).toEqual(Array.from(ranks));
    expect(got.recallAt1).toBe(recallAtK(ranks, 1));
    expect(got.recallAt5).toBe(recallAtK(ranks, 5));
    expect(got.recallAt10).toBe(recallAtK(ranks, 10));
    const pct = Array.from(ranks, (x) => (100 * x) / C).sort((a, b) => a - b);
    expect(got.medianRankPercentile).toBeCloseTo((pct[59]! + pct[60]!) / 2, 12);
    expect(got.meanRankPercentile).toBeCloseTo(pct.reduce((a, b) => a + b, 0) / pct.length, 12);
    expect(retrievalMetrics([1, 2, 10, 11], 100)).toMatchObject({ recallAt1: 0.25, recallAt5: 0.5, recallAt10: 0.75, meanRank: 6, medianRankPercentile: 6 });
  });

  it('patient-match AUC and same-patient ranks equal the reference', async () => {
    const gpu = await testGpu();
    const D = 48;
    const r = lcg(11);
    const patients: string[] = [];
    const rows: Float32Array[] = [];
    // 20 patients × 1–5 clips; a patient's clips share two of their four entries.
    for (let p = 0; p < 20; p++) {
      const base = unitVector(r, D);
      const clips = 1 + Math.floor(r() * 5);
      for (let c = 0; c < clips; c++) {
        const v = r() < 0.6 ? base.slice() : unitVector(r, D);
        patients.push(`patient-${p}`);
        rows.push(v);
      }
    }
    const N = rows.length;
    const data = new Float32Array(N * D);
    rows.forEach((v, i) => data.set(v, i * D));
    const m = { data: toF16Array(data), rows: N, dim: D };
    const got = await evaluatePatientMatch(gpu, m, patients, rowNorms(m.data, N, D), { chunkRows: 17 });
    // Reference: src/tasks cosine matrix, same-patient pairs and sklearn-semantics ROC AUC.
    const pairs = samePatientPairs({ data, shape: [N, D] }, patients);
    expect(got.auc).toBe(rocAuc(pairs.scores, pairs.sameLabels));
    const sim = cosineSimilarityMatrix({ data, shape: [N, D] }, { data, shape: [N, D] });
    expect(got).toEqual(patientMatchFromMatrix(sim.data as Float32Array, patients));
    expect(got.retrieval!.queries).toBeGreaterThan(10);
  });
});
