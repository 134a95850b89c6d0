import { describe, expect, it } from 'vitest';
import { ShapeError } from '../../src/errors.js';
import { OPENAI_MEAN, OPENAI_STD, cropAndScale, cropRect, normalizeFrames, preprocessFrames, preprocessVideo, resizeCubicU8 } from '../../src/video/index.js';
import { compareU8, expectSameArray, loadGolden, readShared } from './fixtures.js';

const golden = await loadGolden('video_preprocess.safetensors');
const FRAME = 224 * 224 * 3;
const CROP = 180 * 180 * 3;
const frames = golden.u8('video.frames_u8_bgr');
const pixelValues = golden.f32('video.pixel_values_0_40_2');

/** Reference bicubic with the same a = -0.75, half-pixel centres and border clamp, in float64. */
function cubicFloat(src: Uint8Array, sw: number, sh: number, dw: number, dh: number): Float64Array {
  const w = (t: number): number => { const a = -0.75; t = Math.abs(t); return t <= 1 ? (a + 2) * t ** 3 - (a + 3) * t ** 2 + 1 : t < 2 ? a * t ** 3 - 5 * a * t ** 2 + 8 * a * t - 4 * a : 0; };
  const out = new Float64Array(dw * dh * 3);
  for (let y = 0; y < dh; y++) {
    const fy = (y + 0.5) * (sh / dh) - 0.5;
    const y0 = Math.floor(fy);
    for (let x = 0; x < dw; x++) {
      const fx = (x + 0.5) * (sw / dw) - 0.5;
      const x0 = Math.floor(fx);
      for (let c = 0; c < 3; c++) {
        let s = 0;
        for (let j = -1; j <= 2; j++) {
          const yy = Math.min(sh - 1, Math.max(0, y0 + j));
          for (let i = -1; i <= 2; i++) {
            const xx = Math.min(sw - 1, Math.max(0, x0 + i));
            s += src[(yy * sw + xx) * 3 + c]! * w(fx - (x0 + i)) * w(fy - (y0 + j));
          }
        }
        out[(y * dw + x) * 3 + c] = s;
      }
    }
  }
  return out;
}

describe('echo_CLIP preprocessing', () => {
  it('crop rectangle: 10 % zoom of 224 keeps [22:-22], aspect crops round half to even', () => {
    expect(cropRect(224, 224)).toEqual({ x: 22, y: 22, width: 180, height: 180 });
    expect(cropRect(112, 112)).toEqual({ x: 11, y: 11, width: 90, height: 90 });
    // 640x480 -> pad round(80) = 80 columns each side -> 480x480 -> zoom 48
    expect(cropRect(640, 480)).toEqual({ x: 128, y: 48, width: 384, height: 384 });
    // (301 - 300)/2 = 0.5 rounds to 0 (half to even): the reference slices [0:-0] (empty) and
    // crashes; we keep the full width instead.
    expect(cropRect(301, 300, { zoom: 0 })).toEqual({ x: 0, y: 0, width: 301, height: 300 });
    // (303 - 300)/2 = 1.5 -> 2
    expect(cropRect(303, 300, { zoom: 0 })).toEqual({ x: 2, y: 0, width: 299, height: 300 });
    expect(cropRect(300, 305, { zoom: 0 })).toEqual({ x: 0, y: 2, width: 300, height: 301 });
    expect(() => cropRect(3, 3, { zoom: 0.5 })).toThrow(ShapeError);
    expect(() => cropAndScale({ width: 2, height: 2, data: new Uint8Array(5) })).toThrow(ShapeError);
  });

  it('cv2.resize INTER_CUBIC 180 -> 224 is bit-exact on the fixture crops', () => {
    const crops = golden.u8('video.zoom_cropped_u8_bgr');
    for (const i of [0, 1]) {
      const out = resizeCubicU8(crops.subarray(i * CROP, (i + 1) * CROP), 180, 180, 3, 224, 224);
      expect(compareU8(out, frames.subarray(i * FRAME, (i + 1) * FRAME)).maxDiff).toBe(0);
    }
  });

  it('crop_and_scale of cv2.VideoCapture\'s decode equals the fixture frames exactly', () => {
    const raw = golden.u8('video.raw_decoded_u8_bgr');
    for (const i of [0, 1]) {
      const out = cropAndScale({ width: 224, height: 224, data: raw.subarray(i * FRAME, (i + 1) * FRAME) });
      expect(compareU8(out, frames.subarray(i * FRAME, (i + 1) * FRAME)).maxDiff).toBe(0);
    }
  });

  it('the fixed-point resize stays within 1 level of an exact float bicubic on odd sizes', () => {
    const sw = 23, sh = 17;
    const src = Uint8Array.from({ length: sw * sh * 3 }, (_, i) => (i * 97 + ((i * i) % 13) * 11) & 255);
    for (const [dw, dh] of [[31, 11], [8, 40], [23, 17], [5, 3]] as const) {
      const out = resizeCubicU8(src, sw, sh, 3, dw, dh);
      const ref = cubicFloat(src, sw, sh, dw, dh);
      let max = 0;
      for (let i = 0; i < out.length; i++) max = Math.max(max, Math.abs(out[i]! - Math.min(255, Math.max(0, ref[i]!))));
      expect(max).toBeLessThanOrEqual(1);
    }
  });

  it('preprocessFrames on externally decoded frames equals the file pipeline', () => {
    const raw = golden.u8('video.raw_decoded_u8_bgr');
    const r = preprocessFrames([{ width: 224, height: 224, data: raw.subarray(0, FRAME) }]);
    expect(r.shape).toEqual([1, 3, 224, 224]);
    expectSameArray(r.pixelValues, pixelValues.subarray(0, 3 * 224 * 224), 'frame 0 tensor');
  });

  it('normalisation is bit-identical to torchvision on the fixture frames (0:40:2)', () => {
    const sel = Array.from({ length: 20 }, (_, k) => frames.subarray(2 * k * FRAME, (2 * k + 1) * FRAME));
    const t = normalizeFrames(sel);
    expect(t.length).toBe(pixelValues.length);
    expectSameArray(t, pixelValues, 'normalised tensor');
    expect(Array.from(golden.i32('video.frame_indices_0_40_2'))).toEqual(Array.from({ length: 20 }, (_, k) => 2 * k));
  });

  it('swapRB feeds true RGB: channel 0 normalises the red plane with the red mean', () => {
    const px = new Uint8Array(224 * 224 * 3).fill(0);
    px[0] = 10; px[2] = 250; // B = 10, R = 250 at pixel 0
    const bgr = normalizeFrames([px]);
    const rgb = normalizeFrames([px], 224, 224, { swapRB: true });
    expect(bgr[0]).toBeCloseTo((10 / 255 - OPENAI_MEAN[0]) / OPENAI_STD[0], 5);
    expect(rgb[0]).toBeCloseTo((250 / 255 - OPENAI_MEAN[0]) / OPENAI_STD[0], 5);
  });

  it('example_video.avi -> 0:40:2 tensor is bit-identical to the reference pipeline (default FFmpeg-exact decode)', () => {
    const r = preprocessVideo(readShared('samples', 'example_video.avi'), { frames: '0:40:2' });
    expect(r.shape).toEqual([20, 3, 224, 224]);
    expect(r.indices).toEqual(Array.from({ length: 20 }, (_, k) => 2 * k));
    expectSameArray(r.pixelValues, pixelValues, 'pixel values');
    // and all 40 crop_and_scale frames of the fixture
    const all = preprocessVideo(readShared('samples', 'example_video.avi'), { frames: '0:40' });
    all.frames.forEach((f, i) => expect(compareU8(f, frames.subarray(i * FRAME, (i + 1) * FRAME)).maxDiff).toBe(0));
  });

  it('with the libjpeg decode (what a browser decodes) the tensor stays within the decoder difference', () => {
    const r = preprocessVideo(readShared('samples', 'example_video.avi'), { frames: '0:40:2', emulate: 'libjpeg' });
    let max = 0;
    let sum = 0;
    for (let i = 0; i < pixelValues.length; i++) {
      const d = Math.abs(r.pixelValues[i]! - pixelValues[i]!);
      max = Math.max(max, d);
      sum += d;
    }
    let exact = 0;
    let maxLevels = 0;
    r.frames.forEach((f, k) => {
      const c = compareU8(f, frames.subarray(2 * k * FRAME, (2 * k + 1) * FRAME));
      exact += c.exact / r.frames.length;
      maxLevels = Math.max(maxLevels, c.maxDiff);
    });
    console.log(`libjpeg decode vs reference: tensor max ${max.toFixed(4)}, mean ${(sum / pixelValues.length).toExponential(2)}; uint8 max ${maxLevels} levels, ${(100 * exact).toFixed(1)} % exact`);
    // FFmpeg and libjpeg differ by up to 6 levels before the resize (fixture metadata); allow 8 after it.
    expect(maxLevels).toBeLessThanOrEqual(8);
    expect(max).toBeLessThanOrEqual(8 / 255 / 0.2613);
    expect(sum / pixelValues.length).toBeLessThan(0.01);
  });

  it('true RGB option swaps the planes relative to the parity default', () => {
    const bytes = readShared('samples', 'example_video.avi');
    const parity = preprocessVideo(bytes, { frames: '0:1' });
    const rgb = preprocessVideo(bytes, { frames: '0:1', trueRgb: true });
    // channel 0 of the RGB tensor normalises the red plane, i.e. the byte the parity path puts in channel 2
    const hw = 224 * 224;
    const red = parity.frames[0]![2]!; // BGR frame: byte 2 is red
    expect(rgb.frames[0]![0]).toBe(red);
    expect(rgb.pixelValues[0]).toBeCloseTo((red / 255 - OPENAI_MEAN[0]) / OPENAI_STD[0], 5);
    expect(rgb.pixelValues[2 * hw]).toBeCloseTo((parity.frames[0]![0]! / 255 - OPENAI_MEAN[2]) / OPENAI_STD[2], 5);
  });
});
