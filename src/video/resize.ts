// cv2.resize(..., interpolation=INTER_CUBIC) for 8-bit images, reproducing OpenCV 4.x
// (imgproc/src/resize.cpp, resizeGeneric_ with HResizeCubic + VResizeCubic):
// - per output column/row: f = float((d + 0.5) * scale - 0.5), s = floor(f), t = f - s;
// - cubic weights (a = -0.75) computed in float32 (interpolateCubic), then
//   short(round_half_even(w * 2048)) (INTER_RESIZE_COEF_BITS = 11);
// - horizontal pass in exact integer arithmetic, source indices clamped to the border;
// - vertical pass: OpenCV's SIMD kernel (VResizeCubicVec_32s8u, used for every run of 8 outputs
//   on x86/ARM builds) computes it in float32: sum of row * (beta / 2^22) terms, then
//   round-half-even and saturation. The scalar tail (fewer than 8 values left in a row) uses the
//   fixed-point (sum + 2^21) >> 22. Both are reproduced so the output is bit-exact.

import { ShapeError } from '../errors.js';

const COEF_SCALE = 2048;
const SIMD_LANES = 8; // v_int16::nlanes for 128-bit universal intrinsics (SSE2/NEON baseline)

/** Round half to even, like cvRound / lrint in the default rounding mode. */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

function saturateShort(x: number): number {
  const r = roundHalfEven(x);
  return r < -32768 ? -32768 : r > 32767 ? 32767 : r;
}

const fr = Math.fround;
const A = -0.75;

/** OpenCV's interpolateCubic in float32 arithmetic, scaled to short fixed point. */
function cubicWeights(x: number, out: Int16Array, at: number): void {
  const x1 = fr(x + 1);
  const c0 = fr(fr(fr(fr(fr(fr(A * x1) - 5 * A) * x1) + 8 * A) * x1) - 4 * A);
  const c1 = fr(fr(fr(fr(fr((A + 2) * x) - (A + 3)) * x) * x) + 1);
  const y = fr(1 - x);
  const c2 = fr(fr(fr(fr(fr((A + 2) * y) - (A + 3)) * y) * y) + 1);
  const c3 = fr(fr(fr(1 - c0) - c1) - c2);
  out[at] = saturateShort(c0 * COEF_SCALE);
  out[at + 1] = saturateShort(c1 * COEF_SCALE);
  out[at + 2] = saturateShort(c2 * COEF_SCALE);
  out[at + 3] = saturateShort(c3 * COEF_SCALE);
}

/** Per output index: the first of the 4 source taps (unclamped) and the 4 fixed-point weights. */
function cubicTable(srcSize: number, dstSize: number): { offsets: Int32Array; weights: Int16Array } {
  // cv::resize computes the scale as 1 / (dst / src) in double.
  const scale = 1 / (dstSize / srcSize);
  const offsets = new Int32Array(dstSize);
  const weights = new Int16Array(dstSize * 4);
  for (let d = 0; d < dstSize; d++) {
    const f = fr((d + 0.5) * scale - 0.5);
    const s = Math.floor(f);
    offsets[d] = s - 1;
    cubicWeights(fr(f - s), weights, d * 4);
  }
  return { offsets, weights };
}

/**
 * Resizes an interleaved 8-bit image (H x W x channels) with OpenCV INTER_CUBIC semantics.
 * `src` may be a view with row stride `srcStride` (elements), so crops need no copy.
 */
export function resizeCubicU8(
  src: Uint8Array, srcWidth: number, srcHeight: number, channels: number, dstWidth: number, dstHeight: number,
  srcStride = srcWidth * channels,
): Uint8Array {
  if (srcWidth < 1 || srcHeight < 1 || dstWidth < 1 || dstHeight < 1) {
    throw new ShapeError('resizeCubicU8', `cannot resize ${srcWidth}x${srcHeight} to ${dstWidth}x${dstHeight}`, { hint: 'both sizes must be at least 1x1' });
  }
  const xt = cubicTable(srcWidth, dstWidth);
  const yt = cubicTable(srcHeight, dstHeight);
  const rowLen = dstWidth * channels;

  // Clamped source offsets (in elements) of the 4 taps of every output column.
  const taps = new Int32Array(dstWidth * 4);
  for (let dx = 0; dx < dstWidth; dx++) {
    for (let k = 0; k < 4; k++) {
      const sx = xt.offsets[dx]! + k;
      taps[dx * 4 + k] = (sx < 0 ? 0 : sx >= srcWidth ? srcWidth - 1 : sx) * channels;
    }
  }
  const xw = xt.weights;
  // Horizontal pass (exact integers) for every source row; upscaling needs all of them.
  const hrow = new Int32Array(srcHeight * rowLen);
  for (let sy = 0; sy < srcHeight; sy++) {
    const sRow = sy * srcStride;
    let h = sy * rowLen;
    for (let dx = 0; dx < dstWidth; dx++) {
      const t = dx * 4;
      const a0 = sRow + taps[t]!, a1 = sRow + taps[t + 1]!, a2 = sRow + taps[t + 2]!, a3 = sRow + taps[t + 3]!;
      const w0 = xw[t]!, w1 = xw[t + 1]!, w2 = xw[t + 2]!, w3 = xw[t + 3]!;
      for (let c = 0; c < channels; c++, h++) {
        hrow[h] = src[a0 + c]! * w0 + src[a1 + c]! * w1 + src[a2 + c]! * w2 + src[a3 + c]! * w3;
      }
    }
  }

  const out = new Uint8Array(dstHeight * rowLen);
  const simdEnd = rowLen - (rowLen % SIMD_LANES);
  for (let dy = 0; dy < dstHeight; dy++) {
    const s0 = yt.offsets[dy]!;
    const clampRow = (sy: number): number => (sy < 0 ? 0 : sy >= srcHeight ? srcHeight - 1 : sy) * rowLen;
    const r0 = clampRow(s0), r1 = clampRow(s0 + 1), r2 = clampRow(s0 + 2), r3 = clampRow(s0 + 3);
    const bw = yt.weights.subarray(dy * 4, dy * 4 + 4);
    // float32 weights beta / 2^22 (exact: power-of-two scaling)
    const f0 = fr(bw[0]! / 4194304), f1 = fr(bw[1]! / 4194304), f2 = fr(bw[2]! / 4194304), f3 = fr(bw[3]! / 4194304);
    const o = dy * rowLen;
    for (let x = 0; x < simdEnd; x++) {
      // v_muladd(S0,b0, v_muladd(S1,b1, v_muladd(S2,b2, S3*b3))) without FMA: each step rounds to f32.
      let t = fr(hrow[r3 + x]! * f3);
      t = fr(fr(hrow[r2 + x]! * f2) + t);
      t = fr(fr(hrow[r1 + x]! * f1) + t);
      t = fr(fr(hrow[r0 + x]! * f0) + t);
      const v = roundHalfEven(t);
      out[o + x] = v < 0 ? 0 : v > 255 ? 255 : v;
    }
    for (let x = simdEnd; x < rowLen; x++) {
      const acc = hrow[r0 + x]! * bw[0]! + hrow[r1 + x]! * bw[1]! + hrow[r2 + x]! * bw[2]! + hrow[r3 + x]! * bw[3]!;
      const v = (acc + 2097152) >> 22;
      out[o + x] = v < 0 ? 0 : v > 255 ? 255 : v;
    }
  }
  return out;
}
