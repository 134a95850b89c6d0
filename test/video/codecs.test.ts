// The new DICOM paths without Debian's tools: files built here (builders.ts), codestreams from the
// Cornerstone encoders, and three tiny committed seeds (data/dicom, make-seeds.py). Then the video
// fuzz harness over all of them: mutated files decode or fail with a VideoDecodeError, never
// anything else, and never hang.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { deflateRawSync } from 'node:zlib';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { VideoDecodeError } from '../../src/errors.js';
import { loadWasmCodec, registerDicomCodec } from '../../src/video/codecs/wasm.js';
import { decodeFrame, demuxDicom, inflateDicomBody, openVideo, openVideoAsync, readDicomHeader, readVideo, readVideoAsync } from '../../src/video/index.js';
import { concat, dcmElement, dcmEncapsulated, dcmFile, dcmImageAttrs, dcmString, rleFrame, u16le } from './builders.js';
import { decodesOrRejectsAsync, mutatedSeed, thrown } from './fixtures.js';

const EXPLICIT = '1.2.840.10008.1.2.1';
const IMPLICIT = '1.2.840.10008.1.2';
const seed = (name: string): Uint8Array => new Uint8Array(readFileSync(path.join(import.meta.dirname, 'data/dicom', name)));

const W = 16, H = 12;
/** 2 frames of W x H RGB. */
const rgb = Uint8Array.from({ length: 2 * W * H * 3 }, (_, i) => (i * 37 + (i % 3) * 80) & 255);

const native = (syntax: string, explicitBody: boolean, extra: Uint8Array[] = []): Uint8Array =>
  dcmFile(syntax, [...extra, ...dcmImageAttrs({ rows: H, columns: W, samples: 3, photometric: 'RGB', frames: 2 }, explicitBody), dcmElement(0x7fe0, 0x0010, 'OB', rgb, explicitBody)]);

/** A deflated file: the meta group as is, the explicit VR data set raw-deflated. */
function deflated(file: Uint8Array): Uint8Array {
  const metaEnd = 132 + 12 + new DataView(file.buffer, file.byteOffset).getUint32(140, true);
  const meta = dcmFile('1.2.840.10008.1.2.1.99', []);
  return concat([meta, deflateRawSync(file.subarray(metaEnd))]);
}

type Codecs = Record<string, { new(): Record<string, (...a: never[]) => unknown> }>;
let cs: { jls: Uint8Array[]; j2k: Uint8Array[]; htj2k: Uint8Array[] };

beforeAll(async () => {
  const load = async (spec: string): Promise<Codecs> => (await import(spec)).default({ print: () => {}, printErr: () => {} });
  const [charls, ojp, oph] = await Promise.all([load('@cornerstonejs/codec-charls/wasmjs'), load('@cornerstonejs/codec-openjpeg/wasmjs'), load('@cornerstonejs/codec-openjph/wasmjs')]);
  const fi = { width: W, height: H, bitsPerSample: 8, componentCount: 3, isSigned: false, isUsingColorTransform: true };
  const encode = (e: Record<string, (...a: never[]) => unknown>, frame: Uint8Array, setup: () => void): Uint8Array => {
    (e.getDecodedBuffer as (f: typeof fi) => Uint8Array)(fi).set(frame);
    setup();
    (e.encode as () => void)();
    const out = (e.getEncodedBuffer as () => Uint8Array)().slice();
    (e.delete as () => void)();
    return out;
  };
  const frames = [0, 1].map((f) => rgb.subarray(f * W * H * 3, (f + 1) * W * H * 3));
  cs = {
    jls: frames.map((f) => { const e = new charls.JpegLSEncoder!(); return encode(e, f, () => (e.setInterleaveMode as (m: number) => void)(2)); }),
    // 16x12 needs fewer than the default 5 decomposition levels
    j2k: frames.map((f) => { const e = new ojp.J2KEncoder!(); return encode(e, f, () => { (e.setDecompositions as (n: number) => void)(2); (e.setQuality as (l: boolean, q: number) => void)(true, 0); }); }),
    htj2k: frames.map((f) => { const e = new oph.HTJ2KEncoder!(); return encode(e, f, () => (e.setQuality as (l: boolean, q: number) => void)(true, 0)); }),
  };
});

const encapsulated = (syntax: string, photometric: string, frames: Uint8Array[]): Uint8Array =>
  dcmFile(syntax, [...dcmImageAttrs({ rows: H, columns: W, samples: 3, photometric, frames: frames.length }), dcmEncapsulated(frames)]);

describe('DICOM encodings and codecs (no external tools)', () => {
  it('reads an implicit VR data set under an explicit meta group, and the reverse, with a warning', () => {
    const want = readVideo(native(EXPLICIT, true), { order: 'rgb' }).frames.map((f) => Array.from(f.data));
    const implicitBody = openVideo(native(EXPLICIT, false));
    expect(implicitBody.warnings[0]).toMatch(/encoded implicit VR although the transfer syntax 1\.2\.840\.10008\.1\.2\.1 says explicit/);
    expect([0, 1].map((i) => Array.from(decodeFrame(implicitBody, i, { order: 'rgb' }).data))).toEqual(want);
    const explicitBody = openVideo(native(IMPLICIT, true));
    expect(explicitBody.warnings[0]).toMatch(/encoded explicit VR although the transfer syntax says implicit/);
    expect(Array.from(decodeFrame(explicitBody, 1, { order: 'rgb' }).data)).toEqual(want[1]);
  });

  it('inflates Deflated Explicit VR Little Endian (DecompressionStream); the synchronous reader says why it cannot', async () => {
    const file = deflated(native(EXPLICIT, true, [dcmElement(0x0020, 0x000d, 'UI', dcmString('1.2.3', 'UI'))]));
    expect(thrown(() => demuxDicom(file)).message).toMatch(/deflated .* needs an asynchronous inflate/);
    const r = await readVideoAsync(file, { order: 'rgb' });
    expect(Array.from(r.frames[1]!.data)).toEqual(Array.from(rgb.subarray(W * H * 3)));
    expect(readDicomHeader(file).deflated).toBe(true);
    expect(readDicomHeader(file, 'f', await inflateDicomBody(file)).studyInstanceUid).toBe('1.2.3');
    await expect(openVideoAsync(concat([file.subarray(0, 160), new Uint8Array(40).fill(0xff)]))).rejects.toThrow(VideoDecodeError);
  });

  it('PALETTE COLOR with 16-bit entries maps to their high byte; 8-bit entries from a first mapped value clamp below it', () => {
    const lut = (c: number, bits: 8 | 16, n: number): Uint8Array => (bits === 16
      ? u16le(...Array.from({ length: n }, (_, i) => ((i * (c + 1)) & 255) * 256 + 0x7f))
      : Uint8Array.from({ length: n }, (_, i) => (i * (c + 1) + 5) & 255));
    for (const [bits, first, n] of [[16, 0, 256], [8, 10, 100]] as const) {
      const palette = [0, 1, 2].flatMap((c) => [
        dcmElement(0x0028, 0x1101 + c, 'US', u16le(n, first, bits)),
        dcmElement(0x0028, 0x1201 + c, 'OW', lut(c, bits, n)),
      ]);
      const idx = Uint8Array.from([0, 9, 10, 11, 109, 110, 200, 255]);
      const file = dcmFile(EXPLICIT, [...dcmImageAttrs({ rows: 1, columns: 8, samples: 1, photometric: 'PALETTE COLOR', frames: 1 }), ...palette, dcmElement(0x7fe0, 0x0010, 'OB', idx)]);
      const out = decodeFrame(openVideo(file), 0, { order: 'rgb' }).data;
      for (const [i, v] of idx.entries()) {
        const k = Math.min(Math.max(v - first, 0), n - 1);
        const want = [0, 1, 2].map((c) => (bits === 16 ? (k * (c + 1)) & 255 : (k * (c + 1) + 5) & 255));
        expect(Array.from(out.subarray(i * 3, i * 3 + 3)), `${bits}-bit palette, value ${v}`).toEqual(want);
      }
    }
  });

  it('16-bit monochrome: RLE (two segments per sample) and native agree; the VOI window maps to 0..255', () => {
    const px = Uint16Array.from([0, 1000, 1499, 1500, 2000, 2499, 2500, 4095]);
    const attrs = [...dcmImageAttrs({ rows: 1, columns: 8, samples: 1, photometric: 'MONOCHROME2', frames: 1, bitsAllocated: 16 }),
      dcmElement(0x0028, 0x1050, 'DS', dcmString('2000')), dcmElement(0x0028, 0x1051, 'DS', dcmString('1000'))];
    const nat = dcmFile(EXPLICIT, [...attrs, dcmElement(0x7fe0, 0x0010, 'OW', new Uint8Array(px.buffer))]);
    const planes = concat([Uint8Array.from(px, (v) => v >> 8), Uint8Array.from(px, (v) => v & 255)]);
    const rle = dcmFile('1.2.840.10008.1.2.5', [...attrs, dcmEncapsulated([rleFrame(planes, 8, 2)])]);
    const grey = (f: Uint8Array): number[] => Array.from({ length: 8 }, (_, i) => f[i * 3]!);
    const want = [0, 0, 0, 0, 128, 255, 255, 255].map((v, i) => (i === 4 ? Math.floor(((2000 - 1999.5) / 999 + 0.5) * 255 + 0.5) : v));
    expect(grey(decodeFrame(openVideo(nat), 0).data)).toEqual(want);
    expect(grey(decodeFrame(openVideo(rle), 0).data)).toEqual(want);
  });

  it('JPEG-LS, JPEG 2000 and HTJ2K (lossless, Cornerstone encoders) give back the source; size mismatches and missing codecs are typed errors', async () => {
    for (const [syntax, frames] of [['1.2.840.10008.1.2.4.80', cs.jls], ['1.2.840.10008.1.2.4.90', cs.j2k], ['1.2.840.10008.1.2.4.201', cs.htj2k]] as const) {
      const r = await readVideoAsync(encapsulated(syntax, syntax.endsWith('80') ? 'RGB' : 'YBR_RCT', frames), { order: 'rgb' });
      expect(Array.from(concat(r.frames.map((f) => f.data))), syntax).toEqual(Array.from(rgb));
    }
    // A header size that disagrees with the codestream's is refused before the WASM decoder runs.
    const wrong = dcmFile('1.2.840.10008.1.2.4.90', [...dcmImageAttrs({ rows: H, columns: W + 2, samples: 3, photometric: 'RGB', frames: 1 }), dcmEncapsulated([cs.j2k[0]!])]);
    await expect(readVideoAsync(wrong)).rejects.toThrow(/JPEG 2000 frame is 16x12 with 3 component\(s\); the DICOM header says 18x12/);
    // A codec that cannot be loaded (not installed; in a browser: not registered) names its package.
    const ht = encapsulated('1.2.840.10008.1.2.4.201', 'YBR_RCT', cs.htj2k);
    registerDicomCodec('openjph', () => Promise.reject(new Error('Cannot find package')));
    try {
      const e = await readVideoAsync(ht).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(VideoDecodeError);
      expect((e as Error).message).toMatch(/High-Throughput JPEG 2000 needs the @cornerstonejs\/codec-openjph codec, which could not be loaded \(Cannot find package\)/);
      expect((e as VideoDecodeError).hint).toMatch(/npm install @cornerstonejs\/codec-openjph.*registerDicomCodec/);
    } finally {
      registerDicomCodec('openjph', () => import('@cornerstonejs/codec-openjph/wasmjs' as string));
    }
    expect((await readVideoAsync(ht)).frames).toHaveLength(2);
  });

  it('lossless JPEG seeds (dcmcjpeg: predictor 1 RGB, predictor 7 12-bit) and a big endian palette decode', () => {
    const sv1 = readVideo(seed('lossless-sv1.dcm'), { order: 'rgb' });
    expect(sv1.frames).toHaveLength(2);
    expect(Array.from(sv1.frames[1]!.data.subarray(0, 6))).toEqual([40, 0, 0, 56, 0, 0]);
    const mono = readVideo(seed('lossless-sv7-mono12.dcm'));
    expect(mono.frames[0]!.width).toBe(16);
    const pal = readVideo(seed('big-endian-palette.dcm'), { order: 'rgb' });
    // index (x * 16 + y) % 256 through LUT c: (i * (c + 1) * 97) & 0xffff, high byte
    const i = 1 * 16 + 0;
    expect(Array.from(pal.frames[0]!.data.subarray(3, 6))).toEqual([0, 1, 2].map((c) => ((i * (c + 1) * 97) & 0xffff) >> 8));
  });
});

describe('video fuzz harness over the new decoders', () => {
  it('mutated files of every new codec and encoding decode or fail with a VideoDecodeError, within time', async () => {
    await Promise.all((['charls', 'openjpeg', 'openjph'] as const).map((c) => loadWasmCodec(c, 'fuzz')));
    const seeds = [
      seed('lossless-sv1.dcm'), seed('lossless-sv7-mono12.dcm'), seed('big-endian-palette.dcm'),
      encapsulated('1.2.840.10008.1.2.4.80', 'RGB', cs.jls), encapsulated('1.2.840.10008.1.2.4.90', 'YBR_RCT', cs.j2k),
      encapsulated('1.2.840.10008.1.2.4.201', 'YBR_RCT', cs.htj2k), deflated(native(EXPLICIT, true)), native(EXPLICIT, false),
    ];
    let decoded = 0;
    // positions anywhere after the preamble: header elements and codestream bytes alike
    await fc.assert(fc.asyncProperty(mutatedSeed(seeds, 132), async (b) => {
      if (await decodesOrRejectsAsync(b)) decoded++;
    }), { numRuns: 1000, timeout: 5000 });
    expect(decoded).toBeGreaterThan(0);
  }, 60_000);
});
