// Shared by the Deno, Chromium and demo suites: the CLI's zero-shot JSON on the tiny model and
// the example video (Node + Dawn), and the comparison other runtimes' results must pass (their
// shader compilers differ from Dawn's, so equal within float tolerance, not bit for bit).
import { resolve } from 'node:path';
import { expect, vi } from 'vitest';
import { zeroShotCommand } from '../../src/cli/zero-shot.js';

export const SHARED_DIR = resolve(import.meta.dirname, '../../../shared');

export type ZeroShotJson = Record<string, { mode: string; score?: number; prediction?: number; scores?: Record<string, number> }>;

export async function cliZeroShot(): Promise<ZeroShotJson> {
  let out = '';
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((c: string | Uint8Array) => ((out += String(c)), true));
  try {
    await zeroShotCommand(['--weights', `${SHARED_DIR}/fixtures/echoclip_tiny`, '--video', `${SHARED_DIR}/samples/example_video.avi`, '--task', 'all', '--prompts', `${SHARED_DIR}/samples/prompts_used.json`, '--json', '--no-cache']);
  } finally {
    spy.mockRestore();
  }
  return JSON.parse(out) as ZeroShotJson;
}

export function expectSameZeroShot(got: ZeroShotJson, want: ZeroShotJson): void {
  expect(Object.keys(got)).toEqual(Object.keys(want));
  for (const [name, c] of Object.entries(want)) {
    const w = got[name]!;
    expect(w.mode, name).toBe(c.mode);
    if (c.mode === 'binary') expect(Math.abs(w.score! - c.score!), name).toBeLessThan(1e-4);
    else if (c.mode === 'regression') expect(Math.abs(w.prediction! - c.prediction!), name).toBeLessThanOrEqual(0.5);
    else {
      expect(w.prediction, name).toBe(c.prediction);
      for (const k of Object.keys(c.scores!)) expect(Math.abs(w.scores![k]! - c.scores![k]!), `${name}.${k}`).toBeLessThan(1e-4);
    }
  }
}
