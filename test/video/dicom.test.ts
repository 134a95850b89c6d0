import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { VideoDecodeError } from '../../src/errors.js';
import { decodeFrame, decodeJpeg, demuxDicom, openVideo, readVideo } from '../../src/video/index.js';
import { concat, dcmElement, dcmEncapsulated, dcmFile, dcmImageAttrs, dcmSequence, rleFrame, u16le, u32le } from './builders.js';
import { expectSameArray, loadGolden, thrown, decodesOrRejects } from './fixtures.js';

const IMPLICIT = '1.2.840.10008.1.2';
const EXPLICIT = '1.2.840.10008.1.2.1';
const JPEG_BASELINE = '1.2.840.10008.1.2.4.50';
const golden = await loadGolden('video_preprocess.safetensors');
const jpeg0 = golden.u8('video.jpeg_bytes.frame0');
const jpeg1 = golden.u8('video.jpeg_bytes.frame1');

/** 3 frames of 4x2 RGB: R = 10*frame + x, G = 50 + y, B = 200 - x. */
function rgbFrames(planar: boolean): Uint8Array {
  const w = 4, h = 2, n = 3;
  const out = new Uint8Array(w * h * 3 * n);
  for (let f = 0; f < n; f++) {
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const px = [10 * f + x, 50 + y, 200 - x];
        for (let c = 0; c < 3; c++) {
          const i = planar ? f * w * h * 3 + c * w * h + y * w + x : f * w * h * 3 + (y * w + x) * 3 + c;
          out[i] = px[c]!;
        }
      }
    }
  }
  return out;
}

function nativeFile(syntax: string, attrs: Parameters<typeof dcmImageAttrs>[0], pixels: Uint8Array, withSequence = true): Uint8Array {
  const explicit = syntax !== IMPLICIT;
  return dcmFile(syntax, [
    ...(withSequence ? [dcmSequence(explicit)] : []),
    ...dcmImageAttrs(attrs, explicit),
    dcmElement(0x7fe0, 0x0010, 'OB', pixels, explicit),
  ]);
}

describe('DICOM reader', () => {
  it.each([
    ['explicit VR, interleaved', EXPLICIT, 0],
    ['explicit VR, planar', EXPLICIT, 1],
    ['implicit VR, interleaved', IMPLICIT, 0],
    ['implicit VR, planar', IMPLICIT, 1],
  ])('reads native 8-bit RGB multi-frame data (%s), skipping sequences', (_name, syntax, planar) => {
    const file = nativeFile(syntax as string, { rows: 2, columns: 4, samples: 3, photometric: 'RGB', frames: 3, planar: planar as number }, rgbFrames(planar === 1));
    const v = openVideo(file);
    expect(v).toMatchObject({ container: 'dicom', codec: syntax, width: 4, height: 2, declaredFrames: 3, truncated: false });
    expect(v.fps).toBeCloseTo(1000 / 33.3, 6);
    expect(v.frames).toHaveLength(3);
    const f2 = decodeFrame(v, 2, { order: 'rgb' });
    expect(Array.from(f2.data.subarray(0, 6))).toEqual([20, 50, 200, 21, 50, 199]);
    // default order is BGR like cv2
    expect(Array.from(decodeFrame(v, 2).data.subarray(0, 3))).toEqual([200, 50, 20]);
  });

  it('reads MONOCHROME2, MONOCHROME1 (inverted) and YBR_FULL / YBR_FULL_422', () => {
    const gray = nativeFile(EXPLICIT, { rows: 1, columns: 2, samples: 1, photometric: 'MONOCHROME2', frames: 2 }, new Uint8Array([0, 255, 7, 9]));
    expect(Array.from(decodeFrame(openVideo(gray), 1).data)).toEqual([7, 7, 7, 9, 9, 9]);
    const inv = nativeFile(EXPLICIT, { rows: 1, columns: 2, samples: 1, photometric: 'MONOCHROME1', frames: 1 }, new Uint8Array([0, 255]));
    expect(Array.from(decodeFrame(openVideo(inv), 0).data)).toEqual([255, 255, 255, 0, 0, 0]);
    // Y=128 with neutral chroma is grey 128; Cr=255 pushes red up by 1.402*127 ~ 178 (clamped to 255).
    const ybr = nativeFile(EXPLICIT, { rows: 1, columns: 2, samples: 3, photometric: 'YBR_FULL', frames: 1 }, new Uint8Array([128, 128, 128, 128, 128, 255]));
    expect(Array.from(decodeFrame(openVideo(ybr), 0, { order: 'rgb' }).data)).toEqual([128, 128, 128, 255, 37, 128]);
    const y422 = nativeFile(EXPLICIT, { rows: 1, columns: 2, samples: 3, photometric: 'YBR_FULL_422', frames: 1 }, new Uint8Array([128, 100, 128, 255]));
    expect(Array.from(decodeFrame(openVideo(y422), 0, { order: 'rgb' }).data)).toEqual([255, 37, 128, 255, 9, 100]);
  });

  it('reads encapsulated JPEG baseline frames: one fragment per frame, no offset table; libjpeg decode by default', () => {
    const file = dcmFile(JPEG_BASELINE, [...dcmImageAttrs({ rows: 224, columns: 224, samples: 3, photometric: 'YBR_FULL_422', frames: 2 }), dcmEncapsulated([jpeg0, jpeg1])]);
    const v = demuxDicom(file);
    expect(v.frames).toHaveLength(2);
    // DICOM JPEG is decoded the standard (libjpeg) way; the FFmpeg emulation stays available.
    expectSameArray(decodeFrame(v, 1).data, decodeJpeg(jpeg1, { emulate: 'libjpeg' }).data);
    expectSameArray(decodeFrame(v, 1, { emulate: 'ffmpeg' }).data, decodeJpeg(jpeg1, { emulate: 'ffmpeg' }).data);
  });

  it('groups split fragments by the Basic Offset Table, or at JPEG SOI markers without one', () => {
    const parts = [jpeg0.subarray(0, 3000), jpeg0.subarray(3000), jpeg1.subarray(0, 5000), jpeg1.subarray(5000)];
    const itemLen = (b: Uint8Array): number => 8 + b.length + (b.length & 1);
    const offsets = [0, itemLen(parts[0]!) + itemLen(parts[1]!)];
    for (const table of [offsets, []]) {
      const file = dcmFile(JPEG_BASELINE, [...dcmImageAttrs({ rows: 224, columns: 224, samples: 3, photometric: 'YBR_FULL_422', frames: 2 }), dcmEncapsulated(parts, table)]);
      const r = readVideo(file);
      expect(r.frames).toHaveLength(2);
      expectSameArray(r.frames[0]!.data, decodeJpeg(jpeg0).data);
      expectSameArray(r.frames[1]!.data, decodeJpeg(jpeg1).data);
    }
  });

  it('reads RLE Lossless frames (8-bit RGB and MONOCHROME2)', () => {
    const RLE = '1.2.840.10008.1.2.5';
    const planar = rgbFrames(true);
    const n = 4 * 2 * 3;
    const frames = [0, 1, 2].map((f) => rleFrame(planar.subarray(f * n, (f + 1) * n), 8, 3));
    const file = dcmFile(RLE, [...dcmImageAttrs({ rows: 2, columns: 4, samples: 3, photometric: 'RGB', frames: 3, planar: 1 }), dcmEncapsulated(frames)]);
    const native = openVideo(nativeFile(EXPLICIT, { rows: 2, columns: 4, samples: 3, photometric: 'RGB', frames: 3 }, rgbFrames(false)));
    const v = openVideo(file);
    expect(v.frames).toHaveLength(3);
    for (const i of [0, 1, 2]) expect(Array.from(decodeFrame(v, i).data)).toEqual(Array.from(decodeFrame(native, i).data));
    // long runs exercise replicate packets
    const mono = new Uint8Array(64 * 8).map((_, i) => (i < 300 ? 7 : i % 5));
    const mf = dcmFile(RLE, [...dcmImageAttrs({ rows: 8, columns: 64, samples: 1, photometric: 'MONOCHROME2', frames: 1 }), dcmEncapsulated([rleFrame(mono, 512, 1)])]);
    const g = decodeFrame(openVideo(mf), 0).data;
    expect(Array.from({ length: 512 }, (_, i) => g[i * 3])).toEqual(Array.from(mono));
    // truncated: the last (cut) fragment is dropped
    const cut = demuxDicom(file.subarray(0, file.length - 20));
    expect(cut.truncated).toBe(true);
    expect(cut.frames).toHaveLength(2);
    // corrupt segment table
    const bad = dcmFile(RLE, [...dcmImageAttrs({ rows: 2, columns: 4, samples: 3, photometric: 'RGB', frames: 1 }), dcmEncapsulated([concat([u32le(2), frames[0]!.subarray(4)])])]);
    expect(thrown(() => decodeFrame(openVideo(bad), 0)).message).toMatch(/2 segments, expected 3/);
    const short = dcmFile(RLE, [...dcmImageAttrs({ rows: 2, columns: 4, samples: 3, photometric: 'RGB', frames: 1 }), dcmEncapsulated([frames[0]!.subarray(0, 70)])]);
    expect(thrown(() => decodeFrame(openVideo(short), 0)).message).toMatch(/RLE frame/);
  });

  it('reports truncated pixel data with the number of usable frames', () => {
    const full = nativeFile(EXPLICIT, { rows: 2, columns: 4, samples: 3, photometric: 'RGB', frames: 3 }, rgbFrames(false), false);
    const cut = full.subarray(0, full.length - 10); // frame 2 (24 bytes) incomplete
    const v = demuxDicom(cut);
    expect(v.truncated).toBe(true);
    expect(v.frames).toHaveLength(2);
    const enc = dcmFile(JPEG_BASELINE, [...dcmImageAttrs({ rows: 224, columns: 224, samples: 3, photometric: 'YBR_FULL_422', frames: 2 }), dcmEncapsulated([jpeg0, jpeg1])]);
    const ev = demuxDicom(enc.subarray(0, enc.length - 2000));
    expect(ev.truncated).toBe(true);
    expect(ev.frames).toHaveLength(1);
  });

  it('refuses unsupported transfer syntaxes, bit depths and photometrics by name', () => {
    const px = new Uint8Array(8);
    expect(thrown(() => demuxDicom(nativeFile('1.2.840.10008.1.2.4.100', { rows: 2, columns: 4, samples: 1, photometric: 'MONOCHROME2', frames: 1 }, px))).message)
      .toMatch(/1\.2\.840\.10008\.1\.2\.4\.100 \(MPEG-2 Main Profile\) is not supported/);
    expect(thrown(() => demuxDicom(nativeFile('1.2.3.4', { rows: 2, columns: 4, samples: 1, photometric: 'MONOCHROME2', frames: 1 }, px))).message).toMatch(/transfer syntax 1\.2\.3\.4 is not supported/);
    // a compressed syntax over native (defined-length) pixel data
    expect(thrown(() => demuxDicom(nativeFile('1.2.840.10008.1.2.4.80', { rows: 2, columns: 4, samples: 1, photometric: 'MONOCHROME2', frames: 1 }, px))).message).toMatch(/JPEG-LS Lossless\) must be encapsulated/);
    expect(thrown(() => demuxDicom(nativeFile(EXPLICIT, { rows: 2, columns: 2, samples: 1, photometric: 'MONOCHROME2', frames: 1, bitsAllocated: 32 }, px))).message).toMatch(/32-bit/);
    expect(thrown(() => demuxDicom(nativeFile(EXPLICIT, { rows: 2, columns: 2, samples: 3, photometric: 'PALETTE COLOR', frames: 1 }, new Uint8Array(12)))).message).toMatch(/PALETTE COLOR/);
    expect(thrown(() => demuxDicom(nativeFile(EXPLICIT, { rows: 40000, columns: 2, samples: 1, photometric: 'MONOCHROME2', frames: 1 }, px))).message).toMatch(/16384-pixel limit/);
  });

  it('refuses files without DICM, without pixel data, or with garbage elements', () => {
    expect(thrown(() => demuxDicom(new Uint8Array(200))).message).toMatch(/not a DICOM Part 10/);
    const noPixels = dcmFile(EXPLICIT, dcmImageAttrs({ rows: 2, columns: 2, samples: 1, photometric: 'MONOCHROME2', frames: 1 }));
    expect(thrown(() => demuxDicom(noPixels)).message).toMatch(/no Pixel Data/);
    const garbage = concat([dcmFile(EXPLICIT, []), u16le(0x0028, 0x0010), new TextEncoder().encode('\x01\x02'), u16le(2, 2)]);
    expect(thrown(() => demuxDicom(garbage)).message).toMatch(/invalid VR/);
  });

  it('never fails with anything but a VideoDecodeError on mutated files (fuzz)', () => {
    const seeds = [
      nativeFile(EXPLICIT, { rows: 2, columns: 4, samples: 3, photometric: 'RGB', frames: 3 }, rgbFrames(false)),
      nativeFile(IMPLICIT, { rows: 2, columns: 4, samples: 3, photometric: 'RGB', frames: 3, planar: 1 }, rgbFrames(true)),
      dcmFile(JPEG_BASELINE, [dcmSequence(), ...dcmImageAttrs({ rows: 224, columns: 224, samples: 3, photometric: 'YBR_FULL_422', frames: 2 }), dcmEncapsulated([jpeg0, jpeg1])]),
      dcmFile('1.2.840.10008.1.2.5', [...dcmImageAttrs({ rows: 2, columns: 4, samples: 3, photometric: 'RGB', frames: 1, planar: 1 }), dcmEncapsulated([rleFrame(rgbFrames(true).subarray(0, 24), 8, 3)])]),
    ];
    fc.assert(fc.property(
      fc.integer({ min: 0, max: seeds.length - 1 }),
      fc.array(fc.tuple(fc.integer({ min: 132, max: 420 }), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }),
      fc.option(fc.nat(), { nil: undefined }),
      (which, edits, cut) => {
        let b = seeds[which]!.slice();
        for (const [at, v] of edits) if (at < b.length) b[at] = v;
        if (cut !== undefined) b = b.subarray(0, cut % b.length);
        decodesOrRejects(b);
      },
    ), { numRuns: 300 });
  });
});
