// `echoclip embed` (docs/cli.md): unnormalised encode_image / encode_text features, their L2
// normalised embeddings and logit_scale, written as one safetensors file.
import { ShapeError, UsageError } from '../errors.js';
import type { HostTensor } from '../io/dtype.js';
import { serializeSafetensors } from '../io/safetensors.js';
import { l2NormalizeRows } from '../tasks/array.js';
import { preprocessVideoFile } from '../video/video-node.js';
import { flagString, parseArgs, requireFlag } from './args.js';
import { BATCH_FLAGS, loadModel, loadTokenizer, MODEL_FLAGS, openDevice, readTensorArg, readTextsJson, TOKENIZER_FLAGS, writeFileAtomic } from './common.js';
import { progressBar } from './progress.js';

const USAGE = `usage: echoclip embed --weights DIR
   [--video FILE [--frames START:STOP:STEP]] [--pixels FILE.safetensors[:TENSOR]]
   [--texts TEXTS.json --tokenizer bpe|template] [--tokens FILE.safetensors[:TENSOR]]
   [--vocab P] [--template-vocab P] [--device auto|lavapipe|swiftshader] [--dtype f32|f16] [--memory 512MiB]
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
  let pixels: { data: Float32Array; n: number } | undefined;
  if (video) {
    const v = await preprocessVideoFile(video, { frames: flagString(args, 'frames'), trueRgb: args.flags.has('true-rgb') });
    pixels = { data: v.pixelValues, n: v.shape[0] };
  } else if (pixelsArg) {
    const t = await readTensorArg(pixelsArg, 'pixels');
    if (!(t.data instanceof Float32Array) || t.shape.length !== 4 || t.shape[1] !== 3) throw new ShapeError(pixelsArg, `must be float N×3×H×W preprocessed pixels, got [${t.shape.join(', ')}]`);
    pixels = { data: t.data, n: t.shape[0] };
  }
  let tokens: Int32Array | undefined;
  if (textsArg) {
    const texts = await readTextsJson(textsArg, 'embed');
    const tok = await loadTokenizer(args, 'embed', 'bpe');
    const rows = tok.tokenize(texts);
    tokens = new Int32Array(rows.length * 77);
    rows.forEach((r, i) => tokens!.set(r, i * 77));
  } else if (tokensArg) {
    const t = await readTensorArg(tokensArg, 'tokens');
    if (!(t.data instanceof Int32Array) || t.shape.length !== 2) throw new ShapeError(tokensArg, `must be integer N×77 token ids, got [${t.shape.join(', ')}]`);
    tokens = t.data;
  }

  const gpu = await openDevice(args);
  try {
    const { model } = await loadModel(gpu, args, 'embed');
    const E = model.config.embedDim;
    const result: [string, HostTensor][] = [];
    if (pixels) {
      if (pixels.data.length !== pixels.n * 3 * model.config.vision.imageSize ** 2) throw new ShapeError('pixels', `must be N×3×${model.config.vision.imageSize}×${model.config.vision.imageSize}`);
      const bar = progressBar('image tower', { unit: 'items' });
      const f = await model.encodeImages(pixels.data, { onProgress: (d, n) => bar.update(d, n) });
      bar.finish();
      result.push(['image_features', { dtype: 'F32', shape: [pixels.n, E], data: f }], ['image_embeddings', { dtype: 'F32', shape: [pixels.n, E], data: l2NormalizeRows({ data: f, shape: [pixels.n, E] }).data }]);
    }
    if (tokens) {
      const n = tokens.length / model.config.text.contextLength;
      const bar = progressBar('text tower', { unit: 'items' });
      const f = await model.encodeTexts(tokens, { onProgress: (d, total) => bar.update(d, total) });
      bar.finish();
      result.push(['text_features', { dtype: 'F32', shape: [n, E], data: f }], ['text_embeddings', { dtype: 'F32', shape: [n, E], data: l2NormalizeRows({ data: f, shape: [n, E] }).data }]);
    }
    result.push(['logit_scale', { dtype: 'F32', shape: [], data: new Float32Array([model.logitScale]) }]);
    await writeFileAtomic(out, serializeSafetensors(result, { generator: 'echoclip-webgpu embed', adapter: gpu.adapter.description }));
    const summary = { out, tensors: result.map(([name, t]) => ({ name, shape: t.shape })) };
    if (args.flags.has('json')) process.stdout.write(JSON.stringify(summary) + '\n');
    model.release();
    return 0;
  } finally {
    gpu.destroy();
  }
}
