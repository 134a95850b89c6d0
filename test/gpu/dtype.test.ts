import { describe, expect, it } from 'vitest';
import { f16BitsToF32, f32ToF16Bits, fromF16Array, toF16Array } from '../../src/gpu/dtype.js';

describe('binary16 conversion', () => {
  it.each([
    [0, 0x0000], [-0, 0x8000], [1, 0x3c00], [-2, 0xc000], [65504, 0x7bff], [65520, 0x7c00], [Infinity, 0x7c00],
    [2 ** -24, 0x0001], [2 ** -25, 0x0000], [3 * 2 ** -25, 0x0002], [1 + 2 ** -11, 0x3c00], [1 + 3 * 2 ** -11, 0x3c02], [0.1, 0x2e66],
  ])('f32 %f → 0x%s', (v, bits) => {
    expect(f32ToF16Bits(v)).toBe(bits);
  });

  it('NaN stays NaN and every finite half round-trips exactly', () => {
    expect(Number.isNaN(f16BitsToF32(f32ToF16Bits(NaN)))).toBe(true);
    for (let h = 0; h < 0x10000; h++) {
      if ((h & 0x7c00) === 0x7c00) continue;
      expect(f32ToF16Bits(f16BitsToF32(h))).toBe(h);
    }
    expect(Array.from(fromF16Array(toF16Array([0.5, -3])))).toEqual([0.5, -3]);
  });
});
