// Video input: AVI (Motion-JPEG / uncompressed), DICOM (every common transfer syntax), MP4 and
// WebM demuxing; a libjpeg-exact baseline JPEG decoder, lossless JPEG, and lazily loaded WASM
// codecs (JPEG-LS, JPEG 2000, HTJ2K); WebCodecs for H.264/HEVC/VPx/AV1 in browsers; frame
// selection and echo_CLIP preprocessing. Platform-neutral (bytes in, typed arrays out); Node file
// helpers live in ./video-node.js.

export type { ColorOrder } from './color.js';
export type {
  DicomCodec, EncodedFrame, EncodedStream, EncodedVideo, Palette, Photometric, PixelModule, RawPixelFormat, StreamChunk, StreamCodec,
} from './container.js';
export { demuxAvi, isAvi } from './avi.js';
export {
  type DicomHeader, MAX_INFLATED_BYTES, TRANSFER_SYNTAX, demuxDicom, inflateDicomBody, isDeflatedDicom, isDicom, readDicomHeader, transferSyntaxName,
} from './dicom.js';
export { type LosslessImage, decodeJpegLossless } from './codecs/jpeg-lossless.js';
export { type WasmCodecName, registerDicomCodec } from './codecs/wasm.js';
export { hasWebCodecs } from './codecs/webcodecs.js';
export { demuxMp4, isMp4 } from './mp4.js';
export { demuxWebm, isWebm } from './webm.js';
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
  decodeFrame, openVideo, openVideoAsync, prepareVideoCodecs, preprocessFrames, preprocessVideo, preprocessVideoAsync, readVideo,
  readVideoAsync, videoWarnings,
} from './video.js';
