// Study-level zero-shot results: echocardiograms are read per study (all cine loops of one exam),
// so a study's result for a task is the mean of its clips' results: the mean score (binary), the
// mean prediction (regression), or the mean of each class score with the best class as the
// prediction (categorical, ties to the lower class value as per clip). Pure math, no I/O.

import { ShapeError } from '../errors.js';
import type { PromptTask } from './prompts.js';
import type { ZeroShotResult } from './run.js';

/** One scored clip (a multi-frame DICOM image or a video file) and where it belongs. */
export interface ClipResult {
  file: string;
  studyInstanceUid: string;
  seriesInstanceUid: string;
  sopInstanceUid?: string;
  seriesNumber?: number;
  instanceNumber?: number;
  /** Frames fed to the model. */
  frames: number;
  results: Record<string, ZeroShotResult>;
}

export interface SeriesResult {
  seriesInstanceUid: string;
  seriesNumber?: number;
  clips: ClipResult[];
}

export interface StudyResult {
  studyInstanceUid: string;
  /** Per task: the mean over the study's clips. */
  results: Record<string, ZeroShotResult>;
  series: SeriesResult[];
  /** Every clip of the study, in series then instance order (the per-clip table). */
  clips: ClipResult[];
}

/** Means clip results task by task (tasks in prompt-set order; each must be in every clip). */
export function meanZeroShotResults(tasks: readonly PromptTask[], clips: readonly Record<string, ZeroShotResult>[]): Record<string, ZeroShotResult> {
  if (clips.length === 0) throw new ShapeError('study', 'no clips to average');
  const out: Record<string, ZeroShotResult> = {};
  for (const task of tasks) {
    const rs = clips.map((c, i) => {
      const r = c[task.name];
      if (!r || r.mode !== task.mode) throw new ShapeError(`clip ${i}`, `has no ${task.mode} result for task ${task.name}`);
      return r;
    });
    const mean = (f: (r: ZeroShotResult) => number): number => Math.fround(rs.reduce((s, r) => s + f(r), 0) / rs.length);
    if (task.mode === 'binary') out[task.name] = { mode: 'binary', score: mean((r) => (r as { score: number }).score) };
    else if (task.mode === 'regression') out[task.name] = { mode: 'regression', prediction: mean((r) => (r as { prediction: number }).prediction) };
    else {
      const name = (v: number): string => task.classLabels?.[String(v)] ?? String(v);
      const values = [...new Set(task.values ?? [])].sort((a, b) => a - b);
      const scores: Record<string, number> = {};
      let best: number | undefined;
      for (const v of values) {
        const label = name(v);
        const present = rs.filter((r) => r.mode === 'categorical' && label in r.scores);
        if (present.length !== rs.length) continue; // a class without prompts is never scored
        scores[label] = mean((r) => (r as { scores: Record<string, number> }).scores[label]!);
        if (best === undefined || scores[label]! > scores[name(best)]!) best = v;
      }
      if (best === undefined) throw new ShapeError(`task ${task.name}`, 'no class is scored in every clip');
      out[task.name] = { mode: 'categorical', prediction: best, label: name(best), scores };
    }
  }
  return out;
}

/** Groups clips by Study then Series Instance UID and averages each study. */
export function groupStudies(tasks: readonly PromptTask[], clips: readonly ClipResult[]): StudyResult[] {
  const studies = new Map<string, Map<string, ClipResult[]>>();
  for (const c of clips) {
    let s = studies.get(c.studyInstanceUid);
    if (!s) studies.set(c.studyInstanceUid, (s = new Map()));
    let series = s.get(c.seriesInstanceUid);
    if (!series) s.set(c.seriesInstanceUid, (series = []));
    series.push(c);
  }
  const byNumber = (a: number | undefined, b: number | undefined): number => (a ?? Infinity) - (b ?? Infinity);
  return [...studies].map(([studyInstanceUid, seriesMap]) => {
    const series: SeriesResult[] = [...seriesMap].map(([seriesInstanceUid, cs]) => ({
      seriesInstanceUid,
      ...(cs[0]!.seriesNumber !== undefined ? { seriesNumber: cs[0]!.seriesNumber } : {}),
      clips: [...cs].sort((a, b) => byNumber(a.instanceNumber, b.instanceNumber) || a.file.localeCompare(b.file)),
    })).sort((a, b) => byNumber(a.seriesNumber, b.seriesNumber) || a.seriesInstanceUid.localeCompare(b.seriesInstanceUid));
    const ordered = series.flatMap((s) => s.clips);
    return { studyInstanceUid, results: meanZeroShotResults(tasks, ordered.map((c) => c.results)), series, clips: ordered };
  });
}
