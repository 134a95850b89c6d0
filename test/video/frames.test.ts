import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { UsageError } from '../../src/errors.js';
import { ZERO_SHOT_FRAMES, parseFrameSlice, selectFrames, sliceIndices } from '../../src/video/index.js';

/** Python's list(range(n))[start:stop:step], written from the language reference (slice.indices). */
function pythonSlice(n: number, start: number | undefined, stop: number | undefined, step: number): number[] {
  const adjust = (v: number | undefined, dflt: number, lo: number, hi: number): number => {
    if (v === undefined) return dflt;
    if (v < 0) { v += n; return v < lo ? lo : v; }
    return v > hi ? hi : v;
  };
  const [s, e] = step > 0 ? [adjust(start, 0, 0, n), adjust(stop, n, 0, n)] : [adjust(start, n - 1, -1, n - 1), adjust(stop, -1, -1, n - 1)];
  const out: number[] = [];
  for (let i = s; step > 0 ? i < e : i > e; i += step) out.push(i);
  return out;
}

describe('frame selection (Python slice semantics)', () => {
  it('0:40:2 is the zero-shot default: 20 frames of a long video, fewer of a short one', () => {
    expect(ZERO_SHOT_FRAMES).toBe('0:40:2');
    expect(selectFrames('0:40:2', 113)).toEqual(Array.from({ length: 20 }, (_, i) => 2 * i));
    expect(selectFrames('0:40:2', 7)).toEqual([0, 2, 4, 6]);
  });

  it('handles defaults, negatives and reverse steps', () => {
    expect(selectFrames(':', 4)).toEqual([0, 1, 2, 3]);
    expect(selectFrames('::3', 10)).toEqual([0, 3, 6, 9]);
    expect(selectFrames('-3:', 10)).toEqual([7, 8, 9]);
    expect(selectFrames('::-1', 4)).toEqual([3, 2, 1, 0]);
    expect(selectFrames('5:1:-2', 10)).toEqual([5, 3]);
    expect(selectFrames('100:200', 10)).toEqual([]);
    expect(selectFrames('7', 10)).toEqual([7]);
    expect(selectFrames('-1', 10)).toEqual([9]);
    expect(selectFrames(' 1 : 3 ', 10)).toEqual([1, 2]);
  });

  it('agrees with Python slicing for any bounds and steps', () => {
    const bound = fc.option(fc.integer({ min: -30, max: 30 }), { nil: undefined });
    fc.assert(fc.property(fc.integer({ min: 0, max: 25 }), bound, bound, fc.integer({ min: -5, max: 5 }).filter((s) => s !== 0), (n, a, b, step) => {
      const spec = `${a ?? ''}:${b ?? ''}:${step}`;
      expect(sliceIndices(parseFrameSlice(spec), n)).toEqual(pythonSlice(n, a, b, step));
    }), { numRuns: 500 });
  });

  it('rejects malformed specs with a usage error', () => {
    for (const bad of ['', '1:2:0', 'a:b', '1:2:3:4', '1.5:2', '0x10:']) {
      expect(() => parseFrameSlice(bad)).toThrow(UsageError);
    }
  });
});
