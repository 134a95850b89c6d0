// `echoclip zero-shot --task all` end to end on the tiny EchoCLIP and the example video, against
// the same pipeline computed from the fixtures' reference path: the reference preprocessing output
// (video_preprocess.safetensors, OpenCV/FFmpeg decode), our tokenizer and model, and the task math.
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { zeroShotCommand } from '../../src/cli/zero-shot.js';
import { searchCommand } from '../../src/cli/search.js';
import { UsageError } from '../../src/errors.js';
import { openWeights } from '../../src/io/weights-node.js';
import { EchoClipModel } from '../../src/models/clip.js';
import { collectPrompts, parsePromptSets, rankReports, runZeroShotTasks, type ZeroShotResult } from '../../src/tasks/index.js';
import { l2NormalizeRows } from '../../src/tasks/array.js';
import { loadClipBpeTokenizer, loadTemplateTokenizer } from '../../src/tokenizer/load-node.js';
import { FIXTURES, SHARED, golden, loadGoldens } from '../helpers/goldens.js';
import { testGpu } from '../helpers/gpu.js';
import { startHubServer } from '../io/hub-server.js';

const tiny = resolve(FIXTURES, 'echoclip_tiny');
const video = resolve(SHARED, 'samples/example_video.avi');
const prompts = resolve(SHARED, 'samples/prompts_used.json');
const vocab = resolve(SHARED, 'vocab/bpe_simple_vocab_16e6.txt.gz');
const pixelsSpec = `${resolve(FIXTURES, 'video_preprocess.safetensors')}:video.pixel_values_0_40_2`;

async function capture(run: () => Promise<number>): Promise<string> {
  let out = '';
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    out += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString();
    return true;
  });
  try {
    expect(await run()).toBe(0);
  } finally {
    spy.mockRestore();
  }
  return out;
}

let reference: Record<string, ZeroShotResult>;

beforeAll(async () => {
  process.env.ECHOCLIP_CACHE_DIR = mkdtempSync(join(tmpdir(), 'echoclip-cache-'));
  const gpu = await testGpu();
  const w = await openWeights(tiny);
  const model = await EchoClipModel.load(gpu, w.source, w.config);
  await w.source.close();
  const tasks = parsePromptSets(readFileSync(prompts, 'utf8'));
  expect(tasks).toHaveLength(16);
  const { texts } = collectPrompts(tasks);
  const tok = await loadClipBpeTokenizer(vocab);
  const ids = new Int32Array(texts.length * 77);
  tok.tokenize(texts).forEach((r, i) => ids.set(r, i * 77));
  const D = model.config.embedDim;
  const textEmb = l2NormalizeRows({ data: await model.encodeTexts(ids), shape: [texts.length, D] });
  const px = golden(await loadGoldens('video_preprocess.safetensors'), 'video.pixel_values_0_40_2');
  const frames = l2NormalizeRows({ data: await model.encodeImages(px.data as Float32Array), shape: [px.shape[0], D] });
  reference = runZeroShotTasks(tasks, frames, texts, textEmb);
  model.release();
});

afterEach(() => vi.restoreAllMocks());

describe('echoclip zero-shot', () => {
  it('--pixels with the reference preprocessing equals the reference pipeline exactly, cold and from the prompt cache', async () => {
    const args = ['--weights', tiny, '--pixels', pixelsSpec, '--task', 'all', '--prompts', prompts, '--vocab', vocab, '--json'];
    const cold = JSON.parse(await capture(() => zeroShotCommand(args)));
    expect(cold).toEqual(reference);
    const warm = JSON.parse(await capture(() => zeroShotCommand(args)));
    expect(warm).toEqual(reference);
  });

  it('--video decodes and preprocesses the AVI bit-exactly like OpenCV: the same results as the reference (no --vocab: the shipped one)', async () => {
    const r = JSON.parse(await capture(() => zeroShotCommand(['--weights', tiny, '--video', video, '--task', 'all', '--prompts', prompts, '--json'])));
    expect(Object.keys(r)).toHaveLength(16);
    expect(r).toEqual(reference);
  });

  it('a single task, and bad input as typed errors', async () => {
    const r = JSON.parse(await capture(() => zeroShotCommand(['--weights', tiny, '--pixels', pixelsSpec, '--task', 'ejection_fraction', '--prompts', prompts, '--vocab', vocab, '--json'])));
    expect(r).toEqual({ ejection_fraction: reference.ejection_fraction });
    // --memory sets the per-pass activation budget (here: one frame per pass); the result is the same.
    const m = JSON.parse(await capture(() => zeroShotCommand(['--weights', tiny, '--pixels', pixelsSpec, '--task', 'ejection_fraction', '--prompts', prompts, '--vocab', vocab, '--memory', '1k', '--no-cache', '--json'])));
    expect(m).toEqual(r);
    await expect(zeroShotCommand(['--weights', tiny, '--pixels', pixelsSpec, '--task', 'nope', '--prompts', prompts, '--vocab', vocab])).rejects.toThrow(/not in the prompt set/);
    await expect(zeroShotCommand(['--weights', tiny, '--task', 'all', '--prompts', prompts, '--vocab', vocab])).rejects.toThrow(UsageError);
    await expect(zeroShotCommand(['--weights', tiny, '--pixels', pixelsSpec, '--task', 'ejection_fraction', '--prompts', prompts, '--vocab', vocab, '--memory', 'lots'])).rejects.toThrow(/--memory: 'lots' is not a size/);
    await expect(zeroShotCommand(['--weights', tiny, '--video', resolve(SHARED, 'samples/example_report.txt'), '--prompts', prompts, '--vocab', vocab])).rejects.toThrow(/video|AVI|DICOM|format/i);
  });
});

describe('echoclip search', () => {
  it('ranks reports by similarity to the mean normalised frame embedding (template tokenizer)', async () => {
    const report = readFileSync(resolve(SHARED, 'samples/example_report.txt'), 'utf8');
    const reports = [report, 'NORMAL LEFT VENTRICULAR SIZE. ', 'SEVERE AORTIC STENOSIS. ', report.slice(0, 200)];
    const dir = mkdtempSync(join(tmpdir(), 'echoclip-search-'));
    const file = join(dir, 'reports.json');
    (await import('node:fs')).writeFileSync(file, JSON.stringify(reports));
    const tv = resolve(SHARED, 'vocab/template_vocab.txt');
    const weights = resolve(FIXTURES, 'echoclip_r_tiny');
    const out = JSON.parse(await capture(() => searchCommand(['--weights', weights, '--video', video, '--frames', '0:40:2', '--reports', file, '--template-vocab', tv, '--top', '3', '--json'])));
    expect(out.ranking).toHaveLength(3);
    // Same numbers through the library: template tokenizer, model, rankReports.
    const gpu = await testGpu();
    const w = await openWeights(weights);
    const model = await EchoClipModel.load(gpu, w.source, w.config);
    await w.source.close();
    const tok = await loadTemplateTokenizer(tv);
    const ids = new Int32Array(reports.length * 77);
    tok.tokenize(reports).forEach((r, i) => ids.set(r, i * 77));
    const D = model.config.embedDim;
    const rep = l2NormalizeRows({ data: await model.encodeTexts(ids), shape: [reports.length, D] });
    const { preprocessVideoFile } = await import('../../src/video/video-node.js');
    const v = await preprocessVideoFile(video, { frames: '0:40:2' });
    const frames = l2NormalizeRows({ data: await model.encodeImages(v.pixelValues), shape: [v.shape[0], D] });
    const want = rankReports(frames, rep, 3).map((x) => ({ index: x.index, similarity: x.similarity }));
    expect(out.ranking).toEqual(want);
    for (let i = 1; i < 3; i++) expect(out.ranking[i - 1].similarity).toBeGreaterThanOrEqual(out.ranking[i].similarity);
    model.release();
  });
});

describe('zero config: no --weights, --vocab, --prompts or --template-vocab', () => {
  it('zero-shot runs hf-hub:mkaichristensen/echo-clip with echo_CLIP\'s prompts; search runs echo-clip-r with the template tokenizer', async () => {
    const repo = mkdtempSync(join(tmpdir(), 'echo_CLIP-'));
    copyFileSync(prompts, join(repo, 'prompts_used.json'));
    copyFileSync(resolve(SHARED, 'vocab/template_vocab.txt'), join(repo, 'template_vocab.txt'));
    const server = await startHubServer({ 'mkaichristensen/echo-clip': { dir: tiny }, 'mkaichristensen/echo-clip-r': { dir: resolve(FIXTURES, 'echoclip_r_tiny') }, 'echonet/echo_CLIP': { dir: repo } });
    const saved = { hub: process.env.ECHOCLIP_HUB_URL, assets: process.env.ECHOCLIP_ASSETS_BASE_URL, cache: process.env.ECHOCLIP_CACHE_DIR };
    process.env.ECHOCLIP_HUB_URL = server.url;
    process.env.ECHOCLIP_ASSETS_BASE_URL = `${server.url}/echonet/echo_CLIP/resolve/main`;
    process.env.ECHOCLIP_CACHE_DIR = mkdtempSync(join(tmpdir(), 'echoclip-zero-config-'));
    try {
      expect(JSON.parse(await capture(() => zeroShotCommand(['--pixels', pixelsSpec, '--json'])))).toEqual(reference);
      const gets = server.requests.filter((q) => q.method === 'GET').map((q) => q.url);
      expect(gets).toContain('/mkaichristensen/echo-clip/resolve/main/open_clip_model.safetensors');
      expect(gets).toContain('/echonet/echo_CLIP/resolve/main/prompts_used.json');
      const file = join(repo, 'reports.json');
      writeFileSync(file, JSON.stringify(['NORMAL LEFT VENTRICULAR SIZE. ', 'SEVERE AORTIC STENOSIS. ', 'MODERATE MITRAL REGURGITATION. ']));
      const local = JSON.parse(await capture(() => searchCommand(['--weights', resolve(FIXTURES, 'echoclip_r_tiny'), '--video', video, '--frames', '0:40:2', '--reports', file, '--template-vocab', resolve(SHARED, 'vocab/template_vocab.txt'), '--json', '--no-cache'])));
      const zero = JSON.parse(await capture(() => searchCommand(['--video', video, '--frames', '0:40:2', '--reports', file, '--json'])));
      expect(zero).toEqual(local);
      expect(server.requests.map((q) => q.url)).toContain('/echonet/echo_CLIP/resolve/main/template_vocab.txt');
    } finally {
      for (const [k, v] of [['ECHOCLIP_HUB_URL', saved.hub], ['ECHOCLIP_ASSETS_BASE_URL', saved.assets], ['ECHOCLIP_CACHE_DIR', saved.cache]] as const) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
      await server.close();
    }
  });
});
