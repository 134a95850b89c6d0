// `echoclip finetune` end to end on the tiny EchoCLIP: PAIRS.csv parsing, a short fine-tune on
// frames of the example video paired with template-vocabulary reports (the loss goes down and the
// model retrieves its training pairs), and kill-and-resume (SIGKILL mid-run, --resume, identical
// checkpoint bytes to an uninterrupted run).
import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { build } from 'esbuild';
import { beforeAll, describe, expect, it } from 'vitest';
import { parsePairsCsv, TrainingDataError } from '../../src/autograd/trainer.js';
import { finetuneCommand, readCheckpointParameters } from '../../src/cli/finetune.js';
import { openWeights } from '../../src/io/weights-node.js';
import { EchoClipModel } from '../../src/models/clip.js';
import { preprocessVideo } from '../../src/video/video.js';
import { FIXTURES, SHARED } from '../helpers/goldens.js';
import { testGpu } from '../helpers/gpu.js';
import { makeFinetuneSet, type FinetuneSet } from './finetune-data.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const ADAPTER = process.env.ECHOCLIP_ADAPTER ?? 'lavapipe';
/** 200 steps as the issue asks (~4.5 min on lavapipe, 2 cores); ECHOCLIP_FINETUNE_STEPS overrides it. */
const STEPS = Number(process.env.ECHOCLIP_FINETUNE_STEPS ?? 200);

describe('parsePairsCsv (RFC 4180)', () => {
  it('reads quoted fields with commas, line breaks and doubled quotes, CRLF and a BOM', () => {
    const csv = '\ufeffreport,video\r\n"LV EF IS 35%, SEVERE.",a.avi\r\n"LINE ONE\nLINE ""TWO""",dir/b.avi\nplain,c.avi';
    expect(parsePairsCsv(csv)).toEqual([
      { video: 'a.avi', report: 'LV EF IS 35%, SEVERE.' },
      { video: 'dir/b.avi', report: 'LINE ONE\nLINE "TWO"' },
      { video: 'c.avi', report: 'plain' },
    ]);
  });

  it.each([
    ['', /is empty/],
    ['video,text\na,b\n', /columns video and report/],
    ['video,report\n"a,b\n', /ends inside a quoted field/],
    ['video,report\na,b,c\n', /record 1 has 3 fields/],
    ['video,report\na"x,b\n', /quote inside an unquoted field/],
    ['video,report\n"a"x,b\n', /after a closing quote/],
    ['video,report\n', /no pairs/],
    ['video,report\n,text\n', /empty video path/],
  ])('rejects %j', (csv, msg) => {
    expect(() => parsePairsCsv(csv)).toThrow(TrainingDataError);
    expect(() => parsePairsCsv(csv)).toThrow(msg);
  });
});

function argsFor(csv: string, out: string, steps: number, extra: string[] = []): string[] {
  return [
    '--weights', path.join(FIXTURES, 'echoclip_tiny'), '--data', csv, '--out', out, '--steps', String(steps), '--batch', '4',
    '--lr', '3e-4', '--vocab', path.join(SHARED, 'vocab/bpe_simple_vocab_16e6.txt.gz'), '--device', ADAPTER, '--seed', '7', ...extra,
  ];
}

async function quiet<T>(fn: () => Promise<T>): Promise<{ result: T; stdout: string }> {
  const out: string[] = [];
  const w = process.stdout.write.bind(process.stdout);
  const e = process.stderr.write.bind(process.stderr);
  process.stdout.write = ((s: string) => (out.push(String(s)), true)) as typeof process.stdout.write;
  process.stderr.write = (() => true) as typeof process.stderr.write;
  try {
    return { result: await fn(), stdout: out.join('') };
  } finally {
    process.stdout.write = w;
    process.stderr.write = e;
  }
}

describe('echoclip finetune on the tiny model', () => {
  let dir: string;
  let data: FinetuneSet;
  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'echoclip-finetune-'));
    data = makeFinetuneSet(dir);
  });

  it(`${STEPS} steps drive the loss down and retrieve the training pairs`, async () => {
    const out = path.join(dir, 'run');
    const log = path.join(dir, 'loss.jsonl');
    // One frame per video per epoch, so every batch holds the four clips (no duplicate-video
    // "negatives", which floor the loss at ~0.35 and make it noisy); warm-up + cosine decay.
    const { result, stdout } = await quiet(() => finetuneCommand(argsFor(data.csv, out, STEPS, ['--frames-per-video', '1', '--schedule', 'cosine', '--warmup', '10', '--log', log, '--save-every', '100'])));
    expect(result).toBe(0);
    expect(JSON.parse(stdout)).toMatchObject({ steps: STEPS, checkpoint: path.join(out, 'latest') });
    const lines = readFileSync(log, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { step: number; loss: number; lr: number });
    expect(lines.map((l) => l.step)).toEqual(Array.from({ length: STEPS }, (_, i) => i + 1));
    const k = Math.max(3, Math.floor(STEPS / 5));
    const mean = (a: { loss: number }[]) => a.reduce((s, l) => s + l.loss, 0) / a.length;
    const first = mean(lines.slice(0, k)), last = mean(lines.slice(-k));
    expect(last).toBeLessThan(first * 0.5);
    // Monotone on average: each window's mean is below the one before it (windows of k steps).
    for (let i = k; i + k <= STEPS; i += k) expect(mean(lines.slice(i, i + k))).toBeLessThan(mean(lines.slice(i - k, i)) + 0.05);

    // The checkpoint is in the weights layout: the inference model loads it and retrieves each
    // video's report among the four (mean of the two frames' embeddings).
    const gpu = await testGpu();
    const w = await openWeights(path.join(out, 'latest'));
    const model = await EchoClipModel.load(gpu, w.source, w.config);
    await w.source.close();
    const { result: tok } = await quiet(async () => {
      const { loadClipBpeTokenizer } = await import('../../src/tokenizer/load-node.js');
      return (await loadClipBpeTokenizer(path.join(SHARED, 'vocab/bpe_simple_vocab_16e6.txt.gz'))).tokenize(data.reports);
    });
    const ids = new Int32Array(4 * 77);
    tok.forEach((r, i) => ids.set(r, i * 77));
    const txt = await model.encodeTexts(ids);
    const E = model.config.embedDim;
    for (let v = 0; v < 4; v++) {
      const px = preprocessVideo(new Uint8Array(readFileSync(data.videos[v])), { frames: [0, 1] }).pixelValues;
      const img = await model.encodeImages(px);
      const sims = [0, 1, 2, 3].map((t) => {
        let s = 0;
        for (let f = 0; f < 2; f++) {
          let dot = 0, na = 0, nb = 0;
          for (let d = 0; d < E; d++) {
            const a = img[f * E + d], b = txt[t * E + d];
            dot += a * b; na += a * a; nb += b * b;
          }
          s += dot / Math.sqrt(na * nb);
        }
        return s;
      });
      expect(sims.indexOf(Math.max(...sims)), `video ${v} similarities ${sims.map((s) => s.toFixed(3)).join(' ')}`).toBe(v);
    }
    model.release();
  }, 1_200_000);

  it('SIGKILL mid-run + --resume ends with the same checkpoint bytes as an uninterrupted run', async () => {
    const steps = 6;
    const ref = path.join(dir, 'ref');
    expect((await quiet(() => finetuneCommand(argsFor(data.csv, ref, steps, ['--save-every', '2'])))).result).toBe(0);

    // The CLI as a separate process: a bundle of the finetune command (main.ts's registry gets it
    // separately), run with node so it can be SIGKILLed.
    const cacheDir = path.join(ROOT, 'node_modules/.cache/echoclip-test');
    mkdirSync(cacheDir, { recursive: true });
    const entry = path.join(cacheDir, 'finetune-cli.mjs');
    await build({
      stdin: {
        contents: `import { finetuneCommand } from './src/cli/finetune.ts';
          finetuneCommand(process.argv.slice(2)).then((c) => { process.exitCode = c; }, (e) => { process.stderr.write('error: ' + e.message + '\\n'); process.exitCode = 1; });`,
        resolveDir: ROOT, sourcefile: 'finetune-entry.ts', loader: 'ts',
      },
      bundle: true, platform: 'node', format: 'esm', outfile: entry, external: ['webgpu'], logLevel: 'error',
    });
    const run = path.join(dir, 'killed');
    const log = path.join(dir, 'killed.jsonl');
    const cli = (extra: string[]) => spawn(process.execPath, [entry, ...argsFor(data.csv, run, steps, ['--save-every', '2', '--log', log, ...extra])], { stdio: ['ignore', 'pipe', 'pipe'] });
    // Kill once step 3 is logged: after the step-2 checkpoint, during step 4 or the step-4 save.
    const child = cli([]);
    await new Promise<void>((resolve, reject) => {
      const timer = setInterval(() => {
        let n = 0;
        try { n = readFileSync(log, 'utf8').trim().split('\n').filter(Boolean).length; } catch { /* not yet */ }
        if (n >= 3) {
          clearInterval(timer);
          child.kill('SIGKILL');
        }
      }, 20);
      child.on('exit', (code, signal) => {
        clearInterval(timer);
        if (signal === 'SIGKILL') resolve();
        else reject(new Error(`the run ended (code ${code}) before it could be killed`));
      });
    });
    const resumed = cli(['--resume']);
    let stderr = '';
    resumed.stderr.on('data', (d) => (stderr += String(d)));
    const code = await new Promise<number | null>((resolve) => resumed.on('exit', resolve));
    expect(code, stderr).toBe(0);
    expect(stderr).toMatch(/resumed at step [24]/);
    for (const f of ['open_clip_model.safetensors', 'trainer_state.safetensors', 'open_clip_config.json']) {
      expect(Buffer.compare(readFileSync(path.join(run, 'latest', f)), readFileSync(path.join(ref, 'latest', f))), f).toBe(0);
    }
    const lines = readFileSync(log, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { step: number });
    expect(lines.map((l) => l.step)).toEqual([1, 2, 3, 4, 5, 6]);
    const params = await readCheckpointParameters(path.join(run, 'latest'));
    expect(params.size).toBe(94);

    // A kill between the two renames of the checkpoint swap leaves only .latest-old: --resume
    // recovers it as the last complete checkpoint.
    const swapped = path.join(dir, 'swapped');
    mkdirSync(swapped);
    cpSync(path.join(ref, 'latest'), path.join(swapped, '.latest-old'), { recursive: true });
    const { result, stdout } = await quiet(() => finetuneCommand(argsFor(data.csv, swapped, steps, ['--save-every', '2', '--resume'])));
    expect(result).toBe(0);
    expect(JSON.parse(stdout)).toMatchObject({ steps, checkpoint: path.join(swapped, 'latest') });
    expect(existsSync(path.join(swapped, '.latest-old'))).toBe(false);
    expect(Buffer.compare(readFileSync(path.join(swapped, 'latest', 'open_clip_model.safetensors')), readFileSync(path.join(ref, 'latest', 'open_clip_model.safetensors')))).toBe(0);
  }, 300_000);

  it('--precision mixed trains with f16 weight copies and activations, and checkpoints f32 (refused without shader-f16)', async () => {
    const gpu = await testGpu();
    const out = path.join(dir, 'mixed');
    const log = path.join(dir, 'mixed.jsonl');
    const run = () => quiet(() => finetuneCommand(argsFor(data.csv, out, 4, ['--precision', 'mixed', '--log', log])));
    if (!gpu.f16) {
      await expect(run()).rejects.toThrow(/shader-f16/);
      return;
    }
    expect((await run()).result).toBe(0);
    const losses = readFileSync(log, 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { loss: number }).loss);
    expect(losses).toHaveLength(4);
    expect(losses.every(Number.isFinite)).toBe(true);
    const params = await readCheckpointParameters(path.join(out, 'latest'));
    expect(params.size).toBe(94);
    // Resuming with other precision flags is refused (the data order and numerics would differ).
    await expect(quiet(() => finetuneCommand(argsFor(data.csv, out, 6, ['--resume'])))).rejects.toThrow(/other settings/);
  }, 120_000);

  it('rejects bad flags before touching the GPU', async () => {
    await expect(finetuneCommand(argsFor(data.csv, path.join(dir, 'x'), 5, ['--batch', '9']))).rejects.toThrow(/--batch/);
    await expect(finetuneCommand(argsFor(data.csv, path.join(dir, 'x'), 5, ['--schedule', 'linear']))).rejects.toThrow(/--schedule/);
    await expect(finetuneCommand(argsFor(data.csv, path.join(dir, 'x'), 5, ['--precision', 'half']))).rejects.toThrow(/--precision must be f32 or mixed/);
    writeFileSync(path.join(dir, 'missing.csv'), 'video,report\nnope.avi,TEXT\n');
    await expect(finetuneCommand(argsFor(path.join(dir, 'missing.csv'), path.join(dir, 'x'), 5))).rejects.toThrow(/does not exist/);
  });
});
