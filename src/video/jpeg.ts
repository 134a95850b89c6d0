// Baseline (sequential, Huffman, 8-bit) JPEG decoder that reproduces libjpeg-turbo's default
// decode bit for bit: the "islow" integer IDCT (jidctint.c), "fancy" (triangle) chroma upsampling
// (jdsample.c) and the fixed-point YCbCr->RGB tables (jdcolor.c). That is what cv2.imdecode, PIL
// and browsers produce, so frames decoded here match them exactly.
// Progressive, lossless, hierarchical, arithmetic-coded and 12-bit JPEGs are refused with a
// VideoDecodeError naming the process.

import { VideoDecodeError } from '../errors.js';
import { type ColorOrder, yccToInterleaved } from './color.js';
import { idctSimple8, yuvToInterleavedSwscale } from './jpeg-ffmpeg.js';
import { checkFrameDimensions } from './limits.js';

/** A decoded frame: interleaved 3-channel bytes, row-major (H x W x 3). */
export interface DecodedFrame {
  width: number;
  height: number;
  /** H*W*3 bytes in `order`. */
  data: Uint8Array;
  order: ColorOrder;
}

export interface JpegDecodeOptions {
  /** Output channel order; default 'bgr' (what cv2 returns). */
  order?: ColorOrder;
  /** Name used in error messages (file name, "frame 12"). */
  label?: string;
  /**
   * Whose pixel reconstruction to reproduce: 'libjpeg' (default; libjpeg-turbo as in cv2.imdecode,
   * PIL and browsers) or 'ffmpeg' (cv2.VideoCapture's FFmpeg MJPEG decoder + swscale, the path
   * echo_CLIP's read_avi takes). 'ffmpeg' is bit-exact for 4:2:0 and 4:2:2 with an even height
   * and for grayscale; other layouts use FFmpeg's IDCT with libjpeg's upsampling and colour
   * conversion (4:4:4: within 1 level).
   */
  emulate?: 'libjpeg' | 'ffmpeg';
  /** Refuse images with more pixels than this before allocating (default 2^26 = 64 Mpixel). */
  maxPixels?: number;
}

export const DEFAULT_MAX_JPEG_PIXELS = 1 << 26;

export interface JpegInfo {
  width: number;
  height: number;
  components: number;
  /** 'baseline' (SOF0) or 'extended' (SOF1, Huffman, 8-bit). */
  process: 'baseline' | 'extended';
}

// Zig-zag position -> natural (row-major) index, with libjpeg's 16 extra entries so that a corrupt
// run length past coefficient 63 lands harmlessly on 63 instead of out of bounds (jutils.c).
const NATURAL_ORDER = new Uint8Array([
  0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7, 14, 21, 28,
  35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
  63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63,
]);

// The "typical" tables of ITU T.81 Annex K.3. Motion-JPEG (AVI1) frames usually omit DHT and rely
// on them; libjpeg-turbo substitutes the same tables (jstdhuff.c).
const STD_DC_BITS = [0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0];
const STD_DC_CHROMA_BITS = [0, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0];
const STD_DC_VALUES = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
const STD_AC_LUMA_BITS = [0, 2, 1, 3, 3, 2, 4, 3, 5, 5, 4, 4, 0, 0, 1, 0x7d];
const STD_AC_LUMA_VALUES = [
  0x01, 0x02, 0x03, 0x00, 0x04, 0x11, 0x05, 0x12, 0x21, 0x31, 0x41, 0x06, 0x13, 0x51, 0x61, 0x07, 0x22, 0x71, 0x14, 0x32,
  0x81, 0x91, 0xa1, 0x08, 0x23, 0x42, 0xb1, 0xc1, 0x15, 0x52, 0xd1, 0xf0, 0x24, 0x33, 0x62, 0x72, 0x82, 0x09, 0x0a, 0x16,
  0x17, 0x18, 0x19, 0x1a, 0x25, 0x26, 0x27, 0x28, 0x29, 0x2a, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3a, 0x43, 0x44, 0x45,
  0x46, 0x47, 0x48, 0x49, 0x4a, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5a, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69,
  0x6a, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7a, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8a, 0x92, 0x93, 0x94,
  0x95, 0x96, 0x97, 0x98, 0x99, 0x9a, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6,
  0xb7, 0xb8, 0xb9, 0xba, 0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xc7, 0xc8, 0xc9, 0xca, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8,
  0xd9, 0xda, 0xe1, 0xe2, 0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8, 0xe9, 0xea, 0xf1, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8,
  0xf9, 0xfa,
];
const STD_AC_CHROMA_BITS = [0, 2, 1, 2, 4, 4, 3, 4, 7, 5, 4, 4, 0, 1, 2, 0x77];
const STD_AC_CHROMA_VALUES = [
  0x00, 0x01, 0x02, 0x03, 0x11, 0x04, 0x05, 0x21, 0x31, 0x06, 0x12, 0x41, 0x51, 0x07, 0x61, 0x71, 0x13, 0x22, 0x32, 0x81,
  0x08, 0x14, 0x42, 0x91, 0xa1, 0xb1, 0xc1, 0x09, 0x23, 0x33, 0x52, 0xf0, 0x15, 0x62, 0x72, 0xd1, 0x0a, 0x16, 0x24, 0x34,
  0xe1, 0x25, 0xf1, 0x17, 0x18, 0x19, 0x1a, 0x26, 0x27, 0x28, 0x29, 0x2a, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3a, 0x43, 0x44,
  0x45, 0x46, 0x47, 0x48, 0x49, 0x4a, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5a, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68,
  0x69, 0x6a, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7a, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8a, 0x92,
  0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9a, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xb2, 0xb3, 0xb4,
  0xb5, 0xb6, 0xb7, 0xb8, 0xb9, 0xba, 0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xc7, 0xc8, 0xc9, 0xca, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6,
  0xd7, 0xd8, 0xd9, 0xda, 0xe2, 0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8, 0xe9, 0xea, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8,
  0xf9, 0xfa,
];

const LOOKAHEAD = 9;

/** A decoding table built like libjpeg's jpeg_make_d_derived_tbl (canonical codes). */
export interface HuffmanTable {
  /** lookup[peek9] = (length << 8) | symbol, or 0 when the code is longer than 9 bits. */
  lookup: Uint16Array;
  /** maxcode[l]: largest code of length l (-1 if none); index 17 is a sentinel. */
  maxcode: Int32Array;
  /** valoffset[l]: index into values of the first code of length l, minus that code. */
  valoffset: Int32Array;
  values: Uint8Array;
}

function fail(label: string, why: string, hint = 'the file is corrupt or not a baseline JPEG'): never {
  throw new VideoDecodeError(label, why, { hint });
}

export function buildHuffmanTable(bits: ArrayLike<number>, values: ArrayLike<number>, label: string): HuffmanTable {
  let total = 0;
  for (let i = 0; i < 16; i++) total += bits[i]!;
  if (total > 256 || total > values.length) fail(label, `Huffman table declares ${total} codes (at most 256, ${values.length} present)`);
  const maxcode = new Int32Array(18).fill(-1);
  const valoffset = new Int32Array(18);
  const lookup = new Uint16Array(1 << LOOKAHEAD);
  let code = 0;
  let k = 0;
  for (let len = 1; len <= 16; len++) {
    const n = bits[len - 1]!;
    if (n > 0) {
      valoffset[len] = k - code;
      for (let i = 0; i < n; i++, k++, code++) {
        if (len <= LOOKAHEAD) {
          const shift = LOOKAHEAD - len;
          const base = code << shift;
          const entry = (len << 8) | values[k]!;
          for (let j = 0; j < 1 << shift; j++) lookup[base + j] = entry;
        }
      }
      maxcode[len] = code - 1;
      // Codes must fit in len bits; more codes than that is an invalid table (libjpeg: JERR_BAD_HUFF_TABLE).
      if (code > 1 << len) fail(label, `Huffman table has too many codes of length ${len}`);
    }
    code <<= 1;
  }
  maxcode[17] = 0x7fffffff; // makes the slow decoder loop stop at 17 (invalid code)
  return { lookup, maxcode, valoffset, values: Uint8Array.from(Array.prototype.slice.call(values, 0, total)) };
}

let stdTables: HuffmanTable[] | undefined;
/** [dc0, dc1, ac0, ac1] standard tables, built on first use. */
function standardTables(): HuffmanTable[] {
  stdTables ??= [
    buildHuffmanTable(STD_DC_BITS, STD_DC_VALUES, 'standard DC table'),
    buildHuffmanTable(STD_DC_CHROMA_BITS, STD_DC_VALUES, 'standard DC table'),
    buildHuffmanTable(STD_AC_LUMA_BITS, STD_AC_LUMA_VALUES, 'standard AC table'),
    buildHuffmanTable(STD_AC_CHROMA_BITS, STD_AC_CHROMA_VALUES, 'standard AC table'),
  ];
  return stdTables;
}

interface Component {
  id: number;
  h: number;
  v: number;
  tq: number;
  /** Blocks per line / column in the (MCU-padded) coefficient buffer. */
  blocksW: number;
  blocksH: number;
  /** Blocks actually covering the component (non-interleaved scans visit only these). */
  usedBlocksW: number;
  usedBlocksH: number;
  /** Component size in samples (libjpeg's downsampled_width/height). */
  width: number;
  height: number;
  coefs: Int16Array;
  dcTable: number;
  acTable: number;
  pred: number;
}

/** Reads the frame header (SOF) without decoding: size, component count, process. */
export function readJpegInfo(bytes: Uint8Array, label = 'JPEG'): JpegInfo {
  let info: JpegInfo | undefined;
  walkMarkers(bytes, label, (marker, seg) => {
    if (marker === 0xc0 || marker === 0xc1) {
      info = { ...parseSofDims(seg, label), process: marker === 0xc0 ? 'baseline' : 'extended' };
      return true;
    }
    rejectUnsupportedSof(marker, label);
    return marker === 0xda;
  });
  if (!info) fail(label, 'no frame header (SOF) before the image data');
  return info;
}

function parseSofDims(seg: Uint8Array, label: string): { width: number; height: number; components: number } {
  if (seg.length < 6) fail(label, `frame header is ${seg.length} bytes (at least 6 expected)`);
  const precision = seg[0]!;
  if (precision !== 8) {
    fail(label, `${precision}-bit sample precision is not supported (only 8-bit baseline JPEG)`, 'convert the video to 8-bit (e.g. ffmpeg -c:v mjpeg)');
  }
  const height = (seg[1]! << 8) | seg[2]!;
  const width = (seg[3]! << 8) | seg[4]!;
  const components = seg[5]!;
  if (height === 0) fail(label, 'image height 0 (DNL-defined height) is not supported');
  checkFrameDimensions(width, height, label);
  if (components !== 1 && components !== 3) {
    fail(label, `${components} colour components (1 = grayscale or 3 = YCbCr/RGB expected)`, 'CMYK/YCCK JPEGs are not supported');
  }
  if (seg.length < 6 + components * 3) fail(label, 'frame header truncated');
  return { width, height, components };
}

const UNSUPPORTED_SOF: Record<number, string> = {
  0xc2: 'progressive JPEG (SOF2)',
  0xc3: 'lossless JPEG (SOF3)',
  0xc5: 'hierarchical JPEG (SOF5)',
  0xc6: 'hierarchical progressive JPEG (SOF6)',
  0xc7: 'hierarchical lossless JPEG (SOF7)',
  0xc9: 'arithmetic-coded JPEG (SOF9)',
  0xca: 'arithmetic-coded progressive JPEG (SOF10)',
  0xcb: 'arithmetic-coded lossless JPEG (SOF11)',
  0xcc: 'arithmetic coding (DAC)',
  0xcd: 'arithmetic-coded hierarchical JPEG (SOF13)',
  0xce: 'arithmetic-coded hierarchical progressive JPEG (SOF14)',
  0xcf: 'arithmetic-coded hierarchical lossless JPEG (SOF15)',
  0xf7: 'JPEG-LS (SOF55)',
};

function rejectUnsupportedSof(marker: number, label: string): void {
  const what = UNSUPPORTED_SOF[marker];
  if (what) fail(label, `${what} is not supported; only baseline/extended sequential Huffman 8-bit JPEG`, 're-encode as baseline JPEG (e.g. ffmpeg -c:v mjpeg)');
}

/**
 * Calls visit(marker, segmentPayload, payloadOffset) for each marker segment until visit returns
 * true or EOI. Entropy-coded data after SOS is skipped by the scan decoder, not here.
 */
export function walkMarkers(bytes: Uint8Array, label: string, visit: (marker: number, seg: Uint8Array, offset: number) => boolean | number): void {
  if (bytes.length < 4 || bytes[0] !== 0xff || bytes[1] !== 0xd8) {
    fail(label, `not a JPEG image (expected the SOI marker FF D8, found ${hex(bytes, 0, 2)})`);
  }
  let pos = 2;
  for (;;) {
    // Markers may be preceded by any number of 0xFF fill bytes.
    if (pos >= bytes.length) fail(label, 'truncated before the end-of-image marker', 'the file is incomplete');
    if (bytes[pos] !== 0xff) fail(label, `expected a marker at byte ${pos}, found 0x${bytes[pos]!.toString(16)}`);
    while (pos < bytes.length && bytes[pos] === 0xff) pos++;
    if (pos >= bytes.length) fail(label, 'truncated inside a marker', 'the file is incomplete');
    const marker = bytes[pos++]!;
    if (marker === 0xd9) return; // EOI
    if (marker === 0xd8 || marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) continue; // no payload
    if (pos + 2 > bytes.length) fail(label, 'truncated marker segment', 'the file is incomplete');
    const len = (bytes[pos]! << 8) | bytes[pos + 1]!;
    if (len < 2 || pos + len > bytes.length) {
      fail(label, `marker 0xFF${marker.toString(16).toUpperCase()} segment of ${len} bytes runs past the end (${bytes.length - pos} left)`, 'the file is truncated or corrupt');
    }
    const r = visit(marker, bytes.subarray(pos + 2, pos + len), pos + 2);
    if (r === true) return;
    pos = typeof r === 'number' ? r : pos + len;
  }
}

function hex(b: Uint8Array, at: number, n: number): string {
  return Array.from(b.subarray(at, at + n), (x) => x.toString(16).padStart(2, '0').toUpperCase()).join(' ') || 'nothing';
}

/** Decodes a baseline JPEG to interleaved 3-channel bytes (grayscale is replicated, like cv2). */
export function decodeJpeg(bytes: Uint8Array, options: JpegDecodeOptions = {}): DecodedFrame {
  const label = options.label ?? 'JPEG';
  const order = options.order ?? 'bgr';
  const qt: (Int16Array | undefined)[] = [];
  const dcTables: (HuffmanTable | undefined)[] = [];
  const acTables: (HuffmanTable | undefined)[] = [];
  let restartInterval = 0;
  let frame: { width: number; height: number; comps: Component[]; hmax: number; vmax: number; mcusX: number; mcusY: number } | undefined;
  let adobeTransform = -1;
  let sawJfif = false;
  let scans = 0;

  walkMarkers(bytes, label, (marker, seg, offset) => {
    switch (marker) {
      case 0xdb: { // DQT
        let p = 0;
        while (p < seg.length) {
          const pq = seg[p]! >> 4;
          const tq = seg[p]! & 15;
          p++;
          const n = pq ? 128 : 64;
          if (tq > 3 || pq > 1 || p + n > seg.length) fail(label, 'invalid quantization table (DQT)');
          // libjpeg keeps multipliers as 16-bit signed (ISLOW_MULT_TYPE); copy that wrap.
          const t = new Int16Array(64);
          for (let i = 0; i < 64; i++) t[NATURAL_ORDER[i]!] = pq ? (seg[p + 2 * i]! << 8) | seg[p + 2 * i + 1]! : seg[p + i]!;
          qt[tq] = t;
          p += n;
        }
        return false;
      }
      case 0xc4: { // DHT
        let p = 0;
        while (p < seg.length) {
          if (p + 17 > seg.length) fail(label, 'truncated Huffman table (DHT)');
          const tc = seg[p]! >> 4;
          const th = seg[p]! & 15;
          if (tc > 1 || th > 3) fail(label, `invalid Huffman table class/id 0x${seg[p]!.toString(16)}`);
          const bits = seg.subarray(p + 1, p + 17);
          let total = 0;
          for (let i = 0; i < 16; i++) total += bits[i]!;
          if (p + 17 + total > seg.length) fail(label, 'truncated Huffman table (DHT)');
          const table = buildHuffmanTable(bits, seg.subarray(p + 17, p + 17 + total), label);
          (tc === 0 ? dcTables : acTables)[th] = table;
          p += 17 + total;
        }
        return false;
      }
      case 0xdd: // DRI
        if (seg.length < 2) fail(label, 'truncated restart interval (DRI)');
        restartInterval = (seg[0]! << 8) | seg[1]!;
        return false;
      case 0xe0:
        if (seg.length >= 5 && seg[0] === 0x4a && seg[1] === 0x46 && seg[2] === 0x49 && seg[3] === 0x46 && seg[4] === 0) sawJfif = true;
        return false;
      case 0xee: // Adobe: transform flag says whether 3 components are YCbCr or RGB
        if (seg.length >= 12 && String.fromCharCode(seg[0]!, seg[1]!, seg[2]!, seg[3]!, seg[4]!) === 'Adobe') adobeTransform = seg[11]!;
        return false;
      case 0xc0:
      case 0xc1: {
        if (frame) fail(label, 'more than one frame header (SOF)');
        const { width, height, components } = parseSofDims(seg, label);
        const comps: Component[] = [];
        let hmax = 1;
        let vmax = 1;
        for (let i = 0; i < components; i++) {
          const id = seg[6 + i * 3]!;
          const h = seg[7 + i * 3]! >> 4;
          const v = seg[7 + i * 3]! & 15;
          const tq = seg[8 + i * 3]!;
          if (h < 1 || h > 4 || v < 1 || v > 4) fail(label, `component ${id} has sampling factors ${h}x${v} (1..4 expected)`);
          if (tq > 3) fail(label, `component ${id} uses quantization table ${tq} (0..3 expected)`);
          hmax = Math.max(hmax, h);
          vmax = Math.max(vmax, v);
          comps.push({ id, h, v, tq, blocksW: 0, blocksH: 0, usedBlocksW: 0, usedBlocksH: 0, width: 0, height: 0, coefs: new Int16Array(0), dcTable: 0, acTable: 0, pred: 0 });
        }
        if (components === 1) { comps[0]!.h = 1; comps[0]!.v = 1; hmax = 1; vmax = 1; } // single component: non-interleaved, factors irrelevant
        const maxPixels = options.maxPixels ?? DEFAULT_MAX_JPEG_PIXELS;
        if (width * height > maxPixels) {
          fail(label, `image of ${width}x${height} pixels exceeds the ${maxPixels}-pixel limit`, 'the header is corrupt, or raise maxPixels');
        }
        const mcusX = Math.ceil(width / (8 * hmax));
        const mcusY = Math.ceil(height / (8 * vmax));
        // Every coded block needs at least 2 bits (a DC code and an end-of-block code): a tiny file
        // claiming a huge image is refused before the coefficient buffers are allocated.
        const blocks = mcusX * mcusY * comps.reduce((n, c) => n + c.h * c.v, 0);
        if (bytes.length * 8 < blocks * 2) {
          fail(label, `${bytes.length} bytes cannot hold a ${width}x${height} image (${blocks} blocks need at least ${Math.ceil(blocks / 4)} bytes)`, 'the file is truncated or the header is corrupt');
        }
        for (const c of comps) {
          if (hmax % c.h !== 0 || vmax % c.v !== 0) fail(label, `fractional chroma subsampling (${c.h}x${c.v} of ${hmax}x${vmax}) is not supported`);
          c.width = Math.ceil((width * c.h) / hmax);
          c.height = Math.ceil((height * c.v) / vmax);
          c.usedBlocksW = Math.ceil(c.width / 8);
          c.usedBlocksH = Math.ceil(c.height / 8);
          c.blocksW = mcusX * c.h;
          c.blocksH = mcusY * c.v;
          c.coefs = new Int16Array(c.blocksW * c.blocksH * 64);
        }
        frame = { width, height, comps, hmax, vmax, mcusX, mcusY };
        return false;
      }
      case 0xda: { // SOS: decode the entropy-coded segment that follows, then resume after it
        if (!frame) fail(label, 'scan (SOS) before the frame header (SOF)');
        const ns = seg[0]!;
        if (ns < 1 || ns > 4 || seg.length < 1 + ns * 2 + 3) fail(label, 'invalid scan header (SOS)');
        const scomps: Component[] = [];
        for (let i = 0; i < ns; i++) {
          const cid = seg[1 + i * 2]!;
          const c = frame.comps.find((x) => x.id === cid);
          if (!c) fail(label, `scan refers to unknown component ${cid}`);
          c.dcTable = seg[2 + i * 2]! >> 4;
          c.acTable = seg[2 + i * 2]! & 15;
          scomps.push(c);
        }
        const std = standardTables();
        const dc = (c: Component): HuffmanTable => {
          if (c.dcTable > 3) fail(label, `invalid DC table id ${c.dcTable}`);
          return dcTables[c.dcTable] ?? std[c.dcTable === 0 ? 0 : 1]!;
        };
        const ac = (c: Component): HuffmanTable => {
          if (c.acTable > 3) fail(label, `invalid AC table id ${c.acTable}`);
          return acTables[c.acTable] ?? std[c.acTable === 0 ? 2 : 3]!;
        };
        const end = decodeScan(bytes, offset + seg.length, frame, scomps, scomps.map(dc), scomps.map(ac), restartInterval, label);
        scans++;
        return end;
      }
      default:
        rejectUnsupportedSof(marker, label);
        if (marker === 0xdc) fail(label, 'DNL marker (height defined after the scan) is not supported');
        return false;
    }
  });
  if (!frame) fail(label, 'no frame header (SOF) found');
  if (scans === 0) fail(label, 'no image data (no SOS scan)');
  const f = frame;
  for (const c of f.comps) if (!qt[c.tq]) fail(label, `quantization table ${c.tq} is used but never defined`);

  // IDCT every block into a component plane (MCU-padded size).
  const ffmpeg = options.emulate === 'ffmpeg';
  const block = new Int16Array(64);
  const planes = f.comps.map((c) => {
    const stride = c.blocksW * 8;
    const plane = new Uint8Array(stride * c.blocksH * 8);
    const q = qt[c.tq]!;
    for (let by = 0; by < c.blocksH; by++) {
      for (let bx = 0; bx < c.blocksW; bx++) {
        const off = (by * c.blocksW + bx) * 64;
        const dst = by * 8 * stride + bx * 8;
        if (!ffmpeg) {
          idctIslow(c.coefs, off, q, plane, dst, stride);
          continue;
        }
        // FFmpeg dequantises into int16 and carries the +128 level shift in the DC (last_dc starts at 1024).
        for (let i = 0; i < 64; i++) block[i] = c.coefs[off + i]! * q[i]!;
        block[0] = Math.max(-32768, Math.min(32767, c.coefs[off]! * q[0]! + 1024));
        idctSimple8(block, plane, dst, stride);
      }
    }
    return { plane, stride };
  });

  const { width, height } = f;
  const out = new Uint8Array(width * height * 3);
  if (f.comps.length === 1) {
    const { plane, stride } = planes[0]!;
    for (let y = 0; y < height; y++) {
      for (let x = 0, o = y * width * 3, s = y * stride; x < width; x++, o += 3, s++) {
        const g = plane[s]!;
        out[o] = g; out[o + 1] = g; out[o + 2] = g;
      }
    }
    return { width, height, data: out, order };
  }
  // libjpeg's default_decompress_parms: JFIF or Adobe transform 1 or ids 1,2,3 -> YCbCr; Adobe 0 or ids 'R','G','B' -> RGB.
  const ids = f.comps.map((c) => c.id);
  const isRgb = !sawJfif && (adobeTransform === 0 || (adobeTransform < 0 && ids[0] === 0x52 && ids[1] === 0x47 && ids[2] === 0x42));
  const [cy, cb, cr] = f.comps as [Component, Component, Component];
  // FFmpeg hands 4:2:0 and 4:2:2 to swscale's special unscaled converter; other layouts take its
  // generic scaler, approximated here by libjpeg's colour conversion.
  const chroma11 = cb.h === 1 && cb.v === 1 && cr.h === 1 && cr.v === 1;
  if (ffmpeg && !isRgb && chroma11 && cy.h === 2 && (cy.v === 2 || cy.v === 1)) {
    yuvToInterleavedSwscale(planes[0]!.plane, planes[0]!.stride, planes[1]!.plane, planes[2]!.plane, planes[1]!.stride, cy.v === 2 ? 1 : 0, width, height, order, out);
    return { width, height, data: out, order };
  }
  const full = f.comps.map((c, i) => upsample(planes[i]!.plane, planes[i]!.stride, c, f.hmax / c.h, f.vmax / c.v, width, height));
  if (isRgb) {
    const [r, g, b] = order === 'rgb' ? [0, 1, 2] : [2, 1, 0];
    for (let i = 0, o = 0; i < width * height; i++, o += 3) {
      out[o + r!] = full[0]![i]!; out[o + g!] = full[1]![i]!; out[o + b!] = full[2]![i]!;
    }
  } else {
    yccToInterleaved(full[0]!, full[1]!, full[2]!, width, width, height, order, out);
  }
  return { width, height, data: out, order };
}

/** Decodes one scan's entropy-coded data starting at `pos`; returns the offset of the next marker. */
function decodeScan(
  data: Uint8Array, start: number,
  frame: { comps: Component[]; mcusX: number; mcusY: number },
  comps: Component[], dcs: HuffmanTable[], acs: HuffmanTable[], restartInterval: number, label: string,
): number {
  let pos = start;
  let bitBuf = 0;
  let bitCnt = 0;
  let fakeBits = 0; // zero bits supplied after the data ran out (a marker or the end was hit)

  const fill = (): void => {
    while (bitCnt <= 24) {
      let b = 0;
      if (pos < data.length) {
        b = data[pos]!;
        if (b === 0xff) {
          const nxt = pos + 1 < data.length ? data[pos + 1]! : -1;
          if (nxt === 0) pos += 2; // stuffed zero byte
          else { b = 0; fakeBits += 8; } // a marker: stop here, feed zeros like libjpeg
        } else pos++;
      } else fakeBits += 8;
      bitBuf = (bitBuf << 8) | b;
      bitCnt += 8;
    }
  };
  const getBits = (n: number): number => {
    if (bitCnt < n) fill();
    bitCnt -= n;
    return (bitBuf >>> bitCnt) & ((1 << n) - 1);
  };
  const decodeHuff = (t: HuffmanTable): number => {
    if (bitCnt < 16) fill();
    const look = (bitBuf >>> (bitCnt - LOOKAHEAD)) & ((1 << LOOKAHEAD) - 1);
    const e = t.lookup[look]!;
    if (e !== 0) {
      bitCnt -= e >> 8;
      return e & 0xff;
    }
    // Longer code: walk lengths 10..16 as jpeg_huff_decode does.
    let len = LOOKAHEAD + 1;
    let code = (bitBuf >>> (bitCnt - len)) & ((1 << len) - 1);
    while (code > t.maxcode[len]!) {
      len++;
      if (len > 16) fail(label, 'corrupt entropy-coded data (invalid Huffman code)');
      code = (bitBuf >>> (bitCnt - len)) & ((1 << len) - 1);
    }
    bitCnt -= len;
    return t.values[(t.valoffset[len]! + code) & 0xff]!;
  };
  const extend = (v: number, s: number): number => (v < 1 << (s - 1) ? v - (1 << s) + 1 : v);

  const decodeBlock = (c: Component, dc: HuffmanTable, ac: HuffmanTable, offset: number): void => {
    const coefs = c.coefs;
    const t = decodeHuff(dc);
    let diff = 0;
    if (t) {
      if (t > 15) fail(label, `corrupt entropy-coded data (DC magnitude category ${t})`);
      diff = extend(getBits(t), t);
    }
    c.pred += diff;
    coefs[offset] = c.pred; // Int16Array store wraps like libjpeg's (JCOEF) cast
    for (let k = 1; k < 64; k++) {
      const rs = decodeHuff(ac);
      const s = rs & 15;
      const r = rs >> 4;
      if (s) {
        k += r;
        coefs[offset + NATURAL_ORDER[k]!] = extend(getBits(s), s);
      } else {
        if (r !== 15) break;
        k += 15;
      }
    }
  };

  const totalMcus = comps.length === 1
    ? comps[0]!.usedBlocksW * comps[0]!.usedBlocksH
    : frame.mcusX * frame.mcusY;
  const resetPredictors = (): void => { for (const c of comps) c.pred = 0; };
  resetPredictors();

  for (let mcu = 0; mcu < totalMcus; mcu++) {
    if (restartInterval && mcu > 0 && mcu % restartInterval === 0) {
      // Discard the padding bits, then expect RSTn (resynchronise on the next one if it is missing).
      if (fakeBits > 0 && bitCnt < fakeBits) fail(label, 'entropy-coded data ends before the last block', 'the JPEG is truncated');
      bitBuf = 0; bitCnt = 0; fakeBits = 0;
      while (pos + 1 < data.length && !(data[pos] === 0xff && data[pos + 1]! >= 0xd0 && data[pos + 1]! <= 0xd7)) {
        if (data[pos] === 0xff && data[pos + 1] !== 0 && data[pos + 1] !== 0xff) fail(label, 'restart marker missing', 'the JPEG is corrupt');
        pos++;
      }
      if (pos + 1 >= data.length) fail(label, 'restart marker missing (data ends)', 'the JPEG is truncated');
      pos += 2;
      resetPredictors();
    }
    if (comps.length === 1) {
      const c = comps[0]!;
      const bx = mcu % c.usedBlocksW;
      const by = (mcu / c.usedBlocksW) | 0;
      decodeBlock(c, dcs[0]!, acs[0]!, (by * c.blocksW + bx) * 64);
    } else {
      const mx = mcu % frame.mcusX;
      const my = (mcu / frame.mcusX) | 0;
      for (let i = 0; i < comps.length; i++) {
        const c = comps[i]!;
        for (let v = 0; v < c.v; v++) {
          for (let h = 0; h < c.h; h++) {
            decodeBlock(c, dcs[i]!, acs[i]!, ((my * c.v + v) * c.blocksW + mx * c.h + h) * 64);
          }
        }
      }
    }
  }
  // A valid stream never needs bits past its end: consuming the zero fill means truncation.
  if (fakeBits > 0 && bitCnt < fakeBits) fail(label, 'entropy-coded data ends before the last block', 'the JPEG is truncated');
  // Skip padding up to the next real marker.
  while (pos < data.length && !(data[pos] === 0xff && pos + 1 < data.length && data[pos + 1] !== 0 && !(data[pos + 1]! >= 0xd0 && data[pos + 1]! <= 0xd7))) pos++;
  if (pos >= data.length) fail(label, 'missing end-of-image marker after the image data', 'the JPEG is truncated');
  return pos;
}

// jidctint.c constants (CONST_BITS = 13).
const F0_298 = 2446, F0_390 = 3196, F0_541 = 4433, F0_765 = 6270, F0_899 = 7373, F1_175 = 9633;
const F1_501 = 12299, F1_847 = 15137, F1_961 = 16069, F2_053 = 16819, F2_562 = 20995, F3_072 = 25172;
const workspace = new Int32Array(64);

/**
 * libjpeg's jpeg_idct_islow. Products can exceed 32 bits for hostile coefficients, so the
 * arithmetic uses doubles (exact below 2^53) and Math.floor for DESCALE; the int workspace wraps
 * to 32 bits like C's int, and RANGE_MASK emulates libjpeg's wrap-around range-limit table.
 */
function idctIslow(coefs: Int16Array, off: number, q: Int16Array, out: Uint8Array, outOff: number, stride: number): void {
  const ws = workspace;
  for (let col = 0; col < 8; col++) {
    const i = off + col;
    let z2 = coefs[i + 16]! * q[col + 16]!;
    let z3 = coefs[i + 48]! * q[col + 48]!;
    let z1 = (z2 + z3) * F0_541;
    let tmp2 = z1 - z3 * F1_847;
    let tmp3 = z1 + z2 * F0_765;
    z2 = coefs[i]! * q[col]!;
    z3 = coefs[i + 32]! * q[col + 32]!;
    let tmp0 = (z2 + z3) * 8192;
    let tmp1 = (z2 - z3) * 8192;
    const tmp10 = tmp0 + tmp3, tmp13 = tmp0 - tmp3, tmp11 = tmp1 + tmp2, tmp12 = tmp1 - tmp2;
    tmp3 = coefs[i + 8]! * q[col + 8]!;
    tmp2 = coefs[i + 24]! * q[col + 24]!;
    tmp1 = coefs[i + 40]! * q[col + 40]!;
    tmp0 = coefs[i + 56]! * q[col + 56]!;
    let z4 = tmp1 + tmp3;
    z3 = tmp0 + tmp2;
    z2 = tmp1 + tmp2;
    z1 = tmp0 + tmp3;
    const z5 = (z3 + z4) * F1_175;
    tmp3 *= F1_501; tmp2 *= F3_072; tmp1 *= F2_053; tmp0 *= F0_298;
    z4 = z4 * -F0_390 + z5;
    z3 = z3 * -F1_961 + z5;
    z1 *= -F0_899;
    z2 *= -F2_562;
    tmp3 += z1 + z4; tmp2 += z2 + z3; tmp1 += z2 + z4; tmp0 += z1 + z3;
    // DESCALE(x, CONST_BITS - PASS1_BITS = 11)
    ws[col] = Math.floor((tmp10 + tmp3 + 1024) * 0.00048828125);
    ws[col + 56] = Math.floor((tmp10 - tmp3 + 1024) * 0.00048828125);
    ws[col + 8] = Math.floor((tmp11 + tmp2 + 1024) * 0.00048828125);
    ws[col + 48] = Math.floor((tmp11 - tmp2 + 1024) * 0.00048828125);
    ws[col + 16] = Math.floor((tmp12 + tmp1 + 1024) * 0.00048828125);
    ws[col + 40] = Math.floor((tmp12 - tmp1 + 1024) * 0.00048828125);
    ws[col + 24] = Math.floor((tmp13 + tmp0 + 1024) * 0.00048828125);
    ws[col + 32] = Math.floor((tmp13 - tmp0 + 1024) * 0.00048828125);
  }
  for (let row = 0; row < 8; row++) {
    const w = row * 8;
    let z2 = ws[w + 2]!;
    let z3 = ws[w + 6]!;
    let z1 = (z2 + z3) * F0_541;
    let tmp0 = (ws[w]! + ws[w + 4]!) * 8192;
    let tmp3 = z1 + z2 * F0_765;
    let tmp1 = (ws[w]! - ws[w + 4]!) * 8192;
    let tmp2 = z1 - z3 * F1_847;
    const tmp10 = tmp0 + tmp3, tmp13 = tmp0 - tmp3, tmp11 = tmp1 + tmp2, tmp12 = tmp1 - tmp2;
    tmp3 = ws[w + 1]!; tmp2 = ws[w + 3]!; tmp1 = ws[w + 5]!; tmp0 = ws[w + 7]!;
    let z4 = tmp1 + tmp3;
    z3 = tmp0 + tmp2;
    z2 = tmp1 + tmp2;
    z1 = tmp0 + tmp3;
    const z5 = (z3 + z4) * F1_175;
    tmp3 *= F1_501; tmp2 *= F3_072; tmp1 *= F2_053; tmp0 *= F0_298;
    z4 = z4 * -F0_390 + z5;
    z3 = z3 * -F1_961 + z5;
    z2 *= -F2_562;
    z1 *= -F0_899;
    tmp3 += z1 + z4; tmp2 += z2 + z3; tmp1 += z2 + z4; tmp0 += z1 + z3;
    const o = outOff + row * stride;
    // DESCALE(x, CONST_BITS + PASS1_BITS + 3 = 18) then range_limit[x & 1023]
    out[o] = rangeLimit(tmp10 + tmp3);
    out[o + 7] = rangeLimit(tmp10 - tmp3);
    out[o + 1] = rangeLimit(tmp11 + tmp2);
    out[o + 6] = rangeLimit(tmp11 - tmp2);
    out[o + 2] = rangeLimit(tmp12 + tmp1);
    out[o + 5] = rangeLimit(tmp12 - tmp1);
    out[o + 3] = rangeLimit(tmp13 + tmp0);
    out[o + 4] = rangeLimit(tmp13 - tmp0);
  }
}

/** libjpeg's IDCT range limit: x = DESCALE(v,18) & 1023; 0..127 -> x+128, ..511 -> 255, ..895 -> 0, else x-896. */
function rangeLimit(v: number): number {
  const x = Math.floor((v + 131072) * 0.000003814697265625) & 1023; // / 2^18, exact
  return x < 128 ? x + 128 : x < 512 ? 255 : x < 896 ? 0 : x - 896;
}

/** Upsamples one component plane to width x height with libjpeg-turbo's method for its factors. */
function upsample(plane: Uint8Array, stride: number, c: Component, fh: number, fv: number, width: number, height: number): Uint8Array {
  const out = new Uint8Array(width * height);
  const cw = c.width;
  const ch = c.height;
  const lastCol = cw - 1;
  const lastRow = ch - 1;
  if (fh === 1 && fv === 1) {
    for (let y = 0; y < height; y++) out.set(plane.subarray(y * stride, y * stride + width), y * width);
  } else if (fh === 2 && fv === 2 && cw > 2) {
    // h2v2 "fancy": triangle filter 3/4,1/4 in both directions; biases 8/7 alternate by column.
    for (let y = 0; y < height; y++) {
      const near = (y >> 1) * stride;
      const farRow = y & 1 ? Math.min((y >> 1) + 1, lastRow) : Math.max((y >> 1) - 1, 0);
      const far = farRow * stride;
      const o = y * width;
      for (let x = 0; x < width; x++) {
        const ic = x >> 1;
        const thiscol = plane[near + ic]! * 3 + plane[far + ic]!;
        if (x & 1) {
          const n = ic < lastCol ? ic + 1 : lastCol;
          out[o + x] = (thiscol * 3 + plane[near + n]! * 3 + plane[far + n]! + 7) >> 4;
        } else {
          const p = ic > 0 ? ic - 1 : 0;
          out[o + x] = (thiscol * 3 + plane[near + p]! * 3 + plane[far + p]! + 8) >> 4;
        }
      }
    }
  } else if (fh === 2 && fv === 1 && cw > 2) {
    for (let y = 0; y < height; y++) {
      const r = y * stride;
      const o = y * width;
      for (let x = 0; x < width; x++) {
        const ic = x >> 1;
        const v3 = plane[r + ic]! * 3;
        out[o + x] = x & 1
          ? (v3 + plane[r + (ic < lastCol ? ic + 1 : lastCol)]! + 2) >> 2
          : (v3 + plane[r + (ic > 0 ? ic - 1 : 0)]! + 1) >> 2;
      }
    }
  } else if (fh === 1 && fv === 2) {
    for (let y = 0; y < height; y++) {
      const near = (y >> 1) * stride;
      const below = (y & 1) === 1;
      const far = (below ? Math.min((y >> 1) + 1, lastRow) : Math.max((y >> 1) - 1, 0)) * stride;
      const bias = below ? 2 : 1;
      const o = y * width;
      for (let x = 0; x < width; x++) out[o + x] = (plane[near + x]! * 3 + plane[far + x]! + bias) >> 2;
    }
  } else {
    // Integral box replication (libjpeg's int_upsample / h2v1_upsample / h2v2_upsample).
    for (let y = 0; y < height; y++) {
      const r = Math.floor(y / fv) * stride;
      const o = y * width;
      for (let x = 0; x < width; x++) out[o + x] = plane[r + Math.floor(x / fh)]!;
    }
  }
  return out;
}
