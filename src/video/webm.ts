// WebM / Matroska demuxer for the first video track: EBML elements Segment > Tracks (codec, size,
// CodecPrivate) and Clusters (SimpleBlock / BlockGroup) give each coded frame with its key flag and
// timestamp. Frames are numbered in presentation order (VP8/VP9/AV1 blocks are stored in it;
// H.264/HEVC in Matroska by their timestamps). Laced blocks are refused. Decoding is WebCodecs'.

import { VideoDecodeError } from '../errors.js';
import type { EncodedFrame, EncodedStream, EncodedVideo, StreamChunk, StreamCodec } from './container.js';
import { avcCodecStringFromAvcC, hevcCodecStringFromHvcC } from './codecs/h26x.js';
import { checkFrameDimensions } from './limits.js';

const ID = {
  ebml: 0x1a45dfa3, segment: 0x18538067, info: 0x1549a966, timecodeScale: 0x2ad7b1, tracks: 0x1654ae6b,
  trackEntry: 0xae, trackNumber: 0xd7, trackType: 0x83, codecId: 0x86, codecPrivate: 0x63a2, video: 0xe0,
  pixelWidth: 0xb0, pixelHeight: 0xba, defaultDuration: 0x23e383, cluster: 0x1f43b675, timecode: 0xe7,
  simpleBlock: 0xa3, blockGroup: 0xa0, block: 0xa1, referenceBlock: 0xfb,
};
const MASTER = new Set([ID.segment, ID.info, ID.tracks, ID.trackEntry, ID.video, ID.cluster, ID.blockGroup]);

export function isWebm(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && bytes[0] === 0x1a && bytes[1] === 0x45 && bytes[2] === 0xdf && bytes[3] === 0xa3;
}

const MAX_FRAMES = 1 << 22;

export function demuxWebm(bytes: Uint8Array, label = 'WebM'): EncodedVideo {
  const fail = (why: string, hint = 'the file is corrupt or truncated'): never => { throw new VideoDecodeError(label, why, { hint }); };
  let truncated = false;
  /** A variable-length integer at p: value (marker bit removed unless keepMarker) and its length. */
  const vint = (p: number, keepMarker: boolean): { v: number; n: number; unknown: boolean } | undefined => {
    const b0 = bytes[p];
    if (b0 === undefined || b0 === 0) return undefined;
    const n = Math.clz32(b0) - 23;
    if (p + n > bytes.length) return undefined;
    let v = keepMarker ? b0 : b0 & (0xff >> n);
    let allOnes = v === (0xff >> n);
    for (let i = 1; i < n; i++) { v = v * 256 + bytes[p + i]!; allOnes &&= bytes[p + i] === 0xff; }
    return { v, n, unknown: !keepMarker && allOnes };
  };
  const uint = (at: number, len: number): number => { let v = 0; for (let i = 0; i < len; i++) v = v * 256 + bytes[at + i]!; return v; };
  const str = (at: number, len: number): string => new TextDecoder('latin1').decode(bytes.subarray(at, at + len)).replace(/\0+$/, '');

  let timecodeScale = 1_000_000;
  const tracks: { number: number; type: number; codecId: string; priv?: Uint8Array; width: number; height: number; duration: number }[] = [];
  let track: (typeof tracks)[number] | undefined;
  let clusterTime = 0;
  const blocks: { data: Uint8Array; key: boolean; time: number; track: number }[] = [];

  const block = (at: number, end: number, simple: boolean): void => {
    const tn = vint(at, false);
    if (!tn || at + tn.n + 3 > end) { truncated = true; return; }
    const rel = ((bytes[at + tn.n]! << 8) | bytes[at + tn.n + 1]!) << 16 >> 16;
    const flags = bytes[at + tn.n + 2]!;
    if (flags & 0x06) fail('laced video blocks are not supported', 'remux with `ffmpeg -i IN -c copy OUT.webm`');
    if (blocks.length >= MAX_FRAMES) fail(`more than ${MAX_FRAMES} blocks`);
    blocks.push({ data: bytes.subarray(at + tn.n + 3, end), key: simple ? (flags & 0x80) !== 0 : true, time: clusterTime + rel, track: tn.v });
  };

  const walk = (start: number, end: number, depth: number): void => {
    if (depth > 8) fail('EBML elements nested too deeply');
    let p = start;
    while (p < end) {
      const id = vint(p, true);
      if (!id) { truncated = true; return; }
      const size = vint(p + id.n, false);
      if (!size) { truncated = true; return; }
      const at = p + id.n + size.n;
      let stop = size.unknown ? end : at + size.v;
      if (stop > end) { truncated = true; stop = end; }
      if (MASTER.has(id.v)) {
        if (id.v === ID.trackEntry) { track = { number: 0, type: 0, codecId: '', width: 0, height: 0, duration: 0 }; tracks.push(track); }
        if (id.v === ID.cluster) clusterTime = 0;
        if (size.unknown && id.v === ID.cluster) {
          // An unknown-size cluster ends where the next top-level element begins.
          let q = at;
          while (q < end) {
            const cid = vint(q, true), cs = vint(q + (cid?.n ?? 0), false);
            if (!cid || !cs || cid.v === ID.cluster || cid.v === 0x1c53bb6b || cid.v === ID.tracks) break;
            q += cid.n + cs.n + (cs.unknown ? 0 : cs.v);
            if (cs.unknown) break;
          }
          stop = Math.min(q, end);
        }
        walk(at, stop, depth + 1);
        if (id.v === ID.trackEntry) track = undefined; // fields after the entry belong to no track
      } else if (id.v === ID.timecodeScale) timecodeScale = uint(at, stop - at) || timecodeScale;
      else if (id.v === ID.timecode) clusterTime = uint(at, stop - at);
      else if (id.v === ID.simpleBlock) block(at, stop, true);
      else if (id.v === ID.block) block(at, stop, false);
      else if (track) {
        if (id.v === ID.trackNumber) track.number = uint(at, stop - at);
        else if (id.v === ID.trackType) track.type = uint(at, stop - at);
        else if (id.v === ID.codecId) track.codecId = str(at, stop - at);
        else if (id.v === ID.codecPrivate) track.priv = bytes.subarray(at, stop);
        else if (id.v === ID.pixelWidth) track.width = uint(at, stop - at);
        else if (id.v === ID.pixelHeight) track.height = uint(at, stop - at);
        else if (id.v === ID.defaultDuration) track.duration = uint(at, stop - at);
      }
      if (size.unknown && id.v !== ID.cluster) return;
      p = stop;
    }
  };
  walk(0, bytes.length, 0);
  const vt = tracks.find((t) => t.type === 1);
  if (!vt) fail('no video track');
  checkFrameDimensions(vt!.width, vt!.height, label);
  let codec: StreamCodec;
  let codecString: string;
  let description: Uint8Array | undefined;
  try {
    switch (vt!.codecId) {
      case 'V_VP8': codec = 'vp8'; codecString = 'vp8'; break;
      case 'V_VP9': codec = 'vp9'; codecString = 'vp09.00.10.08'; break;
      case 'V_AV1': codec = 'av1'; description = vt!.priv; codecString = vt!.priv && vt!.priv.length >= 3 ? `av01.${vt!.priv[1]! >> 5}.${String(vt!.priv[1]! & 31).padStart(2, '0')}${vt!.priv[2]! & 0x80 ? 'H' : 'M'}.08` : 'av01.0.04M.08'; break;
      case 'V_MPEG4/ISO/AVC': codec = 'h264'; description = vt!.priv; codecString = avcCodecStringFromAvcC(vt!.priv ?? new Uint8Array(0)); break;
      case 'V_MPEGH/ISO/HEVC': codec = 'hevc'; description = vt!.priv; codecString = hevcCodecStringFromHvcC(vt!.priv ?? new Uint8Array(0)); break;
      default: return fail(`video codec ${JSON.stringify(vt!.codecId)} is not supported (VP8, VP9, AV1, H.264 or HEVC expected)`, 're-encode with `ffmpeg -i IN -c:v mjpeg -q:v 2 OUT.avi`');
    }
  } catch (e) {
    if (e instanceof VideoDecodeError) throw e;
    return fail(`corrupt codec configuration (${(e as Error).message})`);
  }
  const mine = blocks.filter((b) => b.track === vt!.number);
  const chunks: StreamChunk[] = mine.map((b) => ({ bytes: b.data, key: b.key, timestamp: Math.round((b.time * timecodeScale) / 1000) }));
  const stream: EncodedStream = { codec: codec!, codecString: codecString!, codedWidth: vt!.width, codedHeight: vt!.height, chunks };
  if (description) stream.description = description;
  const frames: EncodedFrame[] = chunks.map((_, i) => ({ kind: 'stream', index: i }));
  return {
    container: 'webm', codec: codecString!, width: vt!.width, height: vt!.height, fps: vt!.duration > 0 ? 1e9 / vt!.duration : undefined,
    declaredFrames: chunks.length, frames, truncated, warnings: [], stream,
  };
}
