// `echoclip search` (docs/cli.md): rank report texts for one video with EchoCLIP-R (default
// weights: hf-hub:mkaichristensen/echo-clip-r) through EchoClip.search — the video embedding is the
// mean of the L2-normalised frame embeddings (no re-normalisation, as echo_CLIP's
// embedding_example.py), the score a dot product with each normalised report.
import { UsageError } from '../errors.js';
import { preprocessVideoFile } from '../video/video-node.js';
import { flagInt, flagString, parseArgs, requireFlag } from './args.js';
import { BATCH_FLAGS, MODEL_FLAGS, openEchoClip, readTextsJson, TOKENIZER_FLAGS } from './common.js';

const USAGE = `usage: echoclip search [--weights DIR|hf-hub:ID] --video FILE --reports REPORTS.json [--top K] [--frames START:STOP:STEP]
   [--tokenizer template|bpe] [--template-vocab P] [--assets-url URL] [--vocab P] [--device D] [--dtype f32|f16] [--memory 512MiB] [--no-cache] --json
   --weights defaults to hf-hub:mkaichristensen/echo-clip-r; template_vocab.txt defaults to echo_CLIP's (downloaded once, sha256-checked)`;

export async function searchCommand(argv: string[]): Promise<number> {
  const args = parseArgs(argv, { ...MODEL_FLAGS, ...BATCH_FLAGS, ...TOKENIZER_FLAGS, video: 'value', reports: 'value', top: 'value', frames: 'value', json: 'switch', 'no-cache': 'switch', 'true-rgb': 'switch', help: 'switch' }, 'search');
  if (args.flags.has('help')) {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  const videoFile = requireFlag(args, 'video', 'search');
  const reports = await readTextsJson(requireFlag(args, 'reports', 'search'), 'search');
  if (!reports.length) throw new UsageError('echoclip search', 'REPORTS.json is empty');
  const top = flagInt(args, 'top', 'search', reports.length);
  if (top < 1) throw new UsageError('echoclip search', `--top must be at least 1, got ${top}`);
  const video = await preprocessVideoFile(videoFile, { frames: flagString(args, 'frames'), trueRgb: args.flags.has('true-rgb') });
  const echo = await openEchoClip(args, 'search', { defaultTokenizer: 'template' });
  try {
    const ranking = await echo.search({ pixelValues: video.pixelValues }, reports, { top });
    if (args.flags.has('json')) process.stdout.write(JSON.stringify({ ranking }) + '\n');
    else for (const r of ranking) process.stdout.write(`${r.index}\t${r.similarity.toFixed(6)}\t${reports[r.index].slice(0, 80)}\n`);
    return 0;
  } finally {
    echo.dispose();
  }
}
