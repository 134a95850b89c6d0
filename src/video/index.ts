// Video input: AVI (Motion-JPEG / uncompressed) and DICOM demuxing, a libjpeg-exact baseline JPEG
// decoder, frame selection, and echo_CLIP preprocessing. Platform-neutral (bytes in, typed arrays
// out); Node file helpers live in ./video-node.js.

export type { ColorOrder } from './color.js';
export type { EncodedFrame, EncodedVideo, RawPixelFormat } from './container.js';
export { demuxAvi, isAvi } from './avi.js';
export { demuxDicom, isDicom } from './dicom.js';
export { DEFAULT_MAX_JPEG_PIXELS, type DecodedFrame, type JpegDecodeOptions, type JpegInfo, decodeJpeg, readJpegInfo } from './jpeg.js';
export { DEFAULT_MEMORY_BUDGET, MAX_FRAME_DIMENSION } from './limits.js';
export { type FrameSlice, ZERO_SHOT_FRAMES, parseFrameSlice, selectFrames, sliceIndices } from './frames.js';
export { resizeCubicU8 } from './resize.js';
export {
  type CropAndScaleOptions, type CropRect, type ImageU8, type NormalizeOptions,
  IMAGE_SIZE, OPENAI_MEAN, OPENAI_STD, cropAndScale, cropRect, normalizeFrames,
} from './preprocess.js';
export {
  type DecodeOptions, type DecodedVideo, type PreprocessOptions, type PreprocessedVideo, type ReadVideoOptions,
  decodeFrame, openVideo, preprocessFrames, preprocessVideo, readVideo, videoWarnings,
} from './video.js';
