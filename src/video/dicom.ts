// DICOM Part 10 reader for (multi-frame) images. The file meta group (explicit VR little endian)
// names the transfer syntax; the data set is then read as implicit/explicit VR little endian,
// explicit VR big endian, or deflated (inflated first, asynchronously: inflateDicomBody). A data
// set encoded implicit although the meta group says explicit (or the reverse) is detected from its
// first element and read as it is, with a warning, as pydicom does.
// Pixel data: native (8/16-bit), RLE Lossless, JPEG baseline/extended, lossless JPEG (process 14),
// JPEG-LS, JPEG 2000 and HTJ2K (codestreams, decoded by src/video/codecs/), and the MPEG-4 AVC /
// HEVC syntaxes as one elementary stream (decoded only by WebCodecs). Frames of encapsulated data
// are found from the Extended or Basic Offset Table, one fragment per frame, or the codestream's
// start marker. MPEG-2 is refused by name.

import { VideoDecodeError } from '../errors.js';
import type { DicomCodec, EncodedFrame, EncodedVideo, Palette, Photometric, PixelModule } from './container.js';
import { nativeFrameBytes } from './dicom-pixels.js';
import { annexBStream } from './codecs/h26x.js';
import { checkFrameDimensions } from './limits.js';

export const TRANSFER_SYNTAX = {
  implicitLE: '1.2.840.10008.1.2',
  explicitLE: '1.2.840.10008.1.2.1',
  deflatedLE: '1.2.840.10008.1.2.1.99',
  explicitBE: '1.2.840.10008.1.2.2',
} as const;

interface SyntaxInfo {
  name: string;
  codec: DicomCodec | 'jpeg' | 'h264' | 'hevc' | 'unsupported';
}

const SYNTAXES: Record<string, SyntaxInfo> = {
  '1.2.840.10008.1.2': { name: 'Implicit VR Little Endian', codec: 'native' },
  '1.2.840.10008.1.2.1': { name: 'Explicit VR Little Endian', codec: 'native' },
  '1.2.840.10008.1.2.1.99': { name: 'Deflated Explicit VR Little Endian', codec: 'native' },
  '1.2.840.10008.1.2.2': { name: 'Explicit VR Big Endian', codec: 'native' },
  '1.2.840.10008.1.2.4.50': { name: 'JPEG Baseline', codec: 'jpeg' },
  '1.2.840.10008.1.2.4.51': { name: 'JPEG Extended', codec: 'jpeg' },
  '1.2.840.10008.1.2.4.57': { name: 'JPEG Lossless (process 14)', codec: 'jpeg-lossless' },
  '1.2.840.10008.1.2.4.70': { name: 'JPEG Lossless SV1', codec: 'jpeg-lossless' },
  '1.2.840.10008.1.2.4.80': { name: 'JPEG-LS Lossless', codec: 'jpeg-ls' },
  '1.2.840.10008.1.2.4.81': { name: 'JPEG-LS Near-Lossless', codec: 'jpeg-ls' },
  '1.2.840.10008.1.2.4.90': { name: 'JPEG 2000 Lossless', codec: 'j2k' },
  '1.2.840.10008.1.2.4.91': { name: 'JPEG 2000', codec: 'j2k' },
  '1.2.840.10008.1.2.4.100': { name: 'MPEG-2 Main Profile', codec: 'unsupported' },
  '1.2.840.10008.1.2.4.101': { name: 'MPEG-2 High Profile', codec: 'unsupported' },
  '1.2.840.10008.1.2.4.102': { name: 'MPEG-4 AVC/H.264', codec: 'h264' },
  '1.2.840.10008.1.2.4.103': { name: 'MPEG-4 AVC/H.264 BD-compatible', codec: 'h264' },
  '1.2.840.10008.1.2.4.104': { name: 'MPEG-4 AVC/H.264 for 2D video', codec: 'h264' },
  '1.2.840.10008.1.2.4.105': { name: 'MPEG-4 AVC/H.264 for 3D video', codec: 'h264' },
  '1.2.840.10008.1.2.4.106': { name: 'MPEG-4 AVC/H.264 Stereo', codec: 'h264' },
  '1.2.840.10008.1.2.4.107': { name: 'HEVC/H.265 Main Profile', codec: 'hevc' },
  '1.2.840.10008.1.2.4.108': { name: 'HEVC/H.265 Main 10 Profile', codec: 'hevc' },
  '1.2.840.10008.1.2.4.201': { name: 'High-Throughput JPEG 2000 Lossless', codec: 'htj2k' },
  '1.2.840.10008.1.2.4.202': { name: 'High-Throughput JPEG 2000 (RPCL) Lossless', codec: 'htj2k' },
  '1.2.840.10008.1.2.4.203': { name: 'High-Throughput JPEG 2000', codec: 'htj2k' },
  '1.2.840.10008.1.2.5': { name: 'RLE Lossless', codec: 'rle' },
};

/** The transfer syntax's name, or undefined for one this reader does not know. */
export function transferSyntaxName(uid: string): string | undefined {
  return SYNTAXES[uid]?.name;
}

const VRS = new Set(['AE', 'AS', 'AT', 'CS', 'DA', 'DS', 'DT', 'FD', 'FL', 'IS', 'LO', 'LT', 'OB', 'OD', 'OF', 'OL', 'OV', 'OW', 'PN', 'SH', 'SL', 'SQ', 'SS', 'ST', 'SV', 'TM', 'UC', 'UI', 'UL', 'UN', 'UR', 'US', 'UT', 'UV']);
// VRs whose explicit encoding has 2 reserved bytes and a 32-bit length.
const LONG_VRS = new Set(['OB', 'OD', 'OF', 'OL', 'OV', 'OW', 'SQ', 'SV', 'UC', 'UN', 'UR', 'UT', 'UV']);
const UNDEFINED = 0xffffffff;
const MAX_DEPTH = 32;

const tagKey = (group: number, element: number): number => group * 65536 + element;
const T = {
  mediaStorageSopClass: tagKey(0x0002, 0x0002),
  transferSyntax: tagKey(0x0002, 0x0010),
  sopClass: tagKey(0x0008, 0x0016),
  sopInstance: tagKey(0x0008, 0x0018),
  modality: tagKey(0x0008, 0x0060),
  seriesDescription: tagKey(0x0008, 0x103e),
  studyInstance: tagKey(0x0020, 0x000d),
  seriesInstance: tagKey(0x0020, 0x000e),
  seriesNumber: tagKey(0x0020, 0x0011),
  instanceNumber: tagKey(0x0020, 0x0013),
  samplesPerPixel: tagKey(0x0028, 0x0002),
  photometric: tagKey(0x0028, 0x0004),
  planar: tagKey(0x0028, 0x0006),
  frames: tagKey(0x0028, 0x0008),
  rows: tagKey(0x0028, 0x0010),
  columns: tagKey(0x0028, 0x0011),
  bitsAllocated: tagKey(0x0028, 0x0100),
  bitsStored: tagKey(0x0028, 0x0101),
  pixelRepresentation: tagKey(0x0028, 0x0103),
  windowCenter: tagKey(0x0028, 0x1050),
  windowWidth: tagKey(0x0028, 0x1051),
  rescaleIntercept: tagKey(0x0028, 0x1052),
  rescaleSlope: tagKey(0x0028, 0x1053),
  paletteDescriptor: [tagKey(0x0028, 0x1101), tagKey(0x0028, 0x1102), tagKey(0x0028, 0x1103)] as const,
  paletteData: [tagKey(0x0028, 0x1201), tagKey(0x0028, 0x1202), tagKey(0x0028, 0x1203)] as const,
  segmentedPalette: tagKey(0x0028, 0x1221),
  frameTime: tagKey(0x0018, 0x1063),
  cineRate: tagKey(0x0018, 0x0040),
  extendedOffsets: tagKey(0x7fe0, 0x0001),
  extendedLengths: tagKey(0x7fe0, 0x0002),
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
  constructor(readonly bytes: Uint8Array, readonly label: string, readonly le = true) {
    this.dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  fail(why: string, hint = 'the file is corrupt or truncated'): never {
    throw new VideoDecodeError(this.label, why, { hint });
  }

  u16(p: number): number { return this.dv.getUint16(p, this.le); }
  u32(p: number): number { return this.dv.getUint32(p, this.le); }

  /** Reads one element header at p; returns it and the offset just after its header. */
  header(p: number, explicit: boolean): { el: Element; next: number } | undefined {
    const b = this.bytes;
    if (p + 8 > b.length) return undefined;
    const group = this.u16(p);
    const element = this.u16(p + 2);
    const tag = tagKey(group, element);
    if (group === 0xfffe || !explicit) return { el: { tag, vr: '', at: p + 8, length: this.u32(p + 4) }, next: p + 8 };
    const vr = String.fromCharCode(b[p + 4]!, b[p + 5]!);
    if (!/^[A-Z]{2}$/.test(vr)) this.fail(`invalid VR ${JSON.stringify(vr)} at byte ${p} (explicit VR expected)`);
    if (LONG_VRS.has(vr)) {
      if (p + 12 > b.length) return undefined;
      return { el: { tag, vr, at: p + 12, length: this.u32(p + 8) }, next: p + 12 };
    }
    return { el: { tag, vr, at: p + 8, length: this.u16(p + 6) }, next: p + 8 };
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

  us(el: Element, index = 0): number {
    if (el.length < 2 * (index + 1) || el.at + 2 * (index + 1) > this.bytes.length) this.fail(`element (${(el.tag >>> 16).toString(16)},${(el.tag & 0xffff).toString(16)}) is empty (a US value expected)`);
    return this.u16(el.at + 2 * index);
  }

  /** First value of a DS/IS element (backslash-separated), or undefined when absent or not a number. */
  num(el: Element | undefined): number | undefined {
    if (!el) return undefined;
    const v = Number.parseFloat(this.str(el).split('\\')[0]!);
    return Number.isFinite(v) ? v : undefined;
  }
}

/** Where the data set starts and how it is encoded, from the file meta information. */
interface Meta {
  syntax: string;
  mediaStorageSopClass: string;
  /** Offset of the first data set element. */
  bodyAt: number;
}

function readMeta(bytes: Uint8Array, label: string): Meta {
  if (!isDicom(bytes)) {
    throw new VideoDecodeError(label, "not a DICOM Part 10 file (no 'DICM' after the 128-byte preamble)", { hint: 'supported inputs are AVI (Motion-JPEG), MP4/WebM (browsers) and DICOM Part 10 files' });
  }
  const r = new DicomReader(bytes, label);
  let syntax = '';
  let sopClass = '';
  let p = 132;
  // File meta information: group 0002, always explicit VR little endian; peek at the group first.
  while (p + 4 <= bytes.length && r.u16(p) === 0x0002) {
    const h = r.header(p, true);
    if (!h || h.el.length === UNDEFINED || h.el.at + h.el.length > bytes.length) return r.fail('file meta information is truncated');
    if (h.el.tag === T.transferSyntax) syntax = r.str(h.el);
    if (h.el.tag === T.mediaStorageSopClass) sopClass = r.str(h.el);
    p = h.el.at + h.el.length;
  }
  if (!syntax) r.fail('no Transfer Syntax UID (0002,0010) in the file meta information');
  return { syntax, mediaStorageSopClass: sopClass, bodyAt: p };
}

/**
 * The encoding the data set really uses: the syntax's, unless its first element says otherwise
 * (pydicom's check: a valid explicit VR where implicit was declared, or the reverse).
 */
function bodyEncoding(bytes: Uint8Array, at: number, syntax: string, warnings: string[]): { explicit: boolean; le: boolean } {
  const le = syntax !== TRANSFER_SYNTAX.explicitBE;
  const declared = syntax !== TRANSFER_SYNTAX.implicitLE;
  if (at + 8 > bytes.length) return { explicit: declared, le };
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (dv.getUint16(at, le) === 0xfffe) return { explicit: declared, le };
  const vr = String.fromCharCode(bytes[at + 4]!, bytes[at + 5]!);
  const looksExplicit = VRS.has(vr);
  if (declared && !looksExplicit && le) {
    // Implicit only if that reading is plausible: the first value fits in the file.
    const len = dv.getUint32(at + 4, true);
    if (len === UNDEFINED || at + 8 + len <= bytes.length) {
      warnings.push(`the data set is encoded implicit VR although the transfer syntax ${syntax} says explicit; read as implicit VR`);
      return { explicit: false, le };
    }
  }
  if (!declared && looksExplicit) {
    warnings.push('the data set is encoded explicit VR although the transfer syntax says implicit; read as explicit VR');
    return { explicit: true, le };
  }
  return { explicit: declared, le };
}

/** Identity and kind of a DICOM object, read without touching its pixel data. */
export interface DicomHeader {
  transferSyntax: string;
  transferSyntaxName: string | undefined;
  /** SOP Class UID (0008,0016), else the meta group's Media Storage SOP Class UID. */
  sopClassUid: string;
  sopInstanceUid: string | undefined;
  studyInstanceUid: string | undefined;
  seriesInstanceUid: string | undefined;
  seriesNumber: number | undefined;
  instanceNumber: number | undefined;
  modality: string | undefined;
  seriesDescription: string | undefined;
  /** Patient ID (0010,0020): the archive index stores it only salted-hashed. */
  patientId?: string;
  hasPixelData: boolean;
  numberOfFrames: number | undefined;
  rows: number | undefined;
  columns: number | undefined;
  /** Set when the data set is deflated and was not inflated first: only the meta group was read. */
  deflated: boolean;
  /** The file ends inside the data set. */
  truncated: boolean;
}

/** Reads the identifying attributes (and whether there is pixel data) of a DICOM file. */
export function readDicomHeader(bytes: Uint8Array, label = 'DICOM', inflatedBody?: Uint8Array): DicomHeader {
  const meta = readMeta(bytes, label);
  const base: DicomHeader = {
    transferSyntax: meta.syntax, transferSyntaxName: transferSyntaxName(meta.syntax), sopClassUid: meta.mediaStorageSopClass,
    sopInstanceUid: undefined, studyInstanceUid: undefined, seriesInstanceUid: undefined, seriesNumber: undefined, instanceNumber: undefined,
    modality: undefined, seriesDescription: undefined, hasPixelData: false, numberOfFrames: undefined, rows: undefined, columns: undefined, deflated: false, truncated: false,
  };
  if (meta.syntax === TRANSFER_SYNTAX.deflatedLE && !inflatedBody) return { ...base, deflated: true };
  const { r, values, pixel } = readDataSet(bytes, meta, label, inflatedBody, []);
  const s = (tag: number): string | undefined => { const el = values.get(tag); return el ? r.str(el) || undefined : undefined; };
  const n = (tag: number): number | undefined => r.num(values.get(tag));
  const us = (tag: number): number | undefined => { const el = values.get(tag); return el && el.length >= 2 ? r.us(el) : undefined; };
  return {
    ...base,
    sopClassUid: s(T.sopClass) ?? meta.mediaStorageSopClass,
    sopInstanceUid: s(T.sopInstance), studyInstanceUid: s(T.studyInstance), seriesInstanceUid: s(T.seriesInstance),
    seriesNumber: n(T.seriesNumber), instanceNumber: n(T.instanceNumber), modality: s(T.modality), seriesDescription: s(T.seriesDescription),
    patientId: s(tagKey(0x0010, 0x0020)),
    hasPixelData: pixel !== undefined, numberOfFrames: n(T.frames), rows: us(T.rows), columns: us(T.columns), truncated: r.truncated,
  };
}

function readDataSet(bytes: Uint8Array, meta: Meta, label: string, inflatedBody: Uint8Array | undefined, warnings: string[]): { r: DicomReader; values: Map<number, Element>; pixel: Element | undefined } {
  const deflated = meta.syntax === TRANSFER_SYNTAX.deflatedLE;
  const body = deflated ? inflatedBody! : bytes;
  const at = deflated ? 0 : meta.bodyAt;
  const enc = bodyEncoding(body, at, deflated ? TRANSFER_SYNTAX.explicitLE : meta.syntax, warnings);
  const r = new DicomReader(body, label, enc.le);
  const values = new Map<number, Element>();
  let pixel: Element | undefined;
  r.walk(at, body.length, enc.explicit, 0, (el) => {
    if (el.tag === T.pixelData) { pixel = el; return true; }
    values.set(el.tag, el);
    return false;
  }, false);
  return { r, values, pixel };
}

/** Largest inflated data set accepted from a deflated file (a deflate bomb stops here). */
export const MAX_INFLATED_BYTES = 2 * 1024 ** 3;

/** Inflates the data set of a Deflated Explicit VR Little Endian file (DecompressionStream, raw deflate). */
export async function inflateDicomBody(bytes: Uint8Array, label = 'DICOM', limit = MAX_INFLATED_BYTES): Promise<Uint8Array> {
  const meta = readMeta(bytes, label);
  const DS = (globalThis as { DecompressionStream?: new (format: string) => TransformStream<Uint8Array, Uint8Array> }).DecompressionStream;
  if (!DS) throw new VideoDecodeError(label, 'deflated DICOM needs DecompressionStream, which this runtime lacks', { hint: 'transcode with `dcmconv +te IN OUT` or use Node >= 20, Deno or a current browser' });
  const parts: Uint8Array[] = [];
  let total = 0;
  try {
    const stream = new Blob([bytes.subarray(meta.bodyAt) as Uint8Array<ArrayBuffer>]).stream().pipeThrough(new DS('deflate-raw'));
    const reader = stream.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.length;
      if (total > limit) {
        await reader.cancel();
        throw new VideoDecodeError(label, `the deflated data set inflates to more than ${limit} bytes`, { hint: 'the file is corrupt (a deflate bomb?)' });
      }
      parts.push(value);
    }
  } catch (e) {
    if (e instanceof VideoDecodeError) throw e;
    // A cut-off stream still yields what came before the cut: keep it and let the reader mark truncation.
    if (total === 0) throw new VideoDecodeError(label, `the deflated data set cannot be inflated (${String((e as Error)?.message ?? e).slice(0, 120)})`, { hint: 'the file is corrupt or truncated', cause: e });
  }
  const out = new Uint8Array(total);
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}

/** Whether a DICOM file's data set is deflated (then inflateDicomBody must run before demuxing). */
export function isDeflatedDicom(bytes: Uint8Array): boolean {
  try {
    return isDicom(bytes) && readMeta(bytes, 'DICOM').syntax === TRANSFER_SYNTAX.deflatedLE;
  } catch {
    return false;
  }
}

const PHOTOMETRICS = new Set<string>(['MONOCHROME1', 'MONOCHROME2', 'PALETTE COLOR', 'RGB', 'YBR_FULL', 'YBR_FULL_422', 'YBR_RCT', 'YBR_ICT']);

/**
 * Parses a DICOM Part 10 file held in memory into encoded frames. A deflated file needs its
 * inflated data set (`await inflateDicomBody(bytes)`; openVideoAsync does this).
 */
export function demuxDicom(bytes: Uint8Array, label = 'DICOM', inflatedBody?: Uint8Array): EncodedVideo {
  const meta = readMeta(bytes, label);
  const { syntax } = meta;
  const info = SYNTAXES[syntax];
  if (!info || info.codec === 'unsupported') {
    throw new VideoDecodeError(label, `transfer syntax ${syntax}${info ? ` (${info.name})` : ''} is not supported`, {
      hint: 'transcode to an image syntax, e.g. `gdcmconv --raw IN OUT`, or for MPEG video `ffmpeg -i IN -c:v mjpeg OUT.avi` after extracting the stream',
    });
  }
  if (syntax === TRANSFER_SYNTAX.deflatedLE && !inflatedBody) {
    throw new VideoDecodeError(label, 'the data set is deflated (1.2.840.10008.1.2.1.99), which needs an asynchronous inflate first', {
      hint: 'use openVideoAsync/readVideoAsync/preprocessVideoAsync (or inflateDicomBody), or transcode with `dcmconv +te IN OUT`',
    });
  }
  const warnings: string[] = [];
  const { r, values, pixel } = readDataSet(bytes, meta, label, inflatedBody, warnings);

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
  const bitsStored = values.has(T.bitsStored) ? num(T.bitsStored, 'Bits Stored') : bitsAllocated;
  const signed = num(T.pixelRepresentation, 'Pixel Representation', 0) === 1;
  const planar = num(T.planar, 'Planar Configuration', 0) === 1 ? 1 : 0;
  const photometric = values.has(T.photometric) ? r.str(values.get(T.photometric)!).toUpperCase() : spp === 1 ? 'MONOCHROME2' : 'RGB';
  const framesEl = values.get(T.frames);
  const declared = framesEl ? Number.parseInt(r.str(framesEl), 10) : 1;
  if (!Number.isInteger(declared) || declared < 1) r.fail(`Number of Frames is ${framesEl ? JSON.stringify(r.str(framesEl)) : 'missing'} (a positive integer expected)`);
  let fps: number | undefined;
  const ft = r.num(values.get(T.frameTime));
  const cr = r.num(values.get(T.cineRate));
  if (ft && ft > 0) fps = 1000 / ft;
  else if (cr && cr > 0) fps = cr;

  if (!pixel) r.fail(r.truncated ? 'file ends before the Pixel Data element' : 'no Pixel Data (7FE0,0010) element', r.truncated ? 'the file is truncated' : 'the file holds no image');
  const px = pixel as Element;
  const frames: EncodedFrame[] = [];
  let truncated = r.truncated;
  const base = { container: 'dicom' as const, codec: syntax, width: columns, height: rows, fps, declaredFrames: declared };

  if (info.codec === 'h264' || info.codec === 'hevc') {
    if (px.length !== UNDEFINED) r.fail('video pixel data must be encapsulated (undefined length)');
    const { fragments, complete } = readFragments(r, px.at);
    if (!complete) truncated = true;
    // The fragments together are one elementary stream; frame boundaries need not align with them (PS3.5 8.2.5).
    const stream = annexBStream(concatBytes(fragments.map((f) => f.bytes)), info.codec, fps, label);
    stream.codedWidth = columns;
    stream.codedHeight = rows;
    const count = Math.min(declared, stream.chunks.length);
    if (stream.chunks.length !== declared) warnings.push(`the ${info.name} stream holds ${stream.chunks.length} pictures, the header declares ${declared} frames`);
    for (let i = 0; i < count; i++) frames.push({ kind: 'stream', index: i });
    if (count < declared) truncated = true;
    return { ...base, frames, truncated, warnings, stream };
  }

  // JPEG baseline/extended frames carry their own colour space (libjpeg's rules), whatever the
  // Photometric Interpretation says (YBR_PARTIAL_422 labels exist): no pixel module for them.
  const pm = info.codec === 'jpeg' ? undefined : pixelModule(values, r, { spp, bitsAllocated, bitsStored, signed, planar, photometric }, label);
  if (info.codec === 'native') {
    const frameBytes = nativeFrameBytes(pm!, columns, rows);
    if (px.length === UNDEFINED) r.fail('native pixel data has undefined length (encapsulated data under a native transfer syntax)');
    const available = Math.min(px.length, r.bytes.length - px.at);
    if (px.length < frameBytes * declared) warnings.push(`Pixel Data holds ${px.length} bytes, ${frameBytes * declared} expected for ${declared} frames`);
    const complete = Math.min(declared, Math.floor(available / frameBytes));
    if (complete < declared) truncated = true;
    let data = r.bytes.subarray(px.at, px.at + complete * frameBytes);
    // Big endian OW holds 8-bit samples byte-swapped within each 16-bit word (PS3.5 8.1.1).
    if (!r.le && bitsAllocated === 8 && px.vr === 'OW') data = swapPairs(data);
    for (let i = 0; i < complete; i++) frames.push({ kind: 'dicom', codec: 'native', bytes: data.subarray(i * frameBytes, (i + 1) * frameBytes), pixel: pm!, littleEndian: r.le });
    return { ...base, frames, truncated, warnings };
  }

  if (px.length !== UNDEFINED) r.fail(`compressed pixel data (${info.name}) must be encapsulated (undefined length)`);
  const { fragments, offsets, complete } = readFragments(r, px.at);
  if (!complete) truncated = true;
  if (info.codec === 'rle') {
    if (photometric === 'YBR_FULL_422') r.fail('YBR_FULL_422 is not a valid photometric interpretation for RLE');
    // RLE frames are exactly one fragment each (PS3.5 A.4.2); readFragments returns only whole ones.
    for (const f of fragments.slice(0, declared)) frames.push({ kind: 'dicom', codec: 'rle', bytes: f.bytes, pixel: pm!, littleEndian: true });
    if (fragments.length > declared) warnings.push(`${fragments.length} RLE fragments found, header declares ${declared} frames`);
  } else {
    const j2k = info.codec === 'j2k' || info.codec === 'htj2k';
    const ext = extendedOffsets(r, values, fragments.length);
    const groups = groupFragments(fragments, ext ?? offsets, declared, warnings, j2k ? startsJ2k : startsJpeg, ext !== undefined);
    // A cut-off file leaves a last frame without its end marker (JPEG EOI and J2K EOC are both FF D9): not usable.
    const last = groups[groups.length - 1];
    if (!complete && last && !endsWithEoi(last)) groups.pop();
    for (const f of groups) {
      frames.push(info.codec === 'jpeg' ? { kind: 'jpeg', bytes: f } : { kind: 'dicom', codec: info.codec, bytes: f, pixel: pm!, littleEndian: true });
    }
  }
  if (frames.length > declared) warnings.push(`${frames.length} frames found, header declares ${declared}`);
  if (frames.length < declared) truncated = true;
  return { ...base, frames, truncated, warnings };
}

function pixelModule(
  values: Map<number, Element>, r: DicomReader,
  a: { spp: number; bitsAllocated: number; bitsStored: number; signed: boolean; planar: 0 | 1; photometric: string }, label: string,
): PixelModule {
  const bad = (why: string, hint: string): never => { throw new VideoDecodeError(label, why, { hint }); };
  if (!PHOTOMETRICS.has(a.photometric)) {
    bad(`photometric interpretation ${a.photometric} is not supported`, 'supported: MONOCHROME1/2, PALETTE COLOR, RGB, YBR_FULL, YBR_FULL_422, YBR_RCT, YBR_ICT');
  }
  const mono = a.photometric.startsWith('MONOCHROME') || a.photometric === 'PALETTE COLOR';
  if ((mono && a.spp !== 1) || (!mono && a.spp !== 3)) {
    bad(`photometric interpretation ${a.photometric} with ${a.spp} samples per pixel is not supported`, `${a.photometric} needs ${mono ? 1 : 3} sample(s) per pixel; the file is corrupt`);
  }
  if (a.bitsAllocated !== 8 && a.bitsAllocated !== 16) {
    bad(`${a.bitsAllocated}-bit pixel data is not supported (8- or 16-bit Bits Allocated expected)`, 'export the echo as 8-bit, e.g. `gdcmconv --raw`');
  }
  if (a.bitsStored < 1 || a.bitsStored > a.bitsAllocated) bad(`Bits Stored ${a.bitsStored} with Bits Allocated ${a.bitsAllocated}`, 'the header is corrupt');
  const pm: PixelModule = {
    samples: a.spp as 1 | 3, bitsAllocated: a.bitsAllocated as 8 | 16, bitsStored: a.bitsStored, signed: a.signed,
    photometric: a.photometric as Photometric, planar: a.planar,
  };
  const center = r.num(values.get(T.windowCenter));
  const width = r.num(values.get(T.windowWidth));
  if (center !== undefined && width !== undefined && width >= 1) pm.window = { center, width };
  const slope = r.num(values.get(T.rescaleSlope));
  const intercept = r.num(values.get(T.rescaleIntercept));
  if (slope !== undefined || intercept !== undefined) pm.rescale = { slope: slope ?? 1, intercept: intercept ?? 0 };
  if (pm.photometric === 'PALETTE COLOR') pm.palette = readPalette(values, r, a.signed, label);
  return pm;
}

/** The three Palette Color LUTs (PS3.3 C.7.6.3.1.5/6), reduced to 8 bits: 16-bit entries by the high byte. */
function readPalette(values: Map<number, Element>, r: DicomReader, signed: boolean, label: string): Palette {
  const fail = (why: string, hint = 'the palette attributes are missing or corrupt'): never => { throw new VideoDecodeError(label, why, { hint }); };
  if (values.has(T.segmentedPalette)) fail('segmented palette colour LUTs are not supported', 'expand them first, e.g. `gdcmconv --decompress-lut IN OUT`');
  const luts = [0, 1, 2].map((c) => {
    const d = values.get(T.paletteDescriptor[c]!);
    const data = values.get(T.paletteData[c]!);
    if (!d || d.length < 6 || !data) return fail(`PALETTE COLOR image without its ${['red', 'green', 'blue'][c]} palette descriptor and data`);
    const entries = r.us(d, 0) || 65536;
    let first = r.us(d, 1);
    if (signed && first >= 32768) first -= 65536; // US or SS: signed with signed pixel data
    const bits = r.us(d, 2);
    if (bits !== 8 && bits !== 16) fail(`palette entries of ${bits} bits (8 or 16 expected)`);
    const out = new Uint8Array(entries);
    if (data.length === entries) {
      // 8-bit entries packed two per word (the byte stream order)
      out.set(r.bytes.subarray(data.at, data.at + entries));
    } else if (data.length >= entries * 2) {
      for (let i = 0; i < entries; i++) {
        const v = r.u16(data.at + 2 * i);
        // 16-bit entries keep their high byte; 8-bit entries stored one per word are the word's value.
        out[i] = bits === 16 ? v >> 8 : v & 0xff;
      }
    } else fail(`palette data holds ${data.length} bytes for ${entries} entries`);
    return { first, out };
  });
  if (luts[0]!.out.length !== luts[1]!.out.length || luts[0]!.out.length !== luts[2]!.out.length) fail('the red, green and blue palettes differ in length');
  return { first: luts[0]!.first, r: luts[0]!.out, g: luts[1]!.out, b: luts[2]!.out };
}

function swapPairs(b: Uint8Array): Uint8Array {
  const out = new Uint8Array(b.length);
  for (let i = 0; i + 1 < b.length; i += 2) { out[i] = b[i + 1]!; out[i + 1] = b[i]!; }
  if (b.length & 1) out[b.length - 1] = b[b.length - 1]!;
  return out;
}

function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  const out = new Uint8Array(parts.reduce((s, x) => s + x.length, 0));
  let o = 0;
  for (const x of parts) { out.set(x, o); o += x.length; }
  return out;
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
      for (let i = 0; i + 4 <= len; i += 4) offsets.push(r.u32(h.next + i));
    } else fragments.push({ at: p - firstFragmentAt, bytes: body });
    p = h.next + len;
  }
}

/** The Extended Offset Table (7FE0,0001), 64-bit offsets from the first fragment's item tag, when present. */
function extendedOffsets(r: DicomReader, values: Map<number, Element>, fragments: number): number[] | undefined {
  const el = values.get(T.extendedOffsets);
  if (!el || el.length < 8 || fragments === 0) return undefined;
  const out: number[] = [];
  for (let i = 0; i + 8 <= el.length; i += 8) out.push(Number(r.dv.getBigUint64(el.at + i, r.le)));
  return out;
}

const startsJpeg = (b: Uint8Array): boolean => b.length >= 2 && b[0] === 0xff && b[1] === 0xd8;
const startsJ2k = (b: Uint8Array): boolean =>
  (b.length >= 2 && b[0] === 0xff && b[1] === 0x4f) || (b.length >= 8 && b[4] === 0x6a && b[5] === 0x50 && b[6] === 0x20 && b[7] === 0x20);

/** Splits fragments into frames: by the offset table, one per frame, or at codestream start markers. */
function groupFragments(fragments: { at: number; bytes: Uint8Array }[], offsets: number[], declared: number, warnings: string[], starts: (b: Uint8Array) => boolean, extended: boolean): Uint8Array[] {
  if (fragments.length === 0) return [];
  if (declared === 1) return [concatBytes(fragments.map((f) => f.bytes))];
  if (offsets.length > 0) {
    const groups: Uint8Array[] = [];
    for (let i = 0; i < offsets.length; i++) {
      const lo = offsets[i]!;
      const hi = i + 1 < offsets.length ? offsets[i + 1]! : Infinity;
      const parts = fragments.filter((f) => f.at >= lo && f.at < hi).map((f) => f.bytes);
      if (parts.length === 0) { warnings.push(`${extended ? 'extended ' : ''}offset table entry ${i} points at no fragment`); break; }
      groups.push(concatBytes(parts));
    }
    return groups;
  }
  if (fragments.length === declared) return fragments.map((f) => f.bytes);
  // No offset table and more fragments than frames: a new frame starts at each codestream start marker.
  const groups: Uint8Array[][] = [];
  for (const f of fragments) {
    if (starts(f.bytes) || groups.length === 0) groups.push([f.bytes]);
    else groups[groups.length - 1]!.push(f.bytes);
  }
  return groups.map(concatBytes);
}

/** JPEG data ends with FF D9 (fragments are padded to even length, so allow one trailing 0). */
function endsWithEoi(b: Uint8Array): boolean {
  const n = b.length;
  return (n >= 2 && b[n - 2] === 0xff && b[n - 1] === 0xd9) || (n >= 3 && b[n - 3] === 0xff && b[n - 2] === 0xd9 && b[n - 1] === 0);
}
