// Test archives for the index suites: short AVIs cut from the example video (different frame
// ranges, so different embeddings) plus a few corrupt files, and the CLI runner.
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { demuxAvi } from '../../src/video/avi.js';
import { buildAvi, dcmElement, dcmEncapsulated, dcmFile, dcmImageAttrs, dcmString } from '../video/builders.js';
import { FIXTURES, SHARED } from '../helpers/goldens.js';

export const TINY = resolve(FIXTURES, 'echoclip_tiny');
export const PROMPTS = resolve(SHARED, 'samples/prompts_used.json');
export const EXAMPLE = resolve(SHARED, 'samples/example_video.avi');
export const ENTRY = resolve(import.meta.dirname, '../../bin/echoclip.js');

export const STUDY_UID = '1.2.826.0.1.3680043.10.1234.99';
export const PATIENT_ID = 'PAT-0042';

function dicomIds(sopClass: string, series: number): Uint8Array[] {
  return [
    dcmElement(0x0008, 0x0016, 'UI', dcmString(sopClass, 'UI')),
    dcmElement(0x0008, 0x0018, 'UI', dcmString(`${STUDY_UID}.${series}.1`, 'UI')),
    dcmElement(0x0010, 0x0020, 'LO', dcmString(PATIENT_ID, 'LO')),
    dcmElement(0x0020, 0x000d, 'UI', dcmString(STUDY_UID, 'UI')),
    dcmElement(0x0020, 0x000e, 'UI', dcmString(`${STUDY_UID}.${series}`, 'UI')),
  ];
}

/**
 * `good` AVI clips of 2–3 frames starting at different frames plus one JPEG DICOM cine (counted in
 * `good`), and the corrupt files (a DICOM Structured Report among them), under dir.
 */
export function writeArchive(dir: string, good: number): { good: string[]; corrupt: string[] } {
  const src = new Uint8Array(readFileSync(EXAMPLE));
  const v = demuxAvi(src);
  const jpegs = v.frames.map((f) => {
    if (f.kind !== 'jpeg') throw new Error(`example video frame is ${f.kind}, MJPEG expected`);
    return f.bytes;
  });
  const out = { good: [] as string[], corrupt: [] as string[] };
  for (let i = 0; i < good; i++) {
    const sub = `p${i % 5}`;
    mkdirSync(join(dir, sub), { recursive: true });
    const start = (i * 3) % Math.max(1, jpegs.length - 3);
    const rel = `${sub}/clip-${String(i).padStart(3, '0')}.avi`;
    writeFileSync(join(dir, rel), buildAvi({ width: v.width, height: v.height, frames: jpegs.slice(start, start + 2 + (i % 2)) }));
    out.good.push(rel);
  }
  mkdirSync(join(dir, 'dicom'), { recursive: true });
  const attrs = dcmImageAttrs({ rows: v.height, columns: v.width, samples: 3, photometric: 'YBR_FULL_422', frames: 3 });
  writeFileSync(join(dir, 'dicom/cine.dcm'), dcmFile('1.2.840.10008.1.2.4.50', [...dicomIds('1.2.840.10008.5.1.4.1.1.3.1', 1), ...attrs, dcmEncapsulated(jpegs.slice(5, 8))]));
  out.good.push('dicom/cine.dcm');
  writeFileSync(join(dir, 'dicom/report.dcm'), dcmFile('1.2.840.10008.1.2.1', [...dicomIds('1.2.840.10008.5.1.4.1.1.88.33', 2), dcmElement(0x0040, 0xa040, 'CS', dcmString('CONTAINER'))]));
  out.corrupt.push('dicom/report.dcm');
  mkdirSync(join(dir, 'bad'), { recursive: true });
  const corrupt: [string, Uint8Array][] = [
    ['bad/truncated.avi', src.subarray(0, 300)],
    ['bad/noise.avi', Uint8Array.from({ length: 4096 }, (_, i) => (i * 7919) & 255)],
    ['bad/empty.avi', new Uint8Array(0)],
    ['bad/notes.txt', new TextEncoder().encode('not a video\n')],
  ];
  for (const [rel, bytes] of corrupt) { writeFileSync(join(dir, rel), bytes); out.corrupt.push(rel); }
  return out;
}

export interface CliRun { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }

/** Spawns bin/echoclip.js; `onSpawn` gets the child (to kill it). */
export function cli(args: string[], env: NodeJS.ProcessEnv = {}, onSpawn?: (c: ReturnType<typeof spawn>) => void): Promise<CliRun> {
  return new Promise((ok) => {
    const c = spawn(process.execPath, [ENTRY, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    c.stdout!.on('data', (d) => { stdout += String(d); });
    c.stderr!.on('data', (d) => { stderr += String(d); });
    c.on('close', (code, signal) => ok({ code, signal, stdout, stderr }));
    onSpawn?.(c);
  });
}
