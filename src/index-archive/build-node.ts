// `echoclip index` as an API (Node): lists the input (a folder, a LIST.txt of paths or a
// manifest.csv with a `path` column and optional `patient_id`), keeps this shard's part of it
// (sha256 of the path modulo N), and embeds every clip not yet in the index: content sha256,
// DICOM Study/Series/SOP Instance UIDs, frame embeddings and their mean. A file that fails is
// recorded with its error and the run goes on; device errors stop it (not the file's fault).

import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import type { EchoClip } from '../api/echoclip.js';
import { listStudyFiles, skipReason } from '../api/study-node.js';
import { EchoClipError, UsageError, VideoDecodeError } from '../errors.js';
import { videoEmbedding } from '../tasks/retrieval.js';
import { inflateDicomBody, isDicom, readDicomHeader } from '../video/dicom.js';
import { readVideoFileBytes } from '../video/video-node.js';
import { preprocessVideoAsync } from '../video/video.js';
import { INDEX_FORMAT, INDEX_VERSION, type IndexHeader, type StorageDType, fnv1a64, shardOfHash } from './format.js';
import { IndexWriter, sha256OfBytes } from './store-node.js';

export interface InputItem {
  /** The path as the manifest records it (relative to a folder input, else as listed). */
  path: string;
  /** Where to read it. */
  file: string;
  patientId?: string;
}

export interface ShardSpec {
  index: number;
  count: number;
}

/**
 * `I/N`, or `auto/N` (I from $JOB_COMPLETION_INDEX — Kubernetes Indexed Jobs — or
 * $SLURM_ARRAY_TASK_ID minus $SLURM_ARRAY_TASK_MIN — Slurm arrays).
 */
export function parseShard(spec: string, env: Record<string, string | undefined> = process.env): ShardSpec {
  const m = /^(auto|\d+)\/(\d+)$/.exec(spec);
  if (!m) throw new UsageError('--shard', `must be I/N or auto/N, got '${spec}'`);
  const count = Number(m[2]);
  let index: number;
  if (m[1] === 'auto') {
    const k8s = env.JOB_COMPLETION_INDEX;
    const slurm = env.SLURM_ARRAY_TASK_ID;
    if (k8s !== undefined) index = Number(k8s);
    else if (slurm !== undefined) index = Number(slurm) - Number(env.SLURM_ARRAY_TASK_MIN ?? 0);
    else throw new UsageError('--shard auto', 'neither JOB_COMPLETION_INDEX nor SLURM_ARRAY_TASK_ID is set', { hint: 'give the shard as I/N' });
  } else index = Number(m[1]);
  if (!(count >= 1) || !Number.isInteger(index) || index < 0 || index >= count) throw new UsageError('--shard', `shard ${index} of ${count} is out of range (0 ≤ I < N)`);
  return { index, count };
}

export function shardOfPath(p: string, count: number): number {
  return shardOfHash(createHash('sha256').update(p).digest('hex'), count);
}

function parseCsvLine(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  let q = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (q) {
      if (c === '"' && line[i + 1] === '"') { cur += '"'; i++; } else if (c === '"') q = false; else cur += c;
    } else if (c === '"') q = true;
    else if (c === ',') { out.push(cur); cur = ''; } else cur += c;
  }
  out.push(cur);
  return out;
}

/** Rows of a CSV file with a header, as objects (quoted fields with "" escapes; no newlines inside fields). */
export async function readCsv(file: string): Promise<Record<string, string>[]> {
  const text = await readFile(file, 'utf8').catch((e: NodeJS.ErrnoException) => {
    throw new UsageError(file, `cannot be read (${e.code ?? String(e)})`);
  });
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== '');
  if (!lines.length) throw new UsageError(file, 'is empty', { hint: 'a CSV with a header line is expected' });
  const head = parseCsvLine(lines[0]!).map((h) => h.trim());
  return lines.slice(1).map((l) => {
    const v = parseCsvLine(l);
    return Object.fromEntries(head.map((h, i) => [h, v[i] ?? '']));
  });
}

/** The clips of --input, sorted by recorded path (so every shard and a single run see one order). */
export async function listInputs(input: string): Promise<InputItem[]> {
  const st = await stat(input).catch(() => undefined);
  if (!st) throw new UsageError('--input', `${input} does not exist`);
  let items: InputItem[];
  if (st.isDirectory()) {
    items = (await listStudyFiles(input)).map((f) => ({ path: path.relative(input, f).split(path.sep).join('/'), file: f }));
  } else if (input.toLowerCase().endsWith('.csv')) {
    const rows = await readCsv(input);
    if (rows.length && !('path' in rows[0]!)) throw new UsageError(input, 'has no `path` column', { hint: 'columns: path[,patient_id]' });
    items = rows.map((r) => ({ path: r.path!, file: path.resolve(path.dirname(input), r.path!), ...(r.patient_id ? { patientId: r.patient_id } : {}) }));
  } else {
    const text = await readFile(input, 'utf8');
    items = text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l && !l.startsWith('#')).map((p) => ({ path: p, file: path.resolve(path.dirname(input), p) }));
  }
  const seen = new Set<string>();
  items = items.filter((it) => (seen.has(it.path) ? false : (seen.add(it.path), true)));
  return items.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

async function sha256File(file: string): Promise<string> {
  const h = createHash('sha256');
  await new Promise<void>((ok, fail) => createReadStream(file).on('data', (c) => h.update(c)).on('end', ok).on('error', fail));
  return h.digest('hex');
}

export function patientSaltId(salt: string): string {
  return createHash('sha256').update(`echoclip-patient-salt:${salt}`).digest('hex').slice(0, 16);
}

/** A patient id as stored: sha256(salt, id), 32 hex digits. */
export function hashPatientId(salt: string, id: string): string {
  return createHash('sha256').update(`${salt}\u0000${id}`).digest('hex').slice(0, 32);
}

export interface BuildOptions {
  input: string;
  out: string;
  shard?: ShardSpec;
  resume?: boolean;
  /** Frames per clip, START:STOP:STEP (default: all). */
  frames?: string;
  trueRgb?: boolean;
  storage?: StorageDType;
  /** Clips per shard file (default 256). */
  flushEvery?: number;
  /** Salt for patient ids (required when the input has patient ids, unless patientInClear). */
  patientSalt?: string;
  patientInClear?: boolean;
  onProgress?: (e: BuildProgress) => void;
}

export interface BuildProgress {
  done: number;
  total: number;
  failed: number;
  skipped: number;
  clipsPerSecond: number;
  etaSeconds: number;
  path: string;
  status: 'indexed' | 'failed';
  detail?: string;
}

export interface BuildSummary {
  total: number;
  /** Already in the index (resume). */
  skipped: number;
  indexed: number;
  failed: number;
  shard: ShardSpec;
}

/** The header an index built by `echo` with these options has (resume and merge compare it). */
export async function clipIndexHeader(echo: EchoClip, opts: { frames?: string; trueRgb?: boolean; storage?: StorageDType; patientSalt?: string }, kind: 'clips' | 'reports' = 'clips'): Promise<IndexHeader> {
  const file = echo.weightsFile;
  // Without a local file (browser-given bytes) the location stands in; a hub download has a file.
  const weightsSha256 = file ? await sha256File(file) : `location:${fnv1a64(echo.weights)}`;
  return {
    format: INDEX_FORMAT, version: INDEX_VERSION, kind,
    model: { weightsSha256, weightDtype: echo.model.weightDtype, embedDim: echo.config.embedDim, ...(kind === 'reports' ? { tokenizer: echo.tokenizerKind } : {}) },
    preprocessing: kind === 'clips' ? { frames: opts.frames ?? 'all', trueRgb: !!opts.trueRgb, imageSize: echo.config.vision.imageSize } : null,
    storage: opts.storage ?? 'f32',
    patientSaltId: opts.patientSalt ? patientSaltId(opts.patientSalt) : null,
  };
}

function shardTag(s: ShardSpec): string {
  return s.count === 1 ? 'clips' : `clips-s${s.index}of${s.count}`;
}

/** Builds (or, with resume, continues) the clip index of one shard of the input. */
export async function buildIndex(echo: EchoClip, opts: BuildOptions): Promise<BuildSummary> {
  const shard = opts.shard ?? { index: 0, count: 1 };
  const all = await listInputs(opts.input);
  const mine = shard.count === 1 ? all : all.filter((it) => shardOfPath(it.path, shard.count) === shard.index);
  if (mine.some((it) => it.patientId !== undefined) && !opts.patientSalt && !opts.patientInClear) {
    throw new UsageError('patient ids', 'the input lists patient ids but no salt was given', { hint: 'give --patient-salt S (or $ECHOCLIP_PATIENT_SALT; the same for every shard), or --patient-in-clear' });
  }
  const header = await clipIndexHeader(echo, opts);
  const writer = await IndexWriter.open(opts.out, header, { resume: !!opts.resume, tag: shardTag(shard) });
  const done = new Set<string>([...(writer.existing?.clips ?? []).map((c) => c.path), ...(writer.existing?.failures ?? []).map((f) => f.path)]);
  const todo = mine.filter((it) => !done.has(it.path));
  const flushEvery = opts.flushEvery ?? 256;
  const S = echo.config.vision.imageSize;
  const t0 = performance.now();
  let indexed = 0;
  let failed = 0;
  const report = (it: InputItem, status: BuildProgress['status'], detail?: string): void => {
    const n = indexed + failed;
    const rate = n / Math.max(1e-3, (performance.now() - t0) / 1000);
    opts.onProgress?.({ done: n, total: todo.length, failed, skipped: mine.length - todo.length, clipsPerSecond: rate, etaSeconds: (todo.length - n) / Math.max(rate, 1e-9), path: it.path, status, detail });
  };
  // A DICOM Patient ID without a salt stops the run (a configuration error, not the file's).
  let noSalt: UsageError | undefined;
  for (const it of todo) {
    let size: number | undefined;
    let mtimeMs: number | undefined;
    try {
      const st = await stat(it.file).catch((e: NodeJS.ErrnoException) => {
        throw new VideoDecodeError(it.path, `cannot read the file (${e.code ?? String(e)})`);
      });
      size = st.size;
      mtimeMs = Math.round(st.mtimeMs);
      const bytes = await readVideoFileBytes(it.file);
      const uids: { studyInstanceUid?: string; seriesInstanceUid?: string; sopInstanceUid?: string } = {};
      let dicomPatient: string | undefined;
      if (isDicom(bytes)) {
        let h = readDicomHeader(bytes, it.path);
        if (h.deflated) h = readDicomHeader(bytes, it.path, await inflateDicomBody(bytes, it.path));
        const reason = skipReason(h);
        if (reason) throw new VideoDecodeError(it.path, `not indexed: ${reason}`);
        if (h.studyInstanceUid) uids.studyInstanceUid = h.studyInstanceUid;
        if (h.seriesInstanceUid) uids.seriesInstanceUid = h.seriesInstanceUid;
        if (h.sopInstanceUid) uids.sopInstanceUid = h.sopInstanceUid;
        dicomPatient = h.patientId;
      }
      const pre = await preprocessVideoAsync(bytes, { frames: opts.frames, trueRgb: opts.trueRgb, label: it.path, width: S, height: S });
      const e = await echo.embedVideo({ pixelValues: pre.pixelValues });
      const video = videoEmbedding({ data: e.embeddings, shape: e.shape }, { normalizeFrames: false }).data;
      // The manifest's patient_id, else the DICOM Patient ID; never stored in clear unless asked.
      const pid = it.patientId ?? dicomPatient;
      if (pid !== undefined && !opts.patientSalt && !opts.patientInClear) {
        throw noSalt = new UsageError('patient ids', `${it.path} holds a DICOM Patient ID but no salt was given`, { hint: 'give --patient-salt S (or $ECHOCLIP_PATIENT_SALT; the same for every shard), or --patient-in-clear' });
      }
      const patient = pid === undefined ? undefined : opts.patientInClear ? pid : hashPatientId(opts.patientSalt!, pid);
      writer.add({ type: 'clip', path: it.path, size, mtimeMs, sha256: sha256OfBytes(bytes), frames: e.shape[0], ...uids, ...(patient !== undefined ? { patient } : {}) }, { frames: e.embeddings, video });
      indexed++;
      if (writer.pendingCount >= flushEvery) await writer.flush();
      report(it, 'indexed', `${e.shape[0]} frames`);
    } catch (e) {
      if (!(e instanceof EchoClipError) || e === noSalt || e.code === 'device-lost' || e.code === 'device-unavailable' || e.code === 'gpu-out-of-memory') {
        await writer.flush();
        throw e;
      }
      failed++;
      await writer.fail({ type: 'failure', path: it.path, error: e.message, code: e.code, ...(size !== undefined ? { size, mtimeMs } : {}) });
      report(it, 'failed', e.message);
    }
  }
  await writer.flush();
  return { total: mine.length, skipped: mine.length - todo.length, indexed, failed, shard };
}

/** `echoclip index --reports reports.csv`: report texts (columns `report` or `text`, optional `id`) embedded once. */
export async function buildReportIndex(echo: EchoClip, opts: { reports: string; out: string; resume?: boolean; storage?: StorageDType; flushEvery?: number }): Promise<{ total: number; indexed: number }> {
  const rows = await readCsv(opts.reports);
  const col = rows.length && 'report' in rows[0]! ? 'report' : 'text';
  if (rows.length && !(col in rows[0]!)) throw new UsageError(opts.reports, 'has no `report` (or `text`) column', { hint: 'columns: id,report' });
  const header = await clipIndexHeader(echo, { storage: opts.storage }, 'reports');
  const writer = await IndexWriter.open(opts.out, header, { resume: !!opts.resume, tag: 'reports' });
  const done = new Set((writer.existing?.reports ?? []).map((r) => r.id));
  const todo = rows.map((r, i) => ({ id: r.id || String(i), text: r[col] ?? '' })).filter((r) => !done.has(r.id));
  const batch = opts.flushEvery ?? 1024;
  for (let i = 0; i < todo.length; i += batch) {
    const part = todo.slice(i, i + batch);
    const e = await echo.embedPrompts(part.map((r) => r.text));
    const D = e.shape[1];
    part.forEach((r, j) => {
      const row = e.embeddings.slice(j * D, (j + 1) * D);
      writer.add({ type: 'report', id: r.id, text: r.text }, { frames: row, video: row });
    });
    await writer.flush();
  }
  return { total: rows.length, indexed: todo.length };
}
