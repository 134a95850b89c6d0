// MP4 / QuickTime (ISO BMFF) demuxer for the first video track: the sample table (stsz, stsc,
// stco/co64, stts, ctts, stss) gives each coded sample's bytes, decode time and presentation time;
// the sample entry (avc1/avc3 + avcC, hvc1/hev1 + hvcC, vp09 + vpcC, av01 + av1C) gives the
// WebCodecs configuration. Frames are numbered in presentation (display) order. Fragmented MP4
// (moof) is refused by name. Decoding is WebCodecs' (browsers).

import { VideoDecodeError } from '../errors.js';
import type { EncodedFrame, EncodedStream, EncodedVideo, StreamChunk, StreamCodec } from './container.js';
import { avcCodecStringFromAvcC, hevcCodecStringFromHvcC } from './codecs/h26x.js';
import { checkFrameDimensions } from './limits.js';

const ascii = (b: Uint8Array, at: number): string => String.fromCharCode(b[at]!, b[at + 1]!, b[at + 2]!, b[at + 3]!);

export function isMp4(bytes: Uint8Array): boolean {
  if (bytes.length < 12) return false;
  const t = ascii(bytes, 4);
  return t === 'ftyp' || ((t === 'moov' || t === 'mdat' || t === 'wide' || t === 'free') && ascii(bytes, 0) !== 'RIFF');
}

interface Box { type: string; start: number; at: number; end: number }

/** Largest sample count accepted (a corrupt table must not allocate without bound). */
const MAX_SAMPLES = 1 << 22;

export function demuxMp4(bytes: Uint8Array, label = 'MP4'): EncodedVideo {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const fail = (why: string, hint = 'the file is corrupt or truncated'): never => { throw new VideoDecodeError(label, why, { hint }); };
  const warnings: string[] = [];
  let truncated = false;
  const boxes = (start: number, end: number): Box[] => {
    const out: Box[] = [];
    let p = start;
    while (p + 8 <= end) {
      let size = dv.getUint32(p);
      const type = ascii(bytes, p + 4);
      let head = 8;
      if (size === 1) {
        if (p + 16 > end) break;
        size = Number(dv.getBigUint64(p + 8));
        head = 16;
      } else if (size === 0) size = end - p;
      if (size < head) fail(`box '${type}' at byte ${p} has size ${size}`);
      if (p + size > end) { truncated = true; out.push({ type, start: p, at: p + head, end }); break; }
      out.push({ type, start: p, at: p + head, end: p + size });
      p += size;
    }
    return out;
  };
  const child = (b: Box, type: string, skip = 0): Box | undefined => boxes(b.at + skip, b.end).find((x) => x.type === type);
  const path = (b: Box | undefined, ...types: string[]): Box | undefined => {
    for (const t of types) { if (!b) return undefined; b = child(b, t); }
    return b;
  };
  const need = (b: Box, n: number): void => { if (b.at + n > b.end) fail(`box '${b.type}' is truncated`); };

  const top = boxes(0, bytes.length);
  const moov = top.find((b) => b.type === 'moov');
  if (!moov) fail(top.some((b) => b.type === 'moof') ? 'fragmented MP4 without a moov sample table' : 'no moov box (movie header)', 'remux with `ffmpeg -i IN -c copy -movflags +faststart OUT.mp4`');
  if (top.some((b) => b.type === 'moof')) fail('fragmented MP4 (moof) is not supported', 'remux with `ffmpeg -i IN -c copy OUT.mp4`');
  const traks = boxes(moov!.at, moov!.end).filter((b) => b.type === 'trak');
  const trak = traks.find((t) => {
    const hdlr = path(t, 'mdia', 'hdlr');
    return hdlr !== undefined && hdlr.at + 12 <= hdlr.end && ascii(bytes, hdlr.at + 8) === 'vide';
  });
  if (!trak) fail('no video track');
  const mdia = child(trak!, 'mdia')!;
  const mdhd = child(mdia, 'mdhd');
  if (!mdhd) fail('video track without mdhd');
  need(mdhd!, 24);
  const timescale = bytes[mdhd!.at] === 1 ? dv.getUint32(mdhd!.at + 20) : dv.getUint32(mdhd!.at + 12);
  if (!timescale) fail('video track timescale is 0');
  const stbl = path(mdia, 'minf', 'stbl');
  if (!stbl) fail('video track without a sample table (stbl)');
  const stsd = child(stbl!, 'stsd');
  if (!stsd) fail('no sample description (stsd)');
  // stsd: version/flags(4) count(4), then sample entries; a visual entry has 78 bytes before its boxes.
  const entry = boxes(stsd!.at + 8, stsd!.end)[0];
  if (!entry) fail('empty sample description');
  need(entry!, 28);
  const width = dv.getUint16(entry!.at + 24);
  const height = dv.getUint16(entry!.at + 26);
  checkFrameDimensions(width, height, label);
  const inner = (t: string): Uint8Array | undefined => {
    const b = boxes(entry!.at + 78, entry!.end).find((x) => x.type === t);
    return b ? bytes.subarray(b.at, b.end) : undefined;
  };
  let codec: StreamCodec;
  let codecString: string;
  let description: Uint8Array | undefined;
  try {
    switch (entry!.type) {
      case 'avc1': case 'avc3': {
        description = inner('avcC');
        if (!description) fail(`${entry!.type} sample entry without avcC`);
        codec = 'h264'; codecString = avcCodecStringFromAvcC(description!); break;
      }
      case 'hvc1': case 'hev1': {
        description = inner('hvcC');
        if (!description) fail(`${entry!.type} sample entry without hvcC`);
        codec = 'hevc'; codecString = hevcCodecStringFromHvcC(description!, entry!.type); break;
      }
      case 'vp09': {
        const c = inner('vpcC');
        codec = 'vp9';
        // vpcC (version 1): version/flags(4) profile level bitDepth<<4|chroma...
        codecString = c && c.length >= 7 ? `vp09.${String(c[4]).padStart(2, '0')}.${String(c[5]).padStart(2, '0')}.${String(c[6]! >> 4).padStart(2, '0')}` : 'vp09.00.10.08';
        break;
      }
      case 'vp08': codec = 'vp8'; codecString = 'vp8'; break;
      case 'av01': {
        const c = inner('av1C');
        codec = 'av1';
        description = c;
        codecString = c && c.length >= 3 ? `av01.${c[1]! >> 5}.${String(c[1]! & 31).padStart(2, '0')}${c[2]! & 0x80 ? 'H' : 'M'}.${c[2]! & 0x40 ? (c[2]! & 0x20 ? '12' : '10') : '08'}` : 'av01.0.04M.08';
        break;
      }
      default:
        return fail(`video codec '${entry!.type}' is not supported (H.264, HEVC, VP8, VP9 or AV1 expected)`, 're-encode with `ffmpeg -i IN -c:v mjpeg -q:v 2 OUT.avi`');
    }
  } catch (e) {
    if (e instanceof VideoDecodeError) throw e;
    return fail(`corrupt codec configuration (${(e as Error).message})`);
  }

  // Sample sizes.
  const stsz = child(stbl!, 'stsz');
  if (!stsz) fail('no sample size table (stsz)');
  need(stsz!, 12);
  const fixed = dv.getUint32(stsz!.at + 4);
  const count = dv.getUint32(stsz!.at + 8);
  if (count > MAX_SAMPLES) fail(`${count} samples in the video track (at most ${MAX_SAMPLES})`);
  if (fixed === 0) need(stsz!, 12 + 4 * count);
  const sizes = Array.from({ length: count }, (_, i) => (fixed !== 0 ? fixed : dv.getUint32(stsz!.at + 12 + 4 * i)));
  // Chunk offsets and the sample-to-chunk map.
  const stco = child(stbl!, 'stco') ?? child(stbl!, 'co64');
  const stsc = child(stbl!, 'stsc');
  if (!stco || !stsc) fail('no chunk offset / sample-to-chunk table');
  need(stco!, 8);
  const nChunks = dv.getUint32(stco!.at + 4);
  const wide = stco!.type === 'co64';
  need(stco!, 8 + nChunks * (wide ? 8 : 4));
  const chunkOffset = (i: number): number => (wide ? Number(dv.getBigUint64(stco!.at + 8 + 8 * i)) : dv.getUint32(stco!.at + 8 + 4 * i));
  need(stsc!, 8);
  const nStsc = dv.getUint32(stsc!.at + 4);
  need(stsc!, 8 + 12 * nStsc);
  const offsets: number[] = [];
  for (let e = 0, s = 0; e < nStsc && s < count; e++) {
    const firstChunk = dv.getUint32(stsc!.at + 8 + 12 * e) - 1;
    const perChunk = dv.getUint32(stsc!.at + 12 + 12 * e);
    const nextFirst = e + 1 < nStsc ? dv.getUint32(stsc!.at + 8 + 12 * (e + 1)) - 1 : nChunks;
    for (let c = firstChunk; c < Math.min(nextFirst, nChunks) && s < count; c++) {
      let off = chunkOffset(c);
      for (let k = 0; k < perChunk && s < count; k++, s++) { offsets.push(off); off += sizes[s]!; }
    }
  }
  // Decode times (stts) and composition offsets (ctts).
  const dts: number[] = [];
  const stts = child(stbl!, 'stts');
  if (stts) {
    need(stts, 8);
    const n = dv.getUint32(stts.at + 4);
    need(stts, 8 + 8 * n);
    let t = 0;
    for (let e = 0; e < n && dts.length < count; e++) {
      const c = dv.getUint32(stts.at + 8 + 8 * e), d = dv.getUint32(stts.at + 12 + 8 * e);
      for (let k = 0; k < c && dts.length < count; k++) { dts.push(t); t += d; }
    }
  }
  while (dts.length < count) dts.push(dts.length);
  const cts = dts.slice();
  const ctts = child(stbl!, 'ctts');
  if (ctts) {
    need(ctts, 8);
    const n = dv.getUint32(ctts.at + 4);
    need(ctts, 8 + 8 * n);
    const signed = bytes[ctts.at] === 1;
    for (let e = 0, s = 0; e < n && s < count; e++) {
      const c = dv.getUint32(ctts.at + 8 + 8 * e);
      const o = signed ? dv.getInt32(ctts.at + 12 + 8 * e) : dv.getUint32(ctts.at + 12 + 8 * e);
      for (let k = 0; k < c && s < count; k++, s++) cts[s] = dts[s]! + o;
    }
  }
  const stss = child(stbl!, 'stss');
  let keys: Set<number> | undefined;
  if (stss) {
    need(stss, 8);
    const n = dv.getUint32(stss.at + 4);
    need(stss, 8 + 4 * n);
    keys = new Set(Array.from({ length: n }, (_, i) => dv.getUint32(stss.at + 8 + 4 * i) - 1));
  }
  const chunks: StreamChunk[] = [];
  for (let s = 0; s < offsets.length; s++) {
    const at = offsets[s]!, size = sizes[s]!;
    if (at + size > bytes.length) { truncated = true; break; }
    chunks.push({ bytes: bytes.subarray(at, at + size), key: keys ? keys.has(s) : true, timestamp: Math.round((cts[s]! * 1e6) / timescale) });
  }
  if (chunks.length < count) truncated = true;
  const stream: EncodedStream = { codec: codec!, codecString: codecString!, codedWidth: width, codedHeight: height, chunks };
  if (description) stream.description = description;
  const frames: EncodedFrame[] = chunks.map((_, i) => ({ kind: 'stream', index: i }));
  const duration = count > 1 ? (dts[count - 1]! - dts[0]!) / (count - 1) : 0;
  return {
    container: 'mp4', codec: codecString!, width, height, fps: duration > 0 ? timescale / duration : undefined,
    declaredFrames: count, frames, truncated, warnings, stream,
  };
}
