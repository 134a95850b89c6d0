// `echoclip search` (docs/cli.md): rank report texts for one video with EchoCLIP-R — the video
// embedding is the mean of the L2-normalised frame embeddings (no re-normalisation, as
// echo_CLIP's embedding_example.py), the score a dot product with each normalised report.
import { UsageError } from '../errors.js';
import { l2NormalizeRows } from '../tasks/array.js';
import { rankReports } from '../tasks/index.js';
import { preprocessVideoFile } from '../video/video-node.js';
import { flagInt, flagString, parseArgs, requireFlag } from './args.js';
import { BATCH_FLAGS, loadModel, loadTokenizer, MODEL_FLAGS, openDevice, readTextsJson, TOKENIZER_FLAGS } from './common.js';
import { progressBar } from './progress.js';
import { embedTexts } from './text-embeddings.js';

const USAGE = `usage: echoclip search --weights DIR --video FILE --reports REPORTS.json [--top K] [--frames START:STOP:STEP]
   [--tokenizer template|bpe] [--template-vocab P] [--vocab P] [--device D] [--dtype f32|f16] [--memory 512MiB] [--no-cache] --json`;

export async function searchCommand(argv: string[]): Promise<number> {
  const args = parseArgs(argv, { ...MODEL_FLAGS, ...BATCH_FLAGS, ...TOKENIZER_FLAGS, video: 'value', reports: 'value', top: 'value', frames: 'value', json: 'switch', 'no-cache': 'switch', 'true-rgb': 'switch', help: 'switch' }, 'search');
  if (args.flags.has('help')) {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  requireFlag(args, 'weights', 'search');
  const videoFile = requireFlag(args, 'video', 'search');
  const reports = await readTextsJson(requireFlag(args, 'reports', 'search'), 'search');
  if (!reports.length) throw new UsageError('echoclip search', 'REPORTS.json is empty');
  const top = flagInt(args, 'top', 'search', reports.length);
  if (top < 1) throw new UsageError('echoclip search', `--top must be at least 1, got ${top}`);
  const tok = await loadTokenizer(args, 'search', 'template');
  const video = await preprocessVideoFile(videoFile, { frames: flagString(args, 'frames'), trueRgb: args.flags.has('true-rgb') });
  const T = video.shape[0];

  const gpu = await openDevice(args);
  try {
    const { model, weightsFile } = await loadModel(gpu, args, 'search');
    const D = model.config.embedDim;
    const text = await embedTexts(model, weightsFile, tok, reports, !args.flags.has('no-cache'));
    const bar = progressBar('image tower', { unit: 'items' });
    const frames = l2NormalizeRows({ data: await model.encodeImages(video.pixelValues, { onProgress: (d, n) => bar.update(d, n) }), shape: [T, D] });
    bar.finish();
    const ranking = rankReports(frames, { data: text.embeddings, shape: [reports.length, D] }, Math.min(top, reports.length));
    const doc = { ranking: ranking.map((r) => ({ index: r.index, similarity: r.similarity })) };
    if (args.flags.has('json')) process.stdout.write(JSON.stringify(doc) + '\n');
    else for (const r of doc.ranking) process.stdout.write(`${r.index}\t${r.similarity.toFixed(6)}\t${reports[r.index].slice(0, 80)}\n`);
    model.release();
    return 0;
  } finally {
    gpu.destroy();
  }
}
