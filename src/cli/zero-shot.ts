// `echoclip zero-shot` (docs/cli.md): echo_CLIP's zero-shot procedures on one video, through the
// one-line API (EchoClip.zeroShot), or on every cine loop of a study folder (--study, through
// zeroShotStudy). Without --weights it runs the published EchoCLIP; without --prompts it uses
// prompts_used.json beside local weights, else echo_CLIP's (downloaded once).
import { stat } from 'node:fs/promises';
import { type StudyReport, zeroShotStudy } from '../api/study-node.js';
import { ShapeError, UsageError, VideoDecodeError } from '../errors.js';
import type { ZeroShotResult } from '../tasks/run.js';
import { ZERO_SHOT_FRAMES } from '../video/frames.js';
import { preprocessVideoFile } from '../video/video-node.js';
import { flagString, parseArgs } from './args.js';
import { BATCH_FLAGS, MODEL_FLAGS, openEchoClip, readTensorArg, TOKENIZER_FLAGS, writeFileAtomic } from './common.js';

const USAGE = `usage: echoclip zero-shot [--weights DIR|hf-hub:ID] (--video FILE | --pixels FILE.safetensors[:TENSOR] | --study DIR) [--task NAME|all]
   [--prompts prompts_used.json] [--assets-url URL] [--frames 0:40:2] [--tokenizer bpe|template] [--vocab P] [--template-vocab P]
   [--device auto|lavapipe|swiftshader] [--dtype f32|f16] [--memory 512MiB] [--no-cache] [--true-rgb] --json
   --weights defaults to hf-hub:mkaichristensen/echo-clip; the CLIP vocabulary ships with the package;
   prompts_used.json defaults to echo_CLIP's (downloaded once at a pinned commit, sha256-checked, cached);
   --study DIR scores every DICOM cine loop under DIR, grouped by Study/Series Instance UID, with a
   study-level mean per task beside the per-clip table (non-image objects and stills are skipped)
       echoclip zero-shot --index INDEX_DIR [--task NAME|all] [--out results.csv|results.json]
   every clip of an index built by 'echoclip index', from its stored frame embeddings (no decoding)`;

export async function zeroShotCommand(argv: string[]): Promise<number> {
  const args = parseArgs(argv, { ...MODEL_FLAGS, ...BATCH_FLAGS, ...TOKENIZER_FLAGS, video: 'value', pixels: 'value', study: 'value', task: 'value', prompts: 'value', frames: 'value', json: 'switch', 'no-cache': 'switch', 'true-rgb': 'switch', help: 'switch', index: 'value', out: 'value' }, 'zero-shot');
  if (args.flags.has('help')) {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  const indexDir = flagString(args, 'index');
  if (indexDir !== undefined) return indexCommand(args, indexDir);
  const videoFile = flagString(args, 'video');
  const pixelsArg = flagString(args, 'pixels');
  const studyDir = flagString(args, 'study');
  if (studyDir !== undefined) {
    if (videoFile || pixelsArg) throw new UsageError('echoclip zero-shot', 'give --study or --video/--pixels, not both');
    return studyCommand(args, studyDir);
  }
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

async function studyCommand(args: ReturnType<typeof parseArgs>, dir: string): Promise<number> {
  const st = await stat(dir).catch(() => undefined);
  if (!st?.isDirectory()) throw new UsageError('--study', `${dir} is not a directory`, { hint: 'give the folder that holds the study\'s DICOM files' });
  const echo = await openEchoClip(args, 'zero-shot', { defaultTokenizer: 'bpe', prompts: flagString(args, 'prompts') });
  try {
    const report = await zeroShotStudy(echo, dir, {
      tasks: flagString(args, 'task') ?? 'all',
      frames: flagString(args, 'frames') ?? ZERO_SHOT_FRAMES,
      trueRgb: args.flags.has('true-rgb'),
      onFile: (e) => process.stderr.write(`zero-shot: [${e.index}/${e.total}] ${e.file}: ${e.status}${e.detail ? ` (${e.detail})` : ''}\n`),
    });
    const clips = report.studies.reduce((n, s) => n + s.clips.length, 0);
    process.stderr.write(`zero-shot: ${clips} clip(s) in ${report.studies.length} stud${report.studies.length === 1 ? 'y' : 'ies'}, ${report.skipped.length} skipped, ${report.failed.length} failed\n`);
    if (clips === 0) {
      throw new VideoDecodeError(dir, `no cine loop could be scored (${report.skipped.length} skipped, ${report.failed.length} failed)`, {
        hint: report.failed.length ? `first failure: ${report.failed[0]!.error}` : 'the folder holds no multi-frame DICOM images',
      });
    }
    if (args.flags.has('json')) process.stdout.write(JSON.stringify(studyJson(report)) + '\n');
    else process.stdout.write(studyText(report));
    return 0;
  } finally {
    echo.dispose();
  }
}

/** The --json document (docs/cli.md). */
export function studyJson(r: StudyReport): unknown {
  return {
    studies: r.studies.map((s) => ({
      studyInstanceUid: s.studyInstanceUid,
      clips: s.clips.length,
      results: s.results,
      perClip: s.clips.map((c) => ({
        file: c.file, seriesInstanceUid: c.seriesInstanceUid, seriesNumber: c.seriesNumber ?? null,
        sopInstanceUid: c.sopInstanceUid ?? null, instanceNumber: c.instanceNumber ?? null, frames: c.frames, results: c.results,
      })),
    })),
    skipped: r.skipped,
    failed: r.failed,
  };
}

function cell(r: ZeroShotResult | undefined): string {
  if (!r) return '-';
  if (r.mode === 'binary') return r.score.toFixed(4);
  if (r.mode === 'regression') return r.prediction.toPrecision(4);
  return r.label;
}

/** Per study: one row per task, the study mean then each clip (a plain-text table). */
function studyText(r: StudyReport): string {
  const lines: string[] = [];
  for (const s of r.studies) {
    lines.push(`study ${s.studyInstanceUid || '(no Study Instance UID)'}: ${s.clips.length} clip(s)`);
    const header = ['task', 'study', ...s.clips.map((_, i) => `clip ${i + 1}`)];
    const rows = r.tasks.map((t) => [t, cell(s.results[t]), ...s.clips.map((c) => cell(c.results[t]))]);
    const widths = header.map((h, k) => Math.max(h.length, ...rows.map((row) => row[k]!.length)));
    const fmt = (row: string[]): string => row.map((v, k) => (k === 0 ? v.padEnd(widths[k]!) : v.padStart(widths[k]!))).join('  ').trimEnd();
    lines.push(fmt(header), ...rows.map(fmt));
    s.clips.forEach((c, i) => lines.push(`  clip ${i + 1}: ${c.file} (series ${c.seriesNumber ?? c.seriesInstanceUid}, ${c.frames} frames)`));
    lines.push('');
  }
  for (const k of r.skipped) lines.push(`skipped: ${k.file}: ${k.reason}`);
  for (const f of r.failed) lines.push(`failed: ${f.file}: ${f.error}`);
  return lines.join('\n') + '\n';
}

/** `zero-shot --index`: every indexed clip's task results from its stored frame embeddings. */
async function indexCommand(args: ReturnType<typeof parseArgs>, dir: string): Promise<number> {
  if (flagString(args, 'video') || flagString(args, 'pixels') || flagString(args, 'study')) throw new UsageError('echoclip zero-shot', 'give --index or --video/--pixels/--study, not both');
  const { zeroShotIndex, zeroShotCsv } = await import('../index-archive/zero-shot-node.js');
  const { assertIndexMatchesModel, openIndex } = await import('../index-archive/query-node.js');
  const index = await openIndex(dir);
  const echo = await openEchoClip(args, 'zero-shot', { defaultTokenizer: 'bpe', prompts: flagString(args, 'prompts') });
  try {
    await assertIndexMatchesModel(echo, index);
    const r = await zeroShotIndex(echo, dir, { tasks: flagString(args, 'task') ?? 'all' });
    process.stderr.write(`zero-shot: ${r.clips.length} indexed clip(s), ${r.tasks.length} task(s)\n`);
    const out = flagString(args, 'out');
    const doc = out?.endsWith('.csv') ? zeroShotCsv(r) : JSON.stringify(r.clips) + '\n';
    if (out) await writeFileAtomic(out, doc);
    else process.stdout.write(doc);
    return 0;
  } finally {
    echo.dispose();
  }
}
