// Multi-frame DICOM (Part 10) reader: the file meta group (explicit VR little endian) names the
// transfer syntax; the data set is then read as explicit or implicit VR little endian. Supported
// pixel data: native 8-bit (MONOCHROME1/2, RGB, YBR_FULL, YBR_FULL_422; either planar
// configuration), encapsulated JPEG baseline/extended (1.2.840.10008.1.2.4.50/.51) with or
// without a Basic Offset Table, and RLE Lossless (8-bit). Every other transfer syntax is refused
// by name.

import { VideoDecodeError } from '../errors.js';
import type { EncodedFrame, EncodedVideo, RawPixelFormat } from './container.js';
import { checkFrameDimensions } from './limits.js';
import { rawFrameBytes } from './raw.js';

const IMPLICIT_LE = '1.2.840.10008.1.2';
const EXPLICIT_LE = '1.2.840.10008.1.2.1';
const JPEG_BASELINE = '1.2.840.10008.1.2.4.50';
const JPEG_EXTENDED = '1.2.840.10008.1.2.4.51';
const RLE_LOSSLESS = '1.2.840.10008.1.2.5';

const UNSUPPORTED_SYNTAX: Record<string, string> = {
  '1.2.840.10008.1.2.1.99': 'Deflated Explicit VR Little Endian',
  '1.2.840.10008.1.2.2': 'Explicit VR Big Endian',
  '1.2.840.10008.1.2.4.57': 'JPEG Lossless (process 14)',
  '1.2.840.10008.1.2.4.70': 'JPEG Lossless SV1',
  '1.2.840.10008.1.2.4.80': 'JPEG-LS Lossless',
  '1.2.840.10008.1.2.4.81': 'JPEG-LS Near-Lossless',
  '1.2.840.10008.1.2.4.90': 'JPEG 2000 Lossless',
  '1.2.840.10008.1.2.4.91': 'JPEG 2000',
  '1.2.840.10008.1.2.4.100': 'MPEG-2 Main Profile',
  '1.2.840.10008.1.2.4.101': 'MPEG-2 High Profile',
  '1.2.840.10008.1.2.4.102': 'MPEG-4 AVC/H.264',
  '1.2.840.10008.1.2.4.103': 'MPEG-4 AVC/H.264 BD-compatible',
  '1.2.840.10008.1.2.4.104': 'MPEG-4 AVC/H.264 for 2D video',
  '1.2.840.10008.1.2.4.105': 'MPEG-4 AVC/H.264 for 3D video',
  '1.2.840.10008.1.2.4.106': 'MPEG-4 AVC/H.264 Stereo',
  '1.2.840.10008.1.2.4.107': 'HEVC/H.265 Main Profile',
  '1.2.840.10008.1.2.4.108': 'HEVC/H.265 Main 10 Profile',
  '1.2.840.10008.1.2.4.201': 'High-Throughput JPEG 2000 Lossless',
  '1.2.840.10008.1.2.4.202': 'High-Throughput JPEG 2000 (RPCL) Lossless',
  '1.2.840.10008.1.2.4.203': 'High-Throughput JPEG 2000',
};

// VRs whose explicit encoding has 2 reserved bytes and a 32-bit length.
const LONG_VRS = new Set(['OB', 'OD', 'OF', 'OL', 'OV', 'OW', 'SQ', 'SV', 'UC', 'UN', 'UR', 'UT', 'UV']);
const UNDEFINED = 0xffffffff;
const MAX_DEPTH = 32;

const tagKey = (group: number, element: number): number => group * 65536 + element;
const T = {
  transferSyntax: tagKey(0x0002, 0x0010),
  samplesPerPixel: tagKey(0x0028, 0x0002),
  photometric: tagKey(0x0028, 0x0004),
  planar: tagKey(0x0028, 0x0006),
  frames: tagKey(0x0028, 0x0008),
  rows: tagKey(0x0028, 0x0010),
  columns: tagKey(0x0028, 0x0011),
  bitsAllocated: tagKey(0x0028, 0x0100),
  pixelRepresentation: tagKey(0x0028, 0x0103),
  frameTime: tagKey(0x0018, 0x1063),
  cineRate: tagKey(0x0018, 0x0040),
  pixelData: tagKey(0x7fe0, 0x0010),
  item: tagKey(0xfffe, 0xe000),
  itemEnd: tagKey(0xfffe, 0xe00d),
  seqEnd: tagKey(0xfffe, 0xe0dd),
};

export function isDicom(bytes: Uint8Array): boolean {
  return bytes.length >= 132 && bytes[128] === 0x44 && bytes[129] === 0x49 && bytes[130] === 0x43 && bytes[131] === 0x4d;
}

interface Element {
  tag: number;
  vr: string;
  /** Value offset and length (length UNDEFINED for encapsulated/undefined-length values). */
  at: number;
  length: number;
}

class DicomReader {
  readonly dv: DataView;
  truncated = false;
  constructor(readonly bytes: Uint8Array, readonly label: string) {
    this.dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  fail(why: string, hint = 'the file is corrupt or truncated'): never {
    throw new VideoDecodeError(this.label, why, { hint });
  }

  /** Reads one element header at p; returns it and the offset just after its header. */
  header(p: number, explicit: boolean): { el: Element; next: number } | undefined {
    const b = this.bytes;
    if (p + 8 > b.length) return undefined;
    const group = this.dv.getUint16(p, true);
    const element = this.dv.getUint16(p + 2, true);
    const tag = tagKey(group, element);
    if (group === 0xfffe) return { el: { tag, vr: '', at: p + 8, length: this.dv.getUint32(p + 4, true) }, next: p + 8 };
    if (!explicit) return { el: { tag, vr: '', at: p + 8, length: this.dv.getUint32(p + 4, true) }, next: p + 8 };
    const vr = String.fromCharCode(b[p + 4]!, b[p + 5]!);
    if (!/^[A-Z]{2}$/.test(vr)) this.fail(`invalid VR ${JSON.stringify(vr)} at byte ${p} (explicit VR expected)`);
    if (LONG_VRS.has(vr)) {
      if (p + 12 > b.length) return undefined;
      return { el: { tag, vr, at: p + 12, length: this.dv.getUint32(p + 8, true) }, next: p + 12 };
    }
    return { el: { tag, vr, at: p + 8, length: this.dv.getUint16(p + 6, true) }, next: p + 8 };
  }

  /**
   * Walks the elements of a data set from p to end (or to an item delimiter when `inItem`),
   * calling visit for top-level ones; skips sequences. Returns the offset after the last element.
   */
  walk(p: number, end: number, explicit: boolean, depth: number, visit: ((el: Element) => boolean) | undefined, inItem: boolean): number {
    if (depth > MAX_DEPTH) this.fail(`sequences nested deeper than ${MAX_DEPTH} levels`);
    while (p < end) {
      const h = this.header(p, explicit);
      if (!h) { this.truncated = true; return end; }
      const { el } = h;
      if (el.tag === T.itemEnd || el.tag === T.seqEnd) {
        if (inItem) return h.next;
        p = h.next; // stray delimiter at top level: tolerate
        continue;
      }
      // A value running past the end is truncation; only Pixel Data may be cut (frames before the cut are usable).
      if (el.length !== UNDEFINED && el.at + el.length > end && el.tag !== T.pixelData) { this.truncated = true; return end; }
      if (visit && visit(el)) return el.at;
      if (el.length === UNDEFINED) {
        if (el.tag === T.pixelData) return el.at; // encapsulated pixel data is handled by the caller
        // SQ (or UN / implicit VR with undefined length, which is a sequence too)
        p = this.skipSequence(el.at, end, explicit, depth + 1);
      } else {
        if (el.at + el.length > end) { this.truncated = true; return end; }
        p = el.at + el.length;
      }
    }
    return p;
  }

  /** Skips an undefined-length sequence starting at its first item; returns the offset after it. */
  skipSequence(p: number, end: number, explicit: boolean, depth: number): number {
    while (p < end) {
      const h = this.header(p, false);
      if (!h) { this.truncated = true; return end; }
      if (h.el.tag === T.seqEnd) return h.next;
      if (h.el.tag !== T.item) this.fail(`expected a sequence item at byte ${p}`);
      if (h.el.length === UNDEFINED) p = this.walk(h.next, end, explicit, depth + 1, undefined, true);
      else {
        if (h.next + h.el.length > end) { this.truncated = true; return end; }
        p = h.next + h.el.length;
      }
    }
    return p;
  }

  str(el: Element): string {
    return new TextDecoder('latin1').decode(this.bytes.subarray(el.at, el.at + el.length)).replace(/[\0 ]+$/, '').trim();
  }

  us(el: Element): number {
    if (el.length < 2 || el.at + 2 > this.bytes.length) this.fail(`element (${(el.tag >>> 16).toString(16)},${(el.tag & 0xffff).toString(16)}) is empty (a US value expected)`);
    return this.dv.getUint16(el.at, true);
  }
}

/** Parses a DICOM Part 10 file held in memory into encoded frames. */
export function demuxDicom(bytes: Uint8Array, label = 'DICOM'): EncodedVideo {
  if (!isDicom(bytes)) {
    throw new VideoDecodeError(label, "not a DICOM Part 10 file (no 'DICM' after the 128-byte preamble)", { hint: 'supported inputs are AVI (Motion-JPEG) and DICOM Part 10 files' });
  }
  const r = new DicomReader(bytes, label);
  // File meta information: group 0002, always explicit VR little endian.
  let syntax = '';
  let p = 132;
  // Peek at the group first: the data set after group 0002 may be implicit VR.
  while (p + 4 <= bytes.length && r.dv.getUint16(p, true) === 0x0002) {
    const h = r.header(p, true);
    if (!h) return r.fail('file meta information is truncated');
    if (h.el.at + h.el.length > bytes.length) r.fail('file meta information is truncated');
    if (h.el.tag === T.transferSyntax) syntax = r.str(h.el);
    p = h.el.at + h.el.length;
  }
  if (!syntax) r.fail('no Transfer Syntax UID (0002,0010) in the file meta information');
  const unsupported = UNSUPPORTED_SYNTAX[syntax];
  if (unsupported || ![IMPLICIT_LE, EXPLICIT_LE, JPEG_BASELINE, JPEG_EXTENDED, RLE_LOSSLESS].includes(syntax)) {
    throw new VideoDecodeError(label, `transfer syntax ${syntax}${unsupported ? ` (${unsupported})` : ''} is not supported`, {
      hint: 'supported: implicit/explicit VR little endian and RLE Lossless (8-bit), JPEG baseline 1.2.840.10008.1.2.4.50; transcode e.g. with `gdcmconv --raw` or `dcmdjpeg`',
    });
  }
  const explicit = syntax !== IMPLICIT_LE;
  const rle = syntax === RLE_LOSSLESS;
  const encapsulated = syntax === JPEG_BASELINE || syntax === JPEG_EXTENDED || rle;

  const values = new Map<number, Element>();
  let pixel: Element | undefined;
  r.walk(p, bytes.length, explicit, 0, (el) => {
    if (el.tag === T.pixelData) { pixel = el; return true; }
    values.set(el.tag, el);
    return false;
  }, false);

  const num = (tag: number, name: string, fallback?: number): number => {
    const el = values.get(tag);
    if (!el) {
      if (fallback !== undefined) return fallback;
      return r.fail(`missing ${name} (${(tag >>> 16).toString(16).padStart(4, '0')},${(tag & 0xffff).toString(16).padStart(4, '0')})`, 'the file is not an image or is corrupt');
    }
    return r.us(el);
  };
  const rows = num(T.rows, 'Rows');
  const columns = num(T.columns, 'Columns');
  checkFrameDimensions(columns, rows, label);
  const spp = num(T.samplesPerPixel, 'Samples per Pixel', 1);
  const bitsAllocated = num(T.bitsAllocated, 'Bits Allocated', 8);
  const planar = num(T.planar, 'Planar Configuration', 0);
  const photometric = values.has(T.photometric) ? r.str(values.get(T.photometric)!) : spp === 1 ? 'MONOCHROME2' : 'RGB';
  const framesEl = values.get(T.frames);
  const declared = framesEl ? Number.parseInt(r.str(framesEl), 10) : 1;
  if (!Number.isInteger(declared) || declared < 1) r.fail(`Number of Frames is ${framesEl ? JSON.stringify(r.str(framesEl)) : 'missing'} (a positive integer expected)`);
  let fps: number | undefined;
  const ft = values.get(T.frameTime);
  const cr = values.get(T.cineRate);
  if (ft && Number.parseFloat(r.str(ft)) > 0) fps = 1000 / Number.parseFloat(r.str(ft));
  else if (cr && Number.parseFloat(r.str(cr)) > 0) fps = Number.parseFloat(r.str(cr));

  if (!pixel) r.fail(r.truncated ? 'file ends before the Pixel Data element' : 'no Pixel Data (7FE0,0010) element', r.truncated ? 'the file is truncated' : 'the file holds no image');
  const px = pixel as Element;
  const warnings: string[] = [];
  const frames: EncodedFrame[] = [];
  let truncated = r.truncated;

  if (!encapsulated) {
    if (bitsAllocated !== 8) {
      throw new VideoDecodeError(label, `${bitsAllocated}-bit native pixel data is not supported (8-bit expected)`, { hint: 'export the echo as 8-bit (ultrasound is normally 8-bit) or as JPEG baseline' });
    }
    const format = rawFormat(photometric, spp, planar, label);
    const frameBytes = rawFrameBytes(format, columns, rows);
    if (px.length === UNDEFINED) r.fail('native pixel data has undefined length (encapsulated data under a native transfer syntax)');
    const available = Math.min(px.length, bytes.length - px.at);
    if (px.length < frameBytes * declared) warnings.push(`Pixel Data holds ${px.length} bytes, ${frameBytes * declared} expected for ${declared} frames`);
    const complete = Math.min(declared, Math.floor(available / frameBytes));
    if (complete < declared) truncated = true;
    for (let i = 0; i < complete; i++) frames.push({ kind: 'raw', bytes: bytes.subarray(px.at + i * frameBytes, px.at + (i + 1) * frameBytes), format });
  } else {
    if (px.length !== UNDEFINED) r.fail('compressed pixel data must be encapsulated (undefined length)');
    const { fragments, offsets, complete } = readFragments(r, px.at);
    if (!complete) truncated = true;
    if (rle) {
      if (bitsAllocated !== 8) {
        throw new VideoDecodeError(label, `${bitsAllocated}-bit RLE pixel data is not supported (8-bit expected)`, { hint: 'export the echo as 8-bit' });
      }
      // RLE decodes to sample planes, so the planar variant of the photometric layout applies.
      const format = rawFormat(photometric, spp, 1, label);
      if (format === 'ybr-full-422') r.fail('YBR_FULL_422 is not a valid photometric interpretation for RLE');
      // RLE frames are exactly one fragment each (PS3.5 A.4.2); readFragments returns only whole ones.
      for (const f of fragments.slice(0, declared)) frames.push({ kind: 'rle', bytes: f.bytes, format, samples: spp });
      if (fragments.length > declared) warnings.push(`${fragments.length} RLE fragments found, header declares ${declared} frames`);
    } else {
      const groups = groupFragments(fragments, offsets, declared, warnings);
      // A cut-off file leaves a last frame without its end-of-image marker: not usable.
      const last = groups[groups.length - 1];
      if (!complete && last && !endsWithEoi(last)) groups.pop();
      for (const f of groups) frames.push({ kind: 'jpeg', bytes: f });
    }
    if (frames.length > declared) {
      warnings.push(`${frames.length} JPEG frames found, header declares ${declared}`);
    }
    if (frames.length < declared) truncated = true;
  }
  return { container: 'dicom', codec: syntax, width: columns, height: rows, fps, declaredFrames: declared, frames, truncated, warnings };
}

function rawFormat(photometric: string, spp: number, planar: number, label: string): RawPixelFormat {
  const bad = (): never => {
    throw new VideoDecodeError(label, `photometric interpretation ${photometric} with ${spp} samples per pixel is not supported`, {
      hint: 'supported: MONOCHROME1/2 (1 sample), RGB, YBR_FULL, YBR_FULL_422 (3 samples)',
    });
  };
  if (spp === 1) {
    if (photometric === 'MONOCHROME2') return 'gray8';
    if (photometric === 'MONOCHROME1') return 'gray8-inverted';
    return bad();
  }
  if (spp !== 3) return bad();
  if (photometric === 'RGB') return planar === 1 ? 'rgb24-planar' : 'rgb24';
  if (photometric === 'YBR_FULL') return planar === 1 ? 'ybr-full-planar' : 'ybr-full';
  if (photometric === 'YBR_FULL_422') return 'ybr-full-422';
  return bad();
}

/** Reads the item sequence of encapsulated pixel data: Basic Offset Table + fragments. */
function readFragments(r: DicomReader, start: number): { fragments: { at: number; bytes: Uint8Array }[]; offsets: number[]; complete: boolean } {
  const fragments: { at: number; bytes: Uint8Array }[] = [];
  let offsets: number[] = [];
  let p = start;
  let first = true;
  let firstFragmentAt = 0;
  for (;;) {
    const h = r.header(p, false);
    if (!h) return { fragments, offsets, complete: false };
    if (h.el.tag === T.seqEnd) return { fragments, offsets, complete: true };
    if (h.el.tag !== T.item) r.fail(`expected a pixel data item at byte ${p}`);
    const len = h.el.length;
    if (len === UNDEFINED) r.fail('pixel data item with undefined length');
    if (h.next + len > r.bytes.length) return { fragments, offsets, complete: false };
    const body = r.bytes.subarray(h.next, h.next + len);
    if (first) {
      first = false;
      firstFragmentAt = h.next + len;
      offsets = [];
      for (let i = 0; i + 4 <= len; i += 4) offsets.push(r.dv.getUint32(h.next + i, true));
    } else fragments.push({ at: p - firstFragmentAt, bytes: body });
    p = h.next + len;
  }
}

/** Splits fragments into frames: by the offset table, one per frame, or at JPEG SOI markers. */
function groupFragments(fragments: { at: number; bytes: Uint8Array }[], offsets: number[], declared: number, warnings: string[]): Uint8Array[] {
  const concat = (parts: Uint8Array[]): Uint8Array => {
    if (parts.length === 1) return parts[0]!;
    const out = new Uint8Array(parts.reduce((s, x) => s + x.length, 0));
    let o = 0;
    for (const x of parts) { out.set(x, o); o += x.length; }
    return out;
  };
  if (fragments.length === 0) return [];
  if (declared === 1) return [concat(fragments.map((f) => f.bytes))];
  if (offsets.length > 0) {
    const groups: Uint8Array[] = [];
    for (let i = 0; i < offsets.length; i++) {
      const lo = offsets[i]!;
      const hi = i + 1 < offsets.length ? offsets[i + 1]! : Infinity;
      const parts = fragments.filter((f) => f.at >= lo && f.at < hi).map((f) => f.bytes);
      if (parts.length === 0) { warnings.push(`offset table entry ${i} points at no fragment`); break; }
      groups.push(concat(parts));
    }
    return groups;
  }
  if (fragments.length === declared) return fragments.map((f) => f.bytes);
  // No offset table and more fragments than frames: a new frame starts at each JPEG SOI.
  const groups: Uint8Array[][] = [];
  for (const f of fragments) {
    const soi = f.bytes.length >= 2 && f.bytes[0] === 0xff && f.bytes[1] === 0xd8;
    if (soi || groups.length === 0) groups.push([f.bytes]);
    else groups[groups.length - 1]!.push(f.bytes);
  }
  return groups.map(concat);
}

/** JPEG data ends with FF D9 (fragments are padded to even length, so allow one trailing 0). */
function endsWithEoi(b: Uint8Array): boolean {
  const n = b.length;
  return (n >= 2 && b[n - 2] === 0xff && b[n - 1] === 0xd9) || (n >= 3 && b[n - 3] === 0xff && b[n - 2] === 0xd9 && b[n - 1] === 0);
}
