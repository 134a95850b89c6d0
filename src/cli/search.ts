// `echoclip search` (docs/cli.md): rank report texts for one video with EchoCLIP-R (default
// weights: hf-hub:mkaichristensen/echo-clip-r) through EchoClip.search — the video embedding is the
// mean of the L2-normalised frame embeddings (no re-normalisation, as echo_CLIP's
// embedding_example.py), the score a dot product with each normalised report.
import { UsageError } from '../errors.js';
import { preprocessVideoFile } from '../video/video-node.js';
import { flagInt, flagString, parseArgs, requireFlag, type ParsedArgs } from './args.js';
import { BATCH_FLAGS, MODEL_FLAGS, openEchoClip, readTextsJson, TOKENIZER_FLAGS } from './common.js';

const USAGE = `usage: echoclip search [--weights DIR|hf-hub:ID] --video FILE --reports REPORTS.json [--top K] [--frames START:STOP:STEP]
   [--tokenizer template|bpe] [--template-vocab P] [--assets-url URL] [--vocab P] [--device D] [--dtype f32|f16] [--memory 512MiB] [--no-cache] --json
   --weights defaults to hf-hub:mkaichristensen/echo-clip-r; template_vocab.txt defaults to echo_CLIP's (downloaded once, sha256-checked)
       echoclip search --index INDEX_DIR (--text "..." | --video FILE | --labels LABELS.csv) [--reports-index REPORTS_DIR] [--top K] [--patient-salt S] --json
   against an index built by 'echoclip index': --text ranks clips; --video ranks the nearest clips (cosine), or
   reports with --reports-index; --labels path,patient_id gives patient-match AUC and recall@1/5/10, median/mean
   rank percentile; --labels path,report_id with --reports-index gives clip→report retrieval metrics`;

export async function searchCommand(argv: string[]): Promise<number> {
  const args = parseArgs(argv, { ...MODEL_FLAGS, ...BATCH_FLAGS, ...TOKENIZER_FLAGS, video: 'value', reports: 'value', top: 'value', frames: 'value', json: 'switch', 'no-cache': 'switch', 'true-rgb': 'switch', help: 'switch', index: 'value', 'reports-index': 'value', text: 'value', labels: 'value', 'patient-salt': 'value' }, 'search');
  if (args.flags.has('help')) {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  const indexDir = flagString(args, 'index');
  if (indexDir !== undefined) return indexSearch(args, indexDir);
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

/** `search --index`: queries against an archive index (src/index-archive/query-node.ts). */
async function indexSearch(args: ParsedArgs, dir: string): Promise<number> {
  const q = await import('../index-archive/query-node.js');
  if (flagString(args, 'reports')) throw new UsageError('echoclip search', '--reports applies without --index', { hint: 'build a reports index with echoclip index --reports reports.csv and give --reports-index' });
  const text = flagString(args, 'text');
  const videoFile = flagString(args, 'video');
  const labels = flagString(args, 'labels');
  if ([text, videoFile, labels].filter((x) => x !== undefined).length !== 1) throw new UsageError('echoclip search --index', 'give exactly one of --text, --video, --labels');
  const top = flagInt(args, 'top', 'search', 10);
  if (top < 1) throw new UsageError('echoclip search', `--top must be at least 1, got ${top}`);
  const index = await q.openIndex(dir);
  const rdir = flagString(args, 'reports-index');
  const reportsIndex = rdir ? await q.openIndex(rdir) : undefined;
  const echo = await openEchoClip(args, 'search', { defaultTokenizer: 'template' });
  try {
    await q.assertIndexMatchesModel(echo, index);
    if (reportsIndex) await q.assertIndexMatchesModel(echo, reportsIndex);
    const json = args.flags.has('json');
    if (labels) {
      const m = reportsIndex ? await q.evaluateClipToReport(echo, index, reportsIndex, labels) : await q.evaluatePatients(echo, index, labels, flagString(args, 'patient-salt') ?? process.env.ECHOCLIP_PATIENT_SALT);
      process.stdout.write(JSON.stringify(m, null, json ? undefined : 2) + '\n');
      return 0;
    }
    let hits;
    if (text !== undefined) hits = (await q.searchText(echo, index, [text], top))[0]!;
    else {
      const clip = await q.embedClipLikeIndex(echo, videoFile!, index);
      hits = await q.searchClip(echo, reportsIndex ?? index, clip, top);
    }
    if (json) process.stdout.write(JSON.stringify({ hits }) + '\n');
    else for (const [i, h] of hits.entries()) process.stdout.write(`${i + 1}\t${h.score.toFixed(6)}\t${h.id}${h.text ? `\t${h.text.slice(0, 80)}` : ''}\n`);
    return 0;
  } finally {
    echo.dispose();
  }
}
