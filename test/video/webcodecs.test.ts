// H.264 in DICOM decoded by a real browser's WebCodecs: headless Chromium encodes five frames
// (a white square moving right over a coloured background) with its VideoEncoder as an Annex B
// stream, we wrap it into a DICOM (MPEG-4 AVC/H.264, 1.2.840.10008.1.2.4.102) and the bundled
// video module decodes it in the page (readVideoAsync): five frames, in display order, close to
// what was encoded.
import http from 'node:http';
import path from 'node:path';
import { build } from 'esbuild';
import puppeteer from 'puppeteer-core';
import { describe, expect, test } from 'vitest';
import { dcmEncapsulated, dcmFile, dcmImageAttrs } from './builders.js';

const root = path.resolve(import.meta.dirname, '../..');
const CHROMIUM = process.env.CHROME_PATH ?? '/usr/bin/chromium';
const W = 64, H = 48, N = 5;

// Runs in the page: frame k has a white 16x16 square at x = 4 + 8k on a red-left / blue-right background.
const ENCODE = `async (W, H, N) => {
  const src = [];
  const chunks = [];
  const enc = new VideoEncoder({ output: (c) => { const b = new Uint8Array(c.byteLength); c.copyTo(b); chunks.push(b); }, error: (e) => { throw e; } });
  enc.configure({ codec: 'avc1.42001f', width: W, height: H, bitrate: 4_000_000, framerate: 30, avc: { format: 'annexb' }, latencyMode: 'quality' });
  for (let k = 0; k < N; k++) {
    const c = new OffscreenCanvas(W, H);
    const g = c.getContext('2d');
    g.fillStyle = 'rgb(200,40,40)'; g.fillRect(0, 0, W / 2, H);
    g.fillStyle = 'rgb(40,40,200)'; g.fillRect(W / 2, 0, W / 2, H);
    g.fillStyle = 'rgb(255,255,255)'; g.fillRect(4 + 8 * k, 16, 16, 16);
    src.push(Array.from(g.getImageData(0, 0, W, H).data));
    const f = new VideoFrame(c, { timestamp: k * 33333 });
    enc.encode(f, { keyFrame: k === 0 });
    f.close();
  }
  await enc.flush();
  enc.close();
  const all = new Uint8Array(chunks.reduce((s, c) => s + c.length, 0));
  let o = 0;
  for (const c of chunks) { all.set(c, o); o += c.length; }
  let s = '';
  for (const v of all) s += String.fromCharCode(v);
  return { stream: btoa(s), src };
}`;

const DECODE = `async (code, dcmB64) => {
  const mod = await import(URL.createObjectURL(new Blob([code], { type: 'text/javascript' })));
  const bytes = Uint8Array.from(atob(dcmB64), (ch) => ch.charCodeAt(0));
  const r = await mod.readVideoAsync(bytes, { order: 'rgb', label: 'h264.dcm' });
  return { codec: r.info.codec, frames: r.frames.map((f) => ({ width: f.width, height: f.height, data: Array.from(f.data) })) };
}`;

describe('WebCodecs in Chromium', () => {
  test('an H.264 DICOM decodes in the browser, frames in display order', async () => {
    const bundle = (await build({
      stdin: { contents: "export * from './src/video/index.ts';", resolveDir: root, loader: 'ts' },
      bundle: true, format: 'esm', platform: 'browser', write: false, logLevel: 'silent',
    })).outputFiles[0]!.text;
    // WebCodecs needs a secure context: serve a blank page from localhost.
    const server = http.createServer((_q, res) => { res.setHeader('content-type', 'text/html'); res.end('<!doctype html><title>webcodecs</title>'); }).listen(0);
    await new Promise((resolve) => server.once('listening', resolve));
    const browser = await puppeteer.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu'] });
    try {
      const page = await browser.newPage();
      await page.goto(`http://localhost:${(server.address() as { port: number }).port}/`);
      const enc = await page.evaluate(`(${ENCODE})(${W}, ${H}, ${N})`) as { stream: string; src: number[][] };
      const stream = new Uint8Array(Buffer.from(enc.stream, 'base64'));
      // Even-length fragments, cut where the writer pleased (not at picture boundaries).
      const cut = stream.length >> 2 << 1;
      const file = dcmFile('1.2.840.10008.1.2.4.102', [...dcmImageAttrs({ rows: H, columns: W, samples: 3, photometric: 'YBR_PARTIAL_420', frames: N }), dcmEncapsulated([stream.subarray(0, cut), stream.subarray(cut)])]);
      const dec = await page.evaluate(`(${DECODE})(${JSON.stringify(bundle)}, ${JSON.stringify(Buffer.from(file).toString('base64'))})`) as { codec: string; frames: { width: number; height: number; data: number[] }[] };
      expect(dec.codec).toBe('1.2.840.10008.1.2.4.102');
      expect(dec.frames).toHaveLength(N);
      for (let k = 0; k < N; k++) {
        const f = dec.frames[k]!;
        expect([f.width, f.height]).toEqual([W, H]);
        let sum = 0;
        for (let i = 0, j = 0; i < f.data.length; i += 3, j += 4) for (let c = 0; c < 3; c++) sum += Math.abs(f.data[i + c]! - enc.src[k]![j + c]!);
        expect(sum / (W * H * 3), `frame ${k} mean difference`).toBeLessThan(8);
        // the square's left edge is where frame k put it: the brightest column band on row 24
        const row = Array.from({ length: W }, (_, x) => f.data[(24 * W + x) * 3 + 1]!);
        expect(row.findIndex((v) => v > 180), `frame ${k} square position`).toBeGreaterThanOrEqual(4 + 8 * k - 1);
        expect(row.findIndex((v) => v > 180)).toBeLessThanOrEqual(4 + 8 * k + 1);
      }
    } finally {
      await browser.close();
      server.close();
    }
  }, 60_000);
});
