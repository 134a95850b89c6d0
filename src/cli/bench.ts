import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { requestDevice } from '../gpu/device.js';
import { formatMarkdown, formatTable, type BenchCase, type BenchReport } from '../bench/harness.js';
import { benchMatmul } from '../bench/kernels.js';
import { benchModels } from '../bench/models.js';
import { UsageError } from '../errors.js';
import { flagInt, flagString, parseArgs } from './args.js';

const SUITES = ['kernels', 'models', 'e2e', 'train', 'all'] as const;

/** `echoclip bench [--suite kernels|models|e2e|train|all] [--json] [--out RESULT.json] [--md TABLE.md]`. */
export async function benchCommand(argv: string[]): Promise<number> {
  const args = parseArgs(argv, { suite: 'value', json: 'switch', out: 'value', md: 'value', device: 'value', repeats: 'value', warmup: 'value', frames: 'value' }, 'bench');
  const suite = flagString(args, 'suite') ?? 'kernels';
  if (!(SUITES as readonly string[]).includes(suite)) throw new UsageError('echoclip bench', `unknown suite '${suite}'`, { hint: `one of ${SUITES.join(', ')}` });
  const gpu = await requestDevice({ adapter: flagString(args, 'device') });
  const timing = { warmup: flagInt(args, 'warmup', 'bench', 1), repeats: flagInt(args, 'repeats', 'bench', 5), maxSeconds: 60 };
  const cases: BenchCase[] = [];
  try {
    process.stderr.write(`bench: ${gpu.adapter.description} (${gpu.adapter.runtime}, kernels: ${gpu.kernelProfile})\n`);
    if (suite === 'kernels' || suite === 'all') {
      cases.push(...(await benchMatmul(gpu, [256, 512, 1024], ['regblock', 'tiled'], timing)));
    }
    if (suite === 'models' || suite === 'all') {
      cases.push(...(await benchModels(gpu, { frames: flagInt(args, 'frames', 'bench', 20), log: (l) => process.stderr.write(`bench: ${l}\n`) })));
    }
    const report: BenchReport = { adapter: gpu.adapter, started: new Date().toISOString(), cases };
    process.stderr.write(formatTable(cases) + '\n');
    const json = JSON.stringify(report, null, 2);
    const out = flagString(args, 'out');
    if (out) {
      mkdirSync(dirname(out), { recursive: true });
      writeFileSync(out, json + '\n');
    }
    const md = flagString(args, 'md');
    if (md) {
      mkdirSync(dirname(md), { recursive: true });
      writeFileSync(md, formatMarkdown(report));
    }
    if (args.flags.has('json')) process.stdout.write(json + '\n');
    return 0;
  } finally {
    gpu.destroy();
  }
}
