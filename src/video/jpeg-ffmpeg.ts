// Reconstruction as cv2.VideoCapture does it with its FFmpeg backend (the decoder echo_CLIP's
// read_avi and the golden frames went through): FFmpeg's MJPEG decoder with its C "simple" IDCT
// (ff_simple_idct_put_int16_8bit: rows then columns, shifts 11 and 20, a DC-only shortcut for rows;
// verified bit-exact against the fixture's cv2.VideoCapture frames — the SSE2 variant, which lacks
// the shortcut, is not), chroma left subsampled, then swscale's unscaled YUV420P/422P->BGR24 SIMD
// converter (nearest chroma, Q13 coefficients, pmulhw = floor(a*b / 2^16), no rounding term).
// Verified bit-exact on the fixture's 4:2:0 frames and on generated 4:2:0, 4:2:2 and grayscale
// JPEGs (test/video/data). FFmpeg takes that unscaled path only for 4:2:0/4:2:2 with an even
// height; 4:4:4 and odd-height frames go through swscale's generic scaler, which is approximated
// (4:4:4: within 1 level) by libjpeg's colour conversion.
// Entropy decoding is shared with the libjpeg path; only pixel reconstruction differs.

import type { ColorOrder } from './color.js';

// simple_idct constants: cos(i*pi/16) * sqrt(2) * 2^14 (W4 = 16383, as FFmpeg rounds it).
const W1 = 22725, W2 = 21407, W3 = 19266, W4 = 16383, W5 = 12873, W6 = 8867, W7 = 4520;
const tmp = new Int32Array(64);

/** Store to int16_t (C truncation). */
const wrap16 = (v: number): number => (v << 16) >> 16;

/**
 * One 8x8 block: dequantised coefficients (DC already carries FFmpeg's +1024 level shift) in
 * natural order -> 8-bit samples. C's unsigned 32-bit sums are reproduced with |0 (the terms are
 * products of 16-bit values, exact in doubles).
 */
export function idctSimple8(block: Int16Array, out: Uint8Array, outOff: number, stride: number): void {
  // Pass 1 (idctRowCondDC): each row (horizontal frequencies), bias 1 << 10, shift 11, stored as int16.
  for (let r = 0; r < 8; r++) {
    const i = r * 8;
    const x0 = block[i]!, x1 = block[i + 1]!, x2 = block[i + 2]!, x3 = block[i + 3]!;
    const x4 = block[i + 4]!, x5 = block[i + 5]!, x6 = block[i + 6]!, x7 = block[i + 7]!;
    if ((x1 | x2 | x3 | x4 | x5 | x6 | x7) === 0) {
      // DC-only row: row[0] << 3 in every position (not the W4 = 16383 product, which differs by 1 for |DC| >= 1024).
      const v = wrap16(x0 << 3);
      for (let k = 0; k < 8; k++) tmp[i + k] = v;
      continue;
    }
    const a0 = (W4 * x0 + W2 * x2 + 1024 + W4 * x4 + W6 * x6) | 0;
    const a1 = (W4 * x0 + W6 * x2 + 1024 - (W4 * x4 + W2 * x6)) | 0;
    const a2 = (W4 * x0 - W6 * x2 + 1024 - (W4 * x4 - W2 * x6)) | 0;
    const a3 = (W4 * x0 - W2 * x2 + 1024 + W4 * x4 - W6 * x6) | 0;
    const b0 = (W1 * x1 + W3 * x3 + W5 * x5 + W7 * x7) | 0;
    const b1 = (W3 * x1 - W7 * x3 - (W1 * x5 + W5 * x7)) | 0;
    const b2 = (W5 * x1 - W1 * x3 + W7 * x5 + W3 * x7) | 0;
    const b3 = (W7 * x1 - W5 * x3 + W3 * x5 - W1 * x7) | 0;
    tmp[i] = wrap16((a0 + b0) >> 11); tmp[i + 7] = wrap16((a0 - b0) >> 11);
    tmp[i + 1] = wrap16((a1 + b1) >> 11); tmp[i + 6] = wrap16((a1 - b1) >> 11);
    tmp[i + 2] = wrap16((a2 + b2) >> 11); tmp[i + 5] = wrap16((a2 - b2) >> 11);
    tmp[i + 3] = wrap16((a3 + b3) >> 11); tmp[i + 4] = wrap16((a3 - b3) >> 11);
  }
  // Pass 2 (idctSparseColPut): each column; bias W4 * 32 (= (1 << 19) / W4 on the DC), shift 20, clip.
  for (let c = 0; c < 8; c++) {
    const x0 = tmp[c]! + 32, x1 = tmp[c + 8]!, x2 = tmp[c + 16]!, x3 = tmp[c + 24]!;
    const x4 = tmp[c + 32]!, x5 = tmp[c + 40]!, x6 = tmp[c + 48]!, x7 = tmp[c + 56]!;
    const a0 = (W4 * x0 + W2 * x2 + W4 * x4 + W6 * x6) | 0;
    const a1 = (W4 * x0 + W6 * x2 - (W4 * x4 + W2 * x6)) | 0;
    const a2 = (W4 * x0 - W6 * x2 - (W4 * x4 - W2 * x6)) | 0;
    const a3 = (W4 * x0 - W2 * x2 + W4 * x4 - W6 * x6) | 0;
    const b0 = (W1 * x1 + W3 * x3 + W5 * x5 + W7 * x7) | 0;
    const b1 = (W3 * x1 - W7 * x3 - (W1 * x5 + W5 * x7)) | 0;
    const b2 = (W5 * x1 - W1 * x3 + W7 * x5 + W3 * x7) | 0;
    const b3 = (W7 * x1 - W5 * x3 + W3 * x5 - W1 * x7) | 0;
    const o = outOff + c;
    out[o] = clip8((a0 + b0) >> 20); out[o + 7 * stride] = clip8((a0 - b0) >> 20);
    out[o + stride] = clip8((a1 + b1) >> 20); out[o + 6 * stride] = clip8((a1 - b1) >> 20);
    out[o + 2 * stride] = clip8((a2 + b2) >> 20); out[o + 5 * stride] = clip8((a2 - b2) >> 20);
    out[o + 3 * stride] = clip8((a3 + b3) >> 20); out[o + 4 * stride] = clip8((a3 - b3) >> 20);
  }
}

function clip8(v: number): number {
  return v < 0 ? 0 : v > 255 ? 255 : v;
}

// swscale full-range BT.601 coefficients for the MMX/SSSE3 converter (ff_yuv2rgb_c_init_tables with
// ff_yuv2rgb_coeffs[SWS_CS_ITU601], srcRange = 1, default brightness/contrast/saturation).
const roundToInt16 = (f: number): number => Math.max(-32768, Math.min(32767, Math.floor((f + 32768) / 65536)));
const fullRange = (c: number): number => Math.trunc((c * 224) / 255);
const VR = roundToInt16(fullRange(104597) * 8192);
const UB = roundToInt16(fullRange(132201) * 8192);
const UG = roundToInt16(fullRange(-25675) * 8192);
const VG = roundToInt16(fullRange(-53279) * 8192);

/** pmulhw: the high 16 bits of the signed 32-bit product. */
const mulhi = (a: number, b: number): number => (a * b) >> 16;

/**
 * YUV 4:2:0 (vshift 1) or 4:2:2 (vshift 0) planes -> interleaved BGR/RGB like swscale's unscaled
 * SIMD path (YUV2RGB_LOOP): each chroma sample serves 2 pixels of a row (and 2 rows for 4:2:0),
 * nearest, no interpolation; Y passes through unchanged (Q13 coefficient 8192 on Y*8).
 */
export function yuvToInterleavedSwscale(
  y: Uint8Array, yStride: number, cb: Uint8Array, cr: Uint8Array, cStride: number, vshift: 0 | 1,
  width: number, height: number, order: ColorOrder, out: Uint8Array,
): void {
  const r0 = order === 'rgb' ? 0 : 2;
  const b0 = 2 - r0;
  for (let row = 0; row < height; row++) {
    const yr = row * yStride;
    const cRow = (row >> vshift) * cStride;
    let o = row * width * 3;
    for (let x = 0; x < width; x++, o += 3) {
      const Y = y[yr + x]!;
      const u = cb[cRow + (x >> 1)]! * 8 - 1024;
      const v = cr[cRow + (x >> 1)]! * 8 - 1024;
      out[o + b0] = clip8(Y + mulhi(u, UB));
      out[o + 1] = clip8(Y + mulhi(u, UG) + mulhi(v, VG));
      out[o + r0] = clip8(Y + mulhi(v, VR));
    }
  }
}
