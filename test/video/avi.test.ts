import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { VideoDecodeError } from '../../src/errors.js';
import { decodeFrame, demuxAvi, openVideo, readVideo, videoWarnings } from '../../src/video/index.js';
import { buildAvi, chunk, concat, list } from './builders.js';
import { expectSameArray, loadGolden, payload, readShared, thrown, decodesOrRejects } from './fixtures.js';

const example = readShared('samples', 'example_video.avi');
const golden = await loadGolden('video_preprocess.safetensors');
const jpeg0 = golden.u8('video.jpeg_bytes.frame0');
const jpeg1 = golden.u8('video.jpeg_bytes.frame1');

describe('AVI demuxer', () => {
  it('reads the echo_CLIP example: 113 MJPEG frames, 224x224, 30 fps', () => {
    const v = demuxAvi(example);
    expect(v).toMatchObject({ container: 'avi', codec: 'MJPG', width: 224, height: 224, fps: 30, declaredFrames: 113, truncated: false, warnings: [] });
    expect(v.frames).toHaveLength(113);
    expect(v.frames[0]!.kind).toBe('jpeg');
    expectSameArray(payload(v.frames[0]!), jpeg0, 'frame 0 payload');
    expectSameArray(payload(v.frames[1]!), jpeg1, 'frame 1 payload');
  });

  it('reports a truncated file and how many frames are usable', () => {
    // Cut inside frame 10's chunk ('00dc' chunks of frames 0..9 end at byte 94314).
    const cut = example.subarray(0, 94314 + 5000);
    const v = demuxAvi(cut);
    expect(v.truncated).toBe(true);
    expect(v.frames).toHaveLength(10);
    expect(v.declaredFrames).toBe(113);
    const r = readVideo(cut, { frames: '0:40:2' });
    expect(r.indices).toEqual([0, 2, 4, 6, 8]);
    expect(r.info.usableFrames).toBe(10);
    expect(videoWarnings(r.info, 'cut.avi')).toEqual([
      'cut.avi: file is truncated or damaged; 10 of 113 declared frames are usable',
      "cut.avi: chunk '00dc' at byte 94314 declares 8592 bytes but only 4992 remain",
    ]);
    expect(videoWarnings(readVideo(example, { frames: '0:1' }).info)).toEqual([]);
    // cut before the first frame: a clear error, not an empty result
    expect(thrown(() => openVideo(example.subarray(0, 5000))).message).toMatch(/no usable frames.*truncated/);
  });

  it('handles JUNK between frames, odd chunk sizes (pad bytes) and LIST rec groups', () => {
    const odd = jpeg0.subarray(0, jpeg0.length); // 8036 bytes; make an odd-sized payload too
    const oddFrame = concat([jpeg1, new Uint8Array([0])]); // 9680: even; trailing byte after EOI is harmless
    const frames = [odd, jpeg1, oddFrame.subarray(0, 9679), jpeg0, jpeg1];
    for (const spec of [{ junk: 7 }, { recGroup: 2 }, { recGroup: 3, junk: 1 }, { index: false }]) {
      const v = demuxAvi(buildAvi({ width: 224, height: 224, frames, ...spec }));
      expect(v.frames.map((f) => payload(f).length)).toEqual([8036, 9679, 9679, 8036, 9679]);
      expect(v.truncated).toBe(false);
      if (spec.index === false) expect(v.warnings.join()).toMatch(/no idx1/);
    }
  });

  it('falls back to idx1 when the movi list is damaged', () => {
    const avi = buildAvi({ width: 224, height: 224, frames: [jpeg0, jpeg1, jpeg0], junk: 6 });
    // Corrupt the size of the first JUNK chunk in movi: a sequential walk loses its way after frame 0.
    let p = -1;
    for (let i = 0; i < avi.length - 4; i++) if (String.fromCharCode(...avi.subarray(i, i + 4)) === '00dc') { p = i; break; }
    const junkAt = p + 8 + jpeg0.length;
    expect(String.fromCharCode(...avi.subarray(junkAt, junkAt + 4))).toBe('JUNK');
    const bad = avi.slice();
    new DataView(bad.buffer).setUint32(junkAt + 4, 5000, true);
    const v = demuxAvi(bad);
    expect(v.frames).toHaveLength(3);
    expect(v.warnings.join()).toMatch(/idx1 locates 3 frames/);
    expect(v.truncated).toBe(false);
    expect(v.frames.map((f) => payload(f).length)).toEqual([jpeg0.length, jpeg1.length, jpeg0.length]);
  });

  it('decodes uncompressed bottom-up 24-bit DIB frames', () => {
    const w = 3, h = 2, stride = 12; // 9 bytes of pixels + 3 pad per row
    const dib = new Uint8Array(stride * h);
    // bottom row first in the file: row 1 then row 0; pixel (x,y) = B x, G y, R 100+x+y
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) dib.set([x, y, 100 + x + y], (h - 1 - y) * stride + x * 3);
    const v = openVideo(buildAvi({ width: w, height: h, frames: [dib], codec: 'DIB ' }));
    const f = decodeFrame(v, 0);
    expect(Array.from(f.data)).toEqual([0, 0, 100, 1, 0, 101, 2, 0, 102, 0, 1, 101, 1, 1, 102, 2, 1, 103]);
    expect(Array.from(decodeFrame(v, 0, { order: 'rgb' }).data.subarray(0, 3))).toEqual([100, 0, 0]);
  });

  it('refuses other codecs, absurd sizes and non-AVI input with typed errors', () => {
    expect(thrown(() => demuxAvi(buildAvi({ width: 224, height: 224, frames: [jpeg0], codec: 'H264' }))).message).toMatch(/unsupported video codec 'H264'/);
    expect(thrown(() => demuxAvi(buildAvi({ width: 100000, height: 224, frames: [jpeg0] }))).message).toMatch(/exceeds the 16384-pixel limit/);
    expect(thrown(() => demuxAvi(buildAvi({ width: 0, height: 224, frames: [jpeg0] }))).message).toMatch(/frame size 0x224/);
    expect(thrown(() => openVideo(new Uint8Array([1, 2, 3, 4, 5]))).message).toMatch(/unrecognised file format/);
    expect(thrown(() => openVideo(new Uint8Array(0))).message).toMatch(/empty/);
    expect(thrown(() => demuxAvi(new TextEncoder().encode('RIFF\x04\x00\x00\x00WAVE'))).message).toMatch(/not an AVI/);
  });

  it('names the frame when one frame of a video is corrupt', () => {
    const broken = jpeg1.slice(0, 4000);
    const v = openVideo(buildAvi({ width: 224, height: 224, frames: [jpeg0, broken, jpeg0] }));
    expect(decodeFrame(v, 0).width).toBe(224);
    expect(thrown(() => decodeFrame(v, 1)).message).toMatch(/frame 1 of 3/);
    expect(readVideo(buildAvi({ width: 224, height: 224, frames: [jpeg0, broken, jpeg0] }), { frames: '::2' }).indices).toEqual([0, 2]);
  });

  it('decodes all 113 example frames (timing printed, not asserted)', () => {
    const t0 = performance.now();
    const r = readVideo(example);
    const ms = performance.now() - t0;
    expect(r.frames).toHaveLength(113);
    expect(r.frames.every((f) => f.width === 224 && f.data.length === 224 * 224 * 3)).toBe(true);
    console.log(`decoded 113 frames in ${ms.toFixed(0)} ms`);
  });

  it('enforces the memory budget before decoding', () => {
    expect(thrown(() => readVideo(example, { memoryBudget: 224 * 224 * 3 * 10 })).message).toMatch(/memory budget/);
    expect(readVideo(example, { memoryBudget: 224 * 224 * 3 * 10, frames: '0:10' }).frames).toHaveLength(10);
  });

  it('survives deeply nested LIST rec chunks without recursing without bound', () => {
    let inner = chunk('00dc', jpeg0);
    for (let i = 0; i < 5000; i++) inner = list('rec ', [inner]);
    const avi = buildAvi({ width: 224, height: 224, frames: [jpeg1] });
    // append the nest inside a second RIFF AVIX (OpenDML extension) with its own movi
    const v = demuxAvi(concat([avi, list('AVIX', [list('movi', [inner])], 'RIFF')]));
    expect(v.frames).toHaveLength(1);
    expect(v.warnings.join()).toMatch(/nested deeper/);
  });

  it('reads frames from OpenDML AVIX extensions', () => {
    const avi = buildAvi({ width: 224, height: 224, frames: [jpeg0], declared: 3 });
    const ext = list('AVIX', [list('movi', [chunk('00dc', jpeg1), chunk('00dc', jpeg0)])], 'RIFF');
    const v = demuxAvi(concat([avi, ext]));
    expect(v.frames.map((f) => payload(f).length)).toEqual([jpeg0.length, jpeg1.length, jpeg0.length]);
  });

  it('never fails with anything but a VideoDecodeError on mutated files (fuzz)', () => {
    const seed = buildAvi({ width: 224, height: 224, frames: [jpeg0, jpeg1], recGroup: 1, junk: 3 });
    const header = 400; // mutate mostly the structure, not only the JPEG payloads
    fc.assert(fc.property(
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }),
      fc.option(fc.nat(), { nil: undefined }),
      (edits, cut) => {
        let b = seed.slice();
        for (const [at, v] of edits) b[at % header] = v;
        if (cut !== undefined) b = b.subarray(0, cut % b.length);
        decodesOrRejects(b);
      },
    ), { numRuns: 200 });
  });
});
