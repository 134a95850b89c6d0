import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bf16ToF32Array, f16BitsToF32, f16ToF32Array, f32ToBf16Bits, f32ToF16Array, f32ToF16Bits } from '../../src/io/half.js';

describe('f16 / bf16 conversions', () => {
  it('decodes known f16 patterns', () => {
    const cases: Array<[number, number]> = [
      [0x0000, 0], [0x3c00, 1], [0xc000, -2], [0x7bff, 65504], [0x0001, 2 ** -24], [0x0400, 2 ** -14],
      [0x3555, 0.333251953125], [0x7c00, Infinity], [0xfc00, -Infinity],
    ];
    for (const [bits, v] of cases) expect(f16BitsToF32(bits)).toBe(v);
    expect(Object.is(f16BitsToF32(0x8000), -0)).toBe(true);
    expect(f16BitsToF32(0x7e00)).toBeNaN();
    expect([...f16ToF32Array(new Uint16Array([0x3c00, 0xc000, 0x0001]))]).toEqual([1, -2, 2 ** -24]);
  });

  it('every non-NaN f16 survives f16 → f32 → f16 exactly', () => {
    const all = new Uint16Array(65536).map((_, i) => i);
    const back = f32ToF16Array(f16ToF32Array(all));
    for (let i = 0; i < 65536; i++) {
      if ((i & 0x7c00) === 0x7c00 && (i & 0x3ff)) { expect((back[i] & 0x7c00) === 0x7c00 && (back[i] & 0x3ff) !== 0).toBe(true); continue; }
      if (back[i] !== i) expect.fail(`0x${i.toString(16)} → 0x${back[i].toString(16)}`);
    }
  });

  it('rounds f32 → f16 to nearest, ties to even (normal, subnormal, overflow)', () => {
    expect(f32ToF16Bits(1 + 2 ** -11)).toBe(0x3c00); // tie → even (down)
    expect(f32ToF16Bits(1 + 3 * 2 ** -11)).toBe(0x3c02); // tie → even (up)
    expect(f32ToF16Bits(1 + 2 ** -11 + 2 ** -20)).toBe(0x3c01); // above the tie
    expect(f32ToF16Bits(2 ** -25)).toBe(0x0000); // half the smallest subnormal: tie → 0
    expect(f32ToF16Bits(3 * 2 ** -25)).toBe(0x0002); // 1.5 × smallest: tie → even (2)
    expect(f32ToF16Bits(2 ** -25 + 2 ** -35)).toBe(0x0001);
    expect(f32ToF16Bits(65519)).toBe(0x7bff); // just below the overflow midpoint
    expect(f32ToF16Bits(65520)).toBe(0x7c00); // tie with 65536 → Inf
    expect(f32ToF16Bits(1e10)).toBe(0x7c00);
    expect(f32ToF16Bits(-1e-10)).toBe(0x8000);
    expect(f32ToF16Bits(NaN) & 0x7c00).toBe(0x7c00);
    expect(f32ToF16Bits(NaN) & 0x3ff).not.toBe(0);
  });

  it('f32 → f16 picks the nearest f16 for random inputs (property)', () => {
    fc.assert(fc.property(fc.float({ noNaN: true, min: -70000, max: 70000 }), (x) => {
      const h = f32ToF16Bits(x);
      const y = f16BitsToF32(h);
      if (!Number.isFinite(y)) return Math.abs(x) >= 65520;
      // neighbours one ulp away on each side must not be strictly closer
      for (const n of [h + 1, h - 1]) {
        if ((n & 0x7c00) === 0x7c00 || n < 0 || (n & 0x7fff) === 0x7fff) continue;
        const z = f16BitsToF32(n & 0xffff);
        if (Math.sign(z) === Math.sign(y) && Math.abs(z - x) < Math.abs(y - x)) return false;
      }
      return true;
    }), { numRuns: 2000 });
  });

  it('bf16 round trip and rounding', () => {
    expect([...bf16ToF32Array(new Uint16Array([0x3f80, 0xc000, 0x7f80]))]).toEqual([1, -2, Infinity]);
    expect(f32ToBf16Bits(1)).toBe(0x3f80);
    expect(f32ToBf16Bits(1 + 2 ** -8)).toBe(0x3f80); // tie → even
    expect(f32ToBf16Bits(1 + 3 * 2 ** -8)).toBe(0x3f82);
    expect(f32ToBf16Bits(NaN) & 0x7f80).toBe(0x7f80);
    expect(f32ToBf16Bits(NaN) & 0x7f).not.toBe(0);
  });
});
