// `echoclip embed` (docs/cli.md): unnormalised encode_image / encode_text features, their L2
// normalised embeddings and logit_scale, written as one safetensors file (EchoClip.embedVideo /
// embedText; default weights hf-hub:mkaichristensen/echo-clip).
import { ShapeError, UsageError } from '../errors.js';
import type { HostTensor } from '../io/dtype.js';
import { serializeSafetensors } from '../io/safetensors.js';
import { preprocessVideoFile } from '../video/video-node.js';
import type { Embeddings } from '../api/echoclip.js';
import { flagString, parseArgs, requireFlag } from './args.js';
import { BATCH_FLAGS, MODEL_FLAGS, openEchoClip, readTensorArg, readTextsJson, TOKENIZER_FLAGS, writeFileAtomic } from './common.js';

const USAGE = `usage: echoclip embed [--weights DIR|hf-hub:ID]
   [--video FILE [--frames START:STOP:STEP]] [--pixels FILE.safetensors[:TENSOR]]
   [--texts TEXTS.json --tokenizer bpe|template] [--tokens FILE.safetensors[:TENSOR]]
   [--vocab P] [--template-vocab P] [--assets-url URL] [--device auto|lavapipe|swiftshader] [--dtype f32|f16] [--memory 512MiB]
   --out RESULT.safetensors`;

export async function embedCommand(argv: string[]): Promise<number> {
  const args = parseArgs(argv, { ...MODEL_FLAGS, ...BATCH_FLAGS, ...TOKENIZER_FLAGS, video: 'value', frames: 'value', pixels: 'value', texts: 'value', tokens: 'value', out: 'value', 'true-rgb': 'switch', json: 'switch', help: 'switch' }, 'embed');
  if (args.flags.has('help')) {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  const out = requireFlag(args, 'out', 'embed');
  const video = flagString(args, 'video');
  const pixelsArg = flagString(args, 'pixels');
  const textsArg = flagString(args, 'texts');
  const tokensArg = flagString(args, 'tokens');
  if (video && pixelsArg) throw new UsageError('echoclip embed', 'give --video or --pixels, not both');
  if (textsArg && tokensArg) throw new UsageError('echoclip embed', 'give --texts or --tokens, not both');
  if (!video && !pixelsArg && !textsArg && !tokensArg) throw new UsageError('echoclip embed', 'nothing to embed', { hint: 'give --video/--pixels and/or --texts/--tokens' });
  if (flagString(args, 'frames') && !video) throw new UsageError('echoclip embed', '--frames needs --video');

  // Inputs first: a bad file fails before the slow device and weights setup.
  let pixels: Float32Array | undefined;
  if (video) {
    pixels = (await preprocessVideoFile(video, { frames: flagString(args, 'frames'), trueRgb: args.flags.has('true-rgb') })).pixelValues;
  } else if (pixelsArg) {
    const t = await readTensorArg(pixelsArg, 'pixels');
    if (!(t.data instanceof Float32Array) || t.shape.length !== 4 || t.shape[1] !== 3) throw new ShapeError(pixelsArg, `must be float N×3×H×W preprocessed pixels, got [${t.shape.join(', ')}]`);
    pixels = t.data;
  }
  let texts: string[] | Int32Array | undefined;
  if (textsArg) texts = await readTextsJson(textsArg, 'embed');
  else if (tokensArg) {
    const t = await readTensorArg(tokensArg, 'tokens');
    if (!(t.data instanceof Int32Array) || t.shape.length !== 2) throw new ShapeError(tokensArg, `must be integer N×77 token ids, got [${t.shape.join(', ')}]`);
    texts = t.data;
  }

  const echo = await openEchoClip(args, 'embed', { defaultTokenizer: 'bpe' });
  try {
    const result: [string, HostTensor][] = [];
    const put = (kind: 'image' | 'text', e: Embeddings) => result.push([`${kind}_features`, { dtype: 'F32', shape: e.shape, data: e.features }], [`${kind}_embeddings`, { dtype: 'F32', shape: e.shape, data: e.embeddings }]);
    if (pixels) put('image', await echo.embedVideo({ pixelValues: pixels }));
    if (texts) put('text', await echo.embedText(texts));
    result.push(['logit_scale', { dtype: 'F32', shape: [], data: new Float32Array([echo.model.logitScale]) }]);
    await writeFileAtomic(out, serializeSafetensors(result, { generator: 'echoclip-webgpu embed', adapter: echo.gpu.adapter.description }));
    const summary = { out, tensors: result.map(([name, t]) => ({ name, shape: t.shape })) };
    if (args.flags.has('json')) process.stdout.write(JSON.stringify(summary) + '\n');
    return 0;
  } finally {
    echo.dispose();
  }
}
