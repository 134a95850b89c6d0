// The platform-neutral entry points: bytes of an AVI or DICOM file in, decoded frames or the
// model's preprocessed N x 3 x 224 x 224 float32 tensor out.

import { VideoDecodeError } from '../errors.js';
import { demuxAvi, isAvi } from './avi.js';
import type { ColorOrder } from './color.js';
import type { EncodedVideo } from './container.js';
import { demuxDicom, isDicom } from './dicom.js';
import { selectFrames } from './frames.js';
import { type DecodedFrame, decodeJpeg, readJpegInfo } from './jpeg.js';
import { DEFAULT_MEMORY_BUDGET, checkMemoryBudget } from './limits.js';
import { type CropAndScaleOptions, IMAGE_SIZE, type ImageU8, cropAndScale, normalizeFrames } from './preprocess.js';
import { decodeRawFrame } from './raw.js';
import { decodeDicomRle } from './rle.js';

/** Demuxes an AVI or DICOM file (detected from its first bytes); frames are not decoded yet. */
export function openVideo(bytes: Uint8Array, label = 'video'): EncodedVideo {
  let video: EncodedVideo;
  if (isAvi(bytes)) video = demuxAvi(bytes, label);
  else if (isDicom(bytes)) video = demuxDicom(bytes, label);
  else if (bytes.length >= 2 && bytes[0] === 0xff && bytes[1] === 0xd8) {
    // A lone JPEG image: a one-frame video.
    const info = readJpegInfo(bytes, label);
    video = { container: 'jpeg', codec: 'JPEG', width: info.width, height: info.height, fps: undefined, declaredFrames: 1, frames: [{ kind: 'jpeg', bytes }], truncated: false, warnings: [] };
  } else {
    throw new VideoDecodeError(label, bytes.length === 0 ? 'the file is empty' : 'unrecognised file format (neither AVI/RIFF, DICOM Part 10 nor JPEG)', {
      hint: 'supported inputs are AVI (Motion-JPEG), DICOM (native 8-bit, RLE Lossless or JPEG baseline) and single JPEG images',
    });
  }
  if (video.frames.length === 0) {
    throw new VideoDecodeError(label, `no usable frames (header declares ${video.declaredFrames}${video.truncated ? '; the file is truncated' : ''})`, {
      hint: video.truncated ? 'the file was cut off before its first complete frame' : 'the file holds no video data',
    });
  }
  return video;
}

export interface DecodeOptions {
  /** Output channel order; default 'bgr' (cv2's, which echo_CLIP feeds to the model as is). */
  order?: ColorOrder;
  /**
   * JPEG frame reconstruction to reproduce. Default 'ffmpeg': cv2.VideoCapture's decoder, which
   * echo_CLIP's read_avi uses (bit-exact for 4:2:0 Motion-JPEG, so the model sees the reference's
   * exact pixels). 'libjpeg': libjpeg-turbo as in cv2.imdecode, PIL and browsers (differs by up to
   * a few levels).
   */
  emulate?: 'ffmpeg' | 'libjpeg';
  /** Name for error messages. */
  label?: string;
}

/** Decodes frame `index` (0-based among the usable frames) to H x W x 3 bytes. */
export function decodeFrame(video: EncodedVideo, index: number, options: DecodeOptions = {}): DecodedFrame {
  const order = options.order ?? 'bgr';
  const label = options.label ?? 'video';
  const f = video.frames[index];
  if (!f) throw new VideoDecodeError(label, `frame ${index} does not exist (${video.frames.length} usable frames)`);
  // The label names the frame, so a corrupt frame in a long video is easy to locate.
  const where = `${label} frame ${index} of ${video.frames.length}`;
  if (f.kind === 'jpeg') return decodeJpeg(f.bytes, { order, label: where, emulate: options.emulate ?? 'ffmpeg' });
  const raw = f.kind === 'rle' ? decodeDicomRle(f.bytes, video.width * video.height, f.samples, where) : f.bytes;
  return { width: video.width, height: video.height, data: decodeRawFrame(raw, f.format, video.width, video.height, order, where), order };
}

export interface ReadVideoOptions extends DecodeOptions {
  /** "START:STOP:STEP" (Python slice) or explicit indices; default: all frames. */
  frames?: string | readonly number[];
  /** Refuse to decode when the selected frames would need more bytes than this (default 2 GiB). */
  memoryBudget?: number;
}

export interface DecodedVideo {
  /** Container facts (size, fps, declared/usable frame counts, warnings). */
  info: Omit<EncodedVideo, 'frames'> & { usableFrames: number };
  /** Indices of the decoded frames among the usable frames. */
  indices: number[];
  frames: DecodedFrame[];
}

function resolveIndices(video: EncodedVideo, frames: string | readonly number[] | undefined, label: string): number[] {
  const count = video.frames.length;
  const indices = frames === undefined ? selectFrames(':', count) : typeof frames === 'string' ? selectFrames(frames, count) : [...frames];
  for (const i of indices) {
    if (!Number.isInteger(i) || i < 0 || i >= count) throw new VideoDecodeError(label, `frame index ${i} is out of range (${count} usable frames)`);
  }
  if (indices.length === 0) {
    throw new VideoDecodeError(label, `the frame selection ${JSON.stringify(frames)} selects no frames out of ${count}`, { hint: 'choose a START:STOP:STEP range inside the video' });
  }
  return indices;
}

/** Demuxes and decodes the selected frames of an AVI/DICOM file. */
export function readVideo(bytes: Uint8Array, options: ReadVideoOptions = {}): DecodedVideo {
  const label = options.label ?? 'video';
  const video = openVideo(bytes, label);
  const indices = resolveIndices(video, options.frames, label);
  checkMemoryBudget(video.width, video.height, indices.length, options.memoryBudget ?? DEFAULT_MEMORY_BUDGET, label);
  const frames = indices.map((i) => decodeFrame(video, i, options));
  const { frames: _f, ...rest } = video;
  return { info: { ...rest, usableFrames: video.frames.length }, indices, frames };
}

export interface PreprocessOptions extends ReadVideoOptions, CropAndScaleOptions {
  /** Feed true RGB to the model instead of the reference's BGR-as-RGB (default false = parity). */
  trueRgb?: boolean;
}

export interface PreprocessedVideo {
  /** N x 3 x H x W float32, normalised with the OpenAI mean/std. */
  pixelValues: Float32Array;
  shape: [number, 3, number, number];
  indices: number[];
  /** The crop_and_scale output per frame (H x W x 3, decoder channel order). */
  frames: Uint8Array[];
  info: DecodedVideo['info'];
}

/**
 * crop_and_scale + preprocess_val for frames that are already decoded (by this module or by the
 * platform, e.g. a browser canvas): H x W x 3 bytes each, in the order the model should see.
 */
export function preprocessFrames(frames: readonly ImageU8[], options: CropAndScaleOptions = {}): { pixelValues: Float32Array; shape: [number, 3, number, number]; frames: Uint8Array[] } {
  const width = options.width ?? IMAGE_SIZE;
  const height = options.height ?? IMAGE_SIZE;
  const scaled = frames.map((f) => cropAndScale(f, options));
  return { pixelValues: normalizeFrames(scaled, width, height), shape: [scaled.length, 3, height, width], frames: scaled };
}

/**
 * echo_CLIP's read_avi + crop_and_scale + preprocess_val: returns the tensor the image tower eats.
 * Default channel handling reproduces the reference exactly (BGR planes normalised as R, G, B).
 */
export function preprocessVideo(bytes: Uint8Array, options: PreprocessOptions = {}): PreprocessedVideo {
  const decoded = readVideo(bytes, { ...options, order: options.trueRgb ? 'rgb' : 'bgr' });
  return { ...preprocessFrames(decoded.frames, options), indices: decoded.indices, info: decoded.info };
}

/**
 * Lines worth showing the user (stderr) about a decoded video: truncation with the usable frame
 * count, then the demuxer's warnings. Empty for a clean file.
 */
export function videoWarnings(info: DecodedVideo['info'], label = 'video'): string[] {
  const out: string[] = [];
  if (info.truncated || info.usableFrames < info.declaredFrames) {
    out.push(`${label}: ${info.truncated ? 'file is truncated or damaged; ' : ''}${info.usableFrames} of ${info.declaredFrames} declared frames are usable`);
  }
  for (const w of info.warnings) out.push(`${label}: ${w}`);
  return out;
}
