// AVI (RIFF) demuxer for Motion-JPEG and uncompressed 24-bit video streams: walks hdrl for the
// stream headers and movi (including LIST rec groups and OpenDML 'AVIX' extensions) for frame
// chunks; idx1 is used when it finds more complete frames than the sequential walk (a damaged movi).
// Chunks are word-aligned (odd sizes are followed by one pad byte); JUNK and unknown chunks are skipped.

import { VideoDecodeError } from '../errors.js';
import type { EncodedFrame, EncodedVideo } from './container.js';
import { checkFrameDimensions } from './limits.js';

const MJPEG_FOURCCS = new Set(['MJPG', 'JPEG', 'AVRN', 'DMB1']);

function fourcc(b: Uint8Array, at: number): string {
  return String.fromCharCode(b[at]!, b[at + 1]!, b[at + 2]!, b[at + 3]!);
}

function printableFourcc(s: string): string {
  return /^[\x20-\x7e]{4}$/.test(s) ? `'${s}'` : `0x${Array.from(s, (c) => c.charCodeAt(0).toString(16).padStart(2, '0')).join('')}`;
}

export function isAvi(bytes: Uint8Array): boolean {
  return bytes.length >= 12 && fourcc(bytes, 0) === 'RIFF' && fourcc(bytes, 8) === 'AVI ';
}

interface StreamHeader {
  type: string;
  handler: string;
  scale: number;
  rate: number;
  length: number;
  compression?: string;
  width?: number;
  height?: number;
  bitCount?: number;
}

/** Parses an AVI file held in memory into encoded frames of its first video stream. */
export function demuxAvi(bytes: Uint8Array, label = 'AVI'): EncodedVideo {
  if (!isAvi(bytes)) {
    throw new VideoDecodeError(label, `not an AVI file (expected 'RIFF....AVI ' at the start, found ${printableFourcc(bytes.length >= 4 ? fourcc(bytes, 0) : '')})`, {
      hint: 'supported inputs are AVI (Motion-JPEG) and DICOM',
    });
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const u32 = (at: number): number => dv.getUint32(at, true);
  const warnings: string[] = [];
  const streams: StreamHeader[] = [];
  let microsPerFrame = 0;
  let totalFrames = 0;
  let avihWidth = 0;
  let avihHeight = 0;
  const movis: { start: number; end: number }[] = [];
  let idx1: { start: number; end: number } | undefined;
  let truncated = false;

  /** Iterates chunks in [start, end); calls visit(id, dataStart, dataSize, listType?). */
  const walk = (start: number, end: number, visit: (id: string, at: number, size: number, listType: string | undefined) => void): void => {
    let p = start;
    while (p + 8 <= end) {
      const id = fourcc(bytes, p);
      const size = u32(p + 4);
      const dataStart = p + 8;
      if (dataStart + size > end) {
        // A chunk that runs past its parent (or the file): the file is truncated here.
        truncated = true;
        if (id === 'LIST' || id === 'RIFF') {
          if (size >= 4 && dataStart + 4 <= end) visit(id, dataStart, end - dataStart, fourcc(bytes, dataStart));
        } else warnings.push(`chunk ${printableFourcc(id)} at byte ${p} declares ${size} bytes but only ${end - dataStart} remain`);
        return;
      }
      visit(id, dataStart, size, (id === 'LIST' || id === 'RIFF') && size >= 4 ? fourcc(bytes, dataStart) : undefined);
      p = dataStart + size + (size & 1);
    }
  };

  const parseHdrl = (start: number, end: number): void => {
    walk(start, end, (id, at, size, listType) => {
      if (id === 'avih' && size >= 40) {
        microsPerFrame = u32(at);
        totalFrames = u32(at + 16);
        avihWidth = u32(at + 32);
        avihHeight = u32(at + 36);
      } else if (id === 'LIST' && listType === 'strl') {
        const s: StreamHeader = { type: '', handler: '', scale: 0, rate: 0, length: 0 };
        walk(at + 4, at + size, (sid, sat, ssize) => {
          if (sid === 'strh' && ssize >= 36) {
            s.type = fourcc(bytes, sat);
            s.handler = fourcc(bytes, sat + 4);
            s.scale = u32(sat + 20);
            s.rate = u32(sat + 24);
            s.length = u32(sat + 32);
          } else if (sid === 'strf' && s.type === 'vids' && ssize >= 20) {
            s.width = dv.getInt32(sat + 4, true);
            s.height = dv.getInt32(sat + 8, true);
            s.bitCount = dv.getUint16(sat + 14, true);
            s.compression = u32(sat + 16) === 0 ? 'DIB ' : fourcc(bytes, sat + 16);
          }
        });
        streams.push(s);
      }
    });
  };

  // Top level: the first RIFF 'AVI ' and any following RIFF 'AVIX' (OpenDML) each hold a movi list.
  walk(0, bytes.length, (id, at, size, listType) => {
    if (id !== 'RIFF' || (listType !== 'AVI ' && listType !== 'AVIX')) return;
    walk(at + 4, at + size, (cid, cat, csize, clist) => {
      if (cid === 'LIST' && clist === 'hdrl') parseHdrl(cat + 4, cat + csize);
      else if (cid === 'LIST' && clist === 'movi') movis.push({ start: cat + 4, end: cat + csize });
      else if (cid === 'idx1') idx1 = { start: cat, end: cat + csize };
    });
  });

  const streamNo = streams.findIndex((s) => s.type === 'vids');
  if (streamNo < 0) throw new VideoDecodeError(label, 'no video stream in the AVI header (no strh of type vids)', { hint: 'the file is corrupt or audio-only' });
  const vs = streams[streamNo]!;
  const width = vs.width !== undefined && vs.width !== 0 ? Math.abs(vs.width) : avihWidth;
  const height = vs.height !== undefined && vs.height !== 0 ? Math.abs(vs.height) : avihHeight;
  checkFrameDimensions(width, height, label);
  const compression = (vs.compression ?? vs.handler).toUpperCase();
  const isMjpeg = MJPEG_FOURCCS.has(compression) || (compression === 'DIB ' && MJPEG_FOURCCS.has(vs.handler.toUpperCase()));
  const isDib = compression === 'DIB ' && !isMjpeg;
  if (!isMjpeg && !isDib) {
    throw new VideoDecodeError(label, `unsupported video codec ${printableFourcc(vs.compression ?? vs.handler)} (Motion-JPEG or uncompressed 24-bit expected)`, {
      hint: 're-encode with `ffmpeg -i IN -c:v mjpeg -q:v 2 OUT.avi`, or convert to DICOM',
    });
  }
  if (isDib && vs.bitCount !== 24) {
    throw new VideoDecodeError(label, `uncompressed ${vs.bitCount}-bit frames are not supported (24-bit BGR expected)`, { hint: 're-encode as Motion-JPEG' });
  }
  const dibStride = ((width * 3 + 3) >> 2) << 2;
  const dibSize = dibStride * height;
  // top-down DIBs have a negative biHeight
  const dibTopDown = (vs.height ?? 1) < 0;

  const tag = String(streamNo).padStart(2, '0');
  const isFrameChunk = (id: string): boolean => id === `${tag}dc` || id === `${tag}db`;
  let emptyChunks = 0;
  const toFrame = (at: number, size: number): EncodedFrame | undefined => {
    if (size === 0) { emptyChunks++; return undefined; } // a dropped frame: FFmpeg emits nothing either
    const payload = bytes.subarray(at, at + size);
    if (isMjpeg) return { kind: 'jpeg', bytes: payload };
    if (size < dibSize) return undefined;
    return { kind: 'raw', bytes: payload.subarray(0, dibSize), format: dibTopDown ? 'bgr24' : 'bgr24-bottom-up' };
  };

  // Sequential walk of every movi list (recursing into LIST rec).
  const walked: EncodedFrame[] = [];
  const walkMovi = (start: number, end: number, depth: number): void => {
    walk(start, end, (id, at, size, listType) => {
      if (id === 'LIST' && listType === 'rec ') {
        // rec groups are one level deep in practice; a deep nest is corruption (and a stack risk)
        if (depth >= 8) warnings.push(`LIST rec nested deeper than 8 levels at byte ${at - 8} skipped`);
        else walkMovi(at + 4, at + size, depth + 1);
      } else if (isFrameChunk(id)) {
        const f = toFrame(at, size);
        if (f) walked.push(f);
      }
    });
  };
  for (const m of movis) walkMovi(m.start, m.end, 0);
  if (movis.length === 0) warnings.push('no movi list found');

  // idx1: 16-byte entries (ckid, flags, offset, size); offsets are relative to the 'movi' FourCC
  // (usual) or absolute (some writers) — decide by checking where the first entry lands.
  const indexed: EncodedFrame[] = [];
  const index = idx1 as { start: number; end: number } | undefined;
  if (index && movis.length > 0) {
    const moviFourcc = movis[0]!.start - 4;
    const entries: { at: number; size: number }[] = [];
    for (let p = index.start; p + 16 <= index.end; p += 16) {
      if (isFrameChunk(fourcc(bytes, p))) entries.push({ at: u32(p + 8), size: u32(p + 12) });
    }
    if (entries.length > 0) {
      const first = entries[0]!;
      const rel = moviFourcc + first.at;
      const base = rel + 4 <= bytes.length && isFrameChunk(fourcc(bytes, rel)) ? moviFourcc : 0;
      for (const e of entries) {
        const chunk = base + e.at;
        if (chunk + 8 + e.size > bytes.length || !isFrameChunk(fourcc(bytes, chunk)) || u32(chunk + 4) !== e.size) break;
        const f = toFrame(chunk + 8, e.size);
        if (f) indexed.push(f);
      }
    }
  } else if (!index && movis.length > 0 && !truncated) {
    warnings.push('no idx1 index (frames were read sequentially from movi)');
  }
  let frames = walked;
  if (indexed.length > walked.length) {
    warnings.push(`movi list is damaged: idx1 locates ${indexed.length} frames, a sequential walk only ${walked.length}`);
    frames = indexed;
    // The walk flags a chunk running past its parent as truncation; the index shows what is really there.
    truncated = indexed.length < Math.max(totalFrames, vs.length);
  }
  if (emptyChunks > 0) warnings.push(`${emptyChunks} empty frame chunk(s) skipped (dropped frames)`);

  const declaredFrames = Math.max(totalFrames, vs.length);
  if (frames.length < declaredFrames && !truncated) {
    warnings.push(`header declares ${declaredFrames} frames, ${frames.length} found`);
  }
  const fps = vs.scale > 0 && vs.rate > 0 ? vs.rate / vs.scale : microsPerFrame > 0 ? 1e6 / microsPerFrame : undefined;
  return {
    container: 'avi',
    codec: vs.compression ?? vs.handler,
    width,
    height,
    fps,
    declaredFrames,
    frames,
    truncated,
    warnings,
  };
}
