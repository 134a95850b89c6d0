// `echoclip zero-shot` (docs/cli.md): echo_CLIP's zero-shot procedures on one video.
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { ShapeError, UsageError } from '../errors.js';
import { collectPrompts, parsePromptSets, runZeroShotTasks, selectTasks, type PromptTask } from '../tasks/index.js';
import { l2NormalizeRows } from '../tasks/array.js';
import { ZERO_SHOT_FRAMES } from '../video/frames.js';
import { preprocessVideoFile } from '../video/video-node.js';
import { flagString, parseArgs, requireFlag } from './args.js';
import { BATCH_FLAGS, loadModel, loadTokenizer, MODEL_FLAGS, openDevice, readTensorArg, TOKENIZER_FLAGS } from './common.js';
import { progressBar } from './progress.js';
import { embedTexts } from './text-embeddings.js';

const USAGE = `usage: echoclip zero-shot --weights DIR (--video FILE | --pixels FILE.safetensors[:TENSOR]) [--task NAME|all] [--prompts prompts_used.json]
   [--frames 0:40:2] [--tokenizer bpe|template] [--vocab P] [--template-vocab P]
   [--device auto|lavapipe|swiftshader] [--dtype f32|f16] [--memory 512MiB] [--no-cache] [--true-rgb] --json`;

/** prompts_used.json from --prompts, else beside the weights. */
async function loadTasks(args: ReturnType<typeof parseArgs>): Promise<PromptTask[]> {
  let file = flagString(args, 'prompts');
  const weights = flagString(args, 'weights');
  if (!file && weights && !weights.startsWith('hf-hub:')) {
    const dir = (await stat(weights).catch(() => undefined))?.isDirectory() ? weights : path.dirname(weights);
    const cand = path.join(dir, 'prompts_used.json');
    if (await stat(cand).then(() => true, () => false)) file = cand;
  }
  if (!file) throw new UsageError('echoclip zero-shot', 'no prompt set', { hint: "--prompts prompts_used.json (echo_CLIP's)" });
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new UsageError(file, `cannot read the prompt set (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
  const tasks = parsePromptSets(text);
  const which = flagString(args, 'task') ?? 'all';
  return which === 'all' ? tasks : selectTasks(tasks, which.split(','));
}

export async function zeroShotCommand(argv: string[]): Promise<number> {
  const args = parseArgs(argv, { ...MODEL_FLAGS, ...BATCH_FLAGS, ...TOKENIZER_FLAGS, video: 'value', pixels: 'value', task: 'value', prompts: 'value', frames: 'value', json: 'switch', 'no-cache': 'switch', 'true-rgb': 'switch', help: 'switch' }, 'zero-shot');
  if (args.flags.has('help')) {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  requireFlag(args, 'weights', 'zero-shot');
  const videoFile = flagString(args, 'video');
  const pixelsArg = flagString(args, 'pixels');
  if (!videoFile === !pixelsArg) throw new UsageError('echoclip zero-shot', videoFile ? 'give --video or --pixels, not both' : '--video is required', { hint: '--video FILE (AVI/MJPEG or DICOM), or --pixels FILE.safetensors[:TENSOR] with preprocessed frames' });
  const tasks = await loadTasks(args);
  const tok = await loadTokenizer(args, 'zero-shot', 'bpe');
  let pixels: Float32Array;
  if (videoFile) {
    pixels = (await preprocessVideoFile(videoFile, { frames: flagString(args, 'frames') ?? ZERO_SHOT_FRAMES, trueRgb: args.flags.has('true-rgb') })).pixelValues;
  } else {
    const t = await readTensorArg(pixelsArg!, 'pixels');
    if (!(t.data instanceof Float32Array) || t.shape.length !== 4 || t.shape[1] !== 3) throw new ShapeError(pixelsArg!, `must be float T×3×H×W preprocessed frames, got [${t.shape.join(', ')}]`);
    pixels = t.data;
  }

  const gpu = await openDevice(args);
  try {
    const { model, weightsFile } = await loadModel(gpu, args, 'zero-shot');
    const D = model.config.embedDim;
    const { texts } = collectPrompts(tasks);
    const text = await embedTexts(model, weightsFile, tok, texts, !args.flags.has('no-cache'));
    const bar = progressBar('image tower', { unit: 'items' });
    const feats = await model.encodeImages(pixels, { onProgress: (d, n) => bar.update(d, n) });
    const T = feats.length / D;
    const frames = l2NormalizeRows({ data: feats, shape: [T, D] });
    bar.finish();
    const result = runZeroShotTasks(tasks, frames, texts, { data: text.embeddings, shape: [texts.length, D] });
    process.stderr.write(`zero-shot: ${T} frames, ${texts.length} prompts (${text.cached} cached, ${text.computed} embedded)\n`);
    if (args.flags.has('json')) process.stdout.write(JSON.stringify(result) + '\n');
    else for (const [name, r] of Object.entries(result)) process.stdout.write(`${name}: ${JSON.stringify(r)}\n`);
    model.release();
    return 0;
  } finally {
    gpu.destroy();
  }
}
