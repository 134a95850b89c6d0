// echo_CLIP preprocessing: utils.crop_and_scale (aspect crop, 10 % zoom crop, cv2 INTER_CUBIC
// resize) followed by open_clip's preprocess_val at 224 (ToTensor /255, Normalize with the OpenAI
// mean/std). Resize/CenterCrop in preprocess_val are identities for 224x224 input.

import { ShapeError } from '../errors.js';
import { resizeCubicU8, roundHalfEven } from './resize.js';

/** An 8-bit interleaved 3-channel image (H x W x 3). */
export interface ImageU8 {
  width: number;
  height: number;
  data: Uint8Array;
}

export const OPENAI_MEAN: readonly [number, number, number] = [0.48145466, 0.4578275, 0.40821073];
export const OPENAI_STD: readonly [number, number, number] = [0.26862954, 0.26130258, 0.27577711];
export const IMAGE_SIZE = 224;

export interface CropAndScaleOptions {
  /** Output width and height; default 224x224. */
  width?: number;
  height?: number;
  /** Fraction cut from each side after the aspect crop; default 0.1 (echo_CLIP). */
  zoom?: number;
}

/** The crop rectangle crop_and_scale takes from a width x height frame. */
export interface CropRect {
  x: number;
  y: number;
  width: number;
  height: number;
}

/**
 * The rectangle utils.crop_and_scale keeps, with Python's arithmetic (round half to even, int()
 * truncation). One deliberate difference: the reference slices `[pad:-pad]`, which is EMPTY when
 * pad rounds to 0 (a near-square frame) and then crashes inside cv2.resize; here pad 0 keeps the
 * full extent.
 */
export function cropRect(width: number, height: number, options: CropAndScaleOptions = {}): CropRect {
  const outW = options.width ?? IMAGE_SIZE;
  const outH = options.height ?? IMAGE_SIZE;
  const zoom = options.zoom ?? 0.1;
  if (!(zoom >= 0 && zoom < 0.5)) throw new ShapeError('crop_and_scale', `zoom ${zoom} (0 <= zoom < 0.5 expected)`);
  let x = 0;
  let y = 0;
  let w = width;
  let h = height;
  const rIn = width / height;
  const rOut = outW / outH;
  if (rIn > rOut) {
    const pad = Math.trunc(roundHalfEven((width - rOut * height) / 2));
    x += pad; w -= 2 * pad;
  } else if (rIn < rOut) {
    const pad = Math.trunc(roundHalfEven((height - width / rOut) / 2));
    y += pad; h -= 2 * pad;
  }
  if (zoom !== 0) {
    const padX = Math.trunc(w * zoom);
    const padY = Math.trunc(h * zoom);
    x += padX; w -= 2 * padX;
    y += padY; h -= 2 * padY;
  }
  if (w < 1 || h < 1) throw new ShapeError('crop_and_scale', `a ${width}x${height} frame leaves nothing after cropping`, { hint: 'the frame is too small' });
  return { x, y, width: w, height: h };
}

/** utils.crop_and_scale(img, res, INTER_CUBIC, zoom) on an H x W x 3 frame; returns outH x outW x 3. */
export function cropAndScale(img: ImageU8, options: CropAndScaleOptions = {}): Uint8Array {
  if (img.data.length !== img.width * img.height * 3) {
    throw new ShapeError('crop_and_scale', `image data has ${img.data.length} bytes, expected ${img.width}x${img.height}x3 = ${img.width * img.height * 3}`);
  }
  const r = cropRect(img.width, img.height, options);
  const stride = img.width * 3;
  const view = img.data.subarray(r.y * stride + r.x * 3);
  return resizeCubicU8(view, r.width, r.height, 3, options.width ?? IMAGE_SIZE, options.height ?? IMAGE_SIZE, stride);
}

export interface NormalizeOptions {
  /** Swap channels 0 and 2 before normalising (turns cv2's BGR into true RGB). Default false:
   *  the reference feeds BGR planes as if they were RGB, and the published weights expect that. */
  swapRB?: boolean;
  mean?: readonly [number, number, number];
  std?: readonly [number, number, number];
}

/**
 * ToTensor + Normalize for N frames of H x W x 3 bytes into one float32 N x 3 x H x W tensor,
 * in the same float32 operation order as torchvision ((x / 255) - mean) / std, so feeding the
 * reference's own uint8 frames gives a bit-identical tensor.
 */
export function normalizeFrames(frames: readonly Uint8Array[], width = IMAGE_SIZE, height = IMAGE_SIZE, options: NormalizeOptions = {}): Float32Array {
  const hw = width * height;
  const mean = (options.mean ?? OPENAI_MEAN).map(Math.fround);
  const std = (options.std ?? OPENAI_STD).map(Math.fround);
  // One lookup table per channel: 256 possible inputs, each computed exactly as torch does.
  const lut = [0, 1, 2].map((c) => {
    const t = new Float32Array(256);
    for (let v = 0; v < 256; v++) t[v] = Math.fround(Math.fround(Math.fround(v / 255) - mean[c]!) / std[c]!);
    return t;
  });
  const out = new Float32Array(frames.length * 3 * hw);
  frames.forEach((f, n) => {
    if (f.length !== hw * 3) throw new ShapeError('normalizeFrames', `frame ${n} has ${f.length} bytes, expected ${width}x${height}x3 = ${hw * 3}`);
    const base = n * 3 * hw;
    for (let c = 0; c < 3; c++) {
      const src = options.swapRB ? 2 - c : c;
      const t = lut[c]!;
      const o = base + c * hw;
      for (let i = 0; i < hw; i++) out[o + i] = t[f[i * 3 + src]!]!;
    }
  });
  return out;
}
