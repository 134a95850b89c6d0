// One DICOM frame -> 8-bit interleaved colour: the codec (native, RLE, lossless JPEG, or a WASM
// codec for JPEG-LS / JPEG 2000 / HTJ2K) gives samples, dicom-pixels.ts maps them to colour.

import { VideoDecodeError } from '../errors.js';
import type { ColorOrder } from './color.js';
import type { EncodedFrame } from './container.js';
import { type SampleArray, type SampleLayout, samplesToImage, wordsFromBytes } from './dicom-pixels.js';
import { decodeJpegLossless } from './codecs/jpeg-lossless.js';
import { type WasmCodecName, decodeJ2k, decodeJpegLs, j2kCodestream } from './codecs/wasm.js';
import { decodeDicomRle, rlePlanesToSamples } from './rle.js';

export type DicomFrame = Extract<EncodedFrame, { kind: 'dicom' }>;

/** The WASM codec a frame needs, if any. */
export function wasmCodecFor(f: EncodedFrame): WasmCodecName | undefined {
  if (f.kind !== 'dicom') return undefined;
  return f.codec === 'jpeg-ls' ? 'charls' : f.codec === 'j2k' ? 'openjpeg' : f.codec === 'htj2k' ? 'openjph' : undefined;
}

export function decodeDicomFrame(f: DicomFrame, width: number, height: number, order: ColorOrder, label: string): Uint8Array {
  const pm = f.pixel;
  const n = width * height;
  let samples: SampleArray;
  let layout: SampleLayout = pm.samples === 3 && pm.planar === 1 ? 'planar' : 'interleaved';
  let transformed = false;
  const check = (w: number, h: number, c: number, what: string): void => {
    if (w !== width || h !== height || c !== pm.samples) {
      throw new VideoDecodeError(label, `${what} frame is ${w}x${h} with ${c} component(s); the DICOM header says ${width}x${height} with ${pm.samples}`, { hint: 'the file is corrupt' });
    }
  };
  switch (f.codec) {
    case 'native': {
      if (pm.samples === 3 && pm.photometric === 'YBR_FULL_422') layout = 'ybr422';
      const count = layout === 'ybr422' ? n * 2 : n * pm.samples;
      samples = pm.bitsAllocated === 16 ? wordsFromBytes(f.bytes, Math.min(count, f.bytes.length >> 1), f.littleEndian) : f.bytes;
      break;
    }
    case 'rle': {
      const bytesPer = pm.bitsAllocated / 8;
      samples = rlePlanesToSamples(decodeDicomRle(f.bytes, n, pm.samples * bytesPer, label), n, pm.samples, pm.bitsAllocated);
      layout = pm.samples === 3 ? 'planar' : 'interleaved'; // RLE segments are planes whatever Planar Configuration says
      break;
    }
    case 'jpeg-lossless': {
      const img = decodeJpegLossless(f.bytes, label);
      check(img.width, img.height, img.components, 'lossless JPEG');
      samples = img.data;
      layout = 'interleaved';
      break;
    }
    case 'jpeg-ls': {
      codestreamSize(f.bytes, 'jpeg-ls', label, check);
      const d = decodeJpegLs(f.bytes, label);
      check(d.width, d.height, d.components, 'JPEG-LS');
      samples = d.data;
      layout = d.interleaved ? 'interleaved' : 'planar';
      break;
    }
    case 'j2k':
    case 'htj2k': {
      codestreamSize(j2kCodestream(f.bytes, label), 'j2k', label, check);
      const d = decodeJ2k(f.bytes, f.codec === 'htj2k', label);
      check(d.width, d.height, d.components, f.codec === 'htj2k' ? 'HTJ2K' : 'JPEG 2000');
      samples = d.data;
      layout = d.interleaved ? 'interleaved' : 'planar';
      transformed = d.mct;
      break;
    }
  }
  return samplesToImage(samples, layout, pm, width, height, order, label, transformed);
}

/**
 * The image size a JPEG-LS (SOF55) or JPEG 2000 (SIZ) header declares, checked against the DICOM
 * header before the WASM decoder runs: a corrupt size must not make it allocate gigabytes.
 */
function codestreamSize(b: Uint8Array, kind: 'jpeg-ls' | 'j2k', label: string, check: (w: number, h: number, c: number, what: string) => void): void {
  const u16 = (p: number): number => (b[p]! << 8) | b[p + 1]!;
  const u32 = (p: number): number => ((b[p]! << 24) | (b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!) >>> 0;
  const missing = (): never => {
    throw new VideoDecodeError(label, `${kind === 'j2k' ? 'JPEG 2000 SIZ' : 'JPEG-LS SOF55'} header not found or truncated`, { hint: 'the pixel data is corrupt' });
  };
  if (kind === 'j2k') {
    // SOC, then SIZ: Lsiz Rsiz Xsiz Ysiz XOsiz YOsiz XTsiz YTsiz XTOsiz YTOsiz Csiz
    if (b.length < 42 || u16(2) !== 0xff51) missing();
    check(u32(8) - u32(16), u32(12) - u32(20), u16(40), 'JPEG 2000');
    return;
  }
  for (let p = 2; p + 4 <= b.length;) {
    if (b[p] !== 0xff) missing();
    const m = b[p + 1]!;
    if (m === 0xf7) {
      if (p + 10 > b.length) missing();
      return check(u16(p + 7), u16(p + 5), b[p + 9]!, 'JPEG-LS');
    }
    if (m === 0xda || m === 0xd9) break;
    p += 2 + u16(p + 2);
  }
  missing();
}
