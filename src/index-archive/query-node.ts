// Queries against an index with a model (what `echoclip search --index` runs): text → clips,
// clip → nearest clips (cosine: patient matching), clip → reports (an index of reports), and the
// paper's metrics when labels are given. The similarity definitions are echo_CLIP's: a clip is
// the mean of its normalised frame embeddings (not re-normalised); text → clip and clip → report
// are dot products with normalised text embeddings; clip → clip is the cosine of the two means.

import type { EchoClip } from '../api/echoclip.js';
import { IndexMismatchError, UsageError } from '../errors.js';
import { videoEmbedding } from '../tasks/retrieval.js';
import { readVideoFileBytes } from '../video/video-node.js';
import { preprocessVideoAsync } from '../video/video.js';
import { readCsv, clipIndexHeader, hashPatientId } from './build-node.js';
import type { ClipLine, ReportLine } from './format.js';
import { type Hit, type PatientMatchMetrics, type RetrievalMetrics, evaluatePatientMatch, evaluateRetrieval, topK } from './search.js';
import { type LoadedIndex, gatherVectors, openIndex } from './store-node.js';
import { rowNorms, toFloat32Rows } from './vectors.js';

// Queries check each shard's size and structure but skip its sha256 (that reads every byte of
// every frame embedding); `echoclip index verify` and merge do the full check.
const FAST = { verify: false };

export interface NamedHit extends Hit {
  /** The clip path or report id. */
  id: string;
  text?: string;
}

/** Refuses an index made with other weights than `echo` (its embeddings would not be comparable). */
export async function assertIndexMatchesModel(echo: EchoClip, index: LoadedIndex): Promise<void> {
  const h = await clipIndexHeader(echo, {});
  if (h.model.weightsSha256 !== index.header.model.weightsSha256 || h.model.embedDim !== index.header.model.embedDim) {
    throw new IndexMismatchError(index.dir, `was built with weights ${index.header.model.weightsSha256.slice(0, 12)}…, these are ${h.model.weightsSha256.slice(0, 12)}…`, { hint: 'search with the weights the index was built with' });
  }
}

function records(index: LoadedIndex): (ClipLine | ReportLine)[] {
  return index.header.kind === 'clips' ? index.clips : index.reports;
}

function named(index: LoadedIndex, hits: Hit[]): NamedHit[] {
  const r = records(index);
  return hits.map((h) => {
    const x = r[h.index]!;
    return x.type === 'clip' ? { ...h, id: x.path } : { ...h, id: x.id, text: x.text };
  });
}

/** The clip embedding (mean of normalised frames) of a video file, preprocessed as `index` was. */
export async function embedClipLikeIndex(echo: EchoClip, file: string, index: LoadedIndex): Promise<Float32Array> {
  const pre = index.header.preprocessing;
  const frames = pre && pre.frames !== 'all' ? pre.frames : undefined;
  const S = echo.config.vision.imageSize;
  const px = await preprocessVideoAsync(await readVideoFileBytes(file), { frames, trueRgb: pre?.trueRgb, label: file, width: S, height: S });
  const e = await echo.embedVideo({ pixelValues: px.pixelValues });
  return videoEmbedding({ data: e.embeddings, shape: e.shape }, { normalizeFrames: false }).data as Float32Array;
}

/** Text → clips (dot product with the clip means). */
export async function searchText(echo: EchoClip, index: LoadedIndex, texts: readonly string[], k: number): Promise<NamedHit[][]> {
  if (index.header.kind !== 'clips') throw new UsageError(index.dir, 'is a reports index', { hint: 'text search needs an index of clips' });
  const q = (await echo.embedText(texts)).embeddings;
  const cand = await gatherVectors(index, index.clips, FAST);
  return (await topK(echo.gpu, q, cand, k)).map((h) => named(index, h));
}

/** A clip embedding → nearest clips (cosine) or → reports (dot), by the index's kind. */
export async function searchClip(echo: EchoClip, index: LoadedIndex, clip: Float32Array, k: number): Promise<NamedHit[]> {
  const cand = await gatherVectors(index, records(index), FAST);
  if (index.header.kind === 'reports') return named(index, (await topK(echo.gpu, clip, cand, k))[0]!);
  let n = 0;
  for (const v of clip) n += v * v;
  const q = clip.map((v) => v / Math.max(Math.sqrt(n), 1e-12));
  const scale = Float32Array.from(rowNorms(cand.data, cand.rows, cand.dim), (x) => 1 / Math.max(x, 1e-12));
  return named(index, (await topK(echo.gpu, q, cand, k, { scale }))[0]!);
}

/** Labels CSV (path,patient_id): patient-match AUC and same-patient retrieval over the labelled clips. */
export async function evaluatePatients(echo: EchoClip, index: LoadedIndex, labelsCsv: string, salt?: string): Promise<PatientMatchMetrics> {
  const rows = await readCsv(labelsCsv);
  const byPath = new Map(index.clips.map((c) => [c.path, c]));
  const clips: ClipLine[] = [];
  const patients: string[] = [];
  for (const r of rows) {
    const c = byPath.get(r.path ?? '');
    if (!c || !r.patient_id) continue;
    clips.push(c);
    // Labels hold clear ids; the index may hold salted ones: compare like with like.
    patients.push(salt ? hashPatientId(salt, r.patient_id) : r.patient_id);
  }
  if (clips.length < 2) throw new UsageError(labelsCsv, `matches ${clips.length} indexed clip(s) with a patient_id`, { hint: 'columns path,patient_id; paths as the index records them' });
  const v = await gatherVectors(index, clips, FAST);
  return evaluatePatientMatch(echo.gpu, v, patients, rowNorms(v.data, v.rows, v.dim));
}

/** Labels CSV (path,report_id): clip → report retrieval ranks among every report of the reports index. */
export async function evaluateClipToReport(echo: EchoClip, clipsIndex: LoadedIndex, reportsIndex: LoadedIndex, labelsCsv: string): Promise<RetrievalMetrics> {
  const rows = await readCsv(labelsCsv);
  const clipByPath = new Map(clipsIndex.clips.map((c) => [c.path, c]));
  const reportRow = new Map(reportsIndex.reports.map((r, i) => [r.id, i]));
  const clips: ClipLine[] = [];
  const truth: number[] = [];
  for (const r of rows) {
    const c = clipByPath.get(r.path ?? '');
    const t = reportRow.get(r.report_id ?? '');
    if (c && t !== undefined) { clips.push(c); truth.push(t); }
  }
  if (!clips.length) throw new UsageError(labelsCsv, 'matches no indexed clip and report', { hint: 'columns path,report_id' });
  const q = await gatherVectors(clipsIndex, clips, FAST);
  const queries = toFloat32Rows(q.data);
  const { ranks: _r, ...m } = await evaluateRetrieval(echo.gpu, queries, await gatherVectors(reportsIndex, reportsIndex.reports, FAST), truth);
  return m;
}

export { openIndex };
