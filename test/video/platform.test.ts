// The video and task modules run unchanged outside Node: bundled for the browser (no node:
// imports), then the example video is decoded + preprocessed in Deno and in headless Chromium and
// must give the reference tensor bit for bit (compared by hash of the float32 bytes).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { build } from 'esbuild';
import puppeteer from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { loadGolden, readShared, sharedPath } from './fixtures.js';

const root = path.resolve(import.meta.dirname, '../..');
const CHROMIUM = process.env.CHROME_PATH ?? '/usr/bin/chromium';
const AVI = sharedPath('samples', 'example_video.avi');

// Runs in every runtime: preprocess 0:40:2, hash the tensor, run one regression metric.
const SMOKE = `
export function smoke(mod, avi) {
  const r = mod.preprocessVideo(avi, { frames: '0:40:2' });
  const b = new Uint8Array(r.pixelValues.buffer);
  let h = 2166136261;
  for (let i = 0; i < b.length; i++) h = Math.imul(h ^ b[i], 16777619) >>> 0;
  const frames = { data: new Float32Array([1, 0, 0.8, 0.6]), shape: [2, 2] };
  const prompts = { data: new Float32Array(Array.from({ length: 10 }, (_, i) => [Math.cos(i / 5), Math.sin(i / 5)]).flat()), shape: [10, 2] };
  const reg = mod.computeRegressionMetric(frames, prompts, Array.from({ length: 10 }, (_, i) => i));
  return { shape: r.shape, hash: h, prediction: reg.predictions[0] };
}`;

function fnv(bytes: Uint8Array): number {
  let h = 2166136261;
  for (let i = 0; i < bytes.length; i++) h = Math.imul(h ^ bytes[i]!, 16777619) >>> 0;
  return h;
}

let dir: string;
let bundle: string;
let expected: { shape: number[]; hash: number; prediction: number };
beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'echoclip-video-platform-'));
  const out = await build({
    stdin: { contents: "export * from './src/video/index.ts'; export * from './src/tasks/index.ts';", resolveDir: root, loader: 'ts' },
    bundle: true, format: 'esm', platform: 'browser', write: false, logLevel: 'silent',
  });
  bundle = out.outputFiles[0]!.text;
  writeFileSync(path.join(dir, 'video.js'), bundle);
  writeFileSync(path.join(dir, 'smoke.js'), SMOKE);
  const golden = (await loadGolden('video_preprocess.safetensors')).f32('video.pixel_values_0_40_2');
  // the regression reference: the same smoke run in Node on the unbundled sources
  const { computeRegressionMetric } = await import('../../src/tasks/index.js');
  const frames = { data: new Float32Array([1, 0, 0.8, 0.6]), shape: [2, 2] };
  const prompts = { data: new Float32Array(Array.from({ length: 10 }, (_, i) => [Math.cos(i / 5), Math.sin(i / 5)]).flat()), shape: [10, 2] };
  expected = { shape: [20, 3, 224, 224], hash: fnv(new Uint8Array(golden.buffer, golden.byteOffset, golden.byteLength)), prediction: computeRegressionMetric(frames, prompts, Array.from({ length: 10 }, (_, i) => i)).predictions[0]! };
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('video + tasks outside Node', () => {
  test('the browser bundle has no Node built-ins', () => {
    expect(bundle).not.toMatch(/from\s*["']node:|require\(["'](node:)?(fs|path|zlib)/);
  });

  test('Deno: the 0:40:2 tensor is the reference, bit for bit', () => {
    const deno = path.join(root, 'node_modules/.bin/deno');
    const script = path.join(dir, 'deno-main.js');
    writeFileSync(script, `import * as mod from './video.js'; import { smoke } from './smoke.js';
console.log(JSON.stringify(smoke(mod, await Deno.readFile(Deno.args[0]))));`);
    const r = spawnSync(deno, ['run', '--no-config', '--no-lock', `--allow-read=${dir},${path.dirname(AVI)}`, script, AVI], { encoding: 'utf8', env: { ...process.env, DENO_NO_UPDATE_CHECK: '1', NO_COLOR: '1' } });
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toEqual(expected);
  });

  test('Chromium: the 0:40:2 tensor is the reference, bit for bit', async () => {
    expect(existsSync(CHROMIUM)).toBe(true);
    const browser = await puppeteer.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu'] });
    try {
      const page = await browser.newPage();
      // Passed as source text: vitest rewrites dynamic import() in functions it compiles.
      const pageMain = `async (code, smokeCode, aviB64) => {
        const load = (src) => import(URL.createObjectURL(new Blob([src], { type: 'text/javascript' })));
        const [mod, { smoke }] = await Promise.all([load(code), load(smokeCode)]);
        return smoke(mod, Uint8Array.from(atob(aviB64), (ch) => ch.charCodeAt(0)));
      }`;
      const args = [bundle, SMOKE, Buffer.from(readShared('samples', 'example_video.avi')).toString('base64')];
      const result = await page.evaluate(`(${pageMain})(${args.map((a) => JSON.stringify(a)).join(',')})`);
      expect(result).toEqual(expected);
    } finally {
      await browser.close();
    }
  });
});
