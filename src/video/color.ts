// YCbCr -> RGB exactly as libjpeg(-turbo) jdcolor.c does it (16-bit fixed point tables), shared by
// the JPEG decoder and DICOM YBR_FULL pixel data so both round identically.

const SCALEBITS = 16;
const ONE_HALF = 1 << (SCALEBITS - 1);
const fix = (x: number): number => Math.floor(x * (1 << SCALEBITS) + 0.5);

/** Cr->R, Cb->B offsets and the (Cb, Cr)->G terms, indexed by the 8-bit chroma sample. */
export const CR_R = new Int32Array(256);
export const CB_B = new Int32Array(256);
export const CR_G = new Float64Array(256);
export const CB_G = new Float64Array(256);
for (let i = 0; i < 256; i++) {
  const x = i - 128;
  CR_R[i] = Math.floor((fix(1.402) * x + ONE_HALF) / 65536);
  CB_B[i] = Math.floor((fix(1.772) * x + ONE_HALF) / 65536);
  CR_G[i] = -fix(0.71414) * x;
  CB_G[i] = -fix(0.34414) * x + ONE_HALF;
}

/** G offset for every (Cb, Cr) pair: RIGHT_SHIFT(Cb_g + Cr_g, 16), precomputed (64 K entries). */
export const G_OFF = new Int16Array(65536);
for (let cb = 0; cb < 256; cb++) {
  for (let cr = 0; cr < 256; cr++) G_OFF[cb * 256 + cr] = Math.floor((CB_G[cb]! + CR_G[cr]!) / 65536);
}

/** clamp to 0..255 (libjpeg's sample_range_limit for the colour converter). */
export function clampU8(v: number): number {
  return v < 0 ? 0 : v > 255 ? 255 : v;
}

/** Channel order of decoded frames: 'bgr' is what cv2 returns (and what echo_CLIP feeds the model). */
export type ColorOrder = 'bgr' | 'rgb';

/**
 * Converts planar Y, Cb, Cr (full range, JFIF) to interleaved 3-channel output.
 * The planes have row strides `stride` and at least width x height samples.
 */
export function yccToInterleaved(
  y: Uint8Array, cb: Uint8Array, cr: Uint8Array, stride: number,
  width: number, height: number, order: ColorOrder, out: Uint8Array,
): void {
  const r0 = order === 'rgb' ? 0 : 2;
  const b0 = 2 - r0;
  for (let row = 0; row < height; row++) {
    let s = row * stride;
    let o = row * width * 3;
    for (let col = 0; col < width; col++, s++, o += 3) {
      const Y = y[s]!;
      const Cb = cb[s]!;
      const Cr = cr[s]!;
      out[o + r0] = clampU8(Y + CR_R[Cr]!);
      out[o + 1] = clampU8(Y + G_OFF[Cb * 256 + Cr]!);
      out[o + b0] = clampU8(Y + CB_B[Cb]!);
    }
  }
}
