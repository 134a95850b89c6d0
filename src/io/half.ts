// Half-precision conversions in one place: the loaders, the converter and the GPU upload path all
// use these, so f16/bf16 rounding is identical everywhere.

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

let f16Table: Float32Array | undefined;

/** f16 bit pattern → f32 value (exact: every f16 is representable in f32). */
export function f16BitsToF32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24; // zero / subnormal
  if (exp === 0x1f) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/** f16 bit patterns → Float32Array. A 65,536-entry table makes this a plain gather. */
export function f16ToF32Array(bits: Uint16Array): Float32Array {
  if (!f16Table) {
    f16Table = new Float32Array(65536);
    for (let i = 0; i < 65536; i++) f16Table[i] = f16BitsToF32(i);
  }
  const t = f16Table;
  const out = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = t[bits[i]];
  return out;
}

/** bf16 bit patterns → Float32Array (bf16 is the top half of an f32). */
export function bf16ToF32Array(bits: Uint16Array): Float32Array {
  const out = new Float32Array(bits.length);
  const o = new Uint32Array(out.buffer);
  for (let i = 0; i < bits.length; i++) o[i] = bits[i] << 16;
  return out;
}

/** f32 value → f16 bit pattern, round to nearest even (as torch's `.half()` and WGSL's f16 casts). */
export function f32ToF16Bits(value: number): number {
  f32[0] = value;
  const x = u32[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 | (mant >>> 13) : 0); // Inf / NaN (stays NaN)
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00; // overflow → Inf
  if (e <= 0) {
    // Subnormal f16 (or underflow to zero): shift the implicit-1 mantissa right, rounding to even.
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    const rest = mant & ((1 << shift) - 1);
    let r = mant >>> shift;
    if (rest > half || (rest === half && (r & 1))) r++;
    return sign | r; // a carry into bit 10 correctly yields the smallest normal
  }
  const rest = mant & 0x1fff;
  let r = (e << 10) | (mant >>> 13);
  if (rest > 0x1000 || (rest === 0x1000 && (r & 1))) r++; // a carry may overflow into Inf: correct RNE
  return sign | r;
}

/** Float32Array → f16 bit patterns (round to nearest even). */
export function f32ToF16Array(values: Float32Array): Uint16Array {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = f32ToF16Bits(values[i]);
  return out;
}

/** f32 value → bf16 bit pattern, round to nearest even; NaN stays a (quiet) NaN. */
export function f32ToBf16Bits(value: number): number {
  f32[0] = value;
  const x = u32[0];
  if ((x & 0x7fffffff) > 0x7f800000) return ((x >>> 16) | 0x40) & 0xffff;
  return ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
}

/** Float32Array → bf16 bit patterns (round to nearest even). */
export function f32ToBf16Array(values: Float32Array): Uint16Array {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = f32ToBf16Bits(values[i]);
  return out;
}
