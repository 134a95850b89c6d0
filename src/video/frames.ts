// Frame selection with Python slice semantics: "START:STOP:STEP" over a video of T frames gives
// exactly the indices list(range(T))[START:STOP:STEP] gives (negative indices count from the end,
// out-of-range bounds are clamped, empty fields take Python's defaults).

import { UsageError } from '../errors.js';

/** The zero-shot default of echo_CLIP's zero_shot_example.py: frames [0 : min(40, T) : 2]. */
export const ZERO_SHOT_FRAMES = '0:40:2';

export interface FrameSlice {
  start: number | undefined;
  stop: number | undefined;
  step: number;
}

const INT = /^[+-]?\d+$/;

/** Parses "START:STOP:STEP", "START:STOP", ":" or a single index "N" (that one frame). */
export function parseFrameSlice(spec: string): FrameSlice {
  const s = spec.trim();
  const bad = (why: string): never => {
    throw new UsageError('--frames', `${JSON.stringify(spec)}: ${why}`, { hint: 'use START:STOP:STEP like a Python slice, e.g. 0:40:2 or ::1 or -10:' });
  };
  const parts = s.split(':');
  if (parts.length > 3) bad('at most two colons');
  const num = (p: string | undefined, what: string): number | undefined => {
    if (p === undefined || p.trim() === '') return undefined;
    const t = p.trim();
    if (!INT.test(t)) bad(`${what} ${JSON.stringify(t)} is not an integer`);
    const v = Number(t);
    if (!Number.isSafeInteger(v)) bad(`${what} ${t} is out of range`);
    return v;
  };
  if (parts.length === 1) {
    const i = num(parts[0], 'index');
    if (i === undefined) bad('empty');
    // A single index selects that frame (-1 = the last one), like list[i:i+1] but without the -1 pitfall.
    return { start: i, stop: i === -1 ? undefined : i! + 1, step: 1 };
  }
  const step = num(parts[2], 'step') ?? 1;
  if (step === 0) bad('step must not be zero');
  return { start: num(parts[0], 'start'), stop: num(parts[1], 'stop'), step };
}

/** The frame indices a slice selects from `count` frames (Python's slice.indices + range). */
export function sliceIndices(slice: FrameSlice, count: number): number[] {
  const { step } = slice;
  const clamp = (v: number | undefined, dflt: number, lo: number, hi: number): number => {
    if (v === undefined) return dflt;
    const x = v < 0 ? v + count : v;
    return x < lo ? lo : x > hi ? hi : x;
  };
  const start = step > 0 ? clamp(slice.start, 0, 0, count) : clamp(slice.start, count - 1, -1, count - 1);
  const stop = step > 0 ? clamp(slice.stop, count, 0, count) : clamp(slice.stop, -1, -1, count - 1);
  const out: number[] = [];
  if (step > 0) for (let i = start; i < stop; i += step) out.push(i);
  else for (let i = start; i > stop; i += step) out.push(i);
  return out;
}

/** parseFrameSlice + sliceIndices. */
export function selectFrames(spec: string, count: number): number[] {
  return sliceIndices(parseFrameSlice(spec), count);
}
