// One call per task: embeddings in, the JSON-ready zero-shot result out (the shape the CLI prints:
// {"mode": ..., "score" | "prediction" | "scores": ...}).

import { ShapeError } from '../errors.js';
import type { HostArray } from './array.js';
import type { PromptTask } from './prompts.js';
import { computeBinaryMetric, computeCategoricalMetric, computeRegressionMetric } from './zeroshot.js';

export type ZeroShotResult =
  | { mode: 'binary'; score: number }
  | { mode: 'regression'; prediction: number }
  | { mode: 'categorical'; prediction: number; label: string; scores: Record<string, number> };

/**
 * Runs one task for ONE video: `frames` are its L2-normalised frame embeddings [T, D],
 * `prompts` the L2-normalised embeddings [C, D] of task.prompts (same order).
 */
export function runZeroShotTask(task: PromptTask, frames: HostArray, prompts: HostArray): ZeroShotResult {
  if (frames.shape.length !== 2) throw new ShapeError('frame embeddings', `expected [T, D] for one video, got [${frames.shape.join(', ')}]`);
  if (prompts.shape[0] !== task.prompts.length) {
    throw new ShapeError(`prompt embeddings for ${task.name}`, `${prompts.shape[0]} rows for ${task.prompts.length} prompts`);
  }
  if (task.mode === 'binary') return { mode: 'binary', score: computeBinaryMetric(frames, prompts)[0]! };
  if (task.mode === 'regression') return { mode: 'regression', prediction: computeRegressionMetric(frames, prompts, task.values!).predictions[0]! };
  const r = computeCategoricalMetric(frames, prompts, task.values!);
  const name = (v: number): string => task.classLabels?.[String(v)] ?? String(v);
  const scores: Record<string, number> = {};
  r.classes.forEach((v, i) => { scores[name(v)] = r.scores[i]!; });
  return { mode: 'categorical', prediction: r.predictions[0]!, label: name(r.predictions[0]!), scores };
}

/**
 * The distinct texts of several tasks (embed each once) and, per task, the row of each of its
 * prompts in that list.
 */
export function collectPrompts(tasks: readonly PromptTask[]): { texts: string[]; rows: Map<string, Int32Array> } {
  const index = new Map<string, number>();
  const texts: string[] = [];
  const rows = new Map<string, Int32Array>();
  for (const t of tasks) {
    rows.set(t.name, Int32Array.from(t.prompts, (p) => {
      let i = index.get(p);
      if (i === undefined) { i = texts.length; index.set(p, i); texts.push(p); }
      return i;
    }));
  }
  return { texts, rows };
}

/** Gathers rows of a [N, D] embedding matrix into a [rows.length, D] one. */
export function gatherRows(embeddings: HostArray, rows: ArrayLike<number>): HostArray {
  const d = embeddings.shape[embeddings.shape.length - 1]!;
  const n = embeddings.data.length / d;
  const out = new Float32Array(rows.length * d);
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i]!;
    if (r < 0 || r >= n) throw new ShapeError('gatherRows', `row ${r} out of range 0..${n - 1}`);
    out.set(embeddings.data.subarray(r * d, (r + 1) * d), i * d);
  }
  return { data: out, shape: [rows.length, d] };
}

/**
 * Runs several tasks for one video given the embeddings of distinct prompt texts
 * (`texts[i]` <-> row i of `textEmbeddings`, e.g. from collectPrompts + the text tower).
 * Returns {taskName: result} in task order — the document `echoclip zero-shot --json` prints.
 */
export function runZeroShotTasks(
  tasks: readonly PromptTask[], frames: HostArray, texts: readonly string[], textEmbeddings: HostArray,
): Record<string, ZeroShotResult> {
  if (textEmbeddings.shape.length !== 2 || textEmbeddings.shape[0] !== texts.length) {
    throw new ShapeError('text embeddings', `expected [${texts.length}, D] for ${texts.length} texts, got [${textEmbeddings.shape.join(', ')}]`);
  }
  const row = new Map<string, number>();
  texts.forEach((t, i) => { if (!row.has(t)) row.set(t, i); });
  const out: Record<string, ZeroShotResult> = {};
  for (const task of tasks) {
    const rows = task.prompts.map((p) => {
      const r = row.get(p);
      if (r === undefined) throw new ShapeError(`prompt embeddings for ${task.name}`, `no embedding for prompt ${JSON.stringify(p)}`);
      return r;
    });
    out[task.name] = runZeroShotTask(task, frames, gatherRows(textEmbeddings, rows));
  }
  return out;
}
