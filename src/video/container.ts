// The demuxed form of a video: header facts plus one encoded payload per usable frame. Both the AVI
// and the DICOM readers produce it; frames are decoded lazily (only the selected ones).

/** Pixel layouts of uncompressed frames (AVI DIB frames, DICOM native pixel data). */
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

export type EncodedFrame =
  | { kind: 'jpeg'; bytes: Uint8Array }
  | { kind: 'raw'; bytes: Uint8Array; format: RawPixelFormat }
  /** DICOM RLE Lossless: decodes to the planar layout `format` (gray8*, rgb24-planar, ybr-full-planar). */
  | { kind: 'rle'; bytes: Uint8Array; format: RawPixelFormat; samples: number };

export interface EncodedVideo {
  container: 'avi' | 'dicom' | 'jpeg';
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
}
