// `echoclip zero-shot --study DIR` on a synthetic echo study: three image series (a JPEG baseline
// cine, a native RGB cine, a single-frame still), a Structured Report and a DICOM with corrupt JPEG
// frames. Exactly two clips are scored (the still and the SR are skipped with their reasons, the
// corrupt file fails with its error and the rest goes on); the study result is the per-task mean
// of the two clips, each of which equals `--video` on that file alone. Tiny model, 3 frames a clip.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { zeroShotCommand } from '../../src/cli/zero-shot.js';
import { UsageError, VideoDecodeError } from '../../src/errors.js';
import { demuxAvi, readVideo } from '../../src/video/index.js';
import { FIXTURES, SHARED } from '../helpers/goldens.js';
import { concat, dcmElement, dcmEncapsulated, dcmFile, dcmImageAttrs, dcmString } from '../video/builders.js';
import { payload } from '../video/fixtures.js';

const tiny = resolve(FIXTURES, 'echoclip_tiny');
const prompts = resolve(SHARED, 'samples/prompts_used.json');
const avi = new Uint8Array(await import('node:fs').then((fs) => fs.readFileSync(resolve(SHARED, 'samples/example_video.avi'))));
const STUDY = '1.2.826.0.1.3680043.10.1234.77';
const FRAMES = ['--frames', '0:6:2'];

function ids(sopClass: string, series: number, instance: number): Uint8Array[] {
  return [
    dcmElement(0x0008, 0x0016, 'UI', dcmString(sopClass, 'UI')),
    dcmElement(0x0008, 0x0018, 'UI', dcmString(`${STUDY}.${series}.${instance}`, 'UI')),
    dcmElement(0x0008, 0x0060, 'CS', dcmString('US')),
    dcmElement(0x0020, 0x000d, 'UI', dcmString(STUDY, 'UI')),
    dcmElement(0x0020, 0x000e, 'UI', dcmString(`${STUDY}.${series}`, 'UI')),
    dcmElement(0x0020, 0x0011, 'IS', dcmString(String(series))),
    dcmElement(0x0020, 0x0013, 'IS', dcmString(String(instance))),
  ];
}

const US_MULTIFRAME = '1.2.840.10008.5.1.4.1.1.3.1';
let dir: string;

async function capture(run: () => Promise<number>): Promise<{ out: string; err: string; code: number }> {
  let out = '';
  let err = '';
  const o = vi.spyOn(process.stdout, 'write').mockImplementation((c: string | Uint8Array) => { out += String(c); return true; });
  const e = vi.spyOn(process.stderr, 'write').mockImplementation((c: string | Uint8Array) => { err += String(c); return true; });
  try {
    const code = await run();
    return { out, err, code };
  } finally {
    o.mockRestore();
    e.mockRestore();
  }
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'echoclip-study-'));
  const jpegs = demuxAvi(avi).frames.slice(0, 6).map(payload);
  const attrs = (frames: number, photometric: string) => dcmImageAttrs({ rows: 224, columns: 224, samples: 3, photometric, frames });
  // Series 1: JPEG baseline cine (in a sub-folder, as archives nest them).
  writeFileSync(join(dir, 'a_cine_jpeg.dcm'), dcmFile('1.2.840.10008.1.2.4.50', [...ids(US_MULTIFRAME, 1, 1), ...attrs(6, 'YBR_FULL_422'), dcmEncapsulated(jpegs)]));
  // Series 2: native RGB cine of later frames.
  const native = readVideo(avi, { frames: '6:12', order: 'rgb' }).frames.map((f) => f.data);
  writeFileSync(join(dir, 'b_cine_native.dcm'), dcmFile('1.2.840.10008.1.2.1', [...ids(US_MULTIFRAME, 2, 1), ...attrs(6, 'RGB'), dcmElement(0x7fe0, 0x0010, 'OB', concat(native))]));
  // Series 3: a single-frame still.
  writeFileSync(join(dir, 'c_still.dcm'), dcmFile('1.2.840.10008.1.2.1', [...ids('1.2.840.10008.5.1.4.1.1.6.1', 3, 1), ...attrs(1, 'RGB'), dcmElement(0x7fe0, 0x0010, 'OB', native[0]!)]));
  // A Structured Report: no pixel data.
  writeFileSync(join(dir, 'd_report.dcm'), dcmFile('1.2.840.10008.1.2.1', [...ids('1.2.840.10008.5.1.4.1.1.88.33', 4, 1), dcmElement(0x0040, 0xa040, 'CS', dcmString('CONTAINER'))]));
  // A broken file: JPEG fragments that are not JPEG data.
  const junk = [0, 1].map((k) => concat([new Uint8Array([0xff, 0xd8]), new Uint8Array(300).fill(0x41 + k), new Uint8Array([0xff, 0xd9])]));
  writeFileSync(join(dir, 'e_broken.dcm'), dcmFile('1.2.840.10008.1.2.4.50', [...ids(US_MULTIFRAME, 5, 1), ...attrs(2, 'YBR_FULL_422'), dcmEncapsulated(junk)]));
});

afterEach(() => vi.restoreAllMocks());

describe('echoclip zero-shot --study', () => {
  it('scores the two cine loops, skips the still and the SR, lists the broken file, and means the study', async () => {
    process.env.ECHOCLIP_CACHE_DIR = mkdtempSync(join(tmpdir(), 'echoclip-cache-'));
    const r = await capture(() => zeroShotCommand(['--weights', tiny, '--study', dir, '--prompts', prompts, ...FRAMES, '--json']));
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.out);
    expect(doc.studies).toHaveLength(1);
    const s = doc.studies[0];
    expect(s.studyInstanceUid).toBe(STUDY);
    expect(s.clips).toBe(2);
    expect(s.perClip.map((c: { file: string }) => c.file)).toEqual(['a_cine_jpeg.dcm', 'b_cine_native.dcm']);
    expect(s.perClip.map((c: { frames: number }) => c.frames)).toEqual([3, 3]);
    expect(doc.skipped).toEqual([
      { file: 'c_still.dcm', reason: 'single-frame image (a still, not a cine loop)' },
      { file: 'd_report.dcm', reason: 'Structured Report (not an image)' },
    ]);
    expect(doc.failed).toHaveLength(1);
    expect(doc.failed[0].file).toBe('e_broken.dcm');
    expect(doc.failed[0].error).toMatch(/e_broken\.dcm frame 0 of 2/);
    // progress: one line per file
    expect(r.err.match(/^zero-shot: \[\d\/5\] /gm)).toHaveLength(5);
    expect(r.err).toMatch(/\[5\/5\] e_broken\.dcm: failed/);

    // The study result is the per-task mean over the clips.
    const [a, b] = s.perClip.map((c: { results: Record<string, never> }) => c.results);
    for (const [task, res] of Object.entries(s.results) as [string, Record<string, unknown>][]) {
      if (res.mode === 'binary') expect(res.score).toBeCloseTo(((a[task] as { score: number }).score + (b[task] as { score: number }).score) / 2, 6);
      else if (res.mode === 'regression') expect(res.prediction).toBeCloseTo(((a[task] as { prediction: number }).prediction + (b[task] as { prediction: number }).prediction) / 2, 4);
      else {
        const scores = res.scores as Record<string, number>;
        for (const [label, v] of Object.entries(scores)) expect(v).toBeCloseTo(((a[task] as { scores: Record<string, number> }).scores[label]! + (b[task] as { scores: Record<string, number> }).scores[label]!) / 2, 6);
        expect(res.label).toBe(Object.entries(scores).sort((x, y) => y[1] - x[1])[0]![0]);
      }
    }
    // Each clip's results are what --video gives for that file alone.
    const alone = await capture(() => zeroShotCommand(['--weights', tiny, '--video', join(dir, 'b_cine_native.dcm'), '--prompts', prompts, ...FRAMES, '--json']));
    expect(JSON.parse(alone.out)).toEqual(b);

    // Text mode: a table with the study column and one column per clip.
    const text = await capture(() => zeroShotCommand(['--weights', tiny, '--study', dir, '--prompts', prompts, ...FRAMES, '--task', 'ejection_fraction']));
    expect(text.out).toMatch(new RegExp(`study ${STUDY.replace(/\./g, '\\.')}: 2 clip\\(s\\)`));
    expect(text.out).toMatch(/^task\s+study\s+clip 1\s+clip 2$/m);
    expect(text.out).toMatch(/^ejection_fraction\s+\S+\s+\S+\s+\S+$/m);
    expect(text.out).toMatch(/^skipped: d_report\.dcm: Structured Report/m);
    expect(text.out).toMatch(/^failed: e_broken\.dcm: /m);
  });

  it('refuses a missing folder, --study with --video, and a folder without cine loops', async () => {
    await expect(zeroShotCommand(['--weights', tiny, '--study', join(dir, 'nope'), '--prompts', prompts])).rejects.toThrow(UsageError);
    await expect(zeroShotCommand(['--weights', tiny, '--study', dir, '--video', join(dir, 'a_cine_jpeg.dcm'), '--prompts', prompts])).rejects.toThrow(/not both/);
    const empty = mkdtempSync(join(tmpdir(), 'echoclip-study-empty-'));
    writeFileSync(join(empty, 'notes.txt'), 'not DICOM');
    const run = capture(() => zeroShotCommand(['--weights', tiny, '--study', empty, '--prompts', prompts, ...FRAMES]));
    await expect(run).rejects.toThrow(VideoDecodeError);
    await expect(run).rejects.toThrow(/no cine loop could be scored \(1 skipped, 0 failed\)/);
  });
});
