// H.264 / HEVC elementary streams: Annex B byte streams (DICOM's MPEG-4 AVC and HEVC transfer
// syntaxes) split into access units, key pictures marked, and the WebCodecs codec string derived
// from the sequence parameter set; plus the same codec strings from MP4's avcC / hvcC records.
// Only NAL unit headers and the first bytes of the SPS are parsed: the pictures themselves are
// decoded by WebCodecs.

import { VideoDecodeError } from '../../errors.js';
import type { EncodedStream, StreamChunk } from '../container.js';

/** NAL units of an Annex B stream (start codes removed, trailing zero bytes dropped). */
export function annexBNalUnits(b: Uint8Array): Uint8Array[] {
  const starts: number[] = [];
  for (let i = 0; i + 2 < b.length; i++) {
    if (b[i] === 0 && b[i + 1] === 0 && b[i + 2] === 1) { starts.push(i + 3); i += 2; }
  }
  const out: Uint8Array[] = [];
  for (let k = 0; k < starts.length; k++) {
    let end = k + 1 < starts.length ? starts[k + 1]! - 3 : b.length;
    while (end > starts[k]! && b[end - 1] === 0) end--; // the next start code's leading zero / trailing_zero_8bits
    if (end > starts[k]!) out.push(b.subarray(starts[k]!, end));
  }
  return out;
}

const hex2 = (v: number): string => v.toString(16).padStart(2, '0');

/** RBSP: the NAL payload with emulation-prevention bytes (00 00 03) removed. */
function rbsp(nal: Uint8Array, from: number, max: number): Uint8Array {
  const out: number[] = [];
  let zeros = 0;
  for (let i = from; i < nal.length && out.length < max; i++) {
    const v = nal[i]!;
    if (zeros >= 2 && v === 3) { zeros = 0; continue; }
    zeros = v === 0 ? zeros + 1 : 0;
    out.push(v);
  }
  return Uint8Array.from(out);
}

/** 'avc1.PPCCLL' from an SPS NAL unit (header byte included). */
export function avcCodecString(sps: Uint8Array): string {
  const r = rbsp(sps, 1, 3);
  if (r.length < 3) throw new Error('SPS too short');
  return `avc1.${hex2(r[0]!)}${hex2(r[1]!)}${hex2(r[2]!)}`;
}

/** ISO/IEC 14496-15 E.3 codec string from the general profile_tier_level fields (12 bytes). */
function hevcString(prefix: string, ptl: Uint8Array): string {
  const space = ptl[0]! >> 6;
  const tier = (ptl[0]! >> 5) & 1;
  const idc = ptl[0]! & 31;
  let compat = ((ptl[1]! << 24) | (ptl[2]! << 16) | (ptl[3]! << 8) | ptl[4]!) >>> 0;
  let reversed = 0;
  for (let i = 0; i < 32; i++) { reversed = ((reversed << 1) | (compat & 1)) >>> 0; compat >>>= 1; }
  const constraints = Array.from(ptl.subarray(5, 11));
  while (constraints.length > 0 && constraints[constraints.length - 1] === 0) constraints.pop();
  const c = constraints.map((v) => v.toString(16).toUpperCase()).join('.');
  return `${prefix}.${space ? 'ABC'[space - 1] : ''}${idc}.${reversed.toString(16).toUpperCase()}.${tier ? 'H' : 'L'}${ptl[11]}${c ? `.${c}` : ''}`;
}

/** 'hvc1.…' from an HEVC SPS NAL unit (2-byte header included). */
export function hevcCodecString(sps: Uint8Array, prefix = 'hev1'): string {
  const r = rbsp(sps, 2, 13);
  if (r.length < 13) throw new Error('SPS too short');
  return hevcString(prefix, r.subarray(1, 13));
}

/** Codec string from an avcC (AVCDecoderConfigurationRecord). */
export function avcCodecStringFromAvcC(avcc: Uint8Array): string {
  if (avcc.length < 4) throw new Error('avcC too short');
  return `avc1.${hex2(avcc[1]!)}${hex2(avcc[2]!)}${hex2(avcc[3]!)}`;
}

/** Codec string from an hvcC (HEVCDecoderConfigurationRecord). */
export function hevcCodecStringFromHvcC(hvcc: Uint8Array, prefix = 'hvc1'): string {
  if (hvcc.length < 13) throw new Error('hvcC too short');
  return hevcString(prefix, hvcc.subarray(1, 13));
}

const START = new Uint8Array([0, 0, 0, 1]);

/** Splits an Annex B stream into access units (decode order) with key flags and timestamps. */
export function annexBStream(bytes: Uint8Array, codec: 'h264' | 'hevc', fps: number | undefined, label: string): EncodedStream {
  const nals = annexBNalUnits(bytes);
  if (nals.length === 0) throw new VideoDecodeError(label, `no ${codec === 'h264' ? 'H.264' : 'HEVC'} NAL units in the pixel data (Annex B start codes expected)`, { hint: 'the pixel data is corrupt' });
  const aus: { nals: Uint8Array[]; key: boolean; vcl: boolean }[] = [];
  let cur: { nals: Uint8Array[]; key: boolean; vcl: boolean } | undefined;
  let codecString: string | undefined;
  for (const nal of nals) {
    let vcl: boolean, key: boolean, firstSlice: boolean, startsAu: boolean;
    if (codec === 'h264') {
      const t = nal[0]! & 31;
      vcl = t === 1 || t === 5;
      key = t === 5;
      firstSlice = vcl && nal.length > 1 && (nal[1]! & 0x80) !== 0; // first_mb_in_slice == 0 (ue(v) '1')
      startsAu = t === 6 || t === 7 || t === 8 || t === 9 || (t >= 14 && t <= 18);
      if (t === 7 && !codecString) { try { codecString = avcCodecString(nal); } catch { /* a later SPS may be whole */ } }
    } else {
      const t = (nal[0]! >> 1) & 63;
      vcl = t < 32;
      key = t >= 16 && t <= 23;
      firstSlice = vcl && nal.length > 2 && (nal[2]! & 0x80) !== 0; // first_slice_segment_in_pic_flag
      startsAu = (t >= 32 && t <= 35) || t === 39 || (t >= 41 && t <= 44) || (t >= 48 && t <= 55);
      if (t === 33 && !codecString) { try { codecString = hevcCodecString(nal); } catch { /* a later SPS may be whole */ } }
    }
    if (!cur || (cur.vcl && (startsAu || firstSlice))) {
      cur = { nals: [], key: false, vcl: false };
      aus.push(cur);
    }
    cur.nals.push(nal);
    cur.vcl ||= vcl;
    cur.key ||= key;
  }
  if (!codecString) throw new VideoDecodeError(label, `the ${codec === 'h264' ? 'H.264' : 'HEVC'} stream has no usable sequence parameter set`, { hint: 'the pixel data is corrupt or truncated' });
  const step = 1e6 / (fps && fps > 0 ? fps : 30);
  const chunks: StreamChunk[] = aus.filter((a) => a.vcl).map((a, i) => {
    const size = a.nals.reduce((s, n) => s + 4 + n.length, 0);
    const out = new Uint8Array(size);
    let o = 0;
    for (const n of a.nals) { out.set(START, o); out.set(n, o + 4); o += 4 + n.length; }
    return { bytes: out, key: a.key, timestamp: Math.round(i * step) };
  });
  return { codec, codecString, codedWidth: 0, codedHeight: 0, chunks };
}
