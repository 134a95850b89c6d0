// `echoclip zero-shot` (docs/cli.md): echo_CLIP's zero-shot procedures on one video, through the
// one-line API (EchoClip.zeroShot). Without --weights it runs the published EchoCLIP; without
// --prompts it uses prompts_used.json beside local weights, else echo_CLIP's (downloaded once).
import { ShapeError, UsageError } from '../errors.js';
import { ZERO_SHOT_FRAMES } from '../video/frames.js';
import { preprocessVideoFile } from '../video/video-node.js';
import { flagString, parseArgs } from './args.js';
import { BATCH_FLAGS, MODEL_FLAGS, openEchoClip, readTensorArg, TOKENIZER_FLAGS } from './common.js';

const USAGE = `usage: echoclip zero-shot [--weights DIR|hf-hub:ID] (--video FILE | --pixels FILE.safetensors[:TENSOR]) [--task NAME|all]
   [--prompts prompts_used.json] [--assets-url URL] [--frames 0:40:2] [--tokenizer bpe|template] [--vocab P] [--template-vocab P]
   [--device auto|lavapipe|swiftshader] [--dtype f32|f16] [--memory 512MiB] [--no-cache] [--true-rgb] --json
   --weights defaults to hf-hub:mkaichristensen/echo-clip; the CLIP vocabulary ships with the package;
   prompts_used.json defaults to echo_CLIP's (downloaded once at a pinned commit, sha256-checked, cached)`;

export async function zeroShotCommand(argv: string[]): Promise<number> {
  const args = parseArgs(argv, { ...MODEL_FLAGS, ...BATCH_FLAGS, ...TOKENIZER_FLAGS, video: 'value', pixels: 'value', task: 'value', prompts: 'value', frames: 'value', json: 'switch', 'no-cache': 'switch', 'true-rgb': 'switch', help: 'switch' }, 'zero-shot');
  if (args.flags.has('help')) {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  const videoFile = flagString(args, 'video');
  const pixelsArg = flagString(args, 'pixels');
  if (!videoFile === !pixelsArg) throw new UsageError('echoclip zero-shot', videoFile ? 'give --video or --pixels, not both' : '--video is required', { hint: '--video FILE (AVI/MJPEG or DICOM), or --pixels FILE.safetensors[:TENSOR] with preprocessed frames' });
  // Inputs first: a bad video fails before the slow device and weights setup.
  let pixelValues: Float32Array;
  if (videoFile) {
    pixelValues = (await preprocessVideoFile(videoFile, { frames: flagString(args, 'frames') ?? ZERO_SHOT_FRAMES, trueRgb: args.flags.has('true-rgb') })).pixelValues;
  } else {
    const t = await readTensorArg(pixelsArg!, 'pixels');
    if (!(t.data instanceof Float32Array) || t.shape.length !== 4 || t.shape[1] !== 3) throw new ShapeError(pixelsArg!, `must be float T×3×H×W preprocessed frames, got [${t.shape.join(', ')}]`);
    pixelValues = t.data;
  }
  const echo = await openEchoClip(args, 'zero-shot', { defaultTokenizer: 'bpe', prompts: flagString(args, 'prompts') });
  try {
    const r = await echo.zeroShotDetailed({ pixelValues }, { tasks: flagString(args, 'task') ?? 'all' });
    process.stderr.write(`zero-shot: ${r.frames.shape[0]} frames, ${r.texts.length} prompts (${r.prompts.cached} cached, ${r.prompts.computed} embedded)\n`);
    if (args.flags.has('json')) process.stdout.write(JSON.stringify(r.results) + '\n');
    else for (const [name, res] of Object.entries(r.results)) process.stdout.write(`${name}: ${JSON.stringify(res)}\n`);
    return 0;
  } finally {
    echo.dispose();
  }
}
