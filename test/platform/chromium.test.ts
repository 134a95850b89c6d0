import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { extname, join, normalize, resolve } from 'node:path';
import puppeteer, { type Browser } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliZeroShot, expectSameZeroShot, type ZeroShotJson } from './zero-shot-compare.js';

const root = resolve(import.meta.dirname, '../..');
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const TYPES: Record<string, string> = { '.js': 'text/javascript', '.html': 'text/html', '.map': 'application/json', '.json': 'application/json' };

let server: Server;
let browser: Browser;
let origin = '';
let profile = '';

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} not found: run 'sudo bash scripts/setup-machine.sh'`);
  // Serve the repo read-only from 127.0.0.1: navigator.gpu exists only on secure origins.
  server = createServer((req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname));
    // /shared/… is the fixtures folder beside the checkout (tiny weights, video, prompt set).
    const base = path.startsWith('/shared/') ? resolve(root, '..') : root;
    const file = join(base, path);
    if (!file.startsWith(base) || !existsSync(file) || !statSync(file).isFile()) { res.writeHead(404).end(); return; }
    res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' }).end(readFileSync(file));
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const addr = server.address();
  origin = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
  profile = mkdtempSync(join(tmpdir(), 'echoclip-chromium-'));
  browser = await puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    userDataDir: profile,
    args: ['--headless=new', '--no-sandbox', '--enable-unsafe-webgpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'],
  });
});

afterAll(async () => {
  await browser?.close();
  await new Promise((ok) => server?.close(ok));
  if (profile) rmSync(profile, { recursive: true, force: true });
});

describe('Chromium', () => {
  it('runs the matmul known-answer test through the browser bundle', async () => {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(`${origin}/test/platform/page.html`);
    // A string, not a function: the evaluated code contains import(), which must not be transpiled.
    const result = (await page.evaluate(`(async () => {
      const lib = await import('/dist/browser/echoclip.js');
      const gpu = await lib.requestDevice();
      const r = await lib.selfTest(gpu);
      gpu.destroy();
      return r;
    })()`)) as { runtime: string; pass: boolean; cases: { pass: boolean }[] };
    expect(errors).toEqual([]);
    expect(result.runtime).toBe('browser');
    expect(result.cases.length).toBeGreaterThanOrEqual(8);
    expect(result.pass).toBe(true);
    await page.close();
  });

  it('runs the one-line API from the browser bundle: shipped vocabulary, prompts fetched then served from OPFS, the CLI\'s results', async () => {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(`${origin}/test/platform/page.html`);
    const result = (await page.evaluate(`(async () => {
      const { EchoClip } = await import('/dist/browser/echoclip.js');
      const video = new Uint8Array(await (await fetch('/shared/samples/example_video.avi')).arrayBuffer());
      const downloads = [];
      const echo = await EchoClip.fromPretrained('/shared/fixtures/echoclip_tiny', { assetsBaseUrl: '/shared/samples', onProgress: (e) => { if (e.stage === 'download') downloads.push(e.file); } });
      const results = await echo.zeroShot(new Blob([video]), { tasks: 'all' });
      const vocab = (await echo.tokenizer()).from;
      echo.dispose();
      // Offline: a base URL that answers nothing; the pinned prompt set comes from OPFS.
      const again = await EchoClip.fromPretrained('/shared/fixtures/echoclip_tiny', { assetsBaseUrl: '/nowhere' });
      const ef = await again.zeroShot(video, { tasks: 'ejection_fraction' });
      again.dispose();
      return { results, vocab, downloads: [...new Set(downloads)].sort(), ef };
    })()`)) as { results: ZeroShotJson; vocab: string; downloads: string[]; ef: ZeroShotJson };
    expect(errors).toEqual([]);
    expect(result.vocab).toBe('shipped');
    expect(result.downloads).toEqual(['open_clip_config.json', 'open_clip_model.safetensors', 'prompts_used.json']);
    const cli = await cliZeroShot();
    expectSameZeroShot(result.results, cli);
    expect(result.ef).toEqual({ ejection_fraction: result.results.ejection_fraction });
    await page.close();
  }, 600_000);
});
