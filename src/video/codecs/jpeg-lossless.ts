// Lossless JPEG (ITU T.81 process 14, SOF3, Huffman): DICOM 1.2.840.10008.1.2.4.57 (any predictor)
// and .70 (predictor 1, "SV1"). Each sample is a Huffman-coded difference from a prediction built
// from its left (Ra), upper (Rb) and upper-left (Rc) neighbours; reconstruction is modulo 2^16 and
// the point transform Pt shifts the result left (T.81 H.2). 2..16-bit precision, 1..4 components,
// one interleaved scan or one scan per component, restart intervals. No colour transform: the
// samples are what the DICOM Photometric Interpretation says (libjpeg's lossless mode does the same).
// Sampling factors other than 1x1 (never used in DICOM) are refused.

import { VideoDecodeError } from '../../errors.js';
import { checkFrameDimensions } from '../limits.js';
import { type HuffmanTable, buildHuffmanTable, walkMarkers } from '../jpeg.js';

export interface LosslessImage {
  width: number;
  height: number;
  components: number;
  precision: number;
  /** Samples interleaved by pixel (c0 c1 c2 c0 ...), each < 2^precision. */
  data: Uint16Array;
}

function fail(label: string, why: string, hint = 'the lossless JPEG data is corrupt'): never {
  throw new VideoDecodeError(label, why, { hint });
}

/** Decodes one lossless JPEG (SOF3) image. */
export function decodeJpegLossless(bytes: Uint8Array, label = 'lossless JPEG'): LosslessImage {
  const tables: (HuffmanTable | undefined)[] = [];
  let restartInterval = 0;
  let frame: { width: number; height: number; precision: number; ids: number[]; data: Uint16Array } | undefined;
  let scans = 0;
  const decoded = new Set<number>();
  walkMarkers(bytes, label, (marker, seg, offset) => {
    if (marker === 0xc4) {
      let p = 0;
      while (p < seg.length) {
        if (p + 17 > seg.length) fail(label, 'truncated Huffman table (DHT)');
        const th = seg[p]! & 15;
        if (seg[p]! >> 4 !== 0 || th > 3) fail(label, `Huffman table class/id 0x${seg[p]!.toString(16)} (lossless JPEG uses DC tables 0..3)`);
        let total = 0;
        for (let i = 0; i < 16; i++) total += seg[p + 1 + i]!;
        if (p + 17 + total > seg.length) fail(label, 'truncated Huffman table (DHT)');
        tables[th] = buildHuffmanTable(seg.subarray(p + 1, p + 17), seg.subarray(p + 17, p + 17 + total), label);
        p += 17 + total;
      }
      return false;
    }
    if (marker === 0xdd) {
      if (seg.length < 2) fail(label, 'truncated restart interval (DRI)');
      restartInterval = (seg[0]! << 8) | seg[1]!;
      return false;
    }
    if (marker === 0xc3) {
      if (frame) fail(label, 'more than one frame header (SOF)');
      if (seg.length < 6) fail(label, 'truncated frame header (SOF3)');
      const precision = seg[0]!;
      const height = (seg[1]! << 8) | seg[2]!;
      const width = (seg[3]! << 8) | seg[4]!;
      const nf = seg[5]!;
      if (precision < 2 || precision > 16) fail(label, `${precision}-bit precision (2..16 expected)`);
      if (height === 0) fail(label, 'image height 0 (DNL-defined height) is not supported');
      checkFrameDimensions(width, height, label);
      if (nf < 1 || nf > 4 || seg.length < 6 + 3 * nf) fail(label, `invalid component count ${nf} in the frame header`);
      const ids: number[] = [];
      for (let i = 0; i < nf; i++) {
        const hv = seg[7 + 3 * i]!;
        if (hv !== 0x11) fail(label, `component sampling ${hv >> 4}x${hv & 15} is not supported (1x1 expected)`, 'DICOM lossless JPEG is not subsampled; the file is unusual or corrupt');
        ids.push(seg[6 + 3 * i]!);
      }
      // Every sample costs at least one bit: refuse a tiny stream claiming a huge image before allocating.
      if (bytes.length * 8 < width * height * nf) fail(label, `${bytes.length} bytes cannot hold a ${width}x${height}x${nf} lossless image`, 'the data is truncated or the header is corrupt');
      frame = { width, height, precision, ids, data: new Uint16Array(width * height * nf) };
      return false;
    }
    if (marker === 0xda) {
      if (!frame) fail(label, 'scan (SOS) before the frame header (SOF3)');
      const ns = seg[0]!;
      if (ns < 1 || ns > frame.ids.length || seg.length < 1 + 2 * ns + 3) fail(label, 'invalid scan header (SOS)');
      const comps: number[] = [];
      const tabs: HuffmanTable[] = [];
      for (let i = 0; i < ns; i++) {
        const c = frame.ids.indexOf(seg[1 + 2 * i]!);
        if (c < 0) fail(label, `scan refers to unknown component ${seg[1 + 2 * i]}`);
        if (decoded.has(c)) fail(label, `component ${seg[1 + 2 * i]} is coded twice`);
        decoded.add(c);
        const t = tables[seg[2 + 2 * i]! >> 4];
        if (!t) fail(label, `Huffman table ${seg[2 + 2 * i]! >> 4} is used but never defined`);
        comps.push(c);
        tabs.push(t);
      }
      const predictor = seg[1 + 2 * ns]!;
      const pt = seg[3 + 2 * ns]! & 15;
      if (predictor < 1 || predictor > 7) fail(label, `predictor ${predictor} (1..7 expected; 0 is hierarchical-only)`);
      if (pt >= frame.precision) fail(label, `point transform ${pt} for ${frame.precision}-bit samples`);
      scans++;
      return decodeLosslessScan(bytes, offset + seg.length, frame, comps, tabs, predictor, pt, restartInterval, label);
    }
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      fail(label, `frame type 0xFF${marker.toString(16).toUpperCase()} in a lossless JPEG transfer syntax (SOF3 expected)`, 'the transfer syntax does not match the data');
    }
    return false;
  });
  if (!frame || scans === 0) fail(label, frame ? 'no image data (no SOS scan)' : 'no frame header (SOF3)');
  const f = frame as NonNullable<typeof frame>;
  if (decoded.size !== f.ids.length) fail(label, `${f.ids.length - decoded.size} of ${f.ids.length} components have no scan`, 'the data is truncated');
  return { width: f.width, height: f.height, components: f.ids.length, precision: f.precision, data: f.data };
}

function decodeLosslessScan(
  data: Uint8Array, start: number,
  frame: { width: number; height: number; precision: number; ids: number[]; data: Uint16Array },
  comps: number[], tabs: HuffmanTable[], predictor: number, pt: number, restartInterval: number, label: string,
): number {
  let pos = start;
  let bitBuf = 0;
  let bitCnt = 0;
  let fakeBits = 0;
  const fill = (): void => {
    while (bitCnt <= 24) {
      let b = 0;
      if (pos < data.length) {
        b = data[pos]!;
        if (b === 0xff) {
          const nxt = pos + 1 < data.length ? data[pos + 1]! : -1;
          if (nxt === 0) pos += 2;
          else { b = 0; fakeBits += 8; } // a marker: feed zeros
        } else pos++;
      } else fakeBits += 8;
      bitBuf = ((bitBuf << 8) | b) >>> 0;
      bitCnt += 8;
    }
  };
  const getBits = (n: number): number => {
    if (n === 0) return 0;
    if (bitCnt < n) fill();
    bitCnt -= n;
    return (bitBuf >>> bitCnt) & ((1 << n) - 1);
  };
  const decodeHuff = (t: HuffmanTable): number => {
    if (bitCnt < 16) fill();
    const look = (bitBuf >>> (bitCnt - 9)) & 511;
    const e = t.lookup[look]!;
    if (e !== 0) { bitCnt -= e >> 8; return e & 0xff; }
    let len = 10;
    let code = (bitBuf >>> (bitCnt - len)) & ((1 << len) - 1);
    while (code > t.maxcode[len]!) {
      len++;
      if (len > 16) fail(label, 'corrupt entropy-coded data (invalid Huffman code)');
      code = (bitBuf >>> (bitCnt - len)) & ((1 << len) - 1);
    }
    bitCnt -= len;
    return t.values[(t.valoffset[len]! + code) & 0xff]!;
  };
  const diff = (t: HuffmanTable): number => {
    const s = decodeHuff(t);
    if (s === 0) return 0;
    if (s === 16) return 32768;
    if (s > 16) fail(label, `corrupt entropy-coded data (difference category ${s})`);
    const v = getBits(s);
    return v < 1 << (s - 1) ? v - (1 << s) + 1 : v;
  };

  const { width, height } = frame;
  const nf = frame.ids.length;
  const out = frame.data;
  // Reconstructed values before the point transform, one row back and the current row per component.
  const ns = comps.length;
  const prev = comps.map(() => new Int32Array(width));
  const cur = comps.map(() => new Int32Array(width));
  const initial = 1 << (frame.precision - pt - 1);
  let firstLine = true; // the first line of the scan or after a restart
  let mcu = 0;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (restartInterval && mcu > 0 && mcu % restartInterval === 0) {
        if (fakeBits > 0 && bitCnt < fakeBits) fail(label, 'entropy-coded data ends before the last sample', 'the data is truncated');
        bitBuf = 0; bitCnt = 0; fakeBits = 0;
        while (pos + 1 < data.length && !(data[pos] === 0xff && data[pos + 1]! >= 0xd0 && data[pos + 1]! <= 0xd7)) pos++;
        if (pos + 1 >= data.length) fail(label, 'restart marker missing (data ends)', 'the data is truncated');
        pos += 2;
        firstLine = true;
        if (x !== 0) fail(label, `restart interval ${restartInterval} is not a whole number of lines (${width} samples)`);
      }
      mcu++;
      for (let i = 0; i < ns; i++) {
        const p = prev[i]!, c = cur[i]!;
        let pred: number;
        if (firstLine) pred = x === 0 ? initial : c[x - 1]!;
        else if (x === 0) pred = p[0]!;
        else {
          const ra = c[x - 1]!, rb = p[x]!, rc = p[x - 1]!;
          switch (predictor) {
            case 1: pred = ra; break;
            case 2: pred = rb; break;
            case 3: pred = rc; break;
            case 4: pred = ra + rb - rc; break;
            case 5: pred = ra + ((rb - rc) >> 1); break;
            case 6: pred = rb + ((ra - rc) >> 1); break;
            default: pred = (ra + rb) >> 1;
          }
        }
        const v = (pred + diff(tabs[i]!)) & 0xffff;
        c[x] = v;
        out[(y * width + x) * nf + comps[i]!] = (v << pt) & 0xffff;
      }
    }
    for (let i = 0; i < ns; i++) { const t = prev[i]!; prev[i] = cur[i]!; cur[i] = t; }
    firstLine = false;
  }
  if (fakeBits > 0 && bitCnt < fakeBits) fail(label, 'entropy-coded data ends before the last sample', 'the data is truncated');
  while (pos < data.length && !(data[pos] === 0xff && pos + 1 < data.length && data[pos + 1] !== 0 && !(data[pos + 1]! >= 0xd0 && data[pos + 1]! <= 0xd7))) pos++;
  if (pos >= data.length) fail(label, 'missing end-of-image marker after the image data', 'the data is truncated');
  return pos;
}
