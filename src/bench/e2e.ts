// End-to-end zero-shot through the real CLI path (`echoclip zero-shot`), on a full-size model:
// synthetic weights in the published layout are written once to a temporary hub-layout
// directory, then the EF task (20 frames + 202 prompts) and all 16 tasks run cold (empty prompt
// cache: both towers) and warm (cache hit: image tower only).
import { mkdtempSync, rmSync } from 'node:fs';
import { open, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Gpu } from '../gpu/device.js';
import { writeSafetensors } from '../io/safetensors.js';
import { ECHOCLIP_CONFIG, toOpenClipConfigJson } from '../models/config.js';
import type { BenchCase } from './harness.js';
import { syntheticWeights } from './synthetic.js';

export interface E2eBenchOptions {
  video: string;
  prompts: string;
  vocab: string;
  /** Task sets to time; default EF only on software adapters (all 16 there take ~an hour). */
  taskSets?: string[];
  log?: (line: string) => void;
}

async function writeSyntheticModel(dir: string): Promise<void> {
  const src = syntheticWeights(ECHOCLIP_CONFIG);
  const fh = await open(path.join(dir, 'open_clip_model.safetensors'), 'w');
  try {
    await writeSafetensors(src.tensors, async (name) => (await src.read(name)).data, async (chunk) => void (await fh.write(chunk)));
  } finally {
    await fh.close();
  }
  await writeFile(path.join(dir, 'open_clip_config.json'), toOpenClipConfigJson(ECHOCLIP_CONFIG));
}

export async function benchE2e(gpu: Gpu, opts: E2eBenchOptions): Promise<BenchCase[]> {
  const { zeroShotCommand } = await import('../cli/zero-shot.js');
  const log = opts.log ?? (() => undefined);
  const sets = opts.taskSets ?? (gpu.adapter.fallback ? ['ejection_fraction'] : ['ejection_fraction', 'all']);
  const dir = mkdtempSync(path.join(tmpdir(), 'echoclip-e2e-'));
  const cache = mkdtempSync(path.join(tmpdir(), 'echoclip-e2e-cache-'));
  const prevCache = process.env.ECHOCLIP_CACHE_DIR;
  const cases: BenchCase[] = [];
  // The command prints its JSON; the bench keeps stdout for its own document.
  const write = process.stdout.write.bind(process.stdout);
  try {
    await writeSyntheticModel(dir);
    process.env.ECHOCLIP_CACHE_DIR = cache;
    for (const set of sets) {
      for (const phase of ['cold', 'warm'] as const) {
        if (phase === 'cold') rmSync(path.join(cache, 'prompts'), { recursive: true, force: true });
        const t = performance.now();
        process.stdout.write = (() => true) as typeof process.stdout.write;
        try {
          await zeroShotCommand(['--weights', dir, '--video', opts.video, '--task', set, '--prompts', opts.prompts, '--vocab', opts.vocab, '--json', ...(process.env.ECHOCLIP_ADAPTER ? ['--device', process.env.ECHOCLIP_ADAPTER] : [])]);
        } finally {
          process.stdout.write = write;
        }
        const ms = performance.now() - t;
        log(`zero-shot ${set} (${phase}): ${(ms / 1000).toFixed(1)} s`);
        cases.push({ suite: 'e2e', name: set === 'all' ? 'zero_shot_all' : 'zero_shot_ef', shape: `20 frames, ${phase} prompt cache`, dtype: 'f32', impl: 'echoclip', variant: phase, median_ms: ms, min_ms: ms, max_ms: ms, repeats: 1, gflops: null, gbps: null, peak_gpu_bytes: null, items_per_s: 1000 / ms });
      }
    }
  } finally {
    process.stdout.write = write;
    if (prevCache === undefined) delete process.env.ECHOCLIP_CACHE_DIR;
    else process.env.ECHOCLIP_CACHE_DIR = prevCache;
    rmSync(dir, { recursive: true, force: true });
    rmSync(cache, { recursive: true, force: true });
  }
  return cases;
}
