import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ShapeError } from '../../src/errors.js';
import {
  type HostArray, collectPrompts, computeBinaryMetric, computeRegressionMetric, gatherRows, l2NormalizeRows, parsePromptSets, runZeroShotTask, runZeroShotTasks,
} from '../../src/tasks/index.js';
import { sharedPath } from '../video/fixtures.js';

const tasks = parsePromptSets(readFileSync(sharedPath('samples', 'prompts_used.json'), 'utf8'));
const D = 24;

/** Deterministic pseudo-embeddings: one unit vector per text (a stand-in for the text tower). */
function fakeEmbed(texts: readonly string[]): HostArray {
  const data = new Float32Array(texts.length * D);
  texts.forEach((t, i) => {
    let h = 2166136261;
    for (const ch of t) h = Math.imul(h ^ ch.charCodeAt(0), 16777619);
    for (let k = 0; k < D; k++) { h = Math.imul(h ^ (h >>> 13), 1274126177); data[i * D + k] = ((h >>> 8) / 2 ** 24) * 2 - 1; }
  });
  return l2NormalizeRows({ data, shape: [texts.length, D] });
}

describe('zero-shot task runner', () => {
  const { texts } = collectPrompts(tasks);
  const textEmb = fakeEmbed(texts);
  const frames = fakeEmbed(Array.from({ length: 20 }, (_, i) => `frame ${i}`));

  it('runs all 16 tasks and returns the CLI document shape', () => {
    const out = runZeroShotTasks(tasks, frames, texts, textEmb);
    expect(Object.keys(out)).toEqual(tasks.map((t) => t.name));
    for (const t of tasks) {
      const r = out[t.name]!;
      expect(r.mode).toBe(t.mode);
      if (r.mode === 'binary') expect(Math.abs(r.score)).toBeLessThanOrEqual(1);
      if (r.mode === 'regression') expect(r.prediction).toBeGreaterThanOrEqual(0);
      if (r.mode === 'categorical') {
        expect(Object.keys(r.scores).length).toBe(new Set(t.values).size);
        expect(r.scores[r.label]).toBe(Math.max(...Object.values(r.scores)));
      }
    }
    expect(JSON.parse(JSON.stringify(out))).toEqual(out);
  });

  it('equals the metric functions applied to the gathered prompt embeddings', () => {
    const { rows } = collectPrompts(tasks);
    const ef = tasks.find((t) => t.name === 'ejection_fraction')!;
    const efEmb = gatherRows(textEmb, rows.get(ef.name)!);
    const out = runZeroShotTasks([ef], frames, texts, textEmb);
    expect(out.ejection_fraction).toEqual({ mode: 'regression', prediction: computeRegressionMetric(frames, efEmb, ef.values!).predictions[0] });
    const pm = tasks.find((t) => t.name === 'pacemaker')!;
    expect(runZeroShotTask(pm, frames, gatherRows(textEmb, rows.get(pm.name)!))).toEqual({ mode: 'binary', score: computeBinaryMetric(frames, gatherRows(textEmb, rows.get(pm.name)!))[0] });
  });

  it('rejects missing prompt embeddings and batched video input', () => {
    expect(() => runZeroShotTasks(tasks, frames, texts.slice(1), { data: textEmb.data.subarray(D), shape: [texts.length - 1, D] })).toThrow(/no embedding for prompt/);
    expect(() => runZeroShotTasks(tasks, frames, texts, { data: textEmb.data, shape: [texts.length, D / 2, 2] })).toThrow(ShapeError);
    expect(() => runZeroShotTask(tasks[1]!, { data: frames.data, shape: [1, 20, D] }, textEmb)).toThrow(/one video/);
  });
});
