import { VideoDecodeError } from '../errors.js';
import { demuxAvi, isAvi } from './avi.js';
import type { ColorOrder } from './color.js';
import type { EncodedVideo } from './container.js';
import { demuxDicom, inflateDicomBody, isDeflatedDicom, isDicom } from './dicom.js';
import { decodeDicomFrame, wasmCodecFor } from './dicom-frame.js';
import { loadWasmCodec } from './codecs/wasm.js';
import { decodeStreamWebCodecs, noWebCodecsError } from './codecs/webcodecs.js';
import { selectFrames } from './frames.js';
import { type DecodedFrame, decodeJpeg, readJpegInfo } from './jpeg.js';
import { DEFAULT_MEMORY_BUDGET, checkMemoryBudget } from './limits.js';
import { demuxMp4, isMp4 } from './mp4.js';
import { type CropAndScaleOptions, IMAGE_SIZE, type ImageU8, cropAndScale, normalizeFrames } from './preprocess.js';
import { decodeRawFrame } from './raw.js';
import { demuxWebm, isWebm } from './webm.js';

/**
 * Demuxes an AVI, DICOM, MP4 or WebM file (detected from its first bytes); frames are not decoded
 * yet. A deflated DICOM needs `inflated` (its inflated data set; openVideoAsync supplies it).
 */
export function openVideo(bytes: Uint8Array, label = 'video', inflated?: Uint8Array): EncodedVideo {
  let video: EncodedVideo;
  if (isAvi(bytes)) video = demuxAvi(bytes, label);
  else if (isDicom(bytes)) video = demuxDicom(bytes, label, inflated);
  else if (isMp4(bytes)) video = demuxMp4(bytes, label);
  else if (isWebm(bytes)) video = demuxWebm(bytes, label);
  else if (bytes.length >= 2 && bytes[0] === 0xff && bytes[1] === 0xd8) {
    // A lone JPEG image: a one-frame video.
    const info = readJpegInfo(bytes, label);
    video = { container: 'jpeg', codec: 'JPEG', width: info.width, height: info.height, fps: undefined, declaredFrames: 1, frames: [{ kind: 'jpeg', bytes }], truncated: false, warnings: [] };
  } else {
    throw new VideoDecodeError(label, bytes.length === 0 ? 'the file is empty' : 'unrecognised file format (neither AVI/RIFF, DICOM Part 10, MP4, WebM nor JPEG)', {
      hint: 'supported inputs are AVI (Motion-JPEG), DICOM Part 10 (native, RLE, JPEG, JPEG-LS, JPEG 2000; H.264/HEVC in browsers), MP4/WebM (browsers) and single JPEG images',
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
   * JPEG frame reconstruction to reproduce. Default for AVI and lone JPEG files 'ffmpeg':
   * cv2.VideoCapture's decoder, which echo_CLIP's read_avi uses (bit-exact for 4:2:0 Motion-JPEG,
   * so the model sees the reference's exact pixels). Default for DICOM 'libjpeg': the standard
   * decode every DICOM toolkit shows (libjpeg-turbo as in GDCM, DCMTK, pydicom, browsers; differs
   * from FFmpeg's by up to a few levels).
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
  if (f.kind === 'jpeg') return decodeJpeg(f.bytes, { order, label: where, emulate: options.emulate ?? (video.container === 'dicom' ? 'libjpeg' : 'ffmpeg') });
  if (f.kind === 'dicom') return { width: video.width, height: video.height, data: decodeDicomFrame(f, video.width, video.height, order, where), order };
  if (f.kind === 'stream') {
    const pictures = decodedStreams.get(video);
    const pic = pictures?.[f.index];
    if (!pic) {
      if (!pictures) throw noWebCodecsError(video.stream!, video.container, label);
      throw new VideoDecodeError(where, `picture ${f.index} was not decoded (the decoder gave ${pictures.length})`, { hint: 'the stream is truncated or corrupt' });
    }
    const data = order === 'rgb' ? pic.data : swapRB(pic.data);
    return { width: pic.width, height: pic.height, data, order };
  }
  return { width: video.width, height: video.height, data: decodeRawFrame(f.bytes, f.format, video.width, video.height, order, where), order };
}

function swapRB(rgb: Uint8Array): Uint8Array {
  const out = new Uint8Array(rgb.length);
  for (let i = 0; i < rgb.length; i += 3) { out[i] = rgb[i + 2]!; out[i + 1] = rgb[i + 1]!; out[i + 2] = rgb[i]!; }
  return out;
}

/** Pictures of stream videos decoded by WebCodecs (RGB, display order), per demuxed video. */
const decodedStreams = new WeakMap<EncodedVideo, { width: number; height: number; data: Uint8Array }[]>();

/**
 * Everything asynchronous that decoding `video` needs, done once: the WASM codecs its frames use
 * (JPEG-LS, JPEG 2000, HTJ2K) are loaded, and the first `streamFrames` pictures of an
 * H.264/HEVC/VPx/AV1 stream are decoded through WebCodecs. decodeFrame is synchronous afterwards.
 */
export async function prepareVideoCodecs(video: EncodedVideo, options: { label?: string; streamFrames?: number } = {}): Promise<void> {
  const label = options.label ?? 'video';
  const needed = new Set(video.frames.map(wasmCodecFor).filter((c) => c !== undefined));
  for (const c of needed) await loadWasmCodec(c, label);
  if (video.stream) {
    const want = Math.min(video.frames.length, options.streamFrames ?? video.frames.length);
    const have = decodedStreams.get(video);
    if (!have || have.length < want) decodedStreams.set(video, await decodeStreamWebCodecs(video.stream, want, video.container, label));
  }
}

/** openVideo for every input, including deflated DICOM (inflated first); codecs not loaded yet. */
export async function openVideoAsync(bytes: Uint8Array, label = 'video'): Promise<EncodedVideo> {
  return openVideo(bytes, label, isDeflatedDicom(bytes) ? await inflateDicomBody(bytes, label) : undefined);
}

export interface ReadVideoOptions extends DecodeOptions {
  /** "START:STOP:STEP" (Python slice) or explicit indices; default: all frames. */
  frames?: string | readonly number[];
  /** Refuse to decode when the selected frames would need more bytes than this (default 2 GiB). */
  memoryBudget?: number;
}

export interface DecodedVideo {
  /** Container facts (size, fps, declared/usable frame counts, warnings). */
  info: Omit<EncodedVideo, 'frames' | 'stream'> & { usableFrames: number };
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

/**
 * Demuxes and decodes the selected frames of a file, synchronously: what needs no asynchronous
 * step (AVI, lone JPEG, DICOM native/RLE/JPEG/lossless JPEG, or codecs already loaded). Use
 * readVideoAsync for everything.
 */
export function readVideo(bytes: Uint8Array, options: ReadVideoOptions = {}): DecodedVideo {
  const label = options.label ?? 'video';
  const video = openVideo(bytes, label);
  const indices = resolveIndices(video, options.frames, label);
  checkMemoryBudget(video.width, video.height, indices.length, options.memoryBudget ?? DEFAULT_MEMORY_BUDGET, label);
  const frames = indices.map((i) => decodeFrame(video, i, options));
  const { frames: _f, ...rest } = video;
  return { info: { ...rest, usableFrames: video.frames.length }, indices, frames };
}

/**
 * readVideo for every input: deflated DICOM, JPEG-LS / JPEG 2000 / HTJ2K (WASM codecs loaded on
 * first use) and, in browsers, H.264/HEVC/VPx/AV1 through WebCodecs.
 */
export async function readVideoAsync(bytes: Uint8Array, options: ReadVideoOptions = {}): Promise<DecodedVideo> {
  const label = options.label ?? 'video';
  const video = await openVideoAsync(bytes, label);
  const indices = resolveIndices(video, options.frames, label);
  checkMemoryBudget(video.width, video.height, indices.length, options.memoryBudget ?? DEFAULT_MEMORY_BUDGET, label);
  await prepareVideoCodecs(video, { label, streamFrames: Math.max(...indices) + 1 });
  const frames = indices.map((i) => decodeFrame(video, i, options));
  const { frames: _f, stream: _s, ...rest } = video;
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

/** preprocessVideo for every input (see readVideoAsync). */
export async function preprocessVideoAsync(bytes: Uint8Array, options: PreprocessOptions = {}): Promise<PreprocessedVideo> {
  const decoded = await readVideoAsync(bytes, { ...options, order: options.trueRgb ? 'rgb' : 'bgr' });
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
