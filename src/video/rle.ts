// DICOM RLE Lossless (1.2.840.10008.1.2.5, PS3.5 Annex G): each frame is a 64-byte header (segment
// count + 15 offsets) followed by PackBits-coded segments, one per byte plane: for each sample its
// most significant byte first (16-bit samples take two segments).

import { VideoDecodeError } from '../errors.js';

/** Decodes one RLE frame of `segments` byte planes of `pixels` each into planar bytes. */
export function decodeDicomRle(frame: Uint8Array, pixels: number, segments: number, label: string): Uint8Array {
  const fail = (why: string): never => {
    throw new VideoDecodeError(label, `RLE frame: ${why}`, { hint: 'the DICOM pixel data is corrupt' });
  };
  if (frame.length < 64) fail(`${frame.length} bytes, shorter than the 64-byte RLE header`);
  const dv = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  const count = dv.getUint32(0, true);
  if (count !== segments) fail(`${count} segments, expected ${segments} (one per byte of each sample)`);
  const out = new Uint8Array(pixels * segments);
  for (let s = 0; s < count; s++) {
    const start = dv.getUint32(4 + 4 * s, true);
    const end = s + 1 < count ? dv.getUint32(8 + 4 * s, true) : frame.length;
    if (start < 64 || end > frame.length || start > end) fail(`segment ${s} spans bytes ${start}..${end} of ${frame.length}`);
    let p = start;
    let o = s * pixels;
    const stop = o + pixels;
    while (o < stop && p < end) {
      const n = frame[p++]!;
      if (n < 128) {
        // literal run of n + 1 bytes
        const len = n + 1;
        if (p + len > end || o + len > stop) fail(`literal run overflows segment ${s}`);
        out.set(frame.subarray(p, p + len), o);
        p += len;
        o += len;
      } else if (n > 128) {
        // replicate run: the next byte 257 - n times
        const len = 257 - n;
        if (p >= end || o + len > stop) fail(`replicate run overflows segment ${s}`);
        out.fill(frame[p++]!, o, o + len);
        o += len;
      } // n === 128 (-128): no operation
    }
    if (o < stop) fail(`segment ${s} decodes to ${o - s * pixels} of ${pixels} bytes`);
  }
  return out;
}

/** RLE byte planes -> samples: 8-bit planes as they are, 16-bit from (MSB plane, LSB plane) pairs. */
export function rlePlanesToSamples(planes: Uint8Array, pixels: number, samples: number, bitsAllocated: 8 | 16): Uint8Array | Uint16Array {
  if (bitsAllocated === 8) return planes;
  const out = new Uint16Array(pixels * samples);
  for (let s = 0; s < samples; s++) {
    const hi = 2 * s * pixels, lo = hi + pixels, o = s * pixels;
    for (let i = 0; i < pixels; i++) out[o + i] = (planes[hi + i]! << 8) | planes[lo + i]!;
  }
  return out;
}
