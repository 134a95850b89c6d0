// Exact brute-force search over an embedding index on the GPU: the candidates stream to the GPU in
// chunks (f16 when the adapter has shader-f16, else widened to f32), one GEMM per chunk scores
// every query against the chunk (our matmul, f32 accumulation), the scores come back and a host
// top-k merge keeps the best K per query. Ties go to the lower index: chunks are visited in index
// order and a candidate only displaces strictly lower scores. Exact at any size (no approximate
// index): a 1 M × 512 f16 archive is 1 GiB and one pass of GEMMs.
// topKCpu is the float64 reference the tests hold the GPU path to.

import { ShapeError, UsageError } from '../errors.js';
import type { Gpu } from '../gpu/device.js';
import { Tensor } from '../gpu/tensor.js';
import { matmul } from '../kernels/gemm/index.js';
import { retrievalRanks, rocAuc, recallAtK, meanRank } from '../tasks/metrics.js';
import type { EmbeddingMatrix } from './store-node.js';
import { toFloat32Rows } from './vectors.js';

export interface Hit {
  index: number;
  score: number;
}

export interface ScanOptions {
  /** Candidate rows per GEMM (default: 64 MiB of candidates per chunk). */
  chunkRows?: number;
  /** Per-candidate factor applied to the raw dot product (1/‖c‖ for cosine similarity). */
  scale?: Float32Array;
}

function checkQueries(queries: Float32Array, dim: number): number {
  const q = queries.length / dim;
  if (!Number.isInteger(q) || q < 1) throw new ShapeError('search queries', `${queries.length} values is not a whole number of ${dim}-wide rows`);
  return q;
}

/**
 * Scores every query [Q, D] against every candidate in chunks; `visit(start, count, scores)` gets
 * the [Q, count] scores (row-major, raw dot products) of candidates start..start+count-1, in order.
 */
export async function scanScores(gpu: Gpu, queries: Float32Array, candidates: EmbeddingMatrix, visit: (start: number, count: number, scores: Float32Array) => void, opts: ScanOptions = {}): Promise<void> {
  const D = candidates.dim;
  const Q = checkQueries(queries, D);
  const useF16 = candidates.data instanceof Uint16Array && gpu.f16;
  // 64 MiB of candidates per chunk, and at most 64 MiB of scores to read back (many queries).
  const chunkRows = Math.max(1, opts.chunkRows ?? Math.min(Math.floor((64 << 20) / (D * (useF16 ? 2 : 4))), Math.floor((16 << 20) / Q)));
  const q = Tensor.from(gpu, queries, [Q, D], 'f32', 'search.queries');
  try {
    for (let start = 0; start < candidates.rows; start += chunkRows) {
      const count = Math.min(chunkRows, candidates.rows - start);
      const raw = candidates.data.subarray(start * D, (start + count) * D);
      const c = useF16 ? Tensor.from(gpu, raw as Uint16Array, [count, D], 'f16', 'search.chunk') : Tensor.from(gpu, toFloat32Rows(raw), [count, D], 'f32', 'search.chunk');
      let s: Tensor | undefined;
      try {
        s = matmul(q, c, { transB: true, dtype: 'f32' });
        visit(start, count, (await s.read()) as Float32Array);
      } finally {
        s?.release();
        c.release();
      }
    }
  } finally {
    q.release();
  }
}

/** Per-query top-K accumulator with the index-order tie rule. */
class TopK {
  readonly scores: Float64Array;
  readonly index: Int32Array;
  n = 0;
  constructor(readonly k: number) {
    this.scores = new Float64Array(k);
    this.index = new Int32Array(k);
  }
  /** Candidates must arrive in increasing index order. */
  offer(j: number, s: number): void {
    if (Number.isNaN(s)) return;
    if (this.n === this.k && !(s > this.scores[this.k - 1]!)) return;
    let p = Math.min(this.n, this.k - 1);
    while (p > 0 && this.scores[p - 1]! < s) {
      this.scores[p] = this.scores[p - 1]!;
      this.index[p] = this.index[p - 1]!;
      p--;
    }
    this.scores[p] = s;
    this.index[p] = j;
    if (this.n < this.k) this.n++;
  }
  hits(): Hit[] {
    return Array.from({ length: this.n }, (_, i) => ({ index: this.index[i]!, score: this.scores[i]! }));
  }
}

/** Exact top-k per query on the GPU (ties by index). */
export async function topK(gpu: Gpu, queries: Float32Array, candidates: EmbeddingMatrix, k: number, opts: ScanOptions = {}): Promise<Hit[][]> {
  if (!Number.isInteger(k) || k < 1) throw new UsageError('--top', `must be a positive integer, got ${k}`);
  const Q = checkQueries(queries, candidates.dim);
  const acc = Array.from({ length: Q }, () => new TopK(Math.min(k, candidates.rows)));
  if (candidates.rows === 0) return acc.map(() => []);
  const scale = opts.scale;
  await scanScores(gpu, queries, candidates, (start, count, s) => {
    for (let qi = 0; qi < Q; qi++) {
      const a = acc[qi]!;
      const row = qi * count;
      for (let j = 0; j < count; j++) a.offer(start + j, scale ? Math.fround(s[row + j]! * scale[start + j]!) : s[row + j]!);
    }
  }, opts);
  return acc.map((a) => a.hits());
}

/** The float64 CPU reference of topK (same tie rule). */
export function topKCpu(queries: Float32Array, candidates: EmbeddingMatrix, k: number, opts: { scale?: Float32Array } = {}): Hit[][] {
  const D = candidates.dim;
  const Q = checkQueries(queries, D);
  const c = toFloat32Rows(candidates.data);
  const out: Hit[][] = [];
  for (let qi = 0; qi < Q; qi++) {
    const a = new TopK(Math.min(k, candidates.rows));
    for (let j = 0; j < candidates.rows; j++) {
      let s = 0;
      for (let d = 0; d < D; d++) s += queries[qi * D + d]! * c[j * D + d]!;
      a.offer(j, opts.scale ? s * opts.scale[j]! : s);
    }
    out.push(a.hits());
  }
  return out;
}

/** The full [Q, C] score matrix (for evaluation), bounded to 2^28 values (1 GiB). */
export async function scoreMatrix(gpu: Gpu, queries: Float32Array, candidates: EmbeddingMatrix, opts: ScanOptions = {}): Promise<Float32Array> {
  const Q = checkQueries(queries, candidates.dim);
  const C = candidates.rows;
  if (Q * C > 2 ** 28) throw new UsageError('evaluation', `${Q} queries × ${C} candidates is over 2^28 scores`, { hint: 'evaluate a labelled subset (fewer label rows)' });
  const out = new Float32Array(Q * C);
  await scanScores(gpu, queries, candidates, (start, count, s) => {
    for (let qi = 0; qi < Q; qi++) for (let j = 0; j < count; j++) out[qi * C + start + j] = opts.scale ? Math.fround(s[qi * count + j]! * opts.scale[start + j]!) : s[qi * count + j]!;
  }, opts);
  return out;
}

export interface RetrievalMetrics {
  queries: number;
  candidates: number;
  recallAt1: number;
  recallAt5: number;
  recallAt10: number;
  meanRank: number;
  /** Rank as a percentage of the candidates (rank / C · 100): median and mean. */
  medianRankPercentile: number;
  meanRankPercentile: number;
}

function median(v: number[]): number {
  const s = [...v].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** The paper's retrieval metrics from 1-based ranks among C candidates. */
export function retrievalMetrics(ranks: ArrayLike<number>, candidates: number): RetrievalMetrics {
  const pct = Array.from(ranks, (r) => (100 * r) / candidates);
  return {
    queries: ranks.length, candidates,
    recallAt1: recallAtK(ranks, 1), recallAt5: recallAtK(ranks, 5), recallAt10: recallAtK(ranks, 10),
    meanRank: meanRank(ranks), medianRankPercentile: median(pct), meanRankPercentile: pct.reduce((a, b) => a + b, 0) / pct.length,
  };
}

/** Query i's true candidate is truth[i]: ranks (ties by index, as retrievalRanks) and metrics. */
export async function evaluateRetrieval(gpu: Gpu, queries: Float32Array, candidates: EmbeddingMatrix, truth: ArrayLike<number>, opts: ScanOptions = {}): Promise<RetrievalMetrics & { ranks: Int32Array }> {
  const Q = checkQueries(queries, candidates.dim);
  const s = await scoreMatrix(gpu, queries, candidates, opts);
  const ranks = retrievalRanks({ data: s, shape: [Q, candidates.rows] }, truth);
  return { ...retrievalMetrics(ranks, candidates.rows), ranks };
}

export interface PatientMatchMetrics {
  clips: number;
  /** ROC AUC of same-patient vs different-patient over every unordered pair of clips (cosine). */
  auc: number;
  /** Per clip with another clip of its patient: rank of the best such clip among the other clips. */
  retrieval: RetrievalMetrics | null;
}

/** From a [N, N] cosine matrix and patient ids (CPU; reused by the reference in the tests). */
export function patientMatchFromMatrix(sim: Float32Array, patients: readonly string[]): PatientMatchMetrics {
  const n = patients.length;
  const scores: number[] = [];
  const labels: number[] = [];
  const ranks: number[] = [];
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) { scores.push(sim[i * n + j]!); labels.push(patients[i] === patients[j] ? 1 : 0); }
    let best = -1;
    for (let j = 0; j < n; j++) if (j !== i && patients[j] === patients[i] && (best < 0 || sim[i * n + j]! > sim[i * n + best]!)) best = j;
    if (best < 0) continue;
    const v = sim[i * n + best]!;
    let rank = 1;
    for (let j = 0; j < n; j++) if (j !== i && (sim[i * n + j]! > v || (sim[i * n + j]! === v && j < best))) rank++;
    ranks.push(rank);
  }
  return { clips: n, auc: rocAuc(scores, labels), retrieval: ranks.length ? retrievalMetrics(ranks, n - 1) : null };
}

/** Patient matching over clips (vectors [N, D], cosine via 1/‖v‖ on both sides). */
export async function evaluatePatientMatch(gpu: Gpu, vectors: EmbeddingMatrix, patients: readonly string[], norms: Float32Array, opts: ScanOptions = {}): Promise<PatientMatchMetrics> {
  if (patients.length !== vectors.rows) throw new ShapeError('patient ids', `${patients.length} ids for ${vectors.rows} clips`);
  const D = vectors.dim;
  const f = toFloat32Rows(vectors.data);
  const queries = new Float32Array(f.length);
  const scale = Float32Array.from(norms, (x) => 1 / Math.max(x, 1e-12));
  for (let i = 0; i < vectors.rows; i++) for (let k = 0; k < D; k++) queries[i * D + k] = f[i * D + k]! * scale[i]!;
  const sim = await scoreMatrix(gpu, queries, vectors, { ...opts, scale });
  return patientMatchFromMatrix(sim, patients);
}
