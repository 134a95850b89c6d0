// Tiny writers for synthetic AVI and DICOM files, so the demuxers can be tested on every structural
// variant (JUNK, odd padding, LIST rec, missing/damaged index, truncation, sequences, fragments).

const enc = new TextEncoder();

export function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}

export function u32le(...v: number[]): Uint8Array {
  const b = new Uint8Array(v.length * 4);
  const dv = new DataView(b.buffer);
  v.forEach((x, i) => dv.setUint32(i * 4, x >>> 0, true));
  return b;
}

export function u16le(...v: number[]): Uint8Array {
  const b = new Uint8Array(v.length * 2);
  const dv = new DataView(b.buffer);
  v.forEach((x, i) => dv.setUint16(i * 2, x, true));
  return b;
}

// ---------------------------------------------------------------- AVI

/** A RIFF chunk: id, little-endian size, data, pad byte when the size is odd. */
export function chunk(id: string, data: Uint8Array): Uint8Array {
  return concat([enc.encode(id), u32le(data.length), data, data.length & 1 ? new Uint8Array(1) : new Uint8Array(0)]);
}

export function list(type: string, children: readonly Uint8Array[], id = 'LIST'): Uint8Array {
  return chunk(id, concat([enc.encode(type), ...children]));
}

export interface AviSpec {
  width: number;
  height: number;
  frames: Uint8Array[];
  codec?: string; // strf biCompression FourCC, or 'DIB ' for uncompressed (0)
  bitCount?: number;
  fps?: number;
  /** Group frames into LIST rec of this many (0 = none). */
  recGroup?: number;
  /** Insert a JUNK chunk of this many bytes (odd sizes test padding) after every frame. */
  junk?: number;
  index?: boolean;
  /** Declared frame count (default frames.length). */
  declared?: number;
}

export function buildAvi(spec: AviSpec): Uint8Array {
  const n = spec.declared ?? spec.frames.length;
  const fps = spec.fps ?? 30;
  const avih = concat([u32le(Math.round(1e6 / fps), 0, 0, 0x10, n, 0, 1, 0, spec.width, spec.height, 0, 0, 0, 0)]);
  const codec = spec.codec ?? 'MJPG';
  const strh = concat([enc.encode('vids'), enc.encode(codec === 'DIB ' ? 'DIB ' : codec), u32le(0, 0, 0, 1, fps, 0, n, 0, 0xffffffff, 0), u16le(0, 0, spec.width, spec.height)]);
  const compression = codec === 'DIB ' ? u32le(0) : enc.encode(codec);
  const strf = concat([u32le(40), u32le(spec.width), u32le(spec.height), u16le(1, spec.bitCount ?? 24), compression, u32le(0, 0, 0, 0, 0)]);
  const hdrl = list('hdrl', [chunk('avih', avih), list('strl', [chunk('strh', strh), chunk('strf', strf)])]);
  const items: Uint8Array[] = [];
  const offsets: { off: number; size: number }[] = [];
  let pos = 4; // idx1 offsets are relative to the 'movi' FourCC
  const frameChunks = spec.frames.map((f) => chunk('00dc', f));
  const group = spec.recGroup ?? 0;
  for (let i = 0; i < frameChunks.length; i++) {
    if (group > 0 && i % group === 0) {
      const members = frameChunks.slice(i, i + group);
      pos += 12; // LIST rec header
      for (const [k, m] of members.entries()) { offsets.push({ off: pos, size: spec.frames[i + k]!.length }); pos += m.length; }
      items.push(list('rec ', members));
      i += members.length - 1;
      continue;
    }
    offsets.push({ off: pos, size: spec.frames[i]!.length });
    items.push(frameChunks[i]!);
    pos += frameChunks[i]!.length;
    if (spec.junk !== undefined) {
      const j = chunk('JUNK', new Uint8Array(spec.junk));
      items.push(j);
      pos += j.length;
    }
  }
  const movi = list('movi', items);
  const idx1 = spec.index === false ? new Uint8Array(0) : chunk('idx1', concat(offsets.map((o) => concat([enc.encode('00dc'), u32le(0x10, o.off, o.size)]))));
  return list('AVI ', [hdrl, chunk('JUNK', new Uint8Array(13)), movi, idx1], 'RIFF');
}

// ---------------------------------------------------------------- DICOM

const LONG = new Set(['OB', 'OD', 'OF', 'OL', 'OV', 'OW', 'SQ', 'SV', 'UC', 'UN', 'UR', 'UT', 'UV']);

/** One data element; `length` overrides the encoded length (0xFFFFFFFF = undefined). */
export function dcmElement(group: number, element: number, vr: string, value: Uint8Array, explicit = true, length?: number): Uint8Array {
  const len = length ?? value.length;
  if (!explicit || group === 0xfffe) return concat([u16le(group, element), u32le(len), value]);
  if (LONG.has(vr)) return concat([u16le(group, element), enc.encode(vr), new Uint8Array(2), u32le(len), value]);
  return concat([u16le(group, element), enc.encode(vr), u16le(len), value]);
}

/** A string value padded to even length (with NUL for UI, space otherwise). */
export function dcmString(s: string, vr = 'CS'): Uint8Array {
  const b = enc.encode(s);
  return b.length & 1 ? concat([b, new Uint8Array([vr === 'UI' ? 0 : 0x20])]) : b;
}

export function dcmFile(transferSyntax: string, dataset: readonly Uint8Array[]): Uint8Array {
  const meta = dcmElement(0x0002, 0x0010, 'UI', dcmString(transferSyntax, 'UI'));
  return concat([new Uint8Array(128), enc.encode('DICM'), dcmElement(0x0002, 0x0000, 'UL', u32le(meta.length)), meta, ...dataset]);
}

export interface ImageAttrs {
  rows: number;
  columns: number;
  samples: number;
  photometric: string;
  frames: number;
  bitsAllocated?: number;
  planar?: number;
}

export function dcmImageAttrs(a: ImageAttrs, explicit = true): Uint8Array[] {
  const els = [
    dcmElement(0x0018, 0x1063, 'DS', dcmString('33.3'), explicit),
    dcmElement(0x0028, 0x0002, 'US', u16le(a.samples), explicit),
    dcmElement(0x0028, 0x0004, 'CS', dcmString(a.photometric), explicit),
  ];
  if (a.samples > 1) els.push(dcmElement(0x0028, 0x0006, 'US', u16le(a.planar ?? 0), explicit));
  els.push(
    dcmElement(0x0028, 0x0008, 'IS', dcmString(String(a.frames)), explicit),
    dcmElement(0x0028, 0x0010, 'US', u16le(a.rows), explicit),
    dcmElement(0x0028, 0x0011, 'US', u16le(a.columns), explicit),
    dcmElement(0x0028, 0x0100, 'US', u16le(a.bitsAllocated ?? 8), explicit),
    dcmElement(0x0028, 0x0101, 'US', u16le(a.bitsAllocated ?? 8), explicit),
    dcmElement(0x0028, 0x0103, 'US', u16le(0), explicit),
  );
  return els;
}

/** An undefined-length sequence with one undefined-length item holding one element. */
export function dcmSequence(explicit = true): Uint8Array {
  const inner = dcmElement(0x0008, 0x0100, 'SH', dcmString('XYZ'), explicit);
  const item = concat([dcmElement(0xfffe, 0xe000, '', new Uint8Array(0), false, 0xffffffff), inner, dcmElement(0xfffe, 0xe00d, '', new Uint8Array(0), false, 0)]);
  return concat([dcmElement(0x0008, 0x1115, 'SQ', item, explicit, 0xffffffff), dcmElement(0xfffe, 0xe0dd, '', new Uint8Array(0), false, 0)]);
}

/** Encapsulated pixel data: offset table (if given) then fragments, then the delimiter. */
export function dcmEncapsulated(fragments: readonly Uint8Array[], offsets: readonly number[] = []): Uint8Array {
  const pad = (b: Uint8Array): Uint8Array => (b.length & 1 ? concat([b, new Uint8Array(1)]) : b);
  const items = [dcmElement(0xfffe, 0xe000, '', u32le(...offsets), false), ...fragments.map((f) => dcmElement(0xfffe, 0xe000, '', pad(f), false))];
  return concat([dcmElement(0x7fe0, 0x0010, 'OB', concat(items), true, 0xffffffff), dcmElement(0xfffe, 0xe0dd, '', new Uint8Array(0), false, 0)]);
}

/** PackBits as DICOM RLE uses it: literal runs (n = len-1) and replicate runs (n = 257-len). */
export function packBits(plane: Uint8Array): Uint8Array {
  const out: number[] = [];
  let i = 0;
  while (i < plane.length) {
    let run = 1;
    while (i + run < plane.length && run < 128 && plane[i + run] === plane[i]) run++;
    if (run >= 2) {
      out.push(257 - run, plane[i]!);
      i += run;
      continue;
    }
    let lit = 1;
    while (i + lit < plane.length && lit < 128 && !(i + lit + 1 < plane.length && plane[i + lit] === plane[i + lit + 1])) lit++;
    out.push(lit - 1, ...plane.subarray(i, i + lit));
    i += lit;
  }
  return Uint8Array.from(out);
}

/** One RLE Lossless frame from `samples` planar planes of `pixels` bytes each. */
export function rleFrame(planar: Uint8Array, pixels: number, samples: number): Uint8Array {
  const segs = Array.from({ length: samples }, (_, s) => {
    const seg = packBits(planar.subarray(s * pixels, (s + 1) * pixels));
    return seg.length & 1 ? concat([seg, new Uint8Array([128])]) : seg; // pad with a no-op to even length
  });
  const offsets: number[] = [];
  let at = 64;
  for (const s of segs) { offsets.push(at); at += s.length; }
  const header = u32le(samples, ...offsets, ...new Array(15 - samples).fill(0));
  return concat([header, ...segs]);
}
