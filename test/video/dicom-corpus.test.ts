// Every transfer syntax and colour model as Debian's DICOM tools write them (dicom-corpus.ts):
// decoded pixels must equal the reference decoder's (GDCM for compressed data, pydicom for
// native; JPEG YCbCr through libjpeg's tables) exactly, and lossless syntaxes must give back the
// source pixels bit for bit.
import { describe, expect, it } from 'vitest';
import { yccToInterleaved } from '../../src/video/color.js';
import { decodeFrame, openVideoAsync, readVideoAsync } from '../../src/video/index.js';
import { type CorpusEntry, dicomCorpus, dicomToolsAvailable } from './dicom-corpus.js';
import { compareU8 } from './fixtures.js';

const enabled = dicomToolsAvailable();
const corpus = enabled ? await dicomCorpus() : undefined;
const rows: Record<string, unknown>[] = [];

function decodedBytes(frames: { data: Uint8Array }[]): Uint8Array {
  const out = new Uint8Array(frames.reduce((s, f) => s + f.data.length, 0));
  let o = 0;
  for (const f of frames) { out.set(f.data, o); o += f.data.length; }
  return out;
}

// Lossy J2K/HTJ2K without a GDCM reference (HTJ2K: GDCM 3.0 has no decoder) are checked against
// the source: within this many levels of what was encoded.
const LOSSY_SOURCE_TOLERANCE = 12;

describe.skipIf(!enabled)('DICOM corpus from dcmtk / GDCM', () => {
  it.each(corpus?.entries ?? [])('$name ($syntax, $photometric) decodes to the reference pixels', async (e: CorpusEntry) => {
    const c = corpus!;
    const v = await openVideoAsync(c.file(e.name), e.name);
    expect(v).toMatchObject({ width: e.width, height: e.height, declaredFrames: e.frames, truncated: false });
    const r = await readVideoAsync(c.file(e.name), { order: 'rgb', label: e.name });
    const got = decodedBytes(r.frames);
    const row: Record<string, unknown> = { name: e.name, syntax: e.syntax, photometric: e.photometric };
    if (!e.noReference) {
      const d = compareU8(got, c.reference(e.name));
      row.vsReference = d.maxDiff;
      expect(d.maxDiff, `${e.name} vs the reference decoder`).toBe(0);
    }
    const source = c.sources[e.source];
    if (source && e.kind === 'rgb') {
      const d = compareU8(got, source);
      row.vsSource = d.maxDiff;
      if (e.lossless) expect(d.maxDiff, `${e.name} (lossless) vs the source pixels`).toBe(0);
      else if (e.noReference) expect(d.maxDiff).toBeLessThanOrEqual(LOSSY_SOURCE_TOLERANCE);
    }
    if (e.note) row.note = e.note;
    rows.push(row);
    if (rows.length === corpus!.entries.length) console.table(rows);
  });
});

describe.skipIf(!enabled)('DICOM colour and encoding edge cases (from the corpus)', () => {
  it('a JPEG whose components are RGB (Adobe transform 0, or ids R,G,B alone) is not converted as YCbCr, in either emulation', async () => {
    const c = corpus!;
    const src = c.sources.us!;
    for (const name of ['us_jpeg_rgb', 'us_jpeg_rgb_ids']) {
      const v = await openVideoAsync(c.file(name), name);
      for (const emulate of ['libjpeg', 'ffmpeg'] as const) {
        const f = decodeFrame(v, 0, { order: 'rgb', emulate });
        const d = compareU8(f.data, src.subarray(0, f.data.length));
        expect(d.maxDiff, `${name} ${emulate}`).toBeLessThanOrEqual(16); // quality-90 JPEG loss only
        // Read as YCbCr instead, the same samples would be off by far more than the JPEG loss.
        const n = f.width * f.height;
        const planes = [0, 1, 2].map((k) => Uint8Array.from({ length: n }, (_, i) => f.data[i * 3 + k]!));
        const wrong = new Uint8Array(n * 3);
        yccToInterleaved(planes[0]!, planes[1]!, planes[2]!, f.width, f.width, f.height, 'rgb', wrong);
        expect(compareU8(wrong, src.subarray(0, wrong.length)).maxDiff).toBeGreaterThan(100);
      }
    }
  });

  it('a data set encoded implicit VR under a meta group that says explicit is read as implicit, with a warning', async () => {
    const c = corpus!;
    const v = await openVideoAsync(c.file('us_implicit_body'), 'us_implicit_body');
    expect(v.codec).toBe('1.2.840.10008.1.2.1');
    expect(v.warnings.join('\n')).toMatch(/encoded implicit VR although the transfer syntax 1\.2\.840\.10008\.1\.2\.1 says explicit/);
    const r = await readVideoAsync(c.file('us_implicit_body'), { order: 'rgb' });
    const plain = await readVideoAsync(c.file('us_implicit'), { order: 'rgb' });
    expect(compareU8(decodedBytes(r.frames), decodedBytes(plain.frames)).maxDiff).toBe(0);
  });
});
