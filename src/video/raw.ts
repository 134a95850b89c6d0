// Uncompressed frame layouts (AVI DIB frames, DICOM native pixel data) -> interleaved 3-channel bytes.

import { VideoDecodeError } from '../errors.js';
import { type ColorOrder, yccToInterleaved } from './color.js';
import type { RawPixelFormat } from './container.js';

/** Bytes one frame of `format` occupies. */
export function rawFrameBytes(format: RawPixelFormat, width: number, height: number): number {
  switch (format) {
    case 'bgr24-bottom-up':
    case 'bgr24':
      return (((width * 3 + 3) >> 2) << 2) * height;
    case 'gray8':
    case 'gray8-inverted':
      return width * height;
    case 'ybr-full-422':
      return width * height * 2;
    default:
      return width * height * 3;
  }
}

export function decodeRawFrame(bytes: Uint8Array, format: RawPixelFormat, width: number, height: number, order: ColorOrder, label: string): Uint8Array {
  const need = rawFrameBytes(format, width, height);
  if (bytes.length < need) {
    throw new VideoDecodeError(label, `uncompressed frame has ${bytes.length} bytes, ${need} expected for ${width}x${height} ${format}`, { hint: 'the file is truncated or corrupt' });
  }
  if (format === 'ybr-full-422' && width % 2 !== 0) throw new VideoDecodeError(label, `YBR_FULL_422 needs an even width, found ${width}`);
  const n = width * height;
  const out = new Uint8Array(n * 3);
  const [i0, i2] = order === 'bgr' ? [2, 0] : [0, 2]; // where R and B go
  switch (format) {
    case 'bgr24-bottom-up':
    case 'bgr24': {
      const stride = ((width * 3 + 3) >> 2) << 2;
      for (let y = 0; y < height; y++) {
        const srcRow = (format === 'bgr24' ? y : height - 1 - y) * stride;
        for (let x = 0, s = srcRow, o = y * width * 3; x < width; x++, s += 3, o += 3) {
          out[o + i0] = bytes[s + 2]!; out[o + 1] = bytes[s + 1]!; out[o + i2] = bytes[s]!;
        }
      }
      return out;
    }
    case 'gray8':
    case 'gray8-inverted': {
      const inv = format === 'gray8-inverted' ? 255 : 0;
      for (let i = 0, o = 0; i < n; i++, o += 3) {
        const g = bytes[i]! ^ inv;
        out[o] = g; out[o + 1] = g; out[o + 2] = g;
      }
      return out;
    }
    case 'rgb24':
    case 'rgb24-planar': {
      const planar = format === 'rgb24-planar';
      for (let i = 0, o = 0; i < n; i++, o += 3) {
        const r = planar ? bytes[i]! : bytes[i * 3]!;
        const g = planar ? bytes[n + i]! : bytes[i * 3 + 1]!;
        const b = planar ? bytes[2 * n + i]! : bytes[i * 3 + 2]!;
        out[o + i0] = r; out[o + 1] = g; out[o + i2] = b;
      }
      return out;
    }
    case 'ybr-full':
    case 'ybr-full-planar':
    case 'ybr-full-422': {
      const y = new Uint8Array(n), cb = new Uint8Array(n), cr = new Uint8Array(n);
      if (format === 'ybr-full-planar') {
        y.set(bytes.subarray(0, n)); cb.set(bytes.subarray(n, 2 * n)); cr.set(bytes.subarray(2 * n, 3 * n));
      } else if (format === 'ybr-full') {
        for (let i = 0; i < n; i++) { y[i] = bytes[i * 3]!; cb[i] = bytes[i * 3 + 1]!; cr[i] = bytes[i * 3 + 2]!; }
      } else {
        // Y0 Y1 Cb Cr for each horizontal pixel pair; chroma is shared by the pair.
        for (let i = 0; i < n; i += 2) {
          const s = i * 2;
          y[i] = bytes[s]!; y[i + 1] = bytes[s + 1]!;
          cb[i] = cb[i + 1] = bytes[s + 2]!;
          cr[i] = cr[i + 1] = bytes[s + 3]!;
        }
      }
      yccToInterleaved(y, cb, cr, width, width, height, order, out);
      return out;
    }
  }
}
