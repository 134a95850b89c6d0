// `echoclip index` (README "Archive scale"): embed an archive once into an index directory
// (src/index-archive), one shard of it per scheduler task; `index merge` unions the parts,
// `index verify` checks every line and shard, `index bench` measures search at archive sizes.
import { UsageError } from '../errors.js';
import { buildIndex, buildReportIndex, parseShard } from '../index-archive/build-node.js';
import type { StorageDType } from '../index-archive/format.js';
import { mergeIndexes } from '../index-archive/merge-node.js';
import { openIndex, readShard } from '../index-archive/store-node.js';
import { flagInt, flagString, parseArgs } from './args.js';
import { BATCH_FLAGS, MODEL_FLAGS, openEchoClip, TOKENIZER_FLAGS } from './common.js';

const USAGE = `usage: echoclip index (--input DIR|LIST.txt|manifest.csv | --reports reports.csv) --out INDEX_DIR
   [--shard I/N|auto/N] [--resume] [--frames START:STOP:STEP] [--true-rgb] [--storage f16|f32] [--flush-every 256]
   [--patient-salt S | --patient-in-clear] [--weights DIR|hf-hub:ID] [--device D] [--dtype f32|f16] [--memory 512MiB]
       echoclip index merge OUT_DIR PART_DIR...
       echoclip index verify INDEX_DIR
       echoclip index bench [--sizes 10000,100000,1000000] [--dim 512] [--out bench/index-search.json]
   --shard auto/N takes I from $JOB_COMPLETION_INDEX (Kubernetes Indexed Job) or $SLURM_ARRAY_TASK_ID
   (minus $SLURM_ARRAY_TASK_MIN); each shard writes its own --out directory; merge them after.
   Patient ids (manifest.csv column patient_id, else the DICOM Patient ID) are stored as sha256(salt, id); the salt comes from
   --patient-salt or $ECHOCLIP_PATIENT_SALT and must be the same for every shard.`;

function fmtSeconds(s: number): string {
  if (!Number.isFinite(s)) return '?';
  if (s < 90) return `${Math.round(s)}s`;
  if (s < 5400) return `${Math.round(s / 60)}min`;
  return `${(s / 3600).toFixed(1)}h`;
}

export async function indexCommand(argv: string[]): Promise<number> {
  if (argv[0] === 'merge') return mergeCommand(argv.slice(1));
  if (argv[0] === 'verify') return verifyCommand(argv.slice(1));
  if (argv[0] === 'bench') return (await import('../bench/index-search.js')).indexBenchCommand(argv.slice(1));
  const args = parseArgs(argv, {
    ...MODEL_FLAGS, ...BATCH_FLAGS, ...TOKENIZER_FLAGS, input: 'value', reports: 'value', out: 'value', shard: 'value', resume: 'switch', frames: 'value',
    'true-rgb': 'switch', storage: 'value', 'flush-every': 'value', 'patient-salt': 'value', 'patient-in-clear': 'switch', 'no-cache': 'switch', help: 'switch',
  }, 'index');
  if (args.flags.has('help')) {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  const input = flagString(args, 'input');
  const reports = flagString(args, 'reports');
  const out = flagString(args, 'out');
  if (!out) throw new UsageError('echoclip index', '--out is required', { hint: "see 'echoclip index --help'" });
  if (!input === !reports) throw new UsageError('echoclip index', input ? 'give --input or --reports, not both' : '--input (or --reports) is required');
  const storage = (flagString(args, 'storage') ?? 'f32') as StorageDType;
  if (storage !== 'f16' && storage !== 'f32') throw new UsageError('echoclip index', `--storage must be f16 or f32, got '${storage}'`);
  const flushEvery = flagInt(args, 'flush-every', 'index', 256);
  if (flushEvery < 1) throw new UsageError('echoclip index', '--flush-every must be at least 1');
  const shard = parseShard(flagString(args, 'shard') ?? '0/1');
  const echo = await openEchoClip(args, 'index', { defaultTokenizer: reports ? 'template' : 'bpe' });
  try {
    if (reports) {
      const r = await buildReportIndex(echo, { reports, out, resume: args.flags.has('resume'), storage, flushEvery });
      process.stderr.write(`index: ${r.indexed} report(s) embedded (${r.total - r.indexed} already there) → ${out}\n`);
      return 0;
    }
    let last = 0;
    const s = await buildIndex(echo, {
      input: input!, out, shard, resume: args.flags.has('resume'), frames: flagString(args, 'frames'), trueRgb: args.flags.has('true-rgb'),
      storage, flushEvery, patientSalt: flagString(args, 'patient-salt') ?? process.env.ECHOCLIP_PATIENT_SALT, patientInClear: args.flags.has('patient-in-clear'),
      onProgress: (e) => {
        if (e.status === 'failed') process.stderr.write(`index: failed: ${e.path}: ${e.detail}\n`);
        const now = performance.now();
        if (now - last < 1000 && e.done < e.total) return;
        last = now;
        process.stderr.write(`index: ${e.done}/${e.total} clips (${e.failed} failed, ${e.skipped} already indexed), ${e.clipsPerSecond.toFixed(2)} clips/s, ETA ${fmtSeconds(e.etaSeconds)}\n`);
      },
    });
    process.stderr.write(`index: shard ${s.shard.index}/${s.shard.count}: ${s.total} clip(s), ${s.indexed} indexed, ${s.failed} failed, ${s.skipped} already there → ${out}\n`);
    return 0;
  } finally {
    echo.dispose();
  }
}

async function mergeCommand(argv: string[]): Promise<number> {
  const args = parseArgs(argv, { help: 'switch' }, 'index merge');
  if (args.flags.has('help') || args.positionals.length < 2) {
    process.stdout.write(USAGE + '\n');
    return args.flags.has('help') ? 0 : 2;
  }
  const [out, ...parts] = args.positionals;
  const r = await mergeIndexes(out!, parts);
  process.stderr.write(`index merge: ${r.parts} part(s) → ${out}: ${r.clips} entries, ${r.failures} failure(s), ${r.duplicates} duplicate(s) dropped\n`);
  return 0;
}

async function verifyCommand(argv: string[]): Promise<number> {
  const args = parseArgs(argv, { json: 'switch', help: 'switch' }, 'index verify');
  const dir = args.positionals[0];
  if (!dir) throw new UsageError('echoclip index verify', 'give the index directory');
  const index = await openIndex(dir);
  for (const file of index.shards.keys()) await readShard(index, file);
  const summary = { kind: index.header.kind, clips: index.clips.length, reports: index.reports.length, failures: index.failures.length, shards: index.shards.size, tornTail: index.tornTail, header: index.header };
  process.stdout.write(args.flags.has('json') ? JSON.stringify(summary) + '\n' : `${dir}: ok — ${summary.clips} clips, ${summary.reports} reports, ${summary.failures} failures in ${summary.shards} shard file(s)${index.tornTail ? ' (a torn last manifest line is ignored)' : ''}\n`);
  return 0;
}
