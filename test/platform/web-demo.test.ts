// The browser demo in real Chromium (SwiftShader WebGPU), given only the tiny fixture weights and the
// example video (the vocabulary ships with the library; echo_CLIP's prompt set comes from a 127.0.0.1
// base URL and is cached in OPFS): results equal to the CLI's, main thread responsive, a screenshot
// artifact, and the no-WebGPU message.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { extname, join, normalize, resolve } from 'node:path';
import puppeteer, { type Browser } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliZeroShot, expectSameZeroShot } from './zero-shot-compare.js';

const root = resolve(import.meta.dirname, '../..');
const shared = resolve(root, '../shared');
const artifacts = resolve(root, 'artifacts');
let server: Server;
let browser: Browser;
let origin = '';
let profile = '';

/**
 * The built demo as a site serves it: dist/web at /, the package's assets/ at /assets/ (where the
 * bundled worker's `new URL('../../assets/…', import.meta.url)` points), the fixtures at /data/.
 */
function startDemoServer(): Promise<Server> {
  const mounts: [string, string][] = [['/data/', shared], ['/assets/', resolve(root, 'assets')], ['/', resolve(root, 'dist/web')]];
  const types: Record<string, string> = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.json': 'application/json' };
  const srv = createServer((req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname));
    const [prefix, dir] = mounts.find(([p]) => path.startsWith(p))!;
    const file = join(dir, path === '/' ? 'index.html' : path.slice(prefix.length));
    if (!file.startsWith(dir) || !existsSync(file) || !statSync(file).isFile()) { res.writeHead(404).end(); return; }
    res.writeHead(200, { 'content-type': types[extname(file)] ?? 'application/octet-stream' }).end(readFileSync(file));
  });
  return new Promise((ok) => srv.listen(0, '127.0.0.1', () => ok(srv)));
}

beforeAll(async () => {
  server = await startDemoServer();
  const addr = server.address();
  origin = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
  profile = mkdtempSync(join(tmpdir(), 'echoclip-demo-'));
  browser = await puppeteer.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    headless: true,
    userDataDir: profile,
    args: ['--headless=new', '--no-sandbox', '--enable-unsafe-webgpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic', '--window-size=1280,900'],
  });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await new Promise((ok) => server?.close(ok));
  if (profile) rmSync(profile, { recursive: true, force: true });
});

async function nodeCam(prompt: string): Promise<number[]> {
  const { requestDevice } = await import('../../src/gpu/device.js');
  const { openWeights } = await import('../../src/io/weights-node.js');
  const { EchoClipModel } = await import('../../src/models/clip.js');
  const { TrainableClip } = await import('../../src/models/train.js');
  const { gradCam } = await import('../../src/models/gradcam.js');
  const { loadClipBpeTokenizer } = await import('../../src/tokenizer/load-node.js');
  const { preprocessVideoFile } = await import('../../src/video/video-node.js');
  const { l2NormalizeRows } = await import('../../src/tasks/array.js');
  const gpu = await requestDevice({ adapter: process.env.ECHOCLIP_ADAPTER ?? 'lavapipe' });
  try {
    const w = await openWeights(`${shared}/fixtures/echoclip_tiny`);
    const infer = await EchoClipModel.load(gpu, w.source, w.config);
    const tok = await loadClipBpeTokenizer(`${shared}/vocab/bpe_simple_vocab_16e6.txt.gz`);
    const emb = l2NormalizeRows({ data: await infer.encodeTexts(tok.tokenize([prompt])[0]), shape: [1, 64] }).data;
    infer.release();
    const train = await TrainableClip.load(gpu, w.source, w.config);
    await w.source.close();
    const v = await preprocessVideoFile(`${shared}/samples/example_video.avi`, { frames: '0:40:2' });
    const r = await gradCam(train, v.pixelValues.subarray(0, 3 * 224 * 224), emb);
    train.release();
    return Array.from(r.cam);
  } finally {
    gpu.destroy();
  }
}

describe('browser demo', () => {
  it('runs the tiny model on the example video in a worker given only the weights and the video, and shows the CLI\'s numbers', async () => {
    const page = await browser.newPage();
    await page.setViewport({ width: 1280, height: 900 });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    const q = new URLSearchParams({ weights: '/data/fixtures/echoclip_tiny', assets: '/data/samples', video: '/data/samples/example_video.avi', autorun: '1' });
    await page.goto(`${origin}/?${q}`);
    await page.waitForFunction(() => document.body.dataset.cam === 'done' || document.body.dataset.state === 'error', { timeout: 400_000, polling: 500 });
    const state = await page.evaluate(() => ({ state: document.body.dataset.state, status: document.getElementById('status')!.textContent, ef: document.getElementById('ef')!.textContent }));
    expect(state.state, state.status ?? '').toBe('done');
    mkdirSync(artifacts, { recursive: true });
    await page.screenshot({ path: join(artifacts, 'web-demo.png'), fullPage: true });
    const web = (await page.evaluate('window.__results')) as Awaited<ReturnType<typeof cliZeroShot>>;
    const longTasks = (await page.evaluate('window.__longTasks')) as number[];
    const rows = await page.$$eval('#binary tr[data-task], #categorical tr[data-task]', (trs) => trs.length);
    expect(rows).toBe(16);
    expectSameZeroShot(web, await cliZeroShot());
    expect(state.ef).toMatch(/%$/);
    // The Grad-CAM overlay equals the library's gradCam on the same frame and prompt (in Node).
    const cam = (await page.evaluate('window.__cam')) as { prompt: string; cam: number[]; height: number; width: number };
    expect([cam.height, cam.width]).toEqual([7, 7]);
    const want = await nodeCam(cam.prompt);
    const scale = Math.max(...want);
    expect(scale).toBeGreaterThan(0);
    for (let i = 0; i < want.length; i++) expect(Math.abs(cam.cam[i] - want[i]), `cam[${i}]`).toBeLessThan(1e-3 * scale);
    expect(errors).toEqual([]);
    // The page stays responsive: the work is in the worker, no main-thread task reaches 100 ms.
    expect(Math.max(0, ...longTasks)).toBeLessThan(100);
    await page.close();
  }, 600_000);

  it('says clearly when the browser has no WebGPU', async () => {
    const page = await browser.newPage();
    await page.evaluateOnNewDocument(() => {
      delete (Navigator.prototype as unknown as { gpu?: unknown }).gpu;
    });
    await page.goto(`${origin}/`);
    await page.waitForFunction(() => document.body.dataset.state === 'no-webgpu', { timeout: 30_000 });
    const text = await page.$eval('#status', (el) => el.textContent ?? '');
    expect(text).toMatch(/no WebGPU/);
    expect(await page.$eval('#run', (b) => (b as HTMLButtonElement).disabled)).toBe(true);
    await page.close();
  });
});
