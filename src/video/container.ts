// The demuxed form of a video: header facts plus one encoded payload per usable frame. Both the AVI
// and the DICOM readers produce it; frames are decoded lazily (only the selected ones).

/** Pixel layouts of uncompressed AVI frames (DICOM native data is kind 'dicom', decoded by dicom-pixels.ts). */
export type RawPixelFormat =
  | 'bgr24-bottom-up' // AVI/BMP 24-bit DIB: rows bottom to top, each padded to 4 bytes
  | 'bgr24' // top-down 24-bit DIB (negative biHeight), rows padded to 4 bytes
  | 'gray8' // MONOCHROME2
  | 'gray8-inverted' // MONOCHROME1 (0 = white)
  | 'rgb24' // RGB, planar configuration 0 (interleaved)
  | 'rgb24-planar' // RGB, planar configuration 1 (RRR..GGG..BBB)
  | 'ybr-full' // YBR_FULL interleaved
  | 'ybr-full-planar' // YBR_FULL planar
  | 'ybr-full-422'; // YBR_FULL_422: Y0 Y1 Cb Cr per pixel pair

/** DICOM photometric interpretations the reader maps to 8-bit colour. */
export type Photometric =
  | 'MONOCHROME1' | 'MONOCHROME2' | 'PALETTE COLOR' | 'RGB'
  | 'YBR_FULL' | 'YBR_FULL_422' | 'YBR_RCT' | 'YBR_ICT';

/** A DICOM palette (PALETTE COLOR), already reduced to 8 bits per entry. */
export interface Palette {
  /** Pixel value mapped to entry 0; smaller values take entry 0, larger than the last the last. */
  first: number;
  r: Uint8Array;
  g: Uint8Array;
  b: Uint8Array;
}

/** The Image Pixel module facts a DICOM frame decodes with (PS3.3 C.7.6.3). */
export interface PixelModule {
  samples: 1 | 3;
  bitsAllocated: 8 | 16;
  bitsStored: number;
  signed: boolean;
  photometric: Photometric;
  /** 0 = interleaved (R G B R G B), 1 = planar (R..R G..G B..B); native pixel data only. */
  planar: 0 | 1;
  palette?: Palette;
  /** First VOI window (Window Center/Width) for monochrome data deeper than 8 bits. */
  window?: { center: number; width: number };
  /** Modality LUT (Rescale Slope/Intercept), applied before the window. */
  rescale?: { slope: number; intercept: number };
}

/** DICOM pixel data codecs (the transfer syntax family of a frame). */
export type DicomCodec = 'native' | 'rle' | 'jpeg-lossless' | 'jpeg-ls' | 'j2k' | 'htj2k';

/** Encoded video elementary streams that only WebCodecs (browsers) decodes here. */
export type StreamCodec = 'h264' | 'hevc' | 'vp8' | 'vp9' | 'av1';

/** One coded picture (an access unit) of an EncodedStream, in decode order. */
export interface StreamChunk {
  bytes: Uint8Array;
  key: boolean;
  /** Presentation time in microseconds (decode order when the container has none). */
  timestamp: number;
}

/** A video elementary stream (H.264/HEVC in DICOM or MP4, VPx/AV1 in WebM), not yet decoded. */
export interface EncodedStream {
  codec: StreamCodec;
  /** WebCodecs codec string (e.g. 'avc1.64001f'), derived from the stream's parameter sets. */
  codecString: string;
  /** avcC/hvcC/CodecPrivate record for length-prefixed samples; absent for Annex B byte streams. */
  description?: Uint8Array;
  codedWidth: number;
  codedHeight: number;
  chunks: StreamChunk[];
}

export type EncodedFrame =
  | { kind: 'jpeg'; bytes: Uint8Array }
  | { kind: 'raw'; bytes: Uint8Array; format: RawPixelFormat }
  /**
   * A DICOM frame: native samples (`littleEndian` tells the byte order of 16-bit words) or one
   * compressed codestream, decoded to samples and then to 8-bit colour by `pixel`.
   */
  | { kind: 'dicom'; codec: DicomCodec; bytes: Uint8Array; pixel: PixelModule; littleEndian: boolean }
  /** Frame `index` (display order) of EncodedVideo.stream. */
  | { kind: 'stream'; index: number };

export interface EncodedVideo {
  container: 'avi' | 'dicom' | 'jpeg' | 'mp4' | 'webm';
  /** Codec as the container names it: an AVI FourCC ('MJPG') or a DICOM transfer syntax UID. */
  codec: string;
  width: number;
  height: number;
  /** Frames per second when the header states it. */
  fps: number | undefined;
  /** Frame count the header declares (may exceed `frames.length` for truncated files). */
  declaredFrames: number;
  /** Every complete frame payload found, in presentation order. */
  frames: EncodedFrame[];
  /** True when the file ended (or broke) before all declared frames were found. */
  truncated: boolean;
  /** Non-fatal problems found while demuxing (skipped chunks, missing index, ...). */
  warnings: string[];
  /** The elementary stream of an H.264/HEVC/VPx/AV1 video (frames are then kind 'stream'). */
  stream?: EncodedStream;
}
