// DICOM samples -> interleaved 8-bit 3-channel frames, per the Image Pixel module (PS3.3 C.7.6.3):
// photometric interpretation, bit depth, sign, palette. What the model sees is what a DICOM viewer
// shows before any user windowing:
//  - 8-bit MONOCHROME / RGB / YBR: the stored values (no VOI window: ultrasound is stored for display).
//  - deeper MONOCHROME: Rescale Slope/Intercept, then the first Window Center/Width (the linear VOI
//    function of C.11.2.1.2.1), or without a window the full stored range scaled to 0..255.
//  - deeper RGB: the top 8 of the stored bits.
//  - PALETTE COLOR: the LUT entry (values below the first mapped value take entry 0, above the
//    last the last entry), 16-bit entries reduced to their high byte as displays do.
//  - YBR_FULL / YBR_FULL_422: the JFIF inverse at libjpeg's 16-bit fixed point (jdcolor.c) — the
//    conversion every JPEG decoder applies to these files, so native and JPEG YBR agree.
//  - YBR_RCT / YBR_ICT: JPEG 2000 component transforms. The codec applies the inverse when the
//    codestream says MCT = 1 (the normal case); otherwise it is applied here (RCT exactly, ICT with
//    T.800's float coefficients, round half up).

import { VideoDecodeError } from '../errors.js';
import { type ColorOrder, clampU8, yccToInterleaved } from './color.js';
import type { PixelModule } from './container.js';

/** How the samples of one frame are laid out. */
export type SampleLayout = 'interleaved' | 'planar' | 'ybr422';

/** Samples as stored (unsigned words; `pixel.signed` says how to read the stored bits). */
export type SampleArray = Uint8Array | Uint16Array;

/** 16-bit words from bytes in either byte order (copies, so alignment never matters). */
export function wordsFromBytes(bytes: Uint8Array, count: number, littleEndian: boolean): Uint16Array {
  const out = new Uint16Array(count);
  const [lo, hi] = littleEndian ? [0, 1] : [1, 0];
  for (let i = 0, p = 0; i < count; i++, p += 2) out[i] = bytes[p + lo]! | (bytes[p + hi]! << 8);
  return out;
}

/** Bytes one native frame occupies. */
export function nativeFrameBytes(pixel: PixelModule, width: number, height: number): number {
  const n = width * height;
  if (pixel.photometric === 'YBR_FULL_422' && pixel.samples === 3) return n * 2 * (pixel.bitsAllocated / 8);
  return n * pixel.samples * (pixel.bitsAllocated / 8);
}

/**
 * Converts one frame's samples to H x W x 3 bytes in `order`. `transformed` says the codec already
 * inverted a JPEG 2000 component transform (MCT = 1), so YBR_RCT/YBR_ICT samples are RGB.
 */
export function samplesToImage(
  samples: SampleArray, layout: SampleLayout, pixel: PixelModule, width: number, height: number,
  order: ColorOrder, label: string, transformed = false,
): Uint8Array {
  const n = width * height;
  const need = layout === 'ybr422' ? n * 2 : n * pixel.samples;
  if (samples.length < need) {
    throw new VideoDecodeError(label, `frame has ${samples.length} samples, ${need} expected for ${width}x${height} ${pixel.photometric}`, { hint: 'the file is truncated or corrupt' });
  }
  const out = new Uint8Array(n * 3);
  const r0 = order === 'rgb' ? 0 : 2;
  const b0 = 2 - r0;
  const read = storedReader(pixel);
  if (pixel.samples === 1) {
    if (pixel.photometric === 'PALETTE COLOR') {
      const p = pixel.palette;
      if (!p) throw new VideoDecodeError(label, 'PALETTE COLOR image without a palette', { hint: 'the file is corrupt' });
      const last = p.r.length - 1;
      for (let i = 0, o = 0; i < n; i++, o += 3) {
        let k = read(samples[i]!) - p.first;
        k = k < 0 ? 0 : k > last ? last : k;
        out[o + r0] = p.r[k]!; out[o + 1] = p.g[k]!; out[o + b0] = p.b[k]!;
      }
      return out;
    }
    const map = monochromeMap(pixel);
    const invert = pixel.photometric === 'MONOCHROME1' ? 255 : 0;
    for (let i = 0, o = 0; i < n; i++, o += 3) {
      const g = map(read(samples[i]!)) ^ invert;
      out[o] = g; out[o + 1] = g; out[o + 2] = g;
    }
    return out;
  }
  // Three samples: gather planes first (each format below works per pixel on c0, c1, c2).
  const shift = Math.max(0, pixel.bitsStored - 8);
  const c0 = new Uint8Array(n), c1 = new Uint8Array(n), c2 = new Uint8Array(n);
  if (pixel.signed) throw new VideoDecodeError(label, `signed ${pixel.photometric} samples are not supported`, { hint: 'colour images are stored unsigned; the file is corrupt' });
  const mask = (1 << pixel.bitsStored) - 1;
  const get = (v: number): number => (v & mask) >> shift;
  if (layout === 'ybr422') {
    if (width % 2 !== 0) throw new VideoDecodeError(label, `YBR_FULL_422 needs an even width, found ${width}`);
    // Y0 Y1 Cb Cr for each horizontal pixel pair; chroma is shared by the pair.
    for (let i = 0; i < n; i += 2) {
      const s = i * 2;
      c0[i] = get(samples[s]!); c0[i + 1] = get(samples[s + 1]!);
      c1[i] = c1[i + 1] = get(samples[s + 2]!);
      c2[i] = c2[i + 1] = get(samples[s + 3]!);
    }
  } else if (layout === 'planar') {
    for (let i = 0; i < n; i++) { c0[i] = get(samples[i]!); c1[i] = get(samples[n + i]!); c2[i] = get(samples[2 * n + i]!); }
  } else {
    for (let i = 0, s = 0; i < n; i++, s += 3) { c0[i] = get(samples[s]!); c1[i] = get(samples[s + 1]!); c2[i] = get(samples[s + 2]!); }
  }
  const pm = pixel.photometric;
  if (pm === 'YBR_FULL' || pm === 'YBR_FULL_422') {
    if (pixel.bitsStored > 8) throw new VideoDecodeError(label, `${pixel.bitsStored}-bit ${pm} is not supported (8-bit expected)`, { hint: 'transcode to RGB, e.g. `gdcmconv --raw -P RGB`' });
    yccToInterleaved(c0, c1, c2, width, width, height, order, out);
    return out;
  }
  if ((pm === 'YBR_RCT' || pm === 'YBR_ICT') && !transformed) {
    if (pixel.bitsStored > 8) throw new VideoDecodeError(label, `${pixel.bitsStored}-bit ${pm} without the codestream transform is not supported`);
    inverseComponentTransform(pm, c0, c1, c2);
  } else if (pm !== 'RGB' && pm !== 'YBR_RCT' && pm !== 'YBR_ICT') {
    throw new VideoDecodeError(label, `photometric interpretation ${pm} with 3 samples per pixel is not supported`);
  }
  for (let i = 0, o = 0; i < n; i++, o += 3) { out[o + r0] = c0[i]!; out[o + 1] = c1[i]!; out[o + b0] = c2[i]!; }
  return out;
}

/** Stored word -> sample value: the low bitsStored bits, sign-extended when signed. */
function storedReader(pixel: PixelModule): (v: number) => number {
  const bits = pixel.bitsStored;
  const mask = bits >= 32 ? -1 : (1 << bits) - 1;
  if (!pixel.signed) return (v) => v & mask;
  const sign = 1 << (bits - 1);
  return (v) => ((v & mask) ^ sign) - sign;
}

/** Sample value -> 8-bit grey (see the file comment for the rules). */
function monochromeMap(pixel: PixelModule): (v: number) => number {
  const { bitsStored: bits, signed } = pixel;
  if (bits <= 8 && !signed) return (v) => v;
  const slope = pixel.rescale?.slope ?? 1;
  const intercept = pixel.rescale?.intercept ?? 0;
  const w = pixel.window;
  if (w && w.width >= 1) {
    // PS3.3 C.11.2.1.2.1, linear: y = ((x - (c - 0.5)) / (w - 1) + 0.5) * 255, clipped.
    const lo = w.center - 0.5 - (w.width - 1) / 2;
    const hi = w.center - 0.5 + (w.width - 1) / 2;
    const denom = Math.max(w.width - 1, 1);
    return (v) => {
      const x = v * slope + intercept;
      if (x <= lo) return 0;
      if (x > hi) return 255;
      return clampU8(Math.floor(((x - (w.center - 0.5)) / denom + 0.5) * 255 + 0.5));
    };
  }
  const min = signed ? -(2 ** (bits - 1)) : 0;
  const range = 2 ** bits - 1;
  return (v) => clampU8(Math.floor(((v - min) * 255) / range + 0.5));
}

/** Inverse RCT (exact integers) or ICT (T.800 G.3) on 8-bit components carrying the +128 DC shift. */
function inverseComponentTransform(pm: 'YBR_RCT' | 'YBR_ICT', c0: Uint8Array, c1: Uint8Array, c2: Uint8Array): void {
  for (let i = 0; i < c0.length; i++) {
    const y = c0[i]! - 128, cb = c1[i]! - 128, cr = c2[i]! - 128;
    let r: number, g: number, b: number;
    if (pm === 'YBR_RCT') {
      g = y - Math.floor((cb + cr) / 4);
      r = cr + g;
      b = cb + g;
    } else {
      r = Math.floor(y + 1.402 * cr + 0.5);
      g = Math.floor(y - 0.34413 * cb - 0.71414 * cr + 0.5);
      b = Math.floor(y + 1.772 * cb + 0.5);
    }
    c0[i] = clampU8(r + 128); c1[i] = clampU8(g + 128); c2[i] = clampU8(b + 128);
  }
}
