// Zero-shot on a whole study folder (Node/Deno): every DICOM file under a directory is read, its
// kind decided from the header (non-image objects such as SR, waveforms, DICOMDIR, and single-frame
// stills are skipped with a reason), each cine loop is scored like `zeroShot` does one video, and
// the clips are grouped by Study / Series Instance UID with a study-level mean per task
// (src/tasks/study.ts). A file that fails is listed with its error; the rest goes on.

import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { EchoClipError, VideoDecodeError } from '../errors.js';
import { selectTasks } from '../tasks/prompts.js';
import { collectPrompts, runZeroShotTasks } from '../tasks/run.js';
import { type ClipResult, type StudyResult, groupStudies } from '../tasks/study.js';
import { type DicomHeader, inflateDicomBody, isDicom, readDicomHeader } from '../video/dicom.js';
import { ZERO_SHOT_FRAMES } from '../video/frames.js';
import { readVideoFileBytes } from '../video/video-node.js';
import { preprocessVideoAsync, videoWarnings } from '../video/video.js';
import type { EchoClip } from './echoclip.js';

export interface StudyOptions {
  /** Task names or 'all' (default). */
  tasks?: string | readonly string[];
  /** Frames per clip, "START:STOP:STEP" (default 0:40:2, as zeroShot). */
  frames?: string;
  trueRgb?: boolean;
  /** Called once per file, after it was scored, skipped or failed (the CLI prints progress). */
  onFile?: (e: StudyFileEvent) => void;
}

export interface StudyFileEvent {
  file: string;
  /** 1-based position among the files found. */
  index: number;
  total: number;
  status: 'scored' | 'skipped' | 'failed';
  /** Frames scored, the skip reason, or the error message. */
  detail: string;
}

export interface StudyReport {
  studies: StudyResult[];
  skipped: { file: string; reason: string }[];
  failed: { file: string; error: string }[];
  /** Task names in prompt-set order. */
  tasks: string[];
}

/** Every regular file under dir (sorted; hidden files and directories skipped; 32 levels at most). */
export async function listStudyFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string, depth: number): Promise<void> => {
    if (depth > 32) return;
    const entries = await readdir(d, { withFileTypes: true });
    for (const e of entries.sort((a, b) => a.name.localeCompare(b.name))) {
      if (e.name.startsWith('.')) continue;
      const p = path.join(d, e.name);
      if (e.isDirectory()) await walk(p, depth + 1);
      else if (e.isFile()) out.push(p);
    }
  };
  await walk(dir, 0);
  return out;
}

const SOP_KINDS: [RegExp, string][] = [
  [/^1\.2\.840\.10008\.1\.3\.10$/, 'DICOMDIR (a media directory, not an image)'],
  [/^1\.2\.840\.10008\.5\.1\.4\.1\.1\.88\./, 'Structured Report (not an image)'],
  [/^1\.2\.840\.10008\.5\.1\.4\.1\.1\.9\./, 'waveform (not an image)'],
  [/^1\.2\.840\.10008\.5\.1\.4\.1\.1\.11\./, 'presentation state (not an image)'],
  [/^1\.2\.840\.10008\.5\.1\.4\.1\.1\.104\./, 'encapsulated document (not an image)'],
  [/^1\.2\.840\.10008\.5\.1\.4\.1\.1\.66/, 'raw data / registration (not an image)'],
];

/** Why a DICOM object is not a cine loop to score, or undefined when it is one. */
export function skipReason(h: DicomHeader): string | undefined {
  for (const [re, what] of SOP_KINDS) if (re.test(h.sopClassUid)) return what;
  if (!h.hasPixelData) return `no pixel data (SOP Class ${h.sopClassUid || 'unknown'})`;
  if ((h.numberOfFrames ?? 1) < 2) return 'single-frame image (a still, not a cine loop)';
  return undefined;
}

/**
 * Scores every cine loop under `dir` with `echo`'s zero-shot tasks; prompts are embedded once.
 * Throws only when nothing could be listed; per-file problems land in `skipped` / `failed`.
 */
export async function zeroShotStudy(echo: EchoClip, dir: string, opts: StudyOptions = {}): Promise<StudyReport> {
  const files = await listStudyFiles(dir);
  const { tasks: all } = await echo.promptSets();
  const tasks = opts.tasks === undefined || opts.tasks === 'all' ? all : selectTasks(all, opts.tasks);
  const { texts } = collectPrompts(tasks);
  const prompts = await echo.embedPrompts(texts);
  const clips: ClipResult[] = [];
  const skipped: StudyReport['skipped'] = [];
  const failed: StudyReport['failed'] = [];
  for (const [i, file] of files.entries()) {
    const rel = path.relative(dir, file) || path.basename(file);
    const report = (status: StudyFileEvent['status'], detail: string): void => opts.onFile?.({ file: rel, index: i + 1, total: files.length, status, detail });
    try {
      const bytes = await readVideoFileBytes(file);
      if (!isDicom(bytes)) {
        skipped.push({ file: rel, reason: 'not a DICOM Part 10 file' });
        report('skipped', 'not a DICOM Part 10 file');
        continue;
      }
      let header = readDicomHeader(bytes, rel);
      if (header.deflated) header = readDicomHeader(bytes, rel, await inflateDicomBody(bytes, rel));
      if (header.truncated && !header.hasPixelData) throw new VideoDecodeError(rel, 'the file ends before its pixel data', { hint: 'the file is truncated' });
      const reason = skipReason(header);
      if (reason) {
        skipped.push({ file: rel, reason });
        report('skipped', reason);
        continue;
      }
      // Preprocessed here (not by embedVideo) so that errors and warnings name the file.
      const S = echo.model.config.vision.imageSize;
      const pre = await preprocessVideoAsync(bytes, { frames: opts.frames ?? ZERO_SHOT_FRAMES, trueRgb: opts.trueRgb, label: rel, width: S, height: S });
      const v = await echo.embedVideo({ pixelValues: pre.pixelValues });
      const results = runZeroShotTasks(tasks, { data: v.embeddings, shape: v.shape }, texts, { data: prompts.embeddings, shape: prompts.shape });
      clips.push({
        file: rel, studyInstanceUid: header.studyInstanceUid ?? '', seriesInstanceUid: header.seriesInstanceUid ?? '',
        ...(header.sopInstanceUid ? { sopInstanceUid: header.sopInstanceUid } : {}),
        ...(header.seriesNumber !== undefined ? { seriesNumber: header.seriesNumber } : {}),
        ...(header.instanceNumber !== undefined ? { instanceNumber: header.instanceNumber } : {}),
        frames: v.shape[0], results,
      });
      report('scored', [`${v.shape[0]} frames`, ...videoWarnings(pre.info, rel)].join('; '));
    } catch (e) {
      // A device or programming error is not the file's fault: let it stop the run.
      if (!(e instanceof EchoClipError) || e.code === 'device-lost' || e.code === 'device-unavailable') throw e;
      failed.push({ file: rel, error: e.message });
      report('failed', e.message);
    }
  }
  return { studies: clips.length ? groupStudies(tasks, clips) : [], skipped, failed, tasks: tasks.map((t) => t.name) };
}
