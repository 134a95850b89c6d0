// H.264 / HEVC in DICOM, MP4 and WebM: the demuxers produce the encoded stream (access units, key
// flags, presentation times, the WebCodecs codec string); Node has no VideoDecoder, so decoding is
// a typed error naming a transcoding route; with WebCodecs present (a fake one here, reordering
// like a decoder with B-frames) pictures come back in display order.
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { VideoDecodeError } from '../../src/errors.js';
import { annexBStream, hevcCodecString } from '../../src/video/codecs/h26x.js';
import { decodeFrame, openVideo, readVideoAsync } from '../../src/video/index.js';
import { concat, dcmEncapsulated, dcmFile, dcmImageAttrs } from './builders.js';
import { decodesOrRejectsAsync, mutatedSeed } from './fixtures.js';

const SC = new Uint8Array([0, 0, 0, 1]);
const nal = (...b: number[]): Uint8Array => concat([SC, Uint8Array.from(b)]);
// H.264: SPS (High profile 100, level 3.1), PPS, then an IDR slice and three non-IDR pictures, the
// second of those in two slices (first_mb_in_slice != 0 for the second slice: no new picture).
const SPS = nal(0x67, 0x64, 0x00, 0x1f, 0xac, 0xd9);
const PPS = nal(0x68, 0xeb, 0xe3, 0xcb);
const IDR = nal(0x65, 0x88, 0x84, 0x00, 0x33);
const P1 = nal(0x41, 0x9a, 0x21, 0x6c);
const P2a = nal(0x41, 0x9a, 0x42, 0x10);
const P2b = nal(0x41, 0x2c, 0x42, 0x11); // continuation slice
// ... and an access unit delimiter before the last picture.
const H264 = concat([SPS, PPS, IDR, P1, P2a, P2b, nal(0x09, 0xf0), nal(0x41, 0x9a, 0x63, 0x80)]);

function dicomVideo(syntax: string, stream: Uint8Array, frames: number, cuts: number[]): Uint8Array {
  const parts: Uint8Array[] = [];
  let at = 0;
  for (const c of [...cuts, stream.length]) { parts.push(stream.subarray(at, c)); at = c; }
  return dcmFile(syntax, [...dcmImageAttrs({ rows: 16, columns: 32, samples: 3, photometric: 'YBR_PARTIAL_420', frames }), dcmEncapsulated(parts)]);
}

describe('H.264 / HEVC transfer syntaxes', () => {
  it('the DICOM pixel data fragments (even-length, cut anywhere) form one Annex B stream, split into pictures', () => {
    const v = openVideo(dicomVideo('1.2.840.10008.1.2.4.102', H264, 4, [6, 18, 30]), 'h264.dcm');
    expect(v.container).toBe('dicom');
    expect(v.stream).toMatchObject({ codec: 'h264', codecString: 'avc1.64001f', codedWidth: 32, codedHeight: 16 });
    expect(v.stream!.chunks.map((c) => c.key)).toEqual([true, false, false, false]);
    expect(v.stream!.chunks.map((c) => c.timestamp)).toEqual([0, 33300, 66600, 99900]); // Frame Time 33.3 ms
    // every access unit is Annex B (start code first); the SPS/PPS travel with the IDR picture
    expect(Array.from(v.stream!.chunks[0]!.bytes.subarray(0, 5))).toEqual([0, 0, 0, 1, 0x67]);
    expect(v.stream!.chunks[2]!.bytes.length).toBe(P2a.length + P2b.length);
    expect(v.frames).toEqual([0, 1, 2, 3].map((index) => ({ kind: 'stream', index })));
    expect(v.warnings).toEqual([]);
  });

  it('Node has no WebCodecs: decoding is a typed error naming a transcoding route', async () => {
    const file = dicomVideo('1.2.840.10008.1.2.4.102', H264, 4, []);
    const v = openVideo(file, 'h264.dcm');
    let e: unknown;
    try { decodeFrame(v, 0, { label: 'h264.dcm' }); } catch (x) { e = x; }
    expect(e).toBeInstanceOf(VideoDecodeError);
    expect((e as Error).message).toMatch(/H\.264 video \(avc1\.64001f\) needs WebCodecs' VideoDecoder/);
    expect((e as VideoDecodeError).hint).toMatch(/gdcmraw -i IN\.dcm -o clip\.bin && ffmpeg -i clip\.bin -c:v mjpeg/);
    await expect(readVideoAsync(file, { label: 'h264.dcm' })).rejects.toThrow(VideoDecodeError);
  });

  it('HEVC: IRAP pictures are key, the codec string comes from the SPS profile_tier_level', () => {
    // VPS, SPS (Main, level 3.1 = 93), PPS, IDR_W_RADL (19), TRAIL_R (1)
    const sps = Uint8Array.from([0x42, 0x01, 0x01, 0x01, 0x60, 0x00, 0x00, 0x00, 0x90, 0x00, 0x00, 0x00, 0x00, 0x00, 0x5d, 0xa0]);
    expect(hevcCodecString(sps)).toBe('hev1.1.6.L93.90');
    const stream = concat([nal(0x40, 0x01, 0x0c), concat([SC, sps]), nal(0x44, 0x01, 0xc1), nal(0x26, 0x01, 0xaf, 0x05), nal(0x02, 0x01, 0xd0, 0x11), nal(0x02, 0x01, 0xd2, 0x22)]);
    const s = annexBStream(stream, 'hevc', 25, 'hevc');
    expect(s.chunks.map((c) => c.key)).toEqual([true, false, false]);
    expect(s.chunks.map((c) => c.timestamp)).toEqual([0, 40000, 80000]);
    const v = openVideo(dicomVideo("1.2.840.10008.1.2.4.107", stream, 3, [10]));
    expect(v.stream?.codecString).toBe('hev1.1.6.L93.90');
    expect(v.frames).toHaveLength(3);
  });

  it('a stream without parameter sets or NAL units is refused by name', () => {
    expect(() => openVideo(dicomVideo('1.2.840.10008.1.2.4.102', Uint8Array.from([1, 2, 3, 4, 5, 6]), 1, []))).toThrow(/no H\.264 NAL units/);
    expect(() => openVideo(dicomVideo('1.2.840.10008.1.2.4.102', concat([PPS, IDR]), 1, []))).toThrow(/no usable sequence parameter set/);
  });
});

// ---------------------------------------------------------------- MP4 / WebM builders

const enc = new TextEncoder();
const be32 = (...v: number[]): Uint8Array => { const b = new Uint8Array(4 * v.length); const dv = new DataView(b.buffer); v.forEach((x, i) => dv.setUint32(4 * i, x)); return b; };
const be16 = (...v: number[]): Uint8Array => { const b = new Uint8Array(2 * v.length); const dv = new DataView(b.buffer); v.forEach((x, i) => dv.setUint16(2 * i, x)); return b; };
const box = (type: string, ...parts: Uint8Array[]): Uint8Array => { const body = concat(parts); return concat([be32(8 + body.length), enc.encode(type), body]); };
const full = (type: string, ...parts: Uint8Array[]): Uint8Array => box(type, be32(0), ...parts);

/** A one-track MP4: 4 samples in decode order I P B B, presented I B B P (ctts), stss = [1]. */
function mp4(samples: Uint8Array[]): Uint8Array {
  const avcC = box('avcC', Uint8Array.from([1, 0x4d, 0x40, 0x1e, 0xff, 0xe1]), be16(4), Uint8Array.from([0x67, 0x4d, 0x40, 0x1e]), Uint8Array.from([1]), be16(2), Uint8Array.from([0x68, 0xee]));
  const avc1 = box('avc1', new Uint8Array(6), be16(1), new Uint8Array(16), be16(64, 48), be32(0x480000, 0x480000, 0), be16(1), new Uint8Array(32), be16(0x18, 0xffff), avcC);
  const ftyp = box('ftyp', enc.encode('isom'), be32(0x200), enc.encode('isomavc1'));
  const sizes = samples.map((s) => s.length);
  const mdatHeader = 8;
  const buildMoov = (mdatAt: number): Uint8Array => {
    const stbl = box('stbl',
      full('stsd', be32(1), avc1),
      full('stts', be32(1, 4, 1000)),
      full('ctts', be32(4, 1, 1000, 1, 3000, 1, 0, 1, 0)), // pts: 1000, 4000, 2000, 3000
      full('stss', be32(1, 1)),
      full('stsc', be32(1, 1, 4, 1)),
      full('stsz', be32(0, 4, ...sizes)),
      full('stco', be32(1, mdatAt + mdatHeader)));
    const hdlr = full('hdlr', be32(0), enc.encode('vide'), new Uint8Array(13));
    const mdhd = full('mdhd', be32(0, 0, 30000, 4000), be16(0, 0));
    return box('moov', box('trak', box('mdia', mdhd, hdlr, box('minf', stbl))));
  };
  const moovLen = buildMoov(0).length;
  const moov = buildMoov(ftyp.length + moovLen);
  return concat([ftyp, moov, box('mdat', ...samples)]);
}

/** EBML element: id bytes, size as an 8-byte vint, data. */
const ebml = (id: number[], ...parts: Uint8Array[]): Uint8Array => {
  const body = concat(parts);
  const size = new Uint8Array(8);
  size[0] = 0x01;
  let n = body.length;
  for (let i = 7; i >= 1; i--) { size[i] = n & 0xff; n = Math.floor(n / 256); }
  return concat([Uint8Array.from(id), size, body]);
};
const uintEl = (id: number[], v: number): Uint8Array => ebml(id, be32(v));
function webm(blocks: { time: number; key: boolean; data: Uint8Array }[]): Uint8Array {
  const header = ebml([0x1a, 0x45, 0xdf, 0xa3], ebml([0x42, 0x82], enc.encode('webm')));
  const track = ebml([0xae], uintEl([0xd7], 1), uintEl([0x83], 1), ebml([0x86], enc.encode('V_VP9')), ebml([0xe0], uintEl([0xb0], 40), uintEl([0xba], 30)), uintEl([0x23, 0xe3, 0x83], 33333333));
  const simple = (b: (typeof blocks)[number]): Uint8Array => ebml([0xa3], Uint8Array.from([0x81]), be16(b.time), Uint8Array.from([b.key ? 0x80 : 0]), b.data);
  const cluster = ebml([0x1f, 0x43, 0xb6, 0x75], uintEl([0xe7], 1000), ...blocks.map(simple));
  const segment = ebml([0x18, 0x53, 0x80, 0x67], ebml([0x15, 0x49, 0xa9, 0x66], uintEl([0x2a, 0xd7, 0xb1], 1_000_000)), ebml([0x16, 0x54, 0xae, 0x6b], track), cluster);
  return concat([header, segment]);
}

// ---------------------------------------------------------------- a fake WebCodecs

/** Emits pictures in presentation-timestamp order after a 2-picture reorder delay, like a real decoder with B-frames. */
function installFakeWebCodecs(): () => void {
  const g = globalThis as Record<string, unknown>;
  const saved = ['VideoDecoder', 'EncodedVideoChunk', 'OffscreenCanvas'].map((k) => [k, g[k]] as const);
  class FakeChunk { type: string; timestamp: number; data: Uint8Array; constructor(i: { type: string; timestamp: number; data: Uint8Array }) { this.type = i.type; this.timestamp = i.timestamp; this.data = i.data; } }
  class FakeFrame { constructor(readonly timestamp: number, readonly value: number) {} displayWidth = 4; displayHeight = 2; close(): void {} }
  class FakeDecoder {
    static configs: unknown[] = [];
    static isConfigSupported(c: unknown): Promise<{ supported: boolean }> { FakeDecoder.configs.push(c); return Promise.resolve({ supported: true }); }
    state = 'unconfigured';
    decodeQueueSize = 0;
    private pending: FakeChunk[] = [];
    constructor(private readonly init: { output: (f: FakeFrame) => void; error: (e: unknown) => void }) {}
    configure(): void { this.state = 'configured'; }
    decode(c: FakeChunk): void {
      this.pending.push(c);
      if (this.pending.length > 2) this.emit();
    }
    private emit(): void {
      this.pending.sort((a, b) => a.timestamp - b.timestamp);
      const c = this.pending.shift()!;
      this.init.output(new FakeFrame(c.timestamp, c.data[0]!));
    }
    flush(): Promise<void> { while (this.pending.length) this.emit(); return Promise.resolve(); }
    close(): void { this.state = 'closed'; }
  }
  class FakeCanvas {
    private v = 0;
    constructor(readonly width: number, readonly height: number) {}
    getContext(): unknown {
      return {
        drawImage: (f: FakeFrame) => { this.v = f.value; },
        getImageData: (_x: number, _y: number, w: number, h: number) => ({ data: Uint8ClampedArray.from({ length: w * h * 4 }, (_, i) => (i % 4 === 0 ? this.v : i % 4 === 3 ? 255 : 7)) }),
      };
    }
  }
  g.VideoDecoder = FakeDecoder;
  g.EncodedVideoChunk = FakeChunk;
  g.OffscreenCanvas = FakeCanvas;
  return () => { for (const [k, v] of saved) { if (v === undefined) delete g[k]; else g[k] = v; } };
}

let restore: (() => void) | undefined;
afterEach(() => { restore?.(); restore = undefined; });

describe('MP4 and WebM', () => {
  // Sample payloads carry their decode index in the first byte: I=10, P=11, B=12, B=13.
  const samples = [10, 11, 12, 13].map((v) => Uint8Array.from([v, 0, 0, 0, 2, 0x65, 0x88]));

  it('MP4: the sample table gives each sample, its key flag and presentation time; avcC the codec string', () => {
    const v = openVideo(mp4(samples), 'clip.mp4');
    expect(v).toMatchObject({ container: 'mp4', codec: 'avc1.4d401e', width: 64, height: 48, declaredFrames: 4, truncated: false });
    expect(v.fps).toBeCloseTo(30, 6);
    expect(v.stream!.description?.[0]).toBe(1);
    expect(v.stream!.chunks.map((c) => [c.bytes[0], c.key, c.timestamp])).toEqual([[10, true, 33333], [11, false, 133333], [12, false, 66667], [13, false, 100000]]);
  });

  it('MP4 in Node: a typed error with an ffmpeg route; with WebCodecs: pictures in display order', async () => {
    const file = mp4(samples);
    await expect(readVideoAsync(file, { label: 'clip.mp4' })).rejects.toThrow(/ffmpeg -i IN -c:v mjpeg -q:v 2 OUT\.avi/);
    restore = installFakeWebCodecs();
    const r = await readVideoAsync(file, { label: 'clip.mp4', order: 'rgb' });
    // display order I B B P = samples 10, 12, 13, 11
    expect(r.frames.map((f) => f.data[0])).toEqual([10, 12, 13, 11]);
    expect(r.frames[0]).toMatchObject({ width: 4, height: 2, order: 'rgb' });
    // bgr swaps channels 0 and 2
    const bgr = await readVideoAsync(file, { frames: '1:2', order: 'bgr' });
    expect(Array.from(bgr.frames[0]!.data.subarray(0, 3))).toEqual([7, 7, 12]);
  });

  it('WebM: SimpleBlocks with key flags and times (TimecodeScale), VP9 codec string', async () => {
    const file = webm([{ time: 0, key: true, data: Uint8Array.from([20]) }, { time: 33, key: false, data: Uint8Array.from([21]) }, { time: 67, key: false, data: Uint8Array.from([22]) }]);
    const v = openVideo(file, 'clip.webm');
    expect(v).toMatchObject({ container: 'webm', codec: 'vp09.00.10.08', width: 40, height: 30, declaredFrames: 3 });
    expect(v.fps).toBeCloseTo(30, 3);
    expect(v.stream!.chunks.map((c) => [c.bytes[0], c.key, c.timestamp])).toEqual([[20, true, 1_000_000], [21, false, 1_033_000], [22, false, 1_067_000]]);
    restore = installFakeWebCodecs();
    expect((await readVideoAsync(file, { order: 'rgb' })).frames.map((f) => f.data[0])).toEqual([20, 21, 22]);
  });

  it('refuses fragmented MP4, unknown codecs and laced blocks by name', () => {
    expect(() => openVideo(concat([box('ftyp', enc.encode('isom'), be32(0)), box('moof', new Uint8Array(8))]))).toThrow(/moof|moov/);
    const bad = mp4(samples);
    const find = (t: string, from = 0): number => Array.from(bad).findIndex((_, k) => k >= from && String.fromCharCode(...bad.subarray(k, k + 4)) === t);
    const i = find('avc1', find('stsd')); // the sample entry type (not the ftyp brand)
    bad.set(enc.encode('xyz1'), i);
    expect(() => openVideo(bad)).toThrow(/video codec 'xyz1' is not supported/);
    const laced = webm([{ time: 0, key: true, data: Uint8Array.from([20]) }]);
    laced[laced.length - 2] |= 0x02; // the SimpleBlock flags byte: Xiph lacing
    expect(() => openVideo(laced)).toThrow(/laced video blocks/);
  });
});

describe('stream demuxers under the video fuzz harness', () => {
  it('mutated DICOM H.264, MP4 and WebM files demux or fail with a VideoDecodeError (fuzz)', async () => {
    const seeds = [
      dicomVideo('1.2.840.10008.1.2.4.102', H264, 4, [6, 18]),
      mp4([10, 11, 12, 13].map((v) => Uint8Array.from([v, 0, 0, 0, 2, 0x65, 0x88]))),
      webm([{ time: 0, key: true, data: Uint8Array.from([20]) }, { time: 33, key: false, data: Uint8Array.from([21]) }]),
    ];
    restore = installFakeWebCodecs();
    await fc.assert(fc.asyncProperty(mutatedSeed(seeds), async (b) => void (await decodesOrRejectsAsync(b))), { numRuns: 600, timeout: 5000 });
  });
});
