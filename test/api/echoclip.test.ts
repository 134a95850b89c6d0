// The one-line API in Node on the tiny fixtures: EchoClip.fromPretrained by directory and by name
// (a 127.0.0.1 stand-in for the hub and for echo_CLIP's raw files), results equal to the CLI's.
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { EchoClip } from '../../src/api/echoclip.js';
import { zeroShotCommand } from '../../src/cli/zero-shot.js';
import { searchCommand } from '../../src/cli/search.js';
import { UsageError } from '../../src/errors.js';
import { startHubServer, type HubServer } from '../io/hub-server.js';
import { FIXTURES, SHARED } from '../helpers/goldens.js';
import { testGpu } from '../helpers/gpu.js';

const tiny = resolve(FIXTURES, 'echoclip_tiny');
const tinyR = resolve(FIXTURES, 'echoclip_r_tiny');
const video = resolve(SHARED, 'samples/example_video.avi');
const prompts = resolve(SHARED, 'samples/prompts_used.json');

async function cli(run: () => Promise<number>): Promise<unknown> {
  let out = '';
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((c: string | Uint8Array) => ((out += String(c)), true));
  try {
    expect(await run()).toBe(0);
  } finally {
    spy.mockRestore();
  }
  return JSON.parse(out);
}

let server: HubServer;
let assets = '';

beforeAll(async () => {
  process.env.ECHOCLIP_CACHE_DIR = mkdtempSync(join(tmpdir(), 'echoclip-api-cache-'));
  const repo = mkdtempSync(join(tmpdir(), 'echo_CLIP-'));
  copyFileSync(prompts, join(repo, 'prompts_used.json'));
  copyFileSync(resolve(SHARED, 'vocab/template_vocab.txt'), join(repo, 'template_vocab.txt'));
  server = await startHubServer({ 'mkaichristensen/echo-clip': { dir: tiny }, 'mkaichristensen/echo-clip-r': { dir: tinyR }, 'echonet/echo_CLIP': { dir: repo } });
  assets = `${server.url}/echonet/echo_CLIP/resolve/main`;
});
afterAll(async () => server?.close());

describe('EchoClip (Node)', () => {
  it('zeroShot on a local directory equals `echoclip zero-shot --json` (no --vocab)', async () => {
    const want = await cli(() => zeroShotCommand(['--weights', tiny, '--video', video, '--prompts', prompts, '--json', '--no-cache']));
    const gpu = await testGpu();
    const echo = await EchoClip.fromPretrained(tiny, { prompts, gpu });
    expect(echo.tokenizerKind).toBe('bpe');
    expect(await echo.zeroShot(video, { tasks: 'all' })).toEqual(want);
    expect(await echo.zeroShot(video, { tasks: ['ejection_fraction'] })).toEqual({ ejection_fraction: (want as Record<string, unknown>).ejection_fraction });
    expect((await echo.tokenizer()).from).toBe('shipped');
    // Features and embeddings of both towers: [N, D], embeddings of unit length.
    const v = await echo.embedVideo(readFileSync(video), { frames: '0:4:2' });
    expect([v.shape, v.indices]).toEqual([[2, 64], [0, 2]]);
    const t = await echo.embedText(['SEVERE AORTIC STENOSIS. ', 'NORMAL LEFT VENTRICULAR SIZE. ']);
    expect(t.shape).toEqual([2, 64]);
    for (const e of [v, t]) for (let i = 0; i < 2; i++) expect(Math.hypot(...e.embeddings.subarray(i * 64, (i + 1) * 64))).toBeCloseTo(1, 5);
    echo.dispose();
    expect(gpu.device).toBeDefined(); // a caller's device survives dispose()
    await expect(echo.zeroShot(video)).rejects.toThrow(UsageError);
  });

  it("fromPretrained('echo-clip') from the hub, prompts from echo_CLIP's files: the same results; video as bytes", async () => {
    const want = await cli(() => zeroShotCommand(['--weights', tiny, '--video', video, '--prompts', prompts, '--json', '--no-cache']));
    const stages = new Set<string>();
    const files = new Set<string>();
    const echo = await EchoClip.fromPretrained('echo-clip', { hubUrl: server.url, assetsBaseUrl: assets, gpu: await testGpu(), promptCache: false, onProgress: (e) => { stages.add(e.stage); if (e.stage === 'download') files.add(e.file); } });
    try {
      expect(echo.weights).toBe('hf-hub:mkaichristensen/echo-clip');
      expect(await echo.zeroShot(new Uint8Array(readFileSync(video)))).toEqual(want);
      expect((await echo.promptSets()).from).toBe('downloaded');
      expect([...files].sort()).toEqual(['open_clip_config.json', 'open_clip_model.safetensors', 'prompts_used.json']);
      expect([...stages].sort()).toEqual(['download', 'image tower', 'text tower']);
    } finally {
      echo.dispose();
    }
  });

  it("fromPretrained('echo-clip-r') picks the template tokenizer (vocabulary downloaded); search equals `echoclip search`", async () => {
    const reports = [readFileSync(resolve(SHARED, 'samples/example_report.txt'), 'utf8'), 'NORMAL LEFT VENTRICULAR SIZE. ', 'SEVERE AORTIC STENOSIS. '];
    const file = join(mkdtempSync(join(tmpdir(), 'echoclip-reports-')), 'reports.json');
    writeFileSync(file, JSON.stringify(reports));
    const want = (await cli(() => searchCommand(['--weights', tinyR, '--video', video, '--frames', '0:40:2', '--reports', file, '--template-vocab', resolve(SHARED, 'vocab/template_vocab.txt'), '--top', '2', '--json', '--no-cache']))) as { ranking: unknown };
    const echo = await EchoClip.fromPretrained('echo-clip-r', { hubUrl: server.url, assetsBaseUrl: assets, gpu: await testGpu() });
    try {
      expect(echo.tokenizerKind).toBe('template');
      expect(await echo.search(video, reports, { frames: '0:40:2', top: 2 })).toEqual(want.ranking);
      expect((await echo.tokenizer()).from).toBe('downloaded');
    } finally {
      echo.dispose();
    }
  });
});
