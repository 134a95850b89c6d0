// `echoclip zero-shot --index`: every clip's zero-shot task results from its stored frame
// embeddings (no video decoding): the prompts are embedded once, then runZeroShotTasks per clip —
// the same math as EchoClip.zeroShot on the frames the index was built with.

import type { EchoClip } from '../api/echoclip.js';
import { UsageError } from '../errors.js';
import { selectTasks } from '../tasks/prompts.js';
import { collectPrompts, runZeroShotTasks, type ZeroShotResult } from '../tasks/run.js';
import { clipFrames, forEachShard, openIndex } from './store-node.js';
import { toFloat32Rows } from './vectors.js';

export interface IndexZeroShot {
  tasks: string[];
  clips: { path: string; frames: number; results: Record<string, ZeroShotResult> }[];
}

export async function zeroShotIndex(echo: EchoClip, dir: string, opts: { tasks?: string | readonly string[] } = {}): Promise<IndexZeroShot> {
  const index = await openIndex(dir);
  if (index.header.kind !== 'clips') throw new UsageError(dir, 'is a reports index', { hint: 'zero-shot needs an index of clips' });
  const D = index.header.model.embedDim;
  if (D !== echo.config.embedDim) throw new UsageError(dir, `holds ${D}-wide embeddings, the model's are ${echo.config.embedDim}`, { hint: 'use the weights the index was built with' });
  const { tasks: all } = await echo.promptSets();
  const tasks = opts.tasks === undefined || opts.tasks === 'all' ? all : selectTasks(all, opts.tasks);
  const { texts } = collectPrompts(tasks);
  const prompts = await echo.embedPrompts(texts);
  const clips: IndexZeroShot['clips'] = new Array(index.clips.length);
  await forEachShard(index, index.clips, (shard, positions) => {
    for (const i of positions) {
      const c = index.clips[i]!;
      const frames = toFloat32Rows(clipFrames(shard, c.row, D));
      const results = runZeroShotTasks(tasks, { data: frames, shape: [frames.length / D, D] }, texts, { data: prompts.embeddings, shape: prompts.shape });
      clips[i] = { path: c.path, frames: frames.length / D, results };
    }
  });
  return { tasks: tasks.map((t) => t.name), clips };
}

function csvCell(v: string): string {
  return /[",\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v;
}

/** One row per clip: path, frames, then per task the score / prediction / label. */
export function zeroShotCsv(r: IndexZeroShot): string {
  const lines = [['path', 'frames', ...r.tasks].map(csvCell).join(',')];
  for (const c of r.clips) {
    const cells = r.tasks.map((t) => {
      const x = c.results[t]!;
      return x.mode === 'binary' ? String(x.score) : x.mode === 'regression' ? String(x.prediction) : x.label;
    });
    lines.push([c.path, String(c.frames), ...cells].map(csvCell).join(','));
  }
  return lines.join('\n') + '\n';
}
