// `echoclip finetune` (docs/cli.md): CLIP contrastive fine-tuning on (video, report) pairs with
// AdamW, a JSONL loss log and atomic checkpoints in the weights layout that `--resume` continues
// bit-for-bit.
import { appendFile, mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { sha256Hex } from '../api/assets.js';
import { Trainer, parsePairsCsv, type TrainerConfig, type TrainingData } from '../autograd/trainer.js';
import { UsageError } from '../errors.js';
import type { HostTensor } from '../io/dtype.js';
import { parseSafetensors, serializeSafetensors } from '../io/safetensors.js';
import { openWeights, openWeightsFile } from '../io/weights-node.js';
import { parseOpenClipConfig, toOpenClipConfigJson } from '../models/config.js';
import { TrainableClip } from '../models/train.js';
import { openVideoAsync, preprocessVideoAsync } from '../video/video.js';
import { readVideoFileBytes } from '../video/video-node.js';
import { flagInt, flagNumber, flagString, parseArgs, requireFlag } from './args.js';
import { loadTokenizer, MODEL_FLAGS, openDevice, TOKENIZER_FLAGS } from './common.js';

const USAGE = `usage: echoclip finetune --weights DIR --data PAIRS.csv --out DIR --steps N --batch B
   [--lr 1e-4] [--weight-decay 0.2] [--betas 0.9,0.98] [--eps 1e-6] [--warmup 0] [--schedule cosine|constant]
   [--frames-per-video 1] [--seed S] [--save-every 10] [--resume] [--log LOSSES.jsonl] [--precision f32|mixed]
   [--tokenizer bpe|template] [--vocab P] [--template-vocab P] [--device auto|lavapipe|swiftshader]`;

const CONFIG_FILE = 'open_clip_config.json';
const MODEL_FILE = 'open_clip_model.safetensors';
const STATE_FILE = 'trainer_state.safetensors';
/** Videos whose bytes stay in memory between batches. */
const VIDEO_CACHE = 16;

async function exists(p: string): Promise<boolean> {
  return stat(p).then(() => true, () => false);
}

/**
 * Brings DIR/latest to a consistent state after a kill: the swap in saveCheckpoint renames
 * latest → .latest-old, then the new directory → latest; a kill between the two leaves only
 * .latest-old, which is then the last complete checkpoint.
 */
async function recoverCheckpoint(outDir: string): Promise<string | null> {
  const latest = path.join(outDir, 'latest');
  const old = path.join(outDir, '.latest-old');
  if (!(await exists(latest)) && (await exists(old))) await rename(old, latest);
  await rm(old, { recursive: true, force: true });
  return (await exists(path.join(latest, STATE_FILE))) ? latest : null;
}

async function saveCheckpoint(outDir: string, configJson: string, trainer: Trainer, dataKey: string): Promise<string> {
  const tmp = path.join(outDir, `.latest-tmp-${process.pid}`);
  await rm(tmp, { recursive: true, force: true });
  await mkdir(tmp, { recursive: true });
  const sd: [string, HostTensor][] = await trainer.model.stateDict();
  await writeFile(path.join(tmp, CONFIG_FILE), configJson);
  await writeFile(path.join(tmp, MODEL_FILE), serializeSafetensors(sd, { format: 'pt', generator: 'echoclip-webgpu finetune', step: String(trainer.position.step) }));
  await writeFile(path.join(tmp, STATE_FILE), await trainer.serializeState(dataKey));
  const latest = path.join(outDir, 'latest');
  const old = path.join(outDir, '.latest-old');
  await rm(old, { recursive: true, force: true });
  if (await exists(latest)) await rename(latest, old);
  await rename(tmp, latest);
  await rm(old, { recursive: true, force: true });
  return latest;
}

/** Keeps the log's lines up to `step` (a resumed run rewrites the steps after its checkpoint). */
async function truncateLog(file: string, step: number): Promise<void> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    return;
  }
  const keep = text.split('\n').filter((l) => {
    if (!l.trim()) return false;
    try {
      return (JSON.parse(l) as { step: number }).step <= step;
    } catch {
      return false; // a line cut short by a kill
    }
  });
  await writeFile(file, keep.map((l) => l + '\n').join(''));
}

function parseBetas(v: string | undefined): [number, number] {
  if (v === undefined) return [0.9, 0.98];
  const parts = v.split(',').map(Number);
  if (parts.length !== 2 || parts.some((b) => !Number.isFinite(b) || b < 0 || b >= 1)) throw new UsageError('echoclip finetune', `--betas must be two numbers in [0, 1) like 0.9,0.98, got '${v}'`);
  return [parts[0], parts[1]];
}

/** Frames of the pairs' videos, decoded on demand (a few recent videos stay in memory). */
function videoData(videos: readonly string[], tokens: Int32Array, imageSize: number): TrainingData {
  const cache = new Map<string, Uint8Array>();
  const bytesOf = async (file: string): Promise<Uint8Array> => {
    let b = cache.get(file);
    if (!b) {
      b = await readVideoFileBytes(file);
      if (cache.size >= VIDEO_CACHE) cache.delete(cache.keys().next().value!);
      cache.set(file, b);
    }
    return b;
  };
  return {
    pairs: videos.length,
    tokens,
    async frameCount(i) {
      return (await openVideoAsync(await bytesOf(videos[i]), videos[i])).frames.length;
    },
    async frame(i, f) {
      // Async: deflated DICOM and the lazily loaded WASM codecs (JPEG-LS, JPEG 2000, HTJ2K).
      const v = await preprocessVideoAsync(await bytesOf(videos[i]), { frames: [f], label: videos[i] });
      if (v.shape[2] !== imageSize || v.shape[3] !== imageSize) throw new UsageError(videos[i], `preprocesses to ${v.shape[2]}×${v.shape[3]}, the model takes ${imageSize}×${imageSize}`);
      return v.pixelValues;
    },
  };
}

export async function finetuneCommand(argv: string[]): Promise<number> {
  const args = parseArgs(argv, {
    ...MODEL_FLAGS, ...TOKENIZER_FLAGS, data: 'value', out: 'value', steps: 'value', batch: 'value', lr: 'value', 'weight-decay': 'value', betas: 'value', eps: 'value',
    warmup: 'value', schedule: 'value', 'frames-per-video': 'value', seed: 'value', 'save-every': 'value', resume: 'switch', log: 'value', precision: 'value', help: 'switch',
  }, 'finetune');
  if (args.flags.has('help')) {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  const weights = requireFlag(args, 'weights', 'finetune');
  const dataFile = requireFlag(args, 'data', 'finetune');
  const outDir = requireFlag(args, 'out', 'finetune');
  const schedule = flagString(args, 'schedule') ?? 'constant';
  if (schedule !== 'cosine' && schedule !== 'constant') throw new UsageError('echoclip finetune', `--schedule must be cosine or constant, got '${schedule}'`);
  const precision = flagString(args, 'precision') ?? 'f32';
  if (precision !== 'f32' && precision !== 'mixed') throw new UsageError('echoclip finetune', `--precision must be f32 or mixed, got '${precision}'`);
  const config: TrainerConfig = {
    steps: flagInt(args, 'steps', 'finetune', NaN),
    batch: flagInt(args, 'batch', 'finetune', NaN),
    lr: flagNumber(args, 'lr', 'finetune', 1e-4),
    weightDecay: flagNumber(args, 'weight-decay', 'finetune', 0.2),
    betas: parseBetas(flagString(args, 'betas')),
    eps: flagNumber(args, 'eps', 'finetune', 1e-6),
    warmup: flagInt(args, 'warmup', 'finetune', 0),
    schedule,
    framesPerVideo: flagInt(args, 'frames-per-video', 'finetune', 1),
    seed: flagInt(args, 'seed', 'finetune', 0),
    // Only recorded when mixed, so f32 checkpoints keep the settings key they always had.
    ...(precision === 'mixed' ? { precision } : {}),
  };
  if (Number.isNaN(config.steps)) requireFlag(args, 'steps', 'finetune');
  if (Number.isNaN(config.batch)) requireFlag(args, 'batch', 'finetune');
  const saveEvery = flagInt(args, 'save-every', 'finetune', 10);
  if (saveEvery < 1) throw new UsageError('echoclip finetune', `--save-every must be a positive integer, got ${saveEvery}`);
  const logFile = flagString(args, 'log');
  const resume = args.flags.has('resume');

  // Data first: a bad CSV or video fails before the slow device and weights setup.
  let csv: string;
  try {
    csv = await readFile(dataFile, 'utf8');
  } catch (e) {
    throw new UsageError(dataFile, `cannot read the pairs file (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
  const pairs = parsePairsCsv(csv, dataFile);
  const videos = pairs.map((p) => path.resolve(path.dirname(dataFile), p.video));
  for (const v of new Set(videos)) if (!(await exists(v))) throw new UsageError(dataFile, `video '${v}' does not exist`, { hint: 'video paths are relative to the CSV file' });
  const tokenizer = await loadTokenizer(args, 'finetune', 'bpe');
  const rows = tokenizer.tokenize(pairs.map((p) => p.report));
  const L = rows[0]?.length ?? 77;
  const tokens = new Int32Array(rows.length * L);
  rows.forEach((r, i) => tokens.set(r, i * L));
  const dataKey = await sha256Hex(new TextEncoder().encode(`${tokenizer.kind}\n${csv}`));

  await mkdir(outDir, { recursive: true });
  const checkpoint = resume ? await recoverCheckpoint(outDir) : null;
  if (resume && !checkpoint) process.stderr.write(`finetune: no checkpoint in ${outDir}/latest yet; starting from --weights\n`);

  const gpu = await openDevice(args);
  let trainer: Trainer | null = null;
  try {
    let model: TrainableClip;
    let configJson: string;
    if (checkpoint) {
      configJson = await readFile(path.join(checkpoint, CONFIG_FILE), 'utf8');
      const cfg = parseOpenClipConfig(configJson, path.join(checkpoint, CONFIG_FILE));
      const src = await openWeightsFile(path.join(checkpoint, MODEL_FILE));
      try {
        model = await TrainableClip.load(gpu, src, cfg, path.join(checkpoint, MODEL_FILE));
      } finally {
        await src.close();
      }
    } else {
      const w = await openWeights(weights);
      try {
        model = await TrainableClip.load(gpu, w.source, w.config, w.files.weights);
      } finally {
        await w.source.close();
      }
      configJson = w.files.config ? await readFile(w.files.config, 'utf8') : toOpenClipConfigJson(w.config);
    }
    if (L !== model.config.text.contextLength) throw new UsageError('echoclip finetune', `the tokenizer gives ${L} ids per text, the model takes ${model.config.text.contextLength}`);
    trainer = new Trainer(model, videoData(videos, tokens, model.config.vision.imageSize), config);
    if (checkpoint) {
      await trainer.restoreState(new Uint8Array(await readFile(path.join(checkpoint, STATE_FILE))), dataKey, path.join(checkpoint, STATE_FILE));
      process.stderr.write(`finetune: resumed at step ${trainer.position.step} from ${checkpoint}\n`);
    }
    if (logFile) {
      if (checkpoint) await truncateLog(logFile, trainer.position.step);
      else await writeFile(logFile, '');
    }
    let last: { step: number; loss: number; lr: number } | null = null;
    let saved = checkpoint;
    while (!trainer.done) {
      last = await trainer.step();
      if (logFile) await appendFile(logFile, JSON.stringify(last) + '\n');
      process.stderr.write(`step ${last.step}/${config.steps} loss ${last.loss.toFixed(4)} lr ${last.lr.toExponential(2)}\n`);
      if (last.step % saveEvery === 0 || trainer.done) saved = await saveCheckpoint(outDir, configJson, trainer, dataKey);
    }
    if (!saved) saved = await saveCheckpoint(outDir, configJson, trainer, dataKey);
    process.stdout.write(JSON.stringify({ steps: trainer.position.step, loss: last?.loss ?? null, checkpoint: saved }) + '\n');
    model.release();
    return 0;
  } finally {
    trainer?.release();
    gpu.destroy();
  }
}

/** Reads a checkpoint's parameters (PyTorch layout) — for tests and tools comparing runs. */
export async function readCheckpointParameters(dir: string): Promise<Map<string, Float32Array>> {
  const file = path.join(dir, MODEL_FILE);
  const src = await parseSafetensors(new Uint8Array(await readFile(file)), file);
  const out = new Map<string, Float32Array>();
  for (const t of src.tensors) out.set(t.name, (await src.read(t.name)).data as Float32Array);
  return out;
}
