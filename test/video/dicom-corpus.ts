// The DICOM test corpus: sources written here (the example video's frames through our AVI reader,
// synthetic RGB / palette / 16-bit images, JPEG 2000 and HTJ2K codestreams from the Cornerstone
// encoders), converted by Debian's DICOM tools and decoded to reference pixels by
// dicom-corpus.py (pydicom + GDCM). Generated once per content hash into the OS temp dir (a few
// seconds), so nothing large is committed. Missing tools skip the suites locally and FAIL in CI
// (CI=true): scripts/setup-machine.sh installs them.
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { readVideo } from '../../src/video/index.js';
import { readShared } from './fixtures.js';

export const PYTHON = '/usr/bin/python3';
const TOOLS = ['dcmcjpeg', 'dcmcjpls', 'dcmcrle', 'dcmconv', 'gdcmconv'];
const SCRIPT = path.join(import.meta.dirname, 'dicom-corpus.py');

/** What is missing to build the corpus (empty when everything is there). */
export function missingDicomTools(): string[] {
  const missing = TOOLS.filter((t) => spawnSync('sh', ['-c', `command -v ${t}`]).status !== 0);
  if (spawnSync(PYTHON, ['-c', 'import pydicom, gdcm, numpy']).status !== 0) missing.push('python3-pydicom/python3-gdcm');
  return missing;
}

/**
 * true when the corpus can be built; false (skip) outside CI; throws in CI, so a machine without
 * the tools fails loudly instead of silently testing nothing.
 */
export function dicomToolsAvailable(): boolean {
  const missing = missingDicomTools();
  if (missing.length === 0) return true;
  const msg = `DICOM corpus tests need ${missing.join(', ')}: apt-get install -y dcmtk libgdcm-tools python3-pydicom python3-gdcm python3-numpy (scripts/setup-machine.sh)`;
  if (process.env.CI === 'true') throw new Error(msg);
  console.warn(`skipped: ${msg}`);
  return false;
}

export interface CorpusEntry {
  name: string;
  file: string;
  syntax: string;
  photometric: string;
  frames: number;
  height: number;
  width: number;
  kind: 'rgb' | 'palette' | 'mono16';
  source: string;
  lossless: boolean;
  note: string;
  noReference?: boolean;
}

export interface Corpus {
  dir: string;
  entries: CorpusEntry[];
  /** Source RGB frames (N*H*W*3) by source name: 'us', 'syn'. */
  sources: Record<string, Uint8Array>;
  file(name: string): Uint8Array;
  reference(name: string): Uint8Array;
}

/** Deterministic pseudo-random bytes (LCG), so the corpus hash is stable. */
function noise(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; out[i] = s >>> 24; }
  return out;
}

interface Inputs { json: Record<string, unknown>; files: Record<string, Uint8Array>; sources: Record<string, Uint8Array> }

async function makeInputs(): Promise<Inputs> {
  const files: Record<string, Uint8Array> = {};
  // 3 frames of the example echo, as our AVI reader decodes them (RGB order).
  const v = readVideo(readShared('samples', 'example_video.avi'), { frames: '0:3', order: 'rgb' });
  const W = v.frames[0]!.width, H = v.frames[0]!.height;
  const us = new Uint8Array(3 * W * H * 3);
  v.frames.forEach((f, i) => us.set(f.data, i * W * H * 3));
  files['us.rgb'] = us;
  // Synthetic RGB, odd size: saturated bars, gradients and noise (colour transforms show up here).
  const sw = 63, sh = 47, sn = 2;
  const syn = new Uint8Array(sn * sw * sh * 3);
  const nz = noise(syn.length, 7);
  for (let f = 0; f < sn; f++) {
    for (let y = 0; y < sh; y++) {
      for (let x = 0; x < sw; x++) {
        const o = ((f * sh + y) * sw + x) * 3;
        const bar = Math.floor(x / 9) % 7;
        const sat = [[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 0], [0, 255, 255], [255, 0, 255], [255, 255, 255]][bar]!;
        const t = y < sh / 2;
        syn[o] = t ? sat[0]! : (x * 4 + f * 30) & 255;
        syn[o + 1] = t ? sat[1]! : (y * 5) & 255;
        syn[o + 2] = t ? sat[2]! : nz[o]!;
      }
    }
  }
  files['syn.rgb'] = syn;
  // Palette indices (8-bit) and two palettes: 16-bit entries (distinct high/low bytes), 8-bit entries from value 16.
  const pw = 64, ph = 48, pn = 2;
  const idx = new Uint8Array(pn * pw * ph);
  const pnz = noise(idx.length, 11);
  for (let i = 0; i < idx.length; i++) idx[i] = i % pw < 32 ? ((i % pw) * 8 + Math.floor(i / pw)) & 255 : pnz[i]!;
  files['palette.idx'] = idx;
  const lut16 = new Uint16Array(3 * 256);
  for (let i = 0; i < 256; i++) { lut16[i] = i * 257; lut16[256 + i] = ((255 - i) << 8) | 0x5a; lut16[512 + i] = ((i * 37) & 255) << 8 | (i & 0xff); }
  files['lut16.u16'] = new Uint8Array(lut16.buffer);
  const lut8 = new Uint8Array(3 * 200);
  for (let i = 0; i < 200; i++) { lut8[i] = i; lut8[200 + i] = 255 - i; lut8[400 + i] = (i * 91) & 255; }
  files['lut8.u8'] = lut8;
  // 12-bit monochrome in 16-bit words: a gradient plus noise over the whole range.
  const mw = 64, mh = 48, mn = 2;
  const mono = new Uint16Array(mn * mw * mh);
  const mnz = noise(mono.length * 2, 13);
  for (let i = 0; i < mono.length; i++) mono[i] = (((i % mw) * 64 + Math.floor(i / mw) % mh * 8) + ((mnz[2 * i]! << 8) | mnz[2 * i + 1]!) % 256) & 4095;
  files['mono16.u16'] = new Uint8Array(mono.buffer);
  // JPEG 2000 / HTJ2K codestreams with the component transform (MCT = 1), from the Cornerstone encoders.
  const codestreams: Record<string, unknown>[] = [];
  const ojp = await (await import('@cornerstonejs/codec-openjpeg/wasmjs' as string)).default({ print: () => {}, printErr: () => {} });
  const oph = await (await import('@cornerstonejs/codec-openjph/wasmjs' as string)).default({ print: () => {}, printErr: () => {} });
  const encode = (ht: boolean, lossless: boolean, frame: Uint8Array): Uint8Array => {
    const e = ht ? new oph.HTJ2KEncoder() : new ojp.J2KEncoder();
    const fi = { width: W, height: H, bitsPerSample: 8, componentCount: 3, isSigned: false, isUsingColorTransform: true };
    e.getDecodedBuffer(fi).set(frame);
    if (ht) e.setQuality(lossless, lossless ? 0 : 0.01);
    else { e.setQuality(lossless, 0); if (!lossless) e.setCompressionRatio(0, 10); }
    e.encode();
    const out = e.getEncodedBuffer().slice();
    e.delete();
    return out;
  };
  for (const [name, ht, lossless, syntax, photometric] of [
    ['us_j2k_rct', false, true, '1.2.840.10008.1.2.4.90', 'YBR_RCT'],
    ['us_j2k_ict', false, false, '1.2.840.10008.1.2.4.91', 'YBR_ICT'],
    ['us_htj2k_rct', true, true, '1.2.840.10008.1.2.4.201', 'YBR_RCT'],
    ['us_htj2k_ict', true, false, '1.2.840.10008.1.2.4.203', 'YBR_ICT'],
  ] as const) {
    const names: string[] = [];
    for (let f = 0; f < 3; f++) {
      const fn = `${name}.${f}.j2c`;
      files[fn] = encode(ht, lossless, us.subarray(f * W * H * 3, (f + 1) * W * H * 3));
      names.push(fn);
    }
    codestreams.push({ name, syntax, photometric, files: names, lossless, reference: ht ? 'none' : 'gdcm', note: `${ht ? 'OpenJPH' : 'OpenJPEG'} encoder, MCT on` });
  }
  const json = {
    us: { file: 'us.rgb', frames: 3, width: W, height: H },
    syn: { file: 'syn.rgb', frames: sn, width: sw, height: sh },
    palette: { file: 'palette.idx', frames: pn, width: pw, height: ph, lut16: 'lut16.u16', lut8: 'lut8.u8' },
    mono16: { file: 'mono16.u16', frames: mn, width: mw, height: mh },
    codestreams,
  };
  return { json, files, sources: { us, syn } };
}

let corpus: Promise<Corpus> | undefined;

/** Builds (or reuses) the corpus; throws with the tool's message when generation fails. */
export function dicomCorpus(): Promise<Corpus> {
  corpus ??= (async () => {
    const inputs = await makeInputs();
    const h = createHash('sha256');
    h.update(readFileSync(SCRIPT));
    h.update(JSON.stringify(inputs.json));
    for (const k of Object.keys(inputs.files).sort()) h.update(k).update(inputs.files[k]!);
    h.update(spawnSync('sh', ['-c', 'dcmcjpeg --version | head -1; gdcmconv --version']).stdout ?? '');
    const dir = path.join(tmpdir(), `echoclip-dicom-corpus-${h.digest('hex').slice(0, 16)}`);
    if (!existsSync(path.join(dir, 'manifest.json'))) {
      // Build beside, then rename: parallel test files never see a half-written corpus.
      const work = `${dir}.tmp-${process.pid}-${Date.now()}`;
      try {
        const src = path.join(work, 'src');
        mkdirSync(src, { recursive: true });
        writeFileSync(path.join(src, 'inputs.json'), JSON.stringify(inputs.json));
        for (const [k, v] of Object.entries(inputs.files)) writeFileSync(path.join(src, k), v);
        const r = spawnSync(PYTHON, [SCRIPT, src, path.join(work, 'out')], { encoding: 'utf8' });
        if (r.status !== 0) throw new Error(`dicom-corpus.py failed: ${r.stderr || r.stdout}`);
        try { renameSync(path.join(work, 'out'), dir); } catch { /* another worker won the race */ }
      } finally {
        rmSync(work, { recursive: true, force: true });
      }
    }
    const entries = JSON.parse(readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as CorpusEntry[];
    return {
      dir, entries, sources: inputs.sources,
      file: (name) => new Uint8Array(readFileSync(path.join(dir, `${name}.dcm`))),
      reference: (name) => new Uint8Array(readFileSync(path.join(dir, `${name}.rgb`))),
    };
  })();
  return corpus;
}
