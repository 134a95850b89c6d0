// EchoCLIP-R retrieval and patient matching on given embeddings.

import { ShapeError } from '../errors.js';
import { type HostArray, asVideoBatch, dims, dotMatrix64, l2NormalizeRows } from './array.js';

/**
 * Video embedding as embedding_example.py makes it: the mean of the L2-normalised frame
 * embeddings, NOT re-normalised (its dot product with a normalised report embedding is the
 * reference's similarity). Input [T, D] -> [D], or [N, T, D] -> [N, D].
 * Set `normalizeFrames: false` when the frame embeddings are already normalised.
 */
export function videoEmbedding(frames: HostArray, options: { normalizeFrames?: boolean } = {}): HostArray {
  const single = frames.shape.length === 2;
  const v = asVideoBatch(frames, 'frame embeddings');
  const src = options.normalizeFrames === false ? v.data : l2NormalizeRows({ data: v.data, shape: [v.n * v.t, v.d] }).data;
  const out = new Float32Array(v.n * v.d);
  for (let i = 0; i < v.n; i++) {
    for (let k = 0; k < v.d; k++) {
      let s = 0;
      for (let f = 0; f < v.t; f++) s += src[(i * v.t + f) * v.d + k]!;
      out[i * v.d + k] = s / v.t;
    }
  }
  return { data: out, shape: single ? [v.d] : [v.n, v.d] };
}

export interface Ranked {
  index: number;
  similarity: number;
}

/** Candidates [C, D] ranked by dot product with one query [D] (descending; ties by index). */
export function rankByDotProduct(query: HostArray, candidates: HostArray, top?: number): Ranked[] {
  const [d] = dims(query, 1, 'query embedding') as [number];
  const [c, dc] = dims(candidates, 2, 'candidate embeddings') as [number, number];
  if (d !== dc) throw new ShapeError('candidate embeddings', `width ${dc} differs from the query's ${d}`);
  if (top !== undefined && (!Number.isInteger(top) || top < 1)) throw new ShapeError('top', `${top} (a positive integer expected)`);
  const sims = dotMatrix64(query.data, 1, candidates.data, c, d);
  const ranked = Array.from(sims, (s, index) => ({ index, similarity: Math.fround(s) }));
  ranked.sort((a, b) => sims[b.index]! - sims[a.index]! || a.index - b.index);
  return top === undefined ? ranked : ranked.slice(0, top);
}

/**
 * Report retrieval for one video: frame embeddings [T, D] (raw or normalised) and normalised
 * report embeddings [R, D]; reports ranked by similarity to the mean normalised frame embedding.
 */
export function rankReports(frameEmbeddings: HostArray, reportEmbeddings: HostArray, top?: number): Ranked[] {
  return rankByDotProduct(videoEmbedding(frameEmbeddings), reportEmbeddings, top);
}

/** Cosine similarity of every row of a [A, D] with every row of b [B, D] -> [A, B]. */
export function cosineSimilarityMatrix(a: HostArray, b: HostArray): HostArray {
  const [na, d] = dims(a, 2, 'embeddings a') as [number, number];
  const [nb, db] = dims(b, 2, 'embeddings b') as [number, number];
  if (d !== db) throw new ShapeError('embeddings b', `width ${db} differs from ${d}`);
  const an = l2NormalizeRows(a).data;
  const bn = l2NormalizeRows(b).data;
  return { data: Float32Array.from(dotMatrix64(an, na, bn, nb, d)), shape: [na, nb] };
}

export interface PatientMatch {
  query: number;
  matches: Ranked[];
}

/**
 * Patient matching (the paper's same-patient identification): for each query video embedding,
 * gallery videos ranked by cosine similarity. With `excludeSelf` (query set = gallery set) a video
 * never matches itself.
 */
export function matchPatients(queries: HostArray, gallery: HostArray, options: { top?: number; excludeSelf?: boolean } = {}): PatientMatch[] {
  const sim = cosineSimilarityMatrix(queries, gallery);
  const [q, g] = sim.shape as [number, number];
  if (options.excludeSelf && q !== g) throw new ShapeError('patient matching', `excludeSelf needs queries and gallery to be the same set (${q} vs ${g})`);
  const out: PatientMatch[] = [];
  for (let i = 0; i < q; i++) {
    let row = Array.from(sim.data.subarray(i * g, (i + 1) * g), (similarity, index) => ({ index, similarity }));
    if (options.excludeSelf) row = row.filter((r) => r.index !== i);
    row.sort((a, b) => b.similarity - a.similarity || a.index - b.index);
    out.push({ query: i, matches: options.top === undefined ? row : row.slice(0, options.top) });
  }
  return out;
}

/**
 * Scores for same-patient evaluation: the cosine similarity of every unordered pair (i < j) of
 * videos with a label saying whether both come from the same patient; feed them to rocAuc.
 */
export function samePatientPairs(embeddings: HostArray, patientIds: ArrayLike<string | number>): { scores: Float32Array; sameLabels: Uint8Array; pairs: Int32Array } {
  const sim = cosineSimilarityMatrix(embeddings, embeddings);
  const n = sim.shape[0]!;
  if (patientIds.length !== n) throw new ShapeError('patient ids', `${patientIds.length} ids for ${n} videos`);
  const m = (n * (n - 1)) / 2;
  const scores = new Float32Array(m);
  const sameLabels = new Uint8Array(m);
  const pairs = new Int32Array(m * 2);
  let p = 0;
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++, p++) {
      scores[p] = sim.data[i * n + j]!;
      sameLabels[p] = patientIds[i] === patientIds[j] ? 1 : 0;
      pairs[2 * p] = i; pairs[2 * p + 1] = j;
    }
  }
  return { scores, sameLabels, pairs };
}
