// `echoclip convert`: a PyTorch checkpoint (or safetensors) → safetensors, optionally f16.
// Streams tensor by tensor: peak memory is one tensor, whatever the model size.
import { open, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { UsageError } from '../errors.js';
import { convertFloat } from '../io/dtype.js';
import type { DType } from '../io/dtype.js';
import { fileProgress, progressBar } from './progress.js';
import { writeSafetensors } from '../io/safetensors.js';
import { WEIGHT_FILES } from '../io/weights.js';
import { openWeightsFile, resolveWeightsFiles } from '../io/weights-node.js';
import { flagString, parseArgs, requireFlag } from './args.js';

const USAGE = `usage: echoclip convert --weights DIR|FILE|hf-hub:owner/name --out FILE.safetensors [--dtype f32|f16]

Converts open_clip_pytorch_model.bin (or a safetensors file) to safetensors, tensor by tensor.
Floating-point tensors are written as --dtype (default f32; f16 rounds to nearest even);
integer tensors keep their type (int64 as int32). Prints a JSON summary on stdout.`;

const FLOAT: ReadonlySet<DType> = new Set(['F32', 'F16', 'BF16', 'F64']);

export async function convertCommand(argv: string[]): Promise<number> {
  const args = parseArgs(argv, { weights: 'value', out: 'value', dtype: 'value', help: 'switch' }, 'convert');
  if (args.flags.has('help')) { process.stdout.write(USAGE + '\n'); return 0; }
  if (args.positionals.length) throw new UsageError('echoclip convert', `unexpected argument '${args.positionals[0]}'`, { hint: "see 'echoclip convert --help'" });
  const location = requireFlag(args, 'weights', 'convert');
  const out = requireFlag(args, 'out', 'convert');
  const dtypeFlag = (flagString(args, 'dtype') ?? 'f32').toLowerCase();
  if (dtypeFlag !== 'f32' && dtypeFlag !== 'f16') throw new UsageError('echoclip convert', `--dtype must be f32 or f16, got '${dtypeFlag}'`);
  const target: 'F32' | 'F16' = dtypeFlag === 'f16' ? 'F16' : 'F32';

  // A directory (or hub repo) with both files: convert the PyTorch checkpoint, that is the point.
  const files = await resolveWeightsFiles(location, { onProgress: fileProgress() }, [...WEIGHT_FILES].reverse());
  if (path.resolve(files.weights) === path.resolve(out)) throw new UsageError('echoclip convert', '--out is the input file', { hint: 'write to another path' });
  const source = await openWeightsFile(files.weights);
  // Write to a temporary name and rename: an interrupted conversion never leaves a truncated file.
  const tmp = `${out}.tmp-${process.pid}`;
  const fh = await open(tmp, 'w');
  let ok = false;
  try {
    const plan = source.tensors.map((t) => ({
      name: t.name,
      dtype: FLOAT.has(t.dtype) ? target : t.dtype === 'I64' ? 'I32' as const : t.dtype,
      shape: t.shape,
    }));
    const bar = progressBar(`convert ${path.basename(files.weights)}`, { unit: 'items' });
    let n = 0;
    const size = await writeSafetensors(
      plan,
      async (name) => {
        const t = await source.read(name);
        bar.update(++n, plan.length);
        return (FLOAT.has(t.dtype) ? convertFloat(t, target, name) : t).data;
      },
      async (chunk) => { await fh.write(chunk); },
      { format: 'pt', source: path.basename(files.weights), dtype: target },
    );
    bar.finish();
    await fh.sync();
    await fh.close();
    await rename(tmp, out);
    ok = true;
    process.stdout.write(JSON.stringify({ out, tensors: plan.length, bytes: size, dtype: dtypeFlag, from: files.weights, format: source.format }) + '\n');
    return 0;
  } finally {
    await source.close();
    if (!ok) { await fh.close().catch(() => undefined); await rm(tmp, { force: true }); }
  }
}
